"""Diff of two versions: records by normalized text and by id, labels, metric deltas."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from synth_pipeline.diff import DiffError, diff_versions, render_diff
from synth_pipeline.warehouse import Warehouse
from synth_pipeline_tests.test_lineage import DATASET, build_version


@pytest.fixture
def wh(tmp_path: Path) -> Warehouse:
    return Warehouse(tmp_path / "w.duckdb")


def test_diff_matches_records_by_normalized_text_and_reports_ids(wh):
    ids1 = build_version(
        wh,
        "v1",
        [
            ("Refund my order now!", "refund"),
            ("Where is my parcel??", "status"),
            ("Cancel everything", "refund"),
        ],
        metrics={"headline_score": 60.0, "tstr_accuracy": 0.7, "only_v1": 1.0},
    )
    ids2 = build_version(
        wh,
        "v2",
        [
            ("Refund my order now!", "refund"),  # same text; given v1's id below
            ("  where IS my   parcel??", "status"),  # same normalized text, new id
            ("My card was charged twice", "refund"),
            ("Track my package please", "status"),
        ],
        salt="v2",
        metrics={"headline_score": 72.5, "tstr_accuracy": 0.8},
    )
    # One record keeps its id across versions (the same request generated it again).
    wh.execute(
        "UPDATE dataset_records SET record_id = ? WHERE version = 'v2' AND record_id = ?",
        [ids1["Refund my order now!"], ids2["Refund my order now!"]],
    )
    d = diff_versions(wh, DATASET, "v1", "v2")
    c = d.counts
    assert (c["rows_v1"], c["rows_v2"]) == (3, 4)
    assert (c["added"], c["removed"], c["kept"]) == (2, 1, 2)
    assert (c["kept_same_id"], c["kept_new_id"], c["relabelled"]) == (1, 1, 0)
    assert set(d.added["text"]) == {"My card was charged twice", "Track my package please"}
    assert d.removed["text"].to_list() == ["Cancel everything"]
    kept = {r["text"]: r for r in d.kept.iter_rows(named=True)}
    moved = kept["  where IS my   parcel??"]
    assert moved["record_id_v1"] == ids1["Where is my parcel??"]
    assert moved["record_id_v2"] == ids2["  where IS my   parcel??"]
    assert d.ids == {"shared": 1, "only_v1": 2, "only_v2": 3}

    labels = {r["label"]: r for r in d.labels}
    assert (labels["refund"]["v1"], labels["refund"]["v2"], labels["refund"]["delta"]) == (2, 2, 0)
    assert (labels["status"]["v1"], labels["status"]["v2"], labels["status"]["delta"]) == (1, 2, 1)
    assert labels["status"]["share_delta"] == pytest.approx(0.5 - 1 / 3, abs=1e-4)

    metrics = {r["metric"]: r for r in d.metrics}
    assert metrics["headline_score"]["delta"] == pytest.approx(12.5)
    assert metrics["tstr_accuracy"]["delta"] == pytest.approx(0.1)
    assert metrics["only_v1"]["v2"] is None and metrics["only_v1"]["delta"] is None

    json.dumps(d.to_dict())
    render_diff(d)


def test_relabelled_records_and_unknown_versions(wh):
    build_version(wh, "v1", [("Refund my order now!", "refund")])
    build_version(wh, "v2", [("Refund my order now!", "status")], salt="x")
    d = diff_versions(wh, DATASET, "v1", "v2")
    assert d.counts["relabelled"] == 1 and d.counts["kept"] == 1
    with pytest.raises(DiffError, match="no version 'v9'"):
        diff_versions(wh, DATASET, "v1", "v9")
