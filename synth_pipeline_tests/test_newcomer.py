"""From nothing to one's own dataset: `synth init`, `validate`, `preview`, `datasets`, then a
version and an export (issue 13). The preview and the version run the real embedded model on
a handful of records."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from synth_pipeline.cli import app
from synth_pipeline.kinds import KIND_NAMES, get_kind
from synth_pipeline.report.score import THRESHOLDS
from synth_pipeline.spec import DatasetSpec, load_spec
from synth_pipeline_tests.conftest import DATA

LABELS = ["refund_request", "order_status"]


def synth(*args: str):
    return CliRunner().invoke(app, list(args), catch_exceptions=False)


@pytest.fixture
def home(project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    folder = tmp_path / "dagster_home"
    folder.mkdir()
    monkeypatch.setenv("DAGSTER_HOME", str(folder))
    monkeypatch.setenv("COLUMNS", "200")  # rich wraps at 80 otherwise; messages stay one line
    return project


def _rows(file: Path, labels: list[str]) -> list[str]:
    return [
        line
        for line in file.read_text().splitlines()
        if line.strip() and json.loads(line)["label"] in labels
    ]


def _fill_in(project, name: str) -> tuple[list[str], list[str]]:
    """What a person does after `synth init`: labels, a small plan, real seeds and holdout."""
    project.update_spec(
        name,
        task="Classify a message a customer sent to the support team of an online store.",
        labels=LABELS,
        fields=[
            {"name": "text", "description": "What the customer wrote.", "max_length": 400},
            {"name": "label", "description": "The intent of the message."},
        ],
        generation={
            "records_per_label": 3,
            "seeds_per_prompt": 2,
            "top_up_factor": 0,
            "examples_title": "Messages customers sent to the support team of an online store",
        },
        provider={"max_tokens": 90, "temperature": 0.5},
        quality={"min_yield": 1, "min_length": 10},
        curation={"gates": {"label_share_tolerance": 3.0}},
        # A handful of rows of the small model cannot meet the report's thresholds.
        report=dict.fromkeys(THRESHOLDS),
    )
    seeds = _rows(DATA / "support_intents" / "seeds.jsonl", LABELS)
    holdout = _rows(DATA / "support_intents" / "holdout.jsonl", LABELS)
    folder = project.data / name
    (folder / "seeds.jsonl").write_text("\n".join(seeds) + "\n")
    (folder / "holdout.jsonl").write_text("\n".join(holdout) + "\n")
    return seeds, holdout


@pytest.mark.parametrize("kind", KIND_NAMES)
def test_init_scaffolds_a_commented_spec_that_loads(home, kind):
    result = synth("init", "my_data", "--kind", kind)
    assert result.exit_code == 0, result.output
    folder = home.data / "my_data"
    spec = load_spec(folder)
    assert spec.kind == kind
    text = (folder / "spec.yaml").read_text()
    # Every field of the spec is there with its default, each with a comment from the models.
    raw = yaml.safe_load(text)
    # The kind's own settings under a section named after it (`chat:`), when it has some.
    own = {kind} if get_kind(kind).options_model else set()
    fields = {n for n, f in DatasetSpec.model_fields.items() if not f.exclude}
    assert set(raw) == fields - {"kind_options"} | own
    assert set(raw["provider"]) == set(type(spec.provider).model_fields)
    assert set(raw["curation"]["dedup"]) == set(type(spec.curation.dedup).model_fields)
    assert "# Minimum rows the filtered data must keep." in text  # QualitySpec.min_yield
    assert "# Share of junk rows dropped." in text  # a nested section's field description
    assert load_spec(folder).model_dump() == spec.model_dump()
    # Empty data files, the record shape in the README, the next steps on the terminal.
    assert (folder / "seeds.jsonl").read_text() == ""
    assert (folder / "holdout.jsonl").read_text() == ""
    shape = {
        "classification": "label_a",
        "instruction": '"instruction": "..."',
        "chat": '"role": "user"',
        "preference": '"rejected": "..."',
        "records": '"age": 0',
    }[kind]
    assert shape in (folder / "README.md").read_text()
    assert "synth validate my_data" in result.output
    assert "seeds.jsonl" in result.output

    # Validate on the untouched scaffold lists every problem at once.
    result = synth("validate", "my_data")
    assert result.exit_code == 1
    out = " ".join(result.output.split())
    assert "still the placeholders of `synth init` in task" in out
    assert "seeds.jsonl: the file holds no records" in out
    assert "holdout.jsonl: the file holds no records" in out

    again = synth("init", "my_data", "--kind", kind)
    assert again.exit_code == 1
    assert "already exists" in again.output
    bad = synth("init", "My-Data")
    assert bad.exit_code == 1
    assert "invalid dataset name 'My-Data'" in bad.output
    assert not (home.data / "My-Data").exists()


def test_unknown_names_get_a_suggestion_and_nothing_starts(home):
    home.add_dataset("support_intents")
    result = synth("materialize", "support_intent")
    assert result.exit_code == 1
    assert "Materializing" not in result.output
    assert "did you mean 'support_intents'?" in result.output
    assert "known datasets: support_intents" in result.output
    assert synth("validate", "suport_intents").exit_code == 1
    result = synth("preview", "support_intents", "--strategy", "evolution")
    assert result.exit_code == 1
    assert "strategy 'evolution' is not in generation.strategies (seed_variation)" in " ".join(
        result.output.split()
    )


def test_datasets_lists_published_and_broken(home):
    home.add_dataset("coffee_qa")
    (home.data / "broken").mkdir()
    (home.data / "broken" / "spec.yaml").write_text("name: broken\nkind: poetry\n")
    result = synth("datasets")
    assert result.exit_code == 0, result.output
    assert "coffee_qa (instruction): published none; last no version yet" in result.output
    assert "broken (broken):" in result.output and "kind" in result.output


def test_from_nothing_to_an_exported_version(home, tmp_path):
    name = "my_intents"
    assert synth("init", name, "--kind", "classification").exit_code == 0
    seeds, holdout = _fill_in(home, name)
    folder = home.data / name

    # A planted mistake, and another: a holdout row copied into the seeds, and a label with
    # no seeds and no holdout. Validate names every one of them.
    home.update_spec(name, labels=[*LABELS, "cancel_order"])
    (folder / "seeds.jsonl").write_text("\n".join([*seeds, holdout[0]]) + "\n")
    result = synth("validate", name)
    assert result.exit_code == 1, result.output
    out = " ".join(result.output.split())
    assert "repeat a seed record" in out and "holdout.jsonl:1 = seeds.jsonl:21" in out
    assert "cancel_order 0" in out  # seeds per label
    assert "holdout records per label: cancel_order 0" in out

    home.update_spec(name, labels=LABELS)
    (folder / "seeds.jsonl").write_text("\n".join(seeds) + "\n")
    result = synth("validate", name)
    assert result.exit_code == 0, result.output
    out = " ".join(result.output.split())
    assert "is valid" in out
    assert "requests: 6 (seed_variation 6)" in out
    assert "estimate" in out and "dollars: 0" in out

    # Preview: three records of the real plan on the real model, no version made.
    result = synth("preview", name, "-n", "3")
    assert result.exit_code == 0, result.output
    assert "prompt:" in result.output and "verdict:" in result.output
    assert "3 of the 6 requests" in result.output
    wh = home.warehouse()
    from synth_pipeline.generation.ledger import JOURNAL_TABLE, LEDGER_TABLE

    stage_tables = ("versions", "seeds", "holdout", "candidates", "filtered", "curation_audit")
    existing = {r[0] for r in wh.rows("SELECT table_name FROM information_schema.tables")}
    for table in (*stage_tables, LEDGER_TABLE, JOURNAL_TABLE):
        if table in existing:  # the ledger's tables are created by their first version
            assert wh.rows(f"SELECT count(*) FROM {table}")[0][0] == 0, table
    from synth_pipeline.defs.runner import project_instance

    assert project_instance().get_dynamic_partitions(f"{name}_versions") == []
    previewed = {r[0] for r in wh.rows("SELECT cache_key FROM generation_cache")}
    assert len(previewed) == 3
    result = synth("validate", name)  # the cost now leaves out what the preview paid for
    assert "cache: 3 of the 6 requests are already answered" in " ".join(result.output.split())

    # A version: the previewed requests come from the cache, the others are called.
    result = synth("materialize", name)
    assert "Materializing" in result.output
    version = wh.rows("SELECT version FROM versions WHERE dataset = ?", [name])[0][0]
    cands = wh.query(
        "SELECT cache_key, from_cache FROM candidates WHERE dataset = ? AND version = ?",
        [name, version],
    )
    assert cands.height == 6
    hits = {k for k, cached in cands.iter_rows() if cached}
    assert previewed <= hits
    assert result.exit_code == 0, result.output
    assert wh.published_version(name) == version

    out_file = tmp_path / "export.jsonl"
    result = synth("export", name, "--format", "jsonl", "--out", str(out_file))
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in out_file.read_text().splitlines()]
    assert rows and all(r["label"] in LABELS for r in rows)

    result = synth("datasets")
    assert f"{name} (classification): published {version}" in " ".join(result.output.split())


def test_validate_reports_an_unreachable_endpoint_without_the_key(home, monkeypatch):
    home.add_dataset(
        "support_intents",
        provider={
            "kind": "openai_compatible",
            "base_url": "http://127.0.0.1:9/v1",
            "model": "m",
            "api_key_env": "MY_KEY",
        },
    )
    monkeypatch.setenv("MY_KEY", "sk-secret-value")
    result = synth("validate", "support_intents")
    assert result.exit_code == 1
    assert "GET http://127.0.0.1:9/v1/models failed" in " ".join(result.output.split())
    assert "sk-secret-value" not in result.output
