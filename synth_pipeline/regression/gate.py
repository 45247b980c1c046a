"""The regression gate in the warehouse: compare a version with the published one, record the
outcome as the `report_regression` check, hold or release the version, accept a regression.

A held version is not a failure: its status is `held_regression`, its other gates may all
have passed, and `synth materialize --accept-regression` publishes it (recorded with who and
when in `regression_acceptances`). Only the latest evaluation of the check counts, because
the published version it compares with can change (the `published` step compares again when
it did). `regression_refusal` is what `gates.checks_refusal` asks, so `published`, exports and
the review command all respect it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from synth_pipeline.gates import REGRESSION, store_check
from synth_pipeline.regression.compare import (
    BY_METRIC,
    HELD,
    Acceptance,
    Comparison,
    FigureComparison,
    compare,
)
from synth_pipeline.warehouse import Warehouse, json_value

if TYPE_CHECKING:
    from synth_pipeline.spec import DatasetSpec

HELD_STATUS = "held_regression"  # a version status, like awaiting_review
SUMMARY_ROW = "published_version"  # the evaluation's first row: what it compared with
ASSET = "validation_report"


class RegressionError(RuntimeError):
    pass


def report_metrics(wh: Warehouse, dataset: str, version: str) -> dict[str, float]:
    return {
        m: float(v)
        for m, v in wh.rows(
            "SELECT metric, value FROM report_metrics WHERE dataset = ? AND version = ? "
            "AND value IS NOT NULL",
            [dataset, version],
        )
    }


# --- acceptances ----------------------------------------------------------------------------


def latest_acceptance(wh: Warehouse, dataset: str, version: str) -> Acceptance | None:
    rows = wh.rows(
        "SELECT accepted_by, strftime(accepted_at, '%Y-%m-%dT%H:%M:%SZ'), baseline_version, "
        "note FROM regression_acceptances WHERE dataset = ? AND version = ? "
        "ORDER BY accepted_at DESC LIMIT 1",
        [dataset, version],
    )
    if not rows:
        return None
    by, at, baseline, note = rows[0]
    return Acceptance(by, at, baseline, note or "")


def _record_acceptance(wh: Warehouse, dataset: str, version: str, a: Acceptance) -> None:
    wh.execute(
        "INSERT INTO regression_acceptances (dataset, version, accepted_by, accepted_at, "
        "baseline_version, note) VALUES (?, ?, ?, ?, ?, ?)",
        [dataset, version, a.accepted_by, a.accepted_at.rstrip("Z"), a.baseline, a.note],
    )


# --- evaluation -----------------------------------------------------------------------------


def _outcomes(c: Comparison) -> list[Any]:
    from synth_pipeline.quality import ExpectationOutcome

    summary = ExpectationOutcome(
        name=SUMMARY_ROW,
        passed=True,
        observed={
            "baseline": c.baseline,
            "state": c.state,
            "enabled": c.enabled,
            "acceptance": c.acceptance.as_dict() if c.acceptance else None,
        },
        expected={"compared_with": "the dataset's published version when the check ran"},
        details=c.describe(),
    )
    rows = [summary]
    for f in c.figures:
        d = f.as_dict()
        rows.append(
            ExpectationOutcome(
                name=f.figure.metric,
                # A regressed figure holds the version unless a person accepted it.
                passed=not (f.regressed and c.acceptance is None),
                observed={"value": d["candidate"], "interval": d["candidate_interval"]},
                expected={
                    "baseline": c.baseline,
                    "published": d["published"],
                    "published_interval": d["published_interval"],
                    "tolerance": f.tolerance,
                    "relative": f.figure.relative,
                    "higher_is_better": f.figure.higher_is_better,
                    "require_separate_intervals": f.use_intervals,
                    "worse_by": d["worse_by"],
                    "regressed": f.regressed,
                },
                details=f"{f.figure.label}: {f.verdict}",
            )
        )
    return rows


def evaluate(
    spec: DatasetSpec, wh: Warehouse, version: str, reports_root: Path | None = None
) -> Comparison:
    """Compare the version's report metrics with the published version's, store the outcome
    as the `report_regression` check, set or clear the held status, and put the comparison
    into the version's report (when `reports_root` holds it)."""
    dataset = spec.name
    candidate = report_metrics(wh, dataset, version)
    if not candidate:
        raise RegressionError(
            f"{dataset}/validation_report has no metrics for version {version}: "
            "materialize it first"
        )
    baseline = wh.published_version(dataset)
    if baseline == version:
        baseline = None
    published = report_metrics(wh, dataset, baseline) if baseline else None
    comparison = compare(
        spec.regression,
        dataset,
        version,
        candidate,
        baseline,
        published,
        latest_acceptance(wh, dataset, version),
    )
    store_check(
        wh,
        dataset,
        version,
        REGRESSION,
        ASSET,
        _outcomes(comparison),
        spec_hash=spec.spec_hash(),
    )
    _set_status(wh, dataset, version, comparison)
    if reports_root is not None:
        from synth_pipeline.report.comparison import update_report_comparison

        update_report_comparison(reports_root / dataset / version, comparison)
    return comparison


def _set_status(wh: Warehouse, dataset: str, version: str, c: Comparison) -> None:
    if wh.was_published(dataset, version):
        return
    status = wh.version_status(dataset, version)
    if c.held and status != "failed":
        wh.set_version_status(dataset, version, HELD_STATUS)
    elif not c.held and status == HELD_STATUS:
        wh.set_version_status(dataset, version, "running")  # released: ready to publish


# --- what is stored -------------------------------------------------------------------------


@dataclass(frozen=True)
class Evaluation:
    """The latest stored evaluation of the check for one version."""

    passed: bool  # no row holds the version
    baseline_known: bool  # written by this module (rows written otherwise lack a summary)
    baseline: str | None
    checked_at: Any
    comparison: Comparison | None  # rebuilt from the rows, when written by this module


def _interval(v: Any) -> tuple[float, float] | None:
    return (float(v[0]), float(v[1])) if isinstance(v, list) and len(v) == 2 else None


def latest_evaluation(wh: Warehouse, dataset: str, version: str) -> Evaluation | None:
    rows = wh.rows(
        "SELECT expectation, passed, observed, expected, checked_at FROM check_results "
        "WHERE dataset = ? AND version = ? AND check_name = ? AND checked_at = ("
        "  SELECT max(checked_at) FROM check_results"
        "  WHERE dataset = ? AND version = ? AND check_name = ?) ORDER BY rowid",
        [dataset, version, REGRESSION] * 2,
    )
    if not rows:
        return None
    passed = all(bool(r[1]) for r in rows)
    summary = next((json_value(r[2]) for r in rows if r[0] == SUMMARY_ROW), None)
    if not isinstance(summary, dict):
        return Evaluation(passed, False, None, rows[0][4], None)
    figures = []
    for name, _, observed, expected, _ in rows:
        fig = BY_METRIC.get(name)
        obs, exp = json_value(observed), json_value(expected)
        if fig is None or not isinstance(obs, dict) or not isinstance(exp, dict):
            continue
        figures.append(
            FigureComparison(
                figure=fig,
                tolerance=float(exp.get("tolerance") or 0.0),
                published=exp.get("published"),
                published_interval=_interval(exp.get("published_interval")),
                candidate=obs.get("value"),
                candidate_interval=_interval(obs.get("interval")),
                use_intervals=bool(exp.get("require_separate_intervals", True)),
            )
        )
    acc = summary.get("acceptance")
    acceptance = (
        Acceptance(acc["accepted_by"], acc["accepted_at"], acc.get("baseline"), acc.get("note", ""))
        if isinstance(acc, dict)
        else None
    )
    baseline = summary.get("baseline")
    comparison = Comparison(
        dataset, version, baseline, bool(summary.get("enabled", True)), figures, acceptance
    )
    return Evaluation(passed, True, baseline, rows[0][4], comparison)


def stored_comparison(wh: Warehouse, dataset: str, version: str) -> Comparison | None:
    """The latest comparison, with the latest acceptance (it may postdate the evaluation)."""
    ev = latest_evaluation(wh, dataset, version)
    if ev is None or ev.comparison is None:
        return None
    return ev.comparison.with_acceptance(
        latest_acceptance(wh, dataset, version) or ev.comparison.acceptance
    )


def holding(wh: Warehouse, dataset: str, version: str) -> Comparison | None:
    """The comparison holding this unpublished version, or None when nothing holds it."""
    if wh.was_published(dataset, version):
        return None
    c = stored_comparison(wh, dataset, version)
    return c if c is not None and c.state == HELD else None


def regression_refusal(wh: Warehouse, dataset: str, version: str) -> str | None:
    """Why the regression gate refuses to publish the version (held, or never compared), or
    None. A person's acceptance, or publication, settles it."""
    if wh.was_published(dataset, version):
        return None  # publication decided it; a published version is final
    ev = latest_evaluation(wh, dataset, version)
    if ev is None:
        return (
            f"version {version} of {dataset} has not been compared with the published version "
            f"(check {REGRESSION}); materialize the whole version first"
        )
    if latest_acceptance(wh, dataset, version) is not None:
        return None
    # A comparison with a version that is no longer the published one still stands here: the
    # `published` step compares again first (`refresh_if_stale`) before it moves the pointer.
    if not ev.passed:
        what = ev.comparison.regressed_text() if ev.comparison else "see check " + REGRESSION
        return (
            f"version {version} of {dataset} is held: regression against published version "
            f"{ev.baseline}: {what}; publish it anyway with "
            f"`synth materialize {dataset} --version {version} --accept-regression`"
        )
    return None


def refresh_if_stale(
    spec: DatasetSpec, wh: Warehouse, version: str, reports_root: Path | None = None
) -> Comparison | None:
    """Compare again when the published version changed since the last comparison (or there
    was none and the report exists): the step that publishes calls this first."""
    dataset = spec.name
    if wh.was_published(dataset, version):
        return None
    ev = latest_evaluation(wh, dataset, version)
    if ev is not None and (not ev.baseline_known or ev.baseline == wh.published_version(dataset)):
        return None
    if not report_metrics(wh, dataset, version):
        return None
    return evaluate(spec, wh, version, reports_root)


def accept(
    spec: DatasetSpec,
    wh: Warehouse,
    version: str,
    accepted_by: str,
    reports_root: Path | None = None,
    note: str = "",
) -> Comparison | None:
    """Record that `accepted_by` publishes the version despite a regression, now. A version
    with a report is compared again (its check then passes, naming who accepted it); for a
    version not made yet the acceptance waits for its comparison (returns None)."""
    dataset = spec.name
    if wh.was_published(dataset, version):
        raise RegressionError(f"version {version} of {dataset} is already published")
    acceptance = Acceptance(
        accepted_by=accepted_by,
        accepted_at=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        baseline=wh.published_version(dataset),
        note=note,
    )
    _record_acceptance(wh, dataset, version, acceptance)
    if not report_metrics(wh, dataset, version):
        return None
    return evaluate(spec, wh, version, reports_root)


def publication_metadata(wh: Warehouse, dataset: str, version: str) -> dict[str, Any]:
    """Figures for the `published` step's metadata: the gate's state and who accepted."""
    c = stored_comparison(wh, dataset, version)
    if c is None:
        return {}
    out: dict[str, Any] = {
        "regression.state": c.state,
        "regression.compared_with": c.baseline or "none",
    }
    if c.acceptance is not None:
        out["regression.accepted_by"] = c.acceptance.accepted_by
        out["regression.accepted_at"] = c.acceptance.accepted_at
    return out


__all__ = [
    "HELD_STATUS",
    "Evaluation",
    "RegressionError",
    "accept",
    "evaluate",
    "holding",
    "latest_acceptance",
    "latest_evaluation",
    "publication_metadata",
    "refresh_if_stale",
    "regression_refusal",
    "report_metrics",
    "stored_comparison",
]
