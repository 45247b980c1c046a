"""The regression gate: a version clearly worse than the published one is held, never
published by its run, the schedule or the sensor, and publishes only with
`--accept-regression`; versions of equal quality, or differing only by sampling noise, publish.

Versions are built from real rows without the model, as in test_report_gate.py: the demo's
holdout split by label into a reference holdout and rows standing in for the synthetic ones,
written as stage tables with their suites passed; then a real Dagster run of the version's
`validation_report` (with its checks), `published` and `exports` on a real DuckDB file.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import polars as pl
import pytest
from typer.testing import CliRunner

from synth_pipeline.defs.assets import version_job_name
from synth_pipeline.defs.runner import materialize_version
from synth_pipeline.gates import DATASET_SUITE, FILTERED_SUITE, REGRESSION, publish_refusal
from synth_pipeline.quality import ExpectationOutcome
from synth_pipeline.records import load_real_records
from synth_pipeline.regression.compare import FIGURES, HELD, PASSED, compare
from synth_pipeline.regression.config import RegressionSpec
from synth_pipeline.regression.gate import HELD_STATUS, stored_comparison
from synth_pipeline.spec import load_spec
from synth_pipeline.warehouse import Warehouse

DATASET = "support_intents"
COLUMNS = ["record_id", "text", "label", "record"]
AFTER_DATASET = ["validation_report", "published", "exports"]


@pytest.fixture
def rows():
    """The demo's seeds and holdout; the holdout numbered per label (`_i`)."""
    spec = load_spec(Path(__file__).resolve().parents[1] / "data" / DATASET)
    seeds = load_real_records(spec, spec.seeds_file, "seed")
    holdout = load_real_records(spec, spec.holdout_file, "holdout").with_columns(
        pl.int_range(pl.len()).over("label").alias("_i")
    )
    return seeds, holdout


def write_version(wh: Warehouse, spec, version: str, seeds, holdout, synthetic) -> None:
    """A version whose curation kept `synthetic` and whose two suites passed on it."""
    synthetic, holdout = synthetic.select(COLUMNS), holdout.select(COLUMNS)
    candidates = synthetic.with_columns(
        pl.lit("ok").alias("status"), pl.lit("seed_variation").alias("strategy")
    )
    audit = pl.DataFrame(
        schema={
            "record_id": pl.String,
            "filter": pl.String,
            "reason": pl.String,
            "score": pl.Float64,
            "detail": pl.String,
            "kept": pl.Boolean,
        }
    )
    wh.record_version(spec.name, version, status="running", spec_hash=spec.spec_hash())
    wh.replace_versions(
        {
            "seeds": seeds,
            "holdout": holdout,
            "candidates": candidates,
            "filtered": synthetic,
            "curation_audit": audit,
            "dataset_records": synthetic,
        },
        spec.name,
        version,
    )
    from synth_pipeline.gates import store_check

    ok = ExpectationOutcome("suite_passed", True, synthetic.height, None, "written by the test")
    for check, asset in ((FILTERED_SUITE, "filtered"), (DATASET_SUITE, "dataset")):
        store_check(wh, spec.name, version, check, asset, [ok], spec_hash=spec.spec_hash())


class Versions:
    """Build and run versions of one scratch dataset on one Dagster instance."""

    def __init__(self, project, instance, seeds, reference):
        self.project, self.instance = project, instance
        self.seeds, self.reference = seeds, reference
        self.wh = project.warehouse()

    @property
    def spec(self):
        return load_spec(self.project.data / DATASET)

    def make(self, version: str, synthetic: pl.DataFrame):
        write_version(self.wh, self.spec, version, self.seeds, self.reference, synthetic)
        run = materialize_version(
            self.project.definitions(), DATASET, version, self.instance, selection=AFTER_DATASET
        )
        assert run.success, run.errors
        return run

    def check_evaluation(self, run_id: str):
        (event,) = [
            e
            for e in self.instance.all_logs(
                run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION
            )
            if e.dagster_event.event_specific_data.check_name == REGRESSION
        ]
        return event.dagster_event.event_specific_data


def synth(*args: str, code: int = 0) -> str:
    from synth_pipeline.cli import app

    out = CliRunner().invoke(app, list(args), terminal_width=220)
    assert out.exit_code == code, out.output
    return out.output


@pytest.fixture
def exports_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("SYNTH_EXPORTS_DIR", str(tmp_path / "exports"))


def halves(holdout: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(reference, clean): even and odd rows of each label, 48 each (test_report_gate's split)."""
    return holdout.filter(pl.col("_i") % 2 == 0), holdout.filter(pl.col("_i") % 2 == 1)


def halved_target(clean: pl.DataFrame) -> pl.DataFrame:
    """Every other clean row of each label: half the rows (24), still passing every fixed
    threshold of the report (TSTR/TRTR 0.82, junk 0, detectability 0.42, distinct-2 1.0)."""
    return clean.filter((pl.col("_i") // 2) % 2 == 0)


def held_second_version(versions: Versions, clean: pl.DataFrame):
    v1 = versions.make("v1", clean)
    assert versions.wh.published_version(DATASET) == "v1"
    v2 = versions.make("v2", halved_target(clean))
    return v1, v2


# --- the rule, on metric dicts ---------------------------------------------------------------


def _metrics(**values: float | tuple[float, float, float]) -> dict[str, float]:
    """metric=value or metric=(value, low, high); dots in metric names written as __."""
    out: dict[str, float] = {}
    for key, v in values.items():
        metric = key.replace("__", ".")
        if isinstance(v, tuple):
            out[metric], out[f"{metric}_low"], out[f"{metric}_high"] = v
        else:
            out[metric] = v
    return out


def test_the_rule_holds_only_a_clear_worsening():
    cfg = RegressionSpec()
    base = _metrics(
        utility__tstr_macro_f1=(0.80, 0.75, 0.85),
        content__junk_share=(0.02, 0.01, 0.04),
        fidelity__detectability_auc=(0.45, 0.35, 0.55),
        diversity__distinct_2_vs_real=0.9,
        records__synthetic=300.0,
        privacy__near_copy_count=0.0,
        privacy__near_copy_share=0.0,
    )

    def verdicts(**changes):
        c = compare(cfg, "d", "v2", {**base, **_metrics(**changes)}, "v1", base)
        return {f.figure.key: f for f in c.figures}, c

    same, c = verdicts()
    assert c.state == PASSED and not c.held and len(same) == len(FIGURES)
    # Worse beyond tolerance, intervals overlapping: noise, not held.
    figs, c = verdicts(utility__tstr_macro_f1=(0.70, 0.55, 0.78))
    assert figs["tstr_macro_f1"].beyond_tolerance and not c.held
    assert "within the intervals" in figs["tstr_macro_f1"].verdict
    # Worse beyond tolerance and intervals apart: held.
    figs, c = verdicts(utility__tstr_macro_f1=(0.65, 0.60, 0.70))
    assert c.held and c.state == HELD and [f.figure.key for f in c.regressed] == ["tstr_macro_f1"]
    assert "utility.tstr_macro_f1 0.650 vs 0.800" in c.describe()
    # Worse within tolerance, however sure: not held.
    figs, c = verdicts(content__junk_share=(0.06, 0.055, 0.065))
    assert not c.held and figs["junk_share"].verdict == "worse within tolerance"
    # Row count: relative tolerance, no interval; a quarter fewer is the limit.
    assert not verdicts(records__synthetic=226.0)[1].held
    figs, c = verdicts(records__synthetic=150.0)
    assert c.held and figs["published_rows"].worse_by == pytest.approx(0.5)
    # Detectability under chance counts as chance: 0.30 -> 0.52 is no regression.
    low = {**base, **_metrics(fidelity__detectability_auc=(0.30, 0.25, 0.35))}
    assert not compare(
        cfg, "d", "v2", {**base, **_metrics(fidelity__detectability_auc=(0.52, 0.50, 0.54))},
        "v1", low,
    ).held  # fmt: skip
    # Distinct-2 has no interval: the tolerance alone decides.
    assert verdicts(diversity__distinct_2_vs_real=0.79)[1].held
    assert not verdicts(diversity__distinct_2_vs_real=0.81)[1].held
    # Near-copies: a Wilson interval from the count; 30 of 300 rows against none is held.
    figs, c = verdicts(privacy__near_copy_count=30.0, privacy__near_copy_share=0.1)
    assert c.held and figs["near_copy_share"].candidate_interval[0] > 0.06
    # A figure missing on one side is not compared; a null tolerance leaves it out.
    missing = {k: v for k, v in base.items() if not k.startswith("utility.")}
    c = compare(cfg, "d", "v2", missing, "v1", base)
    assert (
        not c.held
        and "not compared" in {f.figure.key: f for f in c.figures}["tstr_macro_f1"].verdict
    )
    c = compare(RegressionSpec(published_rows=None), "d", "v2", {**base, "records.synthetic": 1.0},
                "v1", base)  # fmt: skip
    assert not c.held and "published_rows" not in {f.figure.key for f in c.figures}
    # Without the interval rule the tolerance alone holds.
    noisy = {**base, **_metrics(utility__tstr_macro_f1=(0.70, 0.55, 0.78))}
    assert compare(RegressionSpec(require_separate_intervals=False), "d", "v2", noisy, "v1",
                   base).held  # fmt: skip
    # Nothing published, or the comparison off: nothing to hold.
    assert compare(cfg, "d", "v1", base, None, None).state == "first_version"
    assert compare(RegressionSpec(enabled=False), "d", "v2", noisy, "v1", base).state == "off"


def test_a_regression_section_in_the_spec_is_validated(project):
    from synth_pipeline.spec import SpecError

    project.add_dataset(DATASET, regression={"published_rows": 0.5, "tstr_macro_f1": None})
    spec = load_spec(project.data / DATASET)
    assert spec.regression.published_rows == 0.5 and spec.regression.tstr_macro_f1 is None
    assert spec.regression.junk_share == 0.05  # the documented default
    project.update_spec(DATASET, regression={"junk_shar": 0.1})
    with pytest.raises(SpecError, match="regression.junk_shar"):
        load_spec(project.data / DATASET)


# --- versions through Dagster ----------------------------------------------------------------


def test_a_worse_version_is_held_and_an_equal_one_publishes(
    project, instance, rows, exports_dir, tmp_path
):
    project.add_dataset(DATASET)
    seeds, holdout = rows
    reference, clean = halves(holdout)
    versions = Versions(project, instance, seeds, reference)
    wh = versions.wh

    v1, v2 = held_second_version(versions, clean)
    # The first version had nothing to compare with, and said so.
    first = versions.check_evaluation(v1.run_id)
    assert first.passed and "first" in first.metadata["summary"].value

    # The second: every fixed gate passed, half the rows; held, not failed.
    assert REGRESSION in v2.failed_checks and "published" not in v2.materialized
    assert wh.published_version(DATASET) == "v1"
    assert wh.version_status(DATASET, "v2") == HELD_STATUS
    assert wh.failed_checks(DATASET, "v2") == [REGRESSION]  # the other gates all passed
    c = stored_comparison(wh, DATASET, "v2")
    assert c.state == HELD and c.baseline == "v1"
    assert [f.figure.metric for f in c.regressed] == ["records.synthetic"]
    held = versions.check_evaluation(v2.run_id)
    assert not held.passed and held.severity == dg.AssetCheckSeverity.WARN
    table = held.metadata["comparison"].value
    assert "published rows" in table and "| 48 | 24 |" in table, table

    # The report says why, side by side with the published version.
    report = project.reports / DATASET / "v2"
    html = (report / "report.html").read_text()
    assert 'id="regression"' in html and "Compared with the published version" in html
    assert "held: regression" in html and "data:image/png;base64," in html
    assert json.loads((report / "metrics.json").read_text())["regression"]["state"] == HELD

    # Nothing but an acceptance publishes it: not a later `published` run, not an export.
    again = materialize_version(
        project.definitions(), DATASET, "v2", instance, selection=["published"]
    )
    assert again.success and "published" not in again.materialized
    assert wh.published_version(DATASET) == "v1"
    refusal = publish_refusal(wh, DATASET, "v2")
    assert "held: regression" in refusal and "--accept-regression" in refusal
    from synth_pipeline.exports import ExportRefused, export_version

    with pytest.raises(ExportRefused, match="held: regression"):
        export_version(wh, versions.spec, "v2", "jsonl", tmp_path / "v2.jsonl")

    # `synth versions`, `synth report`, `synth diff` and the lineage show it.
    listed = synth("versions", DATASET)
    assert "held: regression" in listed and "records.synthetic" in listed, listed
    assert "records.synthetic 24 vs 48" in " ".join(listed.split())
    assert "held: regression" in synth("report", DATASET, "--version", "v2")
    diff = " ".join(synth("diff", DATASET, "v1", "v2").split())
    assert "regression gate, v2 against v1 (the regression check): held: regression" in diff
    assert "records.synthetic 24 vs 48" in diff
    lineage = " ".join(synth("lineage", DATASET, "--version", "v2").split())
    assert "held" in lineage and "--accept-regression" in lineage

    # A third version as good as the first publishes.
    v3 = versions.make("v3", clean)
    assert "published" in v3.materialized and wh.published_version(DATASET) == "v3"
    assert stored_comparison(wh, DATASET, "v3").state == PASSED
    assert versions.check_evaluation(v3.run_id).passed
    # The held version's `published` step compares it again with what is published now.
    materialize_version(project.definitions(), DATASET, "v2", instance, selection=["published"])
    again = stored_comparison(wh, DATASET, "v2")
    assert again.baseline == "v3" and again.state == HELD
    assert wh.published_version(DATASET) == "v3"


def test_accept_regression_publishes_and_is_recorded_in_the_lineage(
    project, rows, exports_dir, tmp_path, monkeypatch
):
    from synth_pipeline.defs.runner import project_instance
    from synth_pipeline.lineage import version_lineage

    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    monkeypatch.setenv("SYNTH_USER", "alice")
    project.add_dataset(DATASET)
    seeds, holdout = rows
    reference, clean = halves(holdout)
    instance = project_instance()
    try:
        versions = Versions(project, instance, seeds, reference)
        held_second_version(versions, clean)
        out = " ".join(
            synth("materialize", DATASET, "--version", "v2", "--accept-regression").split()
        )
    finally:
        instance.dispose()
    wh = versions.wh
    assert "Published" in out and wh.published_version(DATASET) == "v2", out
    lin = version_lineage(wh, DATASET, "v2")
    assert lin.regression["accepted_by"] == "alice" and lin.regression["accepted_at"]
    assert lin.regression["state"] == "accepted" and lin.regression["compared_with"] == "v1"
    assert lin.publication["published"]
    shown = " ".join(synth("lineage", DATASET, "--version", "v2").split())
    assert "accepted by alice at" in shown
    html = (project.reports / DATASET / "v2" / "report.html").read_text()
    assert "accepted by <strong>alice</strong>" in html
    # The check's latest evaluation passes and names who accepted; the listing shows it passed.
    assert stored_comparison(wh, DATASET, "v2").acceptance.accepted_by == "alice"
    assert "held: regression" not in synth("versions", DATASET)


def test_a_regression_accepted_in_advance_publishes_the_new_version(project, rows, tmp_path):
    """`synth materialize --accept-regression` without a made version records the acceptance
    first; the version's comparison then names who accepted it instead of holding it."""
    from synth_pipeline import stages
    from synth_pipeline.gates import checks_refusal
    from synth_pipeline.regression import gate

    project.add_dataset(DATASET)
    seeds, holdout = rows
    reference, clean = halves(holdout)
    spec, wh, reports = load_spec(project.data / DATASET), project.warehouse(), tmp_path / "r"
    for version, synthetic in (("v1", clean), ("v2", halved_target(clean))):
        if version == "v2":
            assert gate.accept(spec, wh, "v2", "bob", note="a smaller set on purpose") is None
        write_version(wh, spec, version, seeds, reference, synthetic)
        stages.build_validation_report(spec, wh, version, reports)
        c = gate.evaluate(spec, wh, version, reports)
        assert checks_refusal(wh, DATASET, version, spec) is None
        stages.publish(spec, wh, version)
    assert c.state == "accepted" and c.acceptance.accepted_by == "bob" and not c.held
    assert [f.figure.metric for f in c.regressed] == ["records.synthetic"]
    assert wh.published_version(DATASET) == "v2"
    with pytest.raises(gate.RegressionError, match="already published"):
        gate.accept(spec, wh, "v2", "carol")


def test_two_versions_differing_only_by_sampling_noise_both_publish(
    project, instance, rows, exports_dir
):
    # A 32-row holdout leaves 64 real rows: two disjoint halves of them are two versions of
    # equal quality. The fixed TSTR/TRTR bar is itself noisy on 32 rows (it fails about a
    # third of such halves), so it is off here: this test is about the regression gate.
    project.add_dataset(DATASET, report={"min_tstr_trtr_ratio": None})
    seeds, holdout = rows
    shuffled = holdout.with_columns(
        pl.int_range(pl.len()).shuffle(seed=0).over("label").alias("_r")
    )
    reference = shuffled.filter(pl.col("_r") < 4)
    pool = shuffled.filter(pl.col("_r") >= 4).with_columns(
        pl.int_range(pl.len()).shuffle(seed=109).over("label").alias("_q")
    )
    versions = Versions(project, instance, seeds, reference)
    versions.make("n1", pool.filter(pl.col("_q") % 2 == 0))
    n2 = versions.make("n2", pool.filter(pl.col("_q") % 2 == 1))
    assert "published" in n2.materialized, versions.check_evaluation(n2.run_id).metadata
    assert versions.wh.published_version(DATASET) == "n2"
    c = stored_comparison(versions.wh, DATASET, "n2")
    assert c.state == PASSED and c.baseline == "n1"
    # The interval rule is what kept the noise from holding it.
    noise = [f for f in c.figures if f.beyond_tolerance and not f.regressed]
    assert noise, [f.as_dict() for f in c.figures]


def test_the_nightly_schedule_and_the_seed_sensor_go_through_the_gate(
    project, instance, rows, exports_dir
):
    """Both request runs of the version job, whose regression check holds a worse version."""
    folder = project.add_dataset(DATASET)
    seeds, holdout = rows
    reference, clean = halves(holdout)
    versions = Versions(project, instance, seeds, reference)
    versions.make("v1", clean)
    defs = project.definitions()
    job = version_job_name(DATASET)
    checks = defs.resolve_job_def(job).asset_layer.asset_graph.asset_check_keys
    assert dg.AssetCheckKey(dg.AssetKey([DATASET, "validation_report"]), REGRESSION) in checks

    schedule = next(s for s in defs.schedules if s.name == f"{DATASET}_nightly")
    tick = dg.build_schedule_context(
        instance=instance,
        scheduled_execution_time=datetime(2026, 11, 26, 2, 0, tzinfo=UTC),
        repository_def=defs.get_repository_def(),
    )
    nightly = schedule.evaluate_tick(tick).run_requests[0]

    sensor = next(s for s in defs.sensors if s.name == f"{DATASET}_seed_change")
    context = dg.build_sensor_context(instance=instance, definitions=defs)
    sensor(context)  # the first look records the seed files
    with (folder / "seeds.jsonl").open("a") as fh:
        fh.write(json.dumps({"text": "Is my parcel lost?", "label": "order_status"}) + "\n")
    seeded = sensor(
        dg.build_sensor_context(instance=instance, cursor=context.cursor, definitions=defs)
    )
    assert isinstance(seeded, dg.RunRequest)

    # Both ask for a run of the version job, whose regression check is the gate.
    assert schedule.job_name == sensor.job_name == job
    assert seeded.partition_key in instance.get_dynamic_partitions(f"{DATASET}_versions")
    # The nightly run, from the report on (its rows written as its earlier steps would have:
    # half the published version's): held, and the published version stays.
    version = nightly.partition_key
    write_version(versions.wh, versions.spec, version, seeds, reference, halved_target(clean))
    run = materialize_version(defs, DATASET, version, instance, selection=AFTER_DATASET)
    assert run.success and "published" not in run.materialized, run.errors
    assert versions.wh.version_status(DATASET, version) == HELD_STATUS
    assert versions.wh.published_version(DATASET) == "v1"
