"""The review gate: awaiting review, passed or failed, from the verdicts on the sample.

`decide` is the rule; `apply_review_gate` records its outcome where the other gates'
outcomes live (the `check_results` table, as the check `review`), so `publish_refusal`
refuses a failed review forever, as it does any failed check.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from synth_pipeline.gates import AWAITING_REVIEW, REVIEW, store_check
from synth_pipeline.review.config import ReviewSpec
from synth_pipeline.review.figures import ReviewFigures
from synth_pipeline.review.session import ReviewError, ReviewSession
from synth_pipeline.spec import DatasetSpec
from synth_pipeline.warehouse import Warehouse


class ReviewState(StrEnum):
    AWAITING = AWAITING_REVIEW
    PASSED = "passed"
    FAILED = "failed"


@dataclass(frozen=True)
class ReviewDecision:
    state: ReviewState
    figures: ReviewFigures
    min_acceptance: float

    def describe(self) -> str:
        f = self.figures
        bound = f"Wilson 95% lower bound {f.lower_bound:.3f}"
        if self.state is ReviewState.PASSED:
            return f"review passed: {bound} >= {self.min_acceptance}"
        if self.state is ReviewState.FAILED:
            return (
                f"review failed: all {f.sample_size} sampled records reviewed, "
                f"{bound} < {self.min_acceptance}"
            )
        return (
            f"awaiting review: {f.reviewed} of {f.sample_size} sampled records reviewed, "
            f"{bound} < {self.min_acceptance} so far"
        )

    def metadata(self) -> dict[str, Any]:
        """Figures for the `published` asset's metadata and the check's observed value."""
        f = self.figures
        out: dict[str, Any] = {
            "review.state": self.state.value,
            "review.sample_size": f.sample_size,
            "review.accepted": f.accepted,
            "review.min_acceptance": self.min_acceptance,
        }
        out.update(f.metrics())
        return out


def decide(config: ReviewSpec, figures: ReviewFigures) -> ReviewDecision:
    """Passed once the lower bound reaches min_acceptance (even before the sample is done);
    failed when every sampled record has a verdict and it does not; else awaiting review."""
    if figures.reviewed and figures.lower_bound >= config.min_acceptance:
        state = ReviewState.PASSED
    elif figures.sample_size and figures.remaining <= 0:
        state = ReviewState.FAILED
    else:
        state = ReviewState.AWAITING
    return ReviewDecision(state, figures, config.min_acceptance)


def evaluate_review(session: ReviewSession) -> ReviewDecision:
    return decide(session.spec.review, session.figures())


def review_required(spec: DatasetSpec, wh: Warehouse, version: str) -> bool:
    """The spec asks for review, or the version was held for one when it was made."""
    return spec.review.required or wh.version_status(spec.name, version) == AWAITING_REVIEW


def apply_review_gate(session: ReviewSession) -> ReviewDecision:
    """Decide and, for a version that needs review and is not published, record the outcome.

    A passed or failed review becomes a `review` check result; a failure also marks the
    version failed. Awaiting review records nothing: the `published` step holds the version.
    """
    decision = evaluate_review(session)
    spec, wh, version = session.spec, session.wh, session.version
    if decision.state is ReviewState.AWAITING or not review_required(spec, wh, version):
        return decision
    if wh.was_published(spec.name, version):  # a published version is final
        return decision
    from synth_pipeline.quality import ExpectationOutcome

    f = decision.figures
    outcome = ExpectationOutcome(
        name="review_acceptance_lower_bound",
        passed=decision.state is ReviewState.PASSED,
        observed=f.as_dict(),
        expected={"min_acceptance": decision.min_acceptance},
        details=decision.describe(),
    )
    store_check(wh, spec.name, version, REVIEW, "dataset", [outcome], spec_hash=spec.spec_hash())
    if decision.state is ReviewState.FAILED:
        wh.set_version_status(spec.name, version, "failed")
    return decision


def report_review(spec: DatasetSpec, wh: Warehouse, version: str) -> dict[str, Any] | None:
    """What the report shows of the review, or None before the first verdict."""
    try:
        session = ReviewSession.open(spec, wh, version)
    except ReviewError:  # no records: nothing reviewed
        return None
    decision = evaluate_review(session)
    if not decision.figures.reviewed:
        return None
    return {
        **decision.figures.as_dict(),
        "state": decision.state.value,
        "required": review_required(spec, wh, version),
        "min_acceptance": decision.min_acceptance,
        "metrics": decision.figures.metrics(),
    }
