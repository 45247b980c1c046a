"""Eval sets are never synthetic-only (`purpose: eval`).

An eval version's `dataset` stage keeps the version's real holdout rows next to its curated
synthetic rows, each with `origin` real or synthetic, and the blocking dataset suite's
`real_share_at_least_min` refuses a version with too few real rows. Real parts throughout:
a DuckDB warehouse file in tmp_path, the stage functions and Great Expectations; the
model never runs (the curated rows are written directly).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import yaml
from pydantic import ValidationError

from synth_pipeline import stages
from synth_pipeline.exports import split_frames
from synth_pipeline.gates import (
    DATASET_SUITE,
    REGRESSION,
    REPORT_THRESHOLDS,
    GateRefused,
    publish_refusal,
    store_check,
)
from synth_pipeline.quality import ExpectationOutcome
from synth_pipeline.spec import DatasetSpec, SpecError, load_spec
from synth_pipeline.warehouse import Warehouse
from synth_pipeline_tests.test_quality import sentence

DATASET = "intents"
EVAL_EXPECTATIONS = {
    "origin_is_real_or_synthetic",
    "real_rows_are_holdout_records",
    "real_share_at_least_min",
}


def raw_spec(**extra: Any) -> dict[str, Any]:
    return {
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
        "generation": {"records_per_label": 5},
        "quality": {"min_yield": 4, "min_length": 10, "max_length": 300},
        **extra,
    }


def eval_spec(**extra: Any) -> DatasetSpec:
    return DatasetSpec.model_validate(raw_spec(purpose="eval", **extra))


def rows(prefix: str, start: int, n: int, **extra: Any) -> pl.DataFrame:
    labels = ["refund", "status"] * n
    out = []
    for i in range(n):
        text = sentence(start + i)
        out.append(
            {
                "record_id": f"{prefix}-{start + i:04d}",
                "text": text,
                "label": labels[i],
                "record": json.dumps({"text": text, "label": labels[i]}),
                **extra,
            }
        )
    return pl.DataFrame(out, infer_schema_length=None)


def make_version(
    wh: Warehouse, spec: DatasetSpec, version: str, *, synthetic: int, real: int
) -> None:
    """Seeds, real holdout and curated synthetic rows, then the filtered suite, the dataset
    stage and the dataset suite, as the pipeline runs them."""
    seeds = rows("seed", 0, 4, source_file="seeds.jsonl", source_line=1)
    holdout = rows("holdout", 100, real, source_file="holdout.jsonl", source_line=1)
    if holdout.is_empty():
        holdout = seeds.clear()
    wh.replace_versions(
        {"seeds": seeds, "holdout": holdout, "filtered": rows("c", 500, synthetic)},
        spec.name,
        version,
    )
    assert stages.run_quality_suite(spec, wh, version, "filtered").passed
    stages.build_dataset(spec, wh, version)
    stages.run_quality_suite(spec, wh, version, "dataset")


def latest(wh: Warehouse, version: str, expectation: str) -> tuple[bool, dict[str, Any]]:
    passed, observed = wh.rows(
        "SELECT passed, observed FROM check_results WHERE dataset = ? AND version = ? "
        "AND check_name = ? AND expectation = ? ORDER BY checked_at DESC LIMIT 1",
        [DATASET, version, DATASET_SUITE, expectation],
    )[0]
    return bool(passed), json.loads(observed)


def origins(wh: Warehouse, version: str) -> dict[str, int]:
    return dict(
        wh.rows(
            "SELECT origin, count(*) FROM dataset_records WHERE dataset = ? AND version = ? "
            "GROUP BY origin",
            [DATASET, version],
        )
    )


def pass_later_gates(wh: Warehouse, spec: DatasetSpec, version: str) -> None:
    """The report and regression checks, passed on the version's rows as they are."""
    checked = wh.stage("dataset_records", DATASET, version)
    ok = ExpectationOutcome("ok", True, 1, 1, "")
    for name, asset in [(REPORT_THRESHOLDS, "validation_report"), (REGRESSION, "published")]:
        store_check(
            wh,
            DATASET,
            version,
            name,
            asset,
            [ok],
            spec_hash=spec.spec_hash(),
            checked_rows=checked,
        )


@pytest.fixture
def wh(tmp_path: Path) -> Warehouse:
    return Warehouse(tmp_path / "w.duckdb")


@pytest.mark.parametrize("real", [0, 3])
def test_an_eval_version_with_too_few_real_rows_fails_and_never_publishes(wh, real):
    spec = eval_spec()
    make_version(wh, spec, "v1", synthetic=10, real=real)

    assert origins(wh, "v1") == {"synthetic": 10, **({"real": real} if real else {})}
    passed, observed = latest(wh, "v1", "real_share_at_least_min")
    assert not passed
    assert observed == {
        "real_share": round(real / (10 + real), 4),
        "real_rows": real,
        "synthetic_rows": 10,
        "rows": 10 + real,
    }
    assert wh.version_status(DATASET, "v1") == "failed"
    pass_later_gates(wh, spec, "v1")  # nothing later can make up for it
    refusal = publish_refusal(wh, DATASET, "v1", spec)
    assert refusal and DATASET_SUITE in refusal and "never be published" in refusal
    with pytest.raises(GateRefused, match=DATASET_SUITE):
        stages.publish(spec, wh, "v1")
    assert wh.published_version(DATASET) is None


def test_an_eval_version_at_its_real_share_passes_and_holds_both_origins(wh):
    spec = eval_spec(eval={"min_real_share": 0.5})
    make_version(wh, spec, "v1", synthetic=8, real=8)

    assert origins(wh, "v1") == {"synthetic": 8, "real": 8}
    real_ids = {r[0] for r in wh.rows("SELECT record_id FROM holdout WHERE version = 'v1'")}
    assert real_ids == {
        r[0] for r in wh.rows("SELECT record_id FROM dataset_records WHERE origin = 'real'")
    }
    outcomes = {
        r[0]: bool(r[1])
        for r in wh.rows(
            "SELECT expectation, passed FROM check_results WHERE check_name = ?", [DATASET_SUITE]
        )
    }
    # Every expectation passes: the real rows are the holdout, not contamination of it.
    assert set(outcomes) >= EVAL_EXPECTATIONS and all(outcomes.values()), outcomes
    passed, observed = latest(wh, "v1", "real_share_at_least_min")
    assert passed and observed["real_share"] == 0.5 and observed["real_rows"] == 8
    pass_later_gates(wh, spec, "v1")
    assert publish_refusal(wh, DATASET, "v1", spec) is None

    # An eval set exports as its test split alone (never trained on), each row with its
    # origin: the real rows real, not synthetic.
    splits = split_frames(wh, spec, "v1")
    assert splits.train.is_empty()
    by_origin = dict(splits.test.group_by("origin").len().iter_rows())
    assert by_origin == {"synthetic": 8, "real": 8}
    assert set(splits.test.filter(pl.col("origin") == "real")["record_id"]) == real_ids
    assert splits.synthetic_rows == 8


def test_relabelling_a_rows_origin_after_the_check_stales_it(wh):
    spec = eval_spec(eval={"min_real_share": 0.5})
    make_version(wh, spec, "v1", synthetic=6, real=6)
    pass_later_gates(wh, spec, "v1")
    assert publish_refusal(wh, DATASET, "v1", spec) is None
    wh.execute(
        "UPDATE dataset_records SET origin = 'real' WHERE origin = 'synthetic' "
        "AND record_id = 'c-0500'"
    )
    refusal = publish_refusal(wh, DATASET, "v1", spec)
    assert refusal and "dataset_records changed" in refusal


def test_a_relabelled_synthetic_row_does_not_count_as_real(wh):
    spec = eval_spec(eval={"min_real_share": 0.5})
    make_version(wh, spec, "v1", synthetic=6, real=4)
    wh.execute("UPDATE dataset_records SET origin = 'real' WHERE record_id = 'c-0500'")
    wh.execute("UPDATE dataset_records SET origin = NULL WHERE record_id = 'c-0501'")
    out = stages.run_quality_suite(spec, wh, "v1", "dataset")
    failed = {o.name: o for o in out.outcomes if not o.passed}
    assert set(failed) == {"origin_is_real_or_synthetic", "real_rows_are_holdout_records"}
    assert failed["real_rows_are_holdout_records"].observed["record_ids"] == ["c-0500"]


def test_a_train_version_is_all_synthetic_without_eval_expectations(wh):
    spec = DatasetSpec.model_validate(raw_spec())
    make_version(wh, spec, "v1", synthetic=6, real=6)
    assert origins(wh, "v1") == {"synthetic": 6}
    names = {r[0] for r in wh.rows("SELECT expectation FROM check_results")}
    assert not names & EVAL_EXPECTATIONS


@pytest.mark.parametrize("share", [-0.1, 1.5])
def test_min_real_share_outside_zero_to_one_is_refused_readably(tmp_path, share):
    with pytest.raises(ValidationError):
        eval_spec(eval={"min_real_share": share})
    folder = tmp_path / DATASET
    folder.mkdir()
    (folder / "spec.yaml").write_text(
        yaml.safe_dump(raw_spec(purpose="eval", eval={"min_real_share": share}))
    )
    with pytest.raises(SpecError) as err:
        load_spec(folder)
    bound = "greater than or equal to 0" if share < 0 else "less than or equal to 1"
    assert f"eval.min_real_share: Input should be {bound}" in str(err.value)
    (folder / "spec.yaml").write_text(yaml.safe_dump(raw_spec(purpose="holdout")))
    with pytest.raises(SpecError, match=r"purpose: Input should be 'train' or 'eval'"):
        load_spec(folder)


def test_the_new_fields_at_their_defaults_keep_the_spec_hash():
    plain = DatasetSpec.model_validate(raw_spec())
    assert plain.purpose == "train" and plain.eval.min_real_share == 0.5
    explicit = DatasetSpec.model_validate(raw_spec(purpose="train", eval={"min_real_share": 0.5}))
    assert explicit.spec_hash() == plain.spec_hash()
    payload = plain.model_dump_json(exclude={"folder": True, "export": True})
    assert '"purpose"' in payload  # without the exclusion it would change every hash
    assert eval_spec().spec_hash() != plain.spec_hash()
    assert eval_spec(eval={"min_real_share": 0.8}).spec_hash() != eval_spec().spec_hash()


def test_the_report_judges_the_synthetic_rows_of_an_eval_version_alone(wh, tmp_path):
    spec = eval_spec()
    make_version(wh, spec, "v1", synthetic=8, real=8)
    stages.build_validation_report(spec, wh, "v1", tmp_path / "reports")
    records = wh.rows(
        "SELECT value FROM report_metrics WHERE version = 'v1' AND metric = 'records'"
    )
    assert records == [(8.0,)]  # not 16: the real rows are what it compares them with
