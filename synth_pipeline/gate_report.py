"""What a gate said about a version, in lines a person reads at the end of a run."""

from __future__ import annotations

from synth_pipeline.warehouse import Warehouse


def failed_expectations(wh: Warehouse, dataset: str, version: str) -> list[str]:
    """One line per failed expectation of the version's checks: check, expectation,
    observed and expected values."""
    rows = wh.query(
        "SELECT check_name, expectation, observed, expected FROM check_results "
        "WHERE dataset = ? AND version = ? AND NOT passed ORDER BY check_name, expectation",
        [dataset, version],
    )
    out = []
    for r in rows.iter_rows(named=True):
        observed = str(r["observed"])
        if len(observed) > 80:
            observed = observed[:77] + "..."
        out.append(
            f"{r['check_name']}: {r['expectation']} observed {observed}, expected {r['expected']}"
        )
    return out
