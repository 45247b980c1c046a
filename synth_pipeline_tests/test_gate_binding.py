"""Check results are bound to the rows and the spec they checked (issue 10, first item).

A version passed its checks; the spec is then changed and `filtered` and `dataset` are
re-materialized without their checks. Publication (a later run of `published` alone), the
version list, the CLI export and the Python API must all refuse what no check passed.

The unit tests use a hand-built warehouse; the reproduction uses one module-scoped Dagster
materialization on the embedded model, copied for each test.
"""

from __future__ import annotations

import re
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import duckdb
import polars as pl
import pytest
from typer.testing import CliRunner

from synth_pipeline import stages
from synth_pipeline.exports import ExportRefused, export_published, export_version
from synth_pipeline.fingerprints import frame_fingerprint, stale_checks, table_fingerprint
from synth_pipeline.gates import (
    DATASET_SUITE,
    FILTERED_SUITE,
    REPORT_THRESHOLDS,
    REQUIRED_CHECKS,
    GateRefused,
    publish_refusal,
    store_check,
)
from synth_pipeline.warehouse import Warehouse
from synth_pipeline_tests.conftest import SMALL_INTENTS, Project
from synth_pipeline_tests.test_lineage import DATASET, KEPT, build_version, intents_spec

# --- fingerprints and the gate, on a hand-built warehouse ----------------------------------


@pytest.fixture
def wh(tmp_path: Path) -> Warehouse:
    return Warehouse(tmp_path / "w.duckdb")


def test_the_fingerprint_covers_every_record_column_and_ignores_row_order():
    frame = pl.DataFrame(
        {
            "record_id": ["a", "b"],
            "text": ["x", "y"],
            "label": ["l1", None],
            "record": ['{"text": "x"}', '{"text": "y"}'],
        }
    )
    base = frame_fingerprint(frame)
    assert base == frame_fingerprint(frame.reverse())
    assert base == frame_fingerprint(frame.with_columns(pl.lit("extra").alias("other")))
    for col, value in [("record_id", "c"), ("text", "z"), ("label", "l2"), ("record", "{}")]:
        changed = frame.with_columns(pl.Series(col, [frame[col][0], value]))
        assert frame_fingerprint(changed) != base, col
    assert frame_fingerprint(frame.head(1)) != base
    assert frame_fingerprint(pl.concat([frame, frame.head(1)])) != base  # a duplicated row


def test_stored_checks_carry_the_fingerprint_of_the_table_and_the_spec(wh):
    from synth_pipeline.quality import ExpectationOutcome

    build_version(wh, "v1", KEPT)
    ok = ExpectationOutcome("e", True, 1, 1, "")
    store_check(wh, DATASET, "v1", "extra_check", "dataset", [ok], spec_hash="s1")
    (fp, spec_hash) = wh.rows(
        "SELECT rows_fingerprint, spec_hash FROM check_results WHERE check_name = 'extra_check'"
    )[0]
    assert fp == table_fingerprint(wh, "dataset_records", DATASET, "v1") and spec_hash == "s1"
    assert fp == frame_fingerprint(wh.stage("dataset_records", DATASET, "v1"))


def test_rows_changed_after_their_checks_passed_are_refused_everywhere(wh, tmp_path):
    build_version(wh, "v1", KEPT)
    spec = intents_spec()
    assert publish_refusal(wh, DATASET, "v1", spec) is None
    wh.execute(
        "UPDATE dataset_records SET text = 'something never checked', "
        'record = \'{"text": "something never checked", "label": "refund"}\' '
        "WHERE dataset = ? AND version = 'v1' AND label = 'refund'",
        [DATASET],
    )
    refusal = publish_refusal(wh, DATASET, "v1")  # without a spec: the rows still count
    assert refusal is not None and "\n" not in refusal
    for expected in (
        DATASET_SUITE,
        REPORT_THRESHOLDS,
        "dataset_records changed",
        "synth materialize",
    ):
        assert expected in refusal, expected
    with pytest.raises(GateRefused, match="changed after"):
        stages.publish(spec, wh, "v1")
    assert wh.published_version(DATASET) is None
    with pytest.raises(ExportRefused, match="changed after"):
        export_version(wh, spec, "v1", "jsonl", tmp_path / "x.jsonl")
    assert not (tmp_path / "x.jsonl").exists()
    assert {s.check_name for s in stale_checks(wh, DATASET, "v1")} == set(REQUIRED_CHECKS)


def test_a_spec_changed_after_the_checks_refuses_until_restored(wh, tmp_path):
    build_version(wh, "v1", KEPT, publish=True)
    changed = intents_spec(quality={"min_yield": 40, "min_length": 100})
    refusal = publish_refusal(wh, DATASET, "v1", changed)
    assert refusal is not None and "spec changed after" in refusal
    assert intents_spec().spec_hash() in refusal and changed.spec_hash() in refusal
    assert "make a new version" in refusal  # the version is published: it cannot re-run
    with pytest.raises(ExportRefused, match="spec changed"):
        export_version(wh, changed, "v1", "jsonl", tmp_path / "x.jsonl")
    with pytest.raises(ExportRefused, match="spec changed"):
        export_published(wh, changed, "v1", tmp_path / "exports")
    assert not (tmp_path / "x.jsonl").exists() and not (tmp_path / "exports").exists()
    forced = export_version(wh, changed, "v1", "jsonl", tmp_path / "x.jsonl", force=True)
    assert forced.forced and "spec changed" in forced.refusal
    assert export_version(wh, intents_spec(), "v1", "jsonl", tmp_path / "y.jsonl").rows == 2


def test_check_results_without_a_fingerprint_do_not_pass(wh):
    build_version(wh, "v1", KEPT)
    wh.execute(
        "UPDATE check_results SET rows_fingerprint = NULL WHERE check_name = ?", [DATASET_SUITE]
    )
    refusal = publish_refusal(wh, DATASET, "v1")
    assert refusal is not None and f"{DATASET_SUITE} recorded no fingerprint" in refusal


def test_a_later_passing_evaluation_on_the_new_rows_binds_again(wh):
    from synth_pipeline.quality import ExpectationOutcome

    build_version(wh, "v1", KEPT)
    spec = intents_spec()
    wh.execute("DELETE FROM dataset_records WHERE label = 'status'")
    assert publish_refusal(wh, DATASET, "v1", spec) is not None
    ok = [ExpectationOutcome("e", True, 1, 1, "")]
    for name in REQUIRED_CHECKS:
        store_check(wh, DATASET, "v1", name, "dataset", ok, spec_hash=spec.spec_hash())
    assert publish_refusal(wh, DATASET, "v1", spec) is None


def test_an_older_warehouse_gains_the_binding_columns(tmp_path):
    path = tmp_path / "old.duckdb"
    with duckdb.connect(str(path)) as conn:
        conn.execute(
            "CREATE TABLE check_results (dataset VARCHAR, version VARCHAR, check_name VARCHAR, "
            "asset VARCHAR, expectation VARCHAR, passed BOOLEAN, observed JSON, expected JSON, "
            "details VARCHAR, checked_at TIMESTAMP DEFAULT current_timestamp)"
        )
        conn.execute(
            "INSERT INTO check_results (dataset, version, check_name, asset, passed) "
            "VALUES ('d', 'v', 'c', 'dataset', true)"
        )
    wh = Warehouse(path)
    assert wh.rows("SELECT rows_fingerprint, spec_hash FROM check_results") == [(None, None)]
    (unbound,) = stale_checks(wh, "d", "v")
    assert unbound.check_name == "c" and unbound.checked_fingerprint is None


# --- the reproduction through Dagster, the CLI and the Python API -------------------

TAMPERED_SPEC = {"quality": {"min_yield": 40, "min_length": 100}}


def _point_env(mp: pytest.MonkeyPatch, root: Path) -> None:
    mp.setenv("SYNTH_DATA_DIR", str(root / "data"))
    mp.setenv("SYNTH_WAREHOUSE", str(root / "warehouse.duckdb"))
    mp.setenv("SYNTH_REPORTS_DIR", str(root / "reports"))
    mp.setenv("SYNTH_EXPORTS_DIR", str(root / "exports"))
    mp.setenv("DAGSTER_HOME", str(root / "dagster_home"))
    for var in ("SYNTH_PROVIDER", "SYNTH_BASE_URL", "SYNTH_MODEL", "SYNTH_API_KEY_ENV"):
        mp.delenv(var, raising=False)


@pytest.fixture(scope="module")
def checked(tmp_path_factory) -> Path:
    """One version of the small dataset that passed its three checks, not yet published."""
    from synth_pipeline.defs.runner import materialize_version, project_instance

    root = tmp_path_factory.mktemp("gate_binding")
    with pytest.MonkeyPatch.context() as mp:
        _point_env(mp, root)
        project = Project(root)
        project.add_dataset("support_intents", **SMALL_INTENTS)
        instance = project_instance()
        try:
            run = materialize_version(
                project.definitions(),
                "support_intents",
                "v1",
                instance,
                selection=["seeds", "holdout", "candidates", "filtered", "dataset"]
                + ["validation_report"],
            )
        finally:
            instance.dispose()
    assert run.success, run.errors
    wh = Warehouse(root / "warehouse.duckdb")
    assert {FILTERED_SUITE, DATASET_SUITE, REPORT_THRESHOLDS} <= set(
        wh.passed_checks("support_intents", "v1")
    )
    return root


@pytest.fixture
def copy(checked: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Project]:
    root = tmp_path / "project"
    shutil.copytree(checked, root)
    _point_env(monkeypatch, root)
    from synth_pipeline.cli import console

    monkeypatch.setattr(console, "width", 250)  # one table row per version
    project = Project.__new__(Project)  # the copied folders, without creating them again
    project.root, project.data = root, root / "data"
    project.warehouse_path, project.reports = root / "warehouse.duckdb", root / "reports"
    yield project


def _instance(root: Path):
    import dagster as dg

    return dg.DagsterInstance.from_config(str(root / "dagster_home"))


def synth(*args: str, code: int = 0) -> str:
    from synth_pipeline.cli import app

    out = CliRunner().invoke(app, list(args), terminal_width=250)
    assert out.exit_code == code, out.output
    return " ".join(out.output.split())


def test_rows_rematerialized_without_their_checks_are_never_published(copy, monkeypatch):
    import dagster as dg

    from synth_pipeline.defs.runner import materialize_version
    from synth_pipeline.spec import load_spec

    ds = "support_intents"
    wh = copy.warehouse()
    passed_rows = wh.count("dataset_records", ds, "v1")
    copy.update_spec(ds, **TAMPERED_SPEC)
    defs = copy.definitions()
    instance = _instance(copy.root)
    try:
        # The reproduction: `filtered` and `dataset` again under the new spec, checks left out.
        keys = [dg.AssetKey([ds, "filtered"]), dg.AssetKey([ds, "dataset"])]
        result = dg.materialize(
            [*defs.assets, *defs.asset_checks],
            selection=dg.AssetSelection.assets(*keys).without_checks(),
            partition_key="v1",
            instance=instance,
            resources=defs.resources,
        )
        assert result.success
        assert result.get_asset_check_evaluations() == []
        assert wh.count("dataset_records", ds, "v1") != passed_rows  # min_length 100 bit

        # A later run of `published` (and `exports`) alone is refused, naming what changed.
        run = materialize_version(defs, ds, "v1", instance, selection=["published", "exports"])
    finally:
        instance.dispose()
    assert not run.success
    assert "published" not in run.materialized and "exports" not in run.materialized
    error = next(e for e in run.errors if "not what passed its checks" in e)
    assert DATASET_SUITE in error and "changed after" in error and "spec changed" in error
    assert f"synth materialize {ds} --version v1" in error
    assert wh.published_version(ds) is None and not wh.was_published(ds, "v1")

    # `synth versions` does not call it passed; `synth export` refuses and writes nothing.
    listing = synth("versions", ds)
    row = listing[listing.index("v1") :]
    assert "not valid" in row and "rows changed since" in row and "passed (" not in row
    target = copy.root / "out.jsonl"
    out = synth("export", ds, "--format", "jsonl", "--version", "v1", "--out", str(target), code=1)
    assert "refusing to export" in out and DATASET_SUITE in out and not target.exists()

    # The Python API: the shared gate, the publish stage and the exporter.
    spec = load_spec(copy.data / ds)
    assert "not what passed its checks" in (publish_refusal(wh, ds, "v1", spec) or "")
    assert publish_refusal(wh, ds, "v1") is not None  # the rows alone are enough
    with pytest.raises(GateRefused):
        stages.publish(spec, wh, "v1")
    with pytest.raises(ExportRefused):
        export_version(wh, spec, "v1", "parquet", copy.root / "x.parquet")
    assert not (copy.root / "x.parquet").exists()
    assert "\n" not in publish_refusal(wh, ds, "v1", spec)  # one line

    # `synth materialize` of the version runs its checks again, on the rows and spec of now:
    # the new suite fails them (row_count_at_least_min_yield), so it never publishes.
    # (The CLI's code location is this copy's, whatever an earlier test imported.)
    monkeypatch.setitem(sys.modules, "synth_pipeline.definitions", SimpleNamespace(defs=defs))
    out = synth("materialize", ds, "--version", "v1", code=1)
    assert "Not published" in out and FILTERED_SUITE in out
    assert wh.published_version(ds) is None and FILTERED_SUITE in wh.failed_checks(ds, "v1")


def test_a_spec_change_alone_blocks_publication_until_the_checks_run_again(copy):
    from synth_pipeline.defs.runner import materialize_version

    ds = "support_intents"
    wh = copy.warehouse()
    copy.update_spec(ds, quality={"min_yield": 4})
    instance = _instance(copy.root)
    try:
        refused = materialize_version(
            copy.definitions(), ds, "v1", instance, selection=["published"]
        )
        assert not refused.success
        assert any("spec changed after" in e for e in refused.errors), refused.errors
        assert "not valid: spec changed since" in synth("versions", ds)
        # With the spec the checks ran under, the same run of `published` alone publishes.
        copy.update_spec(ds, quality={"min_yield": SMALL_INTENTS["quality"]["min_yield"]})
        run = materialize_version(
            copy.definitions(), ds, "v1", instance, selection=["published", "exports"]
        )
    finally:
        instance.dispose()
    assert run.success, run.errors
    assert wh.published_version(ds) == "v1"
    assert (copy.root / "exports" / ds / "v1" / "hf" / "README.md").exists()
    assert re.search(r"v1 .* passed \(\d\)", synth("versions", ds))


def test_a_field_added_later_keeps_the_hash_of_a_spec_that_does_not_use_it():
    """Upgrading the code must not invalidate every version's checks: a spec that leaves a
    field added later at its default hashes as it did before the field existed."""
    import hashlib

    from synth_pipeline.spec import FIELDS_ADDED_LATER, load_spec
    from synth_pipeline_tests.conftest import DATA

    spec = load_spec(DATA / "support_intents")
    assert ("generation", "budget", "allow_partial") in FIELDS_ADDED_LATER
    before = spec.model_dump_json(
        exclude={
            "folder": True,
            "export": True,
            "generation": {"budget": {"allow_partial"}},
            "curation": {"junk_estimate": {"without_realism"}},
            "kind_options": True,
            "purpose": True,
            "eval": True,
        }
    )
    assert spec.spec_hash() == hashlib.sha256(before.encode()).hexdigest()[:16]
    spec.generation.budget.allow_partial = True  # a spec that uses it is another spec
    assert spec.spec_hash() != hashlib.sha256(before.encode()).hexdigest()[:16]
