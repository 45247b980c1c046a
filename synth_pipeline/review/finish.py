"""The end of a review session: apply the gate, refresh the report's review figures, and
say whether the version is now due for publication (which the caller does through Dagster)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from synth_pipeline.gates import checks_refusal
from synth_pipeline.report.review import PREFIX, update_report_review
from synth_pipeline.review.gate import (
    ReviewDecision,
    ReviewState,
    apply_review_gate,
    report_review,
    review_required,
)
from synth_pipeline.review.session import ReviewSession


@dataclass(frozen=True)
class ReviewOutcome:
    decision: ReviewDecision
    required: bool
    already_published: bool
    publish_due: bool  # required, passed, not yet published, every other gate passed
    refusal: str | None  # why a passed review still cannot publish
    report_updated: bool


def finish_review(session: ReviewSession, reports_root: Path) -> ReviewOutcome:
    spec, wh, version = session.spec, session.wh, session.version
    required = review_required(spec, wh, version)
    decision = apply_review_gate(session)
    review = report_review(spec, wh, version)
    wh.replace_metrics(spec.name, version, review["metrics"] if review else {}, PREFIX)
    updated = update_report_review(reports_root / spec.name / version, review)
    published = wh.was_published(spec.name, version)
    refusal = None
    due = required and decision.state is ReviewState.PASSED and not published
    if due:
        refusal = checks_refusal(wh, spec.name, version, spec)
        due = refusal is None
    return ReviewOutcome(decision, required, published, due, refusal, updated)
