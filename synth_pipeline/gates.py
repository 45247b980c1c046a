"""Publication gates: which checks a version must pass, and why a version is refused.

Dagster's blocking checks stop downstream assets in the same run only; this
module is the cross-run gate that `published`, the CLI and the exporters share.
"""

from __future__ import annotations

from synth_pipeline.warehouse import Warehouse

FILTERED_SUITE = "filtered_quality_suite"
DATASET_SUITE = "dataset_quality_suite"
REPORT_THRESHOLDS = "report_thresholds"

REQUIRED_CHECKS = (FILTERED_SUITE, DATASET_SUITE, REPORT_THRESHOLDS)


class GateRefused(RuntimeError):
    pass


def publish_refusal(warehouse: Warehouse, dataset: str, version: str) -> str | None:
    """Why this version may not be published or exported, or None when it may."""
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


def ensure_publishable(warehouse: Warehouse, dataset: str, version: str) -> None:
    reason = publish_refusal(warehouse, dataset, version)
    if reason:
        raise GateRefused(reason)
