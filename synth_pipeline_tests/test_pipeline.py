"""End to end on the real embedded model, a real DuckDB file and a real Dagster instance."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from synth_pipeline.defs.runner import materialize_version
from synth_pipeline.gates import FILTERED_SUITE, REQUIRED_CHECKS
from synth_pipeline.report.score import THRESHOLDS
from synth_pipeline_tests.conftest import SMALL_INTENTS

ALL_STAGES = {
    "seeds",
    "holdout",
    "candidates",
    "filtered",
    "dataset",
    "validation_report",
    "published",
}


def _materializations(instance, dataset: str, stage: str, version: str):
    import dagster as dg

    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey([dataset, stage]), asset_partitions=[version]),
        limit=10,
    ).records
    return [r.asset_materialization for r in records]


def test_small_version_end_to_end_is_published_with_report(project, instance):
    small = {**SMALL_INTENTS, "generation": {**SMALL_INTENTS["generation"], "top_up_factor": 1}}
    project.add_dataset("support_intents", **small)
    defs = project.definitions()

    run = materialize_version(defs, "support_intents", "v1", instance=instance)

    assert run.success, run.errors
    assert ALL_STAGES | {"exports", "seed_staging", "label_balance", "version_summary"} <= set(
        run.materialized
    )
    wh = project.warehouse()
    assert wh.published_version("support_intents") == "v1"
    # 8 labels x 2, plus a top-up for labels curation left short.
    generated = wh.count("candidates", "support_intents", "v1")
    assert generated >= 16
    kept = wh.count("filtered", "support_intents", "v1")
    dropped = wh.count("curation_audit", "support_intents", "v1")
    assert kept == wh.count("dataset_records", "support_intents", "v1") > 0
    audit = wh.stage("curation_audit", "support_intents", "v1")
    assert dropped == 0 or audit["reason"].null_count() == 0
    assert set(wh.passed_checks("support_intents", "v1")) == set(REQUIRED_CHECKS)
    assert wh.failed_checks("support_intents", "v1") == []

    report = project.reports / "support_intents" / "v1"
    assert (report / "report.html").stat().st_size > 10_000
    metrics = json.loads((report / "metrics.json").read_text())
    assert metrics  # figures a person can read
    assert (
        wh.rows(
            "SELECT count(*) FROM report_metrics "
            "WHERE dataset = 'support_intents' AND version = 'v1'"
        )[0][0]
        > 5
    )

    # The UI sees each stage's metadata for this version.
    # Generation tops up the labels curation would leave short (the candidates stage's
    # second round); `filtered` only curates.
    (cand,) = _materializations(instance, "support_intents", "candidates", "v1")
    assert cand.metadata["dagster/row_count"].value == generated
    (filt,) = _materializations(instance, "support_intents", "filtered", "v1")
    assert "shortfall_before_top_up" not in filt.metadata
    shortfall_before = cand.metadata.get("shortfall_before_top_up")
    if generated > 16:
        assert shortfall_before is not None and sum(shortfall_before.value.values()) > 0
    assert "preview" in cand.metadata
    (rep,) = _materializations(instance, "support_intents", "validation_report", "v1")
    assert 0 <= rep.metadata["headline_score"].value <= 100

    # A second version with unchanged seeds and prompts is answered from the cache.
    run2 = materialize_version(defs, "support_intents", "v2", instance=instance)
    assert run2.success, run2.errors
    ledger = wh.rows(
        "SELECT bool_and(from_cache) FROM candidates WHERE dataset = 'support_intents' "
        "AND version = 'v2'"
    )
    assert ledger[0][0] is True, wh.query(
        "SELECT strategy, status, error, record_id FROM candidates "
        "WHERE dataset = 'support_intents' AND version = 'v2' AND NOT from_cache"
    )

    # The CLI reads the same warehouse: report, lineage, diff and every export format.
    from synth_pipeline.cli import app

    cli = CliRunner()

    def synth(*args: str) -> str:
        out = cli.invoke(app, list(args), terminal_width=200)
        assert out.exit_code == 0, out.output
        return out.output

    assert "headline score" in synth("report", "support_intents", "--version", "v1")
    record = wh.stage("dataset_records", "support_intents", "v2")["record_id"][0]
    shown = synth("lineage", "support_intents", "--version", "v2", "--record", record)
    assert record in shown and "seed_variation" in shown
    assert "candidates" in synth("lineage", "support_intents", "--version", "v2")
    assert "v1" in synth("diff", "support_intents", "v1", "v2")
    for fmt, name in [
        ("openai-chat", "chat.jsonl"),
        ("jsonl", "plain.jsonl"),
        ("parquet", "data.parquet"),
        ("hf", "hf"),
    ]:
        target = project.root / "exports" / name
        target.parent.mkdir(exist_ok=True)
        synth("export", "support_intents", "--format", fmt, "--out", str(target))
        assert target.exists(), fmt
    first = json.loads((project.root / "exports" / "chat.jsonl").read_text().splitlines()[0])
    assert [m["role"] for m in first["messages"]] == ["system", "user", "assistant"]
    assert (project.root / "exports" / "hf" / "README.md").read_text().count("v2") >= 1


def test_failed_gate_and_bad_input_leave_the_published_version(project, instance):
    project.add_dataset("support_intents", **SMALL_INTENTS)
    run = materialize_version(project.definitions(), "support_intents", "good", instance=instance)
    assert run.success, run.errors
    wh = project.warehouse()
    good_counts = {t: wh.count(t, "support_intents", "good") for t in ("seeds", "dataset_records")}

    # A gate that must fail: more rows than were generated.
    project.update_spec("support_intents", quality={"min_yield": 10_000})
    defs = project.definitions()
    bad = materialize_version(defs, "support_intents", "strict", instance=instance)
    assert not bad.success
    assert FILTERED_SUITE in bad.failed_checks
    assert "filtered" in bad.materialized
    assert "dataset" not in bad.materialized and "published" not in bad.materialized
    assert wh.published_version("support_intents") == "good"
    assert FILTERED_SUITE in wh.failed_checks("support_intents", "strict")

    # A later run of `published` alone is refused by name, and so is a relaxed rerun.
    again = materialize_version(
        defs, "support_intents", "strict", instance=instance, selection=["published"]
    )
    assert not again.success
    assert any(FILTERED_SUITE in e for e in again.errors), again.errors
    project.update_spec("support_intents", quality={"min_yield": 3})
    rerun = materialize_version(
        project.definitions(), "support_intents", "strict", instance=instance
    )
    assert "published" not in rerun.materialized
    assert wh.published_version("support_intents") == "good"

    # The CLI shows the failed gate.
    from synth_pipeline.cli import app

    out = CliRunner().invoke(app, ["versions", "support_intents"], terminal_width=200)
    assert out.exit_code == 0, out.output
    assert "strict" in out.output and "failed" in out.output and "good" in out.output

    # A malformed seed file stops the run at `seeds`, naming file and line, and changes nothing.
    seeds = project.data / "support_intents" / "seeds.jsonl"
    lines = seeds.read_text().splitlines()
    lines[2] = "{not json"
    seeds.write_text("\n".join(lines) + "\n")
    broken = materialize_version(
        project.definitions(), "support_intents", "broken", instance=instance
    )
    assert not broken.success
    assert any("seeds.jsonl:3: malformed JSON" in e for e in broken.errors), broken.errors
    assert broken.materialized == [] or "seeds" not in broken.materialized
    assert wh.published_version("support_intents") == "good"
    assert {t: wh.count(t, "support_intents", "good") for t in good_counts} == good_counts
    assert wh.count("candidates", "support_intents", "broken") == 0


@pytest.mark.parametrize("hostile", ["../etc", "v1; DROP TABLE seeds", "a/b", ""])
def test_hostile_version_ids_are_refused(project, instance, hostile):
    project.add_dataset("support_intents", **SMALL_INTENTS)
    from synth_pipeline.warehouse import WarehouseError

    with pytest.raises(WarehouseError, match="invalid version id"):
        materialize_version(
            project.definitions(), "support_intents", hostile or " ", instance=instance
        )


def test_instruction_dataset_with_llm_judge_end_to_end(project, instance):
    # The judge's orchestration is under test, not the content of 12 records from the small
    # model: the report thresholds (which hold junk) are off, as in SMALL_INTENTS.
    project.add_dataset(
        "coffee_qa",
        generation={"total_records": 12},
        quality={"min_yield": 1},
        curation={"llm_judge": {"threshold": 1, "min_pass_rate": 0.0}},
        report=dict.fromkeys(THRESHOLDS),
    )
    run = materialize_version(project.definitions(), "coffee_qa", "v1", instance=instance)

    wh = project.warehouse()
    assert "filtered" in run.materialized, run.errors
    judged = wh.query(
        "SELECT reason, score, detail FROM curation_audit WHERE dataset = 'coffee_qa' "
        "AND version = 'v1' AND filter = 'llm_judge'"
    )
    kept = wh.count("filtered", "coffee_qa", "v1")
    # The judge saw every row the other filters kept, and only those rows pass it.
    assert judged.filter(judged["reason"] == "judge_scored").height == kept
    assert judged.filter(judged["score"].is_not_null())["score"].is_between(1, 5).all()
    if kept == 0:  # a tiny model can miss entirely: then the yield gate must hold the version
        assert not run.success and "filtered_quality_suite" in run.failed_checks
        assert wh.published_version("coffee_qa") is None
        return
    assert run.success, run.errors
    assert wh.published_version("coffee_qa") == "v1"
    record = json.loads(wh.stage("dataset_records", "coffee_qa", "v1")["record"][0])
    assert set(record) == {"question", "answer"}
