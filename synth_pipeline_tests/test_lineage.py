"""Row-level and version-level lineage over a small hand-built warehouse (no model runs).

`build_version` and the spec helpers are shared by the diff, export and SQL model tests.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import pytest

from synth_pipeline.fingerprints import frame_fingerprint
from synth_pipeline.gates import REQUIRED_CHECKS
from synth_pipeline.lineage import (
    LineageError,
    record_lineage,
    render_record_lineage,
    render_version_lineage,
    version_lineage,
)
from synth_pipeline.spec import DatasetSpec
from synth_pipeline.warehouse import Warehouse

DATASET = "intents"


def intents_spec(**extra: Any) -> DatasetSpec:
    return DatasetSpec.model_validate(
        {
            "name": DATASET,
            "kind": "classification",
            "task": "Classify a customer message into its intent.",
            "fields": [
                {"name": "text", "description": "The customer's message."},
                {"name": "label", "description": "The intent."},
            ],
            "text_field": "text",
            "label_field": "label",
            "labels": ["refund", "status"],
            "generation": {"records_per_label": 3},
            "quality": {"min_yield": 1},
            **extra,
        }
    )


def qa_spec() -> DatasetSpec:
    return DatasetSpec.model_validate(
        {
            "name": "qa",
            "kind": "instruction",
            "task": "Answer a home barista's question.",
            "fields": [
                {"name": "question", "description": "The question."},
                {"name": "answer", "description": "The answer."},
                {"name": "difficulty", "type": "integer", "description": "1 to 3."},
            ],
            "text_field": "question",
            "generation": {"total_records": 4},
            "quality": {"min_yield": 1},
        }
    )


def cid(text: str, salt: str = "") -> str:
    return "c-" + hashlib.sha256(f"{salt}|{text}".encode()).hexdigest()[:16]


SEEDS = [
    ("seed-aaa", "I want my money back", "refund"),
    ("seed-bbb", "Where is my parcel?", "status"),
    ("seed-ccc", "Refund please, item broken", "refund"),
]


def build_version(
    wh: Warehouse,
    version: str,
    kept: list[tuple[str, str]],
    dropped: list[tuple[str, str, str]] = (),  # (text, label, reason)
    *,
    dataset: str = DATASET,
    salt: str = "",
    checks: dict[str, bool] | None = None,
    metrics: dict[str, float] | None = None,
    publish: bool = False,
    failed_candidates: int = 1,
    spec: DatasetSpec | None = None,
) -> dict[str, str]:
    """One version: seeds, holdout, candidates, curation, dataset, checks, metrics.

    The checks are bound, as real ones are, to the version's rows and to `spec` (by default
    `intents_spec()` or `qa_spec()`, by dataset). Returns text -> record id of every
    generated candidate.
    """
    if spec is None:
        spec = qa_spec() if dataset == "qa" else intents_spec()
    ids: dict[str, str] = {}
    seeds = pl.DataFrame(
        [
            {
                "record_id": rid,
                "text": text,
                "label": label,
                "record": json.dumps({"text": text, "label": label}),
                "source_file": "seeds.jsonl",
                "source_line": i + 1,
            }
            for i, (rid, text, label) in enumerate(SEEDS)
        ]
    )
    holdout = seeds.with_columns(
        pl.col("record_id").str.replace("seed", "holdout"),
        pl.lit("holdout.jsonl").alias("source_file"),
    )
    cands = []
    for i, (text, label) in enumerate([*kept, *[(t, lab) for t, lab, _ in dropped]]):
        rid = cid(text, salt)
        ids[text] = rid
        params = {"temperature": 0.9, "seed": i}
        if i == 0:
            params["attributes"] = {"tone": "angry"}
        cands.append(
            {
                "record_id": rid,
                "text": text,
                "label": label,
                "record": json.dumps({"text": text, "label": label}),
                "status": "ok",
                "error": None,
                "strategy": "attributes" if i == 0 else "seed_variation",
                "requested_label": label,
                "seed_ids": json.dumps(
                    ["seed-aaa", "seed-ccc"] if label == "refund" else ["seed-bbb"]
                ),
                "sample_index": i,
                "cache_key": rid[2:] + "0" * 48,
                "prompt_hash": f"p{i:03d}",
                "provider": "embedded",
                "model": "smollm2",
                "params": json.dumps(params),
                "raw_response": json.dumps({"text": text}),
                "from_cache": False,
                "prompt_tokens": 10,
                "completion_tokens": 5,
            }
        )
    for j in range(failed_candidates):
        cands.append(
            {
                "record_id": cid(f"failed{j}", salt),
                "status": "incomplete_output",
                "error": "max_tokens",
                "strategy": "seed_variation",
                "requested_label": "status",
                "seed_ids": "[]",
                "sample_index": 100 + j,
                "provider": "embedded",
                "model": "smollm2",
                "params": "{}",
            }
        )
    kept_frame = pl.DataFrame(
        [
            {
                "record_id": ids[t],
                "text": t,
                "label": lab,
                "record": json.dumps({"text": t, "label": lab}),
            }
            for t, lab in kept
        ],
        schema={"record_id": pl.String, "text": pl.String, "label": pl.String, "record": pl.String},
    )
    audit = [
        {
            "record_id": ids[t],
            "filter": reason,
            "reason": reason,
            "score": 0.97,
            "detail": "x",
            "kept": False,
        }
        for t, _, reason in dropped
    ]
    if kept:
        audit.append(
            {
                "record_id": ids[kept[0][0]],
                "filter": "pii",
                "reason": "pii_redacted",
                "score": None,
                "detail": "email",
                "kept": True,
            }
        )
    audit_frame = pl.DataFrame(
        audit,
        schema={
            "record_id": pl.String,
            "filter": pl.String,
            "reason": pl.String,
            "score": pl.Float64,
            "detail": pl.String,
            "kept": pl.Boolean,
        },
    )
    wh.replace_versions(
        {
            "seeds": seeds,
            "holdout": holdout,
            "candidates": pl.DataFrame(cands, infer_schema_length=None),
            "filtered": kept_frame,
            "curation_audit": audit_frame,
            "dataset_records": kept_frame,
        },
        dataset,
        version,
    )
    wh.record_version(
        dataset,
        version,
        spec_hash="abc123",
        provider="embedded",
        model="smollm2",
        seed_files_sha256=json.dumps({"seeds.jsonl": "11" * 32, "holdout.jsonl": "22" * 32}),
        code_version="0.1.0",
        status="running",
    )
    results = {c: True for c in REQUIRED_CHECKS}
    results.update(checks or {})
    wh.append(
        "check_results",
        pl.DataFrame(
            [
                {
                    "dataset": dataset,
                    "version": version,
                    "check_name": name,
                    "asset": "dataset",
                    "expectation": f"{name}_expectation",
                    "passed": ok,
                    "observed": "1",
                    "expected": "1",
                    "details": "",
                    "rows_fingerprint": frame_fingerprint(kept_frame),
                    "spec_hash": spec.spec_hash(),
                }
                for name, ok in results.items()
            ]
        ),
    )
    metrics = metrics if metrics is not None else {"headline_score": 70.0, "tstr_accuracy": 0.8}
    wh.replace_version(
        "report_metrics",
        dataset,
        version,
        pl.DataFrame({"metric": list(metrics), "value": list(metrics.values())}),
    )
    if publish:
        publish_version(wh, dataset, version)
    return ids


def publish_version(wh: Warehouse, dataset: str, version: str) -> None:
    try:
        wh.publish(dataset, version)
    except duckdb.BinderException:
        # Warehouse.publish's `SET published_at = current_timestamp` does not bind on
        # DuckDB 2.0 (it reads as a column); write the same rows directly meanwhile.
        wh.execute("DELETE FROM published WHERE dataset = ?", [dataset])
        wh.execute("INSERT INTO published (dataset, version) VALUES (?, ?)", [dataset, version])
        wh.execute(
            "INSERT INTO publish_history (dataset, version) VALUES (?, ?)", [dataset, version]
        )
        wh.set_version_status(dataset, version, "published")


@pytest.fixture
def wh(tmp_path: Path) -> Warehouse:
    return Warehouse(tmp_path / "w.duckdb")


KEPT = [("Refund my order now!", "refund"), ("Has my order shipped yet?", "status")]
DROPPED = [
    ("I want my money back", "refund", "seed_copy"),
    ("as an ai i cannot", "status", "degenerate"),
]


def test_record_lineage_follows_a_record_to_its_seeds_decisions_checks_and_publication(wh):
    ids = build_version(wh, "v1", KEPT, DROPPED, publish=True)
    lin = record_lineage(wh, DATASET, "v1", ids["Refund my order now!"])
    assert lin.in_dataset and lin.origin == "generated"
    assert lin.label == "refund" and lin.record == {
        "text": "Refund my order now!",
        "label": "refund",
    }
    assert lin.strategy == "attributes" and lin.attributes == {"tone": "angry"}
    assert lin.prompt_hash == "p000" and lin.provider == "embedded" and lin.model == "smollm2"
    assert lin.params["temperature"] == 0.9
    assert json.loads(lin.raw_response) == {"text": "Refund my order now!"}
    assert [s["record_id"] for s in lin.seeds] == ["seed-aaa", "seed-ccc"]
    assert (
        lin.seeds[0]["source_file"] == "seeds.jsonl" and lin.seeds[0]["record"]["label"] == "refund"
    )
    assert lin.missing_seed_ids == []
    assert lin.decisions == [
        {"filter": "pii", "reason": "pii_redacted", "score": None, "detail": "email", "kept": True}
    ]
    assert {c["check_name"] for c in lin.checks} == set(REQUIRED_CHECKS)
    assert lin.version_info["spec_hash"] == "abc123"
    assert lin.version_info["seed_files_sha256"]["seeds.jsonl"] == "11" * 32
    assert lin.publication["published"] and lin.publication["refusal"] is None
    json.dumps(lin.to_dict())  # serialisable for --json output
    render_record_lineage(lin)

    other = record_lineage(wh, DATASET, "v1", ids["Has my order shipped yet?"])
    assert other.decisions == [] and other.attributes is None
    assert [s["record_id"] for s in other.seeds] == ["seed-bbb"]


def test_record_lineage_is_a_queryable_view_and_explains_dropped_records(wh):
    ids = build_version(wh, "v1", KEPT, DROPPED)
    dropped = record_lineage(wh, DATASET, "v1", ids["I want my money back"])
    assert not dropped.in_dataset
    assert [(d["filter"], d["kept"]) for d in dropped.decisions] == [("seed_copy", False)]
    assert not dropped.publication["published"]
    rows = wh.query(
        "SELECT record_id, strategy, audit_reason FROM record_lineage WHERE version = 'v1' "
        "ORDER BY record_id"
    )
    assert set(rows["record_id"]) == {ids[t] for t, _ in KEPT}
    assert "pii_redacted" in rows["audit_reason"].to_list()
    with pytest.raises(LineageError, match="neither in the dataset"):
        record_lineage(wh, DATASET, "v1", "c-0000000000000000")


def test_attributes_column_is_read_when_candidates_have_one(wh):
    ids = build_version(wh, "v1", KEPT)
    wh.execute("ALTER TABLE candidates ADD COLUMN attributes JSON")
    wh.execute(
        'UPDATE candidates SET attributes = \'{"persona": "student"}\' WHERE record_id = ?',
        [ids["Has my order shipped yet?"]],
    )
    lin = record_lineage(wh, DATASET, "v1", ids["Has my order shipped yet?"])
    assert lin.attributes == {"persona": "student"}


def test_version_lineage_counts_every_stage_and_drop_reason(wh):
    build_version(wh, "v1", KEPT, DROPPED, failed_candidates=2, publish=True)
    lin = version_lineage(wh, DATASET, "v1")
    rows = {s.stage: s.rows for s in lin.stages}
    assert rows == {
        "seeds": 3,
        "holdout": 3,
        "candidates": 6,
        "filtered": 2,
        "dataset": 2,
        "validation_report": 2,
        "published": 2,
    }
    assert (
        lin.stage("candidates").detail["ok"] == 4 and lin.stage("candidates").detail["failed"] == 2
    )
    assert lin.stage("candidates").detail["failures_by_reason"] == {"max_tokens": 2}
    assert lin.stage("filtered").upstream == ("candidates", "seeds", "holdout")
    assert lin.dropped_by_reason == {"degenerate": 1, "seed_copy": 1}
    assert lin.modified_by_reason == {"pii_redacted": 1}
    assert all(c["passed"] for c in lin.checks) and len(lin.checks) == len(REQUIRED_CHECKS)
    assert lin.publication["published"]
    json.dumps(lin.to_dict())
    render_version_lineage(lin)


def test_version_lineage_of_a_failed_unpublished_version(wh):
    build_version(wh, "v2", KEPT, checks={"report_thresholds": False})
    lin = version_lineage(wh, DATASET, "v2")
    assert lin.stage("published").rows == 0 and not lin.publication["published"]
    failed = [c for c in lin.checks if not c["passed"]]
    assert [c["check_name"] for c in failed] == ["report_thresholds"]
    assert "report_thresholds" in lin.publication["refusal"]
    with pytest.raises(LineageError, match="no version"):
        version_lineage(wh, DATASET, "nope")
