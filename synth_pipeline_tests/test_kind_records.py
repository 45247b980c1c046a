"""`kind: records`: privacy stand-ins for a sensitive table (synth_pipeline/kinds/records.py).

The synthesizer, the privacy filters and the report run for real on small slices of the demo
table (data/census_wage, ISLR's Wage: real survey rows); free-text columns are written by the
real embedded model behind a recording proxy that keeps every request it forwards.
"""

from __future__ import annotations

import csv
import json
import logging
import sys
from pathlib import Path

import polars as pl
import pytest

from synth_pipeline import stages
from synth_pipeline.curation.pipeline import run_curation
from synth_pipeline.defs.runner import materialize_version
from synth_pipeline.exports import export_version
from synth_pipeline.kinds import kind_of
from synth_pipeline.kinds.records import table_frame
from synth_pipeline.records import CANDIDATE_SCHEMA, load_real_records
from synth_pipeline.spec import SpecError, load_spec
from synth_pipeline.warehouse import Warehouse

sys.path.insert(0, str(Path(__file__).parent))
from recording_proxy import RecordingProxy  # noqa: E402


def _slice(project, seeds: int, holdout: int, **overrides) -> Path:
    """The demo table with its first SEEDS seed rows and HOLDOUT holdout rows."""
    folder = project.add_dataset("census_wage", **overrides)
    for name, n in (("seeds.csv", seeds), ("holdout.csv", holdout)):
        lines = (folder / name).read_text().splitlines()
        (folder / name).write_text("\n".join(lines[: n + 1]) + "\n")
    return folder


def test_the_demo_table_declares_its_columns_once(project):
    spec = load_spec(project.add_dataset("census_wage"))
    kind = kind_of(spec)
    assert kind.name == "records" and kind.families == frozenset({"table"})
    opts = kind.table_options(spec)
    assert [f.name for f in spec.fields] == [c.name for c in opts.columns]
    roles = {c.name: c.role for c in opts.columns}
    assert roles["person_id"] == "identifier" and roles["wage"] == "sensitive"
    assert spec.generation.total_records == opts.rows == 2000
    seeds = load_real_records(spec, spec.seeds_file, "seed")
    holdout = load_real_records(spec, spec.holdout_file, "holdout")
    assert (seeds.height, holdout.height) == (2000, 1000)
    table = table_frame(spec, seeds)
    assert table.schema["age"] == pl.Int64 and table.schema["has_health_ins"] == pl.Boolean
    assert table["wage"].min() >= 20 and table["age"].max() <= 80


def test_a_malformed_seed_row_names_the_file_and_line(project):
    folder = project.add_dataset("census_wage")
    lines = (folder / "seeds.csv").read_text().splitlines()
    cells = next(csv.reader([lines[5]]))
    cells[2] = "forty"  # age
    lines[5] = ",".join(cells)
    (folder / "seeds.csv").write_text("\n".join(lines) + "\n")
    spec = load_spec(folder)
    with pytest.raises(SpecError) as e:
        load_real_records(spec, spec.seeds_file, "seed")
    assert "seeds.csv" in str(e.value) and ":6" in str(e.value) and "'age'" in str(e.value)


def test_an_identifier_that_would_be_modelled_is_refused(project):
    columns = load_spec(project.add_dataset("census_wage")).kind_options["columns"]
    columns[0] = {**columns[0], "type": "number"}
    project.update_spec("census_wage", records={"columns": columns})
    with pytest.raises(SpecError, match="identifier"):
        load_spec(project.data / "census_wage")


def _candidates(spec, records: list[dict]) -> pl.DataFrame:
    kind = kind_of(spec)
    rows = [
        {
            "record_id": f"syn-{i}",
            "text": kind.text_of(spec, r),
            "record": json.dumps(r),
            "status": "ok",
            "strategy": "synthesizer",
        }
        for i, r in enumerate(records)
    ]
    return pl.DataFrame(rows, schema=CANDIDATE_SCHEMA)


def test_privacy_filters_drop_planted_rows_with_their_reasons(project):
    spec = load_spec(_slice(project, 400, 200))
    seeds = load_real_records(spec, spec.seeds_file, "seed")
    holdout = load_real_records(spec, spec.holdout_file, "holdout")
    real = [json.loads(r) for r in seeds["record"]]
    # A far-off row nobody in the table resembles: kept.
    fine = {
        "person_id": 999_999_001,
        "year": 2005,
        "age": 79,
        "marital_status": "Widowed",
        "race": "Other",
        "education": "Advanced Degree",
        "jobclass": "Information",
        "health": "<=Good",
        "has_health_ins": False,
        "wage": 300.0,
    }
    copy = {**real[0], "person_id": 999_999_002}
    near = {**real[1], "person_id": 999_999_003, "wage": real[1]["wage"] + 0.01}
    leak = {**fine, "person_id": real[2]["person_id"], "wage": 250.0}
    counts: dict[tuple, int] = {}
    for r in real + [json.loads(x) for x in holdout["record"]]:
        key = (r["age"], r["marital_status"], r["race"], r["education"])
        counts[key] = counts.get(key, 0) + 1
    unique = next(
        r for r in real if counts[(r["age"], r["marital_status"], r["race"], r["education"])] == 1
    )
    reproduced = {
        **fine,
        "person_id": 999_999_004,
        "age": unique["age"],
        "marital_status": unique["marital_status"],
        "race": unique["race"],
        "education": unique["education"],
        "wage": 290.0,
    }
    frame = _candidates(spec, [fine, copy, near, leak, reproduced])
    result = run_curation(spec, frame, seeds, holdout)
    reasons = dict(result.audit.filter(~pl.col("kept")).select("record_id", "reason").iter_rows())
    assert result.kept["record_id"].to_list() == ["syn-0"]
    assert reasons["syn-1"] == "real_copy"
    assert reasons["syn-2"] == "too_close"
    assert reasons["syn-3"] == "identifier_leak"
    assert reasons["syn-4"] == "unique_combination"


def test_a_small_records_version_is_generated_curated_gated_reported_and_published(
    project, instance
):
    # 600 real rows give noisier privacy baselines than the demo's 2,000: the DCR bound is
    # looser here (the gate itself is tested on planted rows above and in test_report_metrics).
    _slice(
        project,
        600,
        300,
        records={"rows": 400, "epsilon": 5.0},
        quality={"min_yield": 100},
        report={"max_dcr_share": 0.65},
    )
    run = materialize_version(project.definitions(), "census_wage", "v1", instance=instance)
    assert run.success, run.errors
    wh = project.warehouse()
    assert wh.published_version("census_wage") == "v1"
    spec = load_spec(project.data / "census_wage")
    candidates = wh.stage("candidates", "census_wage", "v1")
    assert candidates.height == 400 and set(candidates["provider"]) == {"local"}
    published = wh.stage("dataset_records", "census_wage", "v1")
    real_rows = {
        json.dumps({k: v for k, v in json.loads(r).items() if k != "person_id"}, sort_keys=True)
        for stage in ("seeds", "holdout")
        for r in wh.stage(stage, "census_wage", "v1")["record"]
    }
    real_ids = {
        json.loads(r)["person_id"]
        for stage in ("seeds", "holdout")
        for r in wh.stage(stage, "census_wage", "v1")["record"]
    }
    # The fakes avoid the holdout's identifiers too: no candidate needed dropping for one.
    audit = wh.stage("curation_audit", "census_wage", "v1")
    assert audit.filter(pl.col("reason") == "identifier_leak").height == 0
    rows = [json.loads(r) for r in published["record"]]
    assert len(rows) >= 100
    for row in rows:  # no synthetic row is a real one, nor carries a real identifier
        assert (
            json.dumps({k: v for k, v in row.items() if k != "person_id"}, sort_keys=True)
            not in real_rows
        )
        assert row["person_id"] not in real_ids
    # The epsilon is in the version's lineage (the candidates' sampling parameters).
    assert {json.loads(p)["epsilon"] for p in candidates["params"]} == {5.0}
    metrics = dict(
        wh.query(
            "SELECT metric, value FROM report_metrics WHERE dataset = 'census_wage' "
            "AND version = 'v1'"
        ).iter_rows()
    )
    assert metrics["privacy.exact_copies"] == 0
    assert 0.3 < metrics["privacy.dcr_share"] < 0.65
    assert metrics["fidelity.column_shapes"] > 0.8
    assert "utility.efficacy_ratio" in metrics and "privacy.membership_auc" in metrics
    assert "fidelity.detectability_auc" not in metrics  # no text figures for a table
    report = (project.reports / "census_wage" / "v1" / "report.html").read_text()
    assert "Pair trends" in report and "Attribute inference" in report
    # Exports: typed columns; the train split is synthetic, the test split the real holdout.
    result = export_version(wh, spec, "v1", "parquet", project.root / "t.parquet")
    table = pl.read_parquet(result.path)
    train = table.filter(pl.col("split") == "train")
    assert train.height == len(rows) and result.test_rows == 300
    assert train.schema["age"] == pl.Int64 and train.schema["has_health_ins"] == pl.Boolean
    hf = export_version(wh, spec, "v1", "hf", project.root / "hf")
    import datasets

    loaded = datasets.load_dataset(str(hf.path))
    assert loaded["train"].num_rows == len(rows) and "wage" in loaded["train"].column_names


def test_free_text_prompts_never_carry_an_identifier_or_a_sensitive_value(project, caplog):
    """Plant unique values in a table's identifier, sensitive and free-text columns, make a
    version whose free text the real embedded model writes, and search every request sent
    through a recording proxy, the logs and the generation cache."""
    from synth_pipeline.generation.embedded import embedded_base_url

    folder = project.data / "tickets"
    folder.mkdir()
    plans, regions = ["basic", "plus", "pro"], ["north", "south", "east", "west"]
    planted: list[str] = []

    def rows(prefix: str, n: int) -> list[dict]:
        out = []
        for i in range(n):
            email = f"{prefix}{i}.zq{i * 7919 % 10007}@plantedmail.test"
            condition = f"cond{prefix}{i}xq"
            note = f"Customer says the line is down; ref {prefix}{i}wq"
            planted.extend([email, condition, f"{prefix}{i}wq", str(1000.0 + i + 0.123)])
            out.append(
                {
                    "email": email,
                    "age": 20 + (i * 7) % 50,
                    "plan": plans[i % 3],
                    "region": regions[i % 4],
                    "condition": condition,
                    "balance": 1000.0 + i + 0.123,
                    "note": note,
                }
            )
        return out

    for name, prefix, n in (("seeds.jsonl", "s", 120), ("holdout.jsonl", "h", 60)):
        (folder / name).write_text("\n".join(json.dumps(r) for r in rows(prefix, n)) + "\n")
    spec_data = {
        "name": "tickets",
        "kind": "records",
        "task": "Support tickets of a home internet provider.",
        "seeds_file": "seeds.jsonl",
        "holdout_file": "holdout.jsonl",
        "records": {
            "rows": 6,
            "epsilon": None,
            "columns": [
                {
                    "name": "email",
                    "type": "categorical",
                    "role": "identifier",
                    "description": "E-mail.",
                },
                {
                    "name": "age",
                    "type": "integer",
                    "role": "quasi_identifier",
                    "description": "Age.",
                    "lower": 18,
                    "upper": 80,
                },
                {
                    "name": "plan",
                    "type": "categorical",
                    "role": "quasi_identifier",
                    "description": "Plan.",
                },
                {
                    "name": "region",
                    "type": "categorical",
                    "role": "plain",
                    "description": "Region.",
                },
                {
                    "name": "condition",
                    "type": "categorical",
                    "role": "sensitive",
                    "description": "A medical condition.",
                },
                {
                    "name": "balance",
                    "type": "number",
                    "role": "sensitive",
                    "description": "Balance owed.",
                    "lower": 0,
                    "upper": 5000,
                },
                {
                    "name": "note",
                    "type": "text",
                    "role": "plain",
                    "description": "The customer's complaint in one sentence.",
                },
            ],
        },
        "provider": {"max_tokens": 80},
        "quality": {"min_yield": 1},
    }
    import yaml

    (folder / "spec.yaml").write_text(yaml.safe_dump(spec_data, sort_keys=False))
    caplog.set_level(logging.DEBUG)
    lines: list[str] = []
    with RecordingProxy(embedded_base_url()) as proxy:
        project.update_spec(
            "tickets",
            provider={"kind": "openai_compatible", "base_url": proxy.base_url, "model": "smollm2"},
        )
        spec = load_spec(folder)
        wh = Warehouse(project.warehouse_path)
        stages.load_seeds(spec, wh, "v1")
        stages.load_holdout(spec, wh, "v1")
        out = stages.generate_candidates(spec, wh, "v1", log=lines.append)
    assert len(proxy.bodies) == 6  # one request per synthetic row, each sent once
    candidates = out.frame
    written = [json.loads(r).get("note") for r in candidates["record"]]
    assert sum(bool(w) for w in written) >= 1  # the model wrote text
    sent = proxy.sent()
    logs = "\n".join(lines) + "\n" + caplog.text + "\n" + json.dumps(out.figures, default=str)
    cache = "\n".join(
        str(v) for row in wh.query("SELECT * FROM generation_cache").iter_rows() for v in row
    )
    for value in planted:
        assert value not in sent, value
        assert value not in logs, value
        assert value not in cache, value
    # The prompts did carry the synthetic row's quasi-identifier and plain columns.
    assert "plan" in sent and "region" in sent and "balance" not in sent


def test_identifier_fakes_avoid_every_value_they_are_given():
    """100,000 holdout-like ids crowd the 6-digit space the fakes are drawn from: without
    avoiding them about a hundred of 1,000 fakes would collide."""
    import numpy as np

    from synth_pipeline.tables.columns import TableColumn
    from synth_pipeline.tables.synthesizer import _sample

    column = TableColumn(name="person_id", type="integer", role="identifier", description="id")
    rng = np.random.default_rng(0)
    avoided = rng.choice(np.arange(100_000, 1_000_000), 100_000, replace=False)
    taken = pl.DataFrame({"person_id": np.concatenate([np.arange(100_000, 100_100), avoided])})
    fakes = _sample(None, [], [column], taken, 1_000, seed=1)["person_id"].to_list()
    assert len(set(fakes)) == 1_000
    assert not set(fakes) & set(taken["person_id"].to_list())
