"""Publication gates: which checks a version must pass, and why a version is refused.

Dagster's blocking checks stop downstream assets in the same run only; this
module is the cross-run gate that `published`, the CLI and the exporters share.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import polars as pl

from synth_pipeline.fingerprints import (
    binding_refusal,
    checked_table,
    frame_fingerprint,
    table_fingerprint,
)
from synth_pipeline.pipeline import DATASET_TABLE
from synth_pipeline.warehouse import Warehouse

if TYPE_CHECKING:
    from synth_pipeline.spec import DatasetSpec

FILTERED_SUITE = "filtered_quality_suite"
DATASET_SUITE = "dataset_quality_suite"
REPORT_THRESHOLDS = "report_thresholds"
# Human review (`synth_pipeline.review`): required only by specs with `review.required`.
REVIEW = "review"
AWAITING_REVIEW = "awaiting_review"  # a version status: every other gate passed
# The comparison with the published version (`synth_pipeline.regression`): it holds a version
# rather than failing it, and only its latest evaluation counts, so it decides on its own.
REGRESSION = "report_regression"

REQUIRED_CHECKS = (FILTERED_SUITE, DATASET_SUITE, REPORT_THRESHOLDS, REGRESSION)


class GateRefused(RuntimeError):
    pass


class RegressionHeld(GateRefused):
    """Worse than the published version: held (status held_regression), not failed."""


def _refusal_before_regression(
    warehouse: Warehouse, dataset: str, version: str, spec: DatasetSpec | None
) -> str | None:
    failed = [c for c in warehouse.failed_checks(dataset, version) if c != REGRESSION]
    if failed:
        return (
            f"version {version} of {dataset} failed the check(s) {', '.join(failed)} "
            "and can never be published or exported; make a new version instead"
        )
    passed = set(warehouse.passed_checks(dataset, version))
    missing = [c for c in REQUIRED_CHECKS if c not in passed and c != REGRESSION]
    if missing:
        return (
            f"version {version} of {dataset} has not passed the check(s) {', '.join(missing)}; "
            "materialize the whole version first"
        )
    if warehouse.count(DATASET_TABLE, dataset, version) == 0:
        return f"version {version} of {dataset} has no quality-checked records"
    return binding_refusal(warehouse, dataset, version, spec.spec_hash() if spec else None)


def _regression_refusal(warehouse: Warehouse, dataset: str, version: str) -> str | None:
    from synth_pipeline.regression.gate import regression_refusal  # it stores through here

    return regression_refusal(warehouse, dataset, version)


def checks_refusal(
    warehouse: Warehouse, dataset: str, version: str, spec: DatasetSpec | None = None
) -> str | None:
    """Why the version's automatic gates refuse it (failed or missing checks, no rows, rows
    that changed after their checks passed, a regression against the published version;
    with `spec`, also a spec that changed since)."""
    return _refusal_before_regression(warehouse, dataset, version, spec) or _regression_refusal(
        warehouse, dataset, version
    )


def ensure_checks_pass(
    warehouse: Warehouse, dataset: str, version: str, spec: DatasetSpec | None = None
) -> None:
    """Raise GateRefused when the automatic gates refuse the version, RegressionHeld when
    only the regression gate holds it."""
    reason = _refusal_before_regression(warehouse, dataset, version, spec)
    if reason:
        raise GateRefused(reason)
    held = _regression_refusal(warehouse, dataset, version)
    if held:
        raise RegressionHeld(held)


def publish_refusal(
    warehouse: Warehouse, dataset: str, version: str, spec: DatasetSpec | None = None
) -> str | None:
    """Why this version may not be published or exported, or None when it may.

    Pass the spec that would publish or export it: checks that passed under another spec
    then refuse it too."""
    reason = checks_refusal(warehouse, dataset, version, spec)
    if reason:
        return reason
    # The status, not the spec, holds the requirement: it was fixed when the version was made.
    if warehouse.version_status(
        dataset, version
    ) == AWAITING_REVIEW and REVIEW not in warehouse.passed_checks(dataset, version):
        return (
            f"version {version} of {dataset} is awaiting human review: "
            f"run `synth review {dataset} --version {version}`"
        )
    return None


def ensure_publishable(
    warehouse: Warehouse, dataset: str, version: str, spec: DatasetSpec | None = None
) -> None:
    ensure_checks_pass(warehouse, dataset, version, spec)
    reason = publish_refusal(warehouse, dataset, version, spec)
    if reason:
        raise GateRefused(reason)


def store_check(
    wh: Warehouse,
    dataset: str,
    version: str,
    check_name: str,
    asset: str,
    outcomes: Sequence[Any],
    *,
    spec_hash: str | None = None,
    checked_rows: pl.DataFrame | None = None,
) -> bool:
    """Append one evaluation of a check (one row per expectation outcome); True if passed.

    The result is bound to what it checked: `spec_hash` (the spec it ran under) and the
    fingerprint of `checked_rows`, the rows it evaluated (by default the version's rows of
    the table the asset's checks judge, as they are now). The gate refuses a version whose
    rows or spec no longer match (`fingerprints.binding_refusal`)."""
    fingerprint = (
        frame_fingerprint(checked_rows)
        if checked_rows is not None
        else table_fingerprint(wh, checked_table(asset), dataset, version)
    )
    bound = {"rows_fingerprint": fingerprint, "spec_hash": spec_hash}
    rows = [
        {
            "dataset": dataset,
            "version": version,
            "check_name": check_name,
            "asset": asset,
            "expectation": o.name,
            "passed": bool(o.passed),
            "observed": json.dumps(o.observed, default=str),
            "expected": json.dumps(o.expected, default=str),
            "details": o.details,
            **bound,
        }
        for o in outcomes
    ]
    passed = all(o.passed for o in outcomes)
    if not rows:  # a check with nothing to evaluate still leaves its trace
        rows = [
            {
                "dataset": dataset,
                "version": version,
                "check_name": check_name,
                "asset": asset,
                "expectation": "(none configured)",
                "passed": True,
                "observed": "null",
                "expected": "null",
                "details": "no expectations configured",
                **bound,
            }
        ]
    wh.append("check_results", pl.DataFrame(rows))
    return passed
