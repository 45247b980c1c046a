"""Publication gates: which checks a version must pass, and why a version is refused.

Dagster's blocking checks stop downstream assets in the same run only; this
module is the cross-run gate that `published`, the CLI and the exporters share.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import polars as pl

from synth_pipeline.warehouse import Warehouse

FILTERED_SUITE = "filtered_quality_suite"
DATASET_SUITE = "dataset_quality_suite"
REPORT_THRESHOLDS = "report_thresholds"
# Human review (`synth_pipeline.review`): required only by specs with `review.required`.
REVIEW = "review"
AWAITING_REVIEW = "awaiting_review"  # a version status: every other gate passed

REQUIRED_CHECKS = (FILTERED_SUITE, DATASET_SUITE, REPORT_THRESHOLDS)


class GateRefused(RuntimeError):
    pass


def checks_refusal(warehouse: Warehouse, dataset: str, version: str) -> str | None:
    """Why the version's automatic gates refuse it (failed or missing checks, no rows)."""
    failed = warehouse.failed_checks(dataset, version)
    if failed:
        return (
            f"version {version} of {dataset} failed the check(s) {', '.join(failed)} "
            "and can never be published or exported; make a new version instead"
        )
    passed = set(warehouse.passed_checks(dataset, version))
    missing = [c for c in REQUIRED_CHECKS if c not in passed]
    if missing:
        return (
            f"version {version} of {dataset} has not passed the check(s) {', '.join(missing)}; "
            "materialize the whole version first"
        )
    if warehouse.count("dataset_records", dataset, version) == 0:
        return f"version {version} of {dataset} has no quality-checked records"
    return None


def publish_refusal(warehouse: Warehouse, dataset: str, version: str) -> str | None:
    """Why this version may not be published or exported, or None when it may."""
    reason = checks_refusal(warehouse, dataset, version)
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


def ensure_publishable(warehouse: Warehouse, dataset: str, version: str) -> None:
    reason = publish_refusal(warehouse, dataset, version)
    if reason:
        raise GateRefused(reason)


def store_check(
    wh: Warehouse,
    dataset: str,
    version: str,
    check_name: str,
    asset: str,
    outcomes: Sequence[Any],
) -> bool:
    """Append one evaluation of a check (one row per expectation outcome); True if passed."""
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
            }
        ]
    wh.append("check_results", pl.DataFrame(rows))
    return passed
