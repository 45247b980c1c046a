"""What a UI user relies on: a new version with no id to type, one job for every run of a
version (UI, CLI, schedule, sensors), the published pointer as a non-partitioned asset, and
version ids that `synth versions` never cuts.

No model: the new-version path stops at the run request; publication uses real rows written
as stage tables (test_regression.py's helpers) and a real Dagster run of `published`. The
whole path in the UI (launch, the sensor's run on the embedded model, the published version
on its page, pruning) is test_ui_browser.py's.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

import dagster as dg
from dagster._core.remote_representation.external_data import asset_node_snaps_from_repo
from typer.testing import CliRunner

from synth_pipeline.defs.assets import current_published_key, version_job_name
from synth_pipeline.defs.automation import NEW_VERSION_TAG, new_version_job_name
from synth_pipeline.defs.runner import materialize_version
from synth_pipeline_tests.conftest import SMALL_INTENTS
from synth_pipeline_tests.test_regression import (  # noqa: F401 (rows, exports_dir: fixtures)
    DATASET,
    Versions,
    exports_dir,
    halved_target,
    halves,
    rows,
    synth,
)

VERSION_ID = re.compile(r"^\d{8}T\d{6}Z-[0-9a-f]{4}$")


def _sensor(defs, name):
    return next(s for s in defs.sensors if s.name == name)


def test_new_version_job_registers_a_generated_id_and_its_sensor_requests_the_run(
    project, instance
):
    project.add_dataset(DATASET, **SMALL_INTENTS)
    defs = project.definitions()
    button = defs.resolve_job_def(new_version_job_name(DATASET))
    assert button.partitions_def is None  # launched with no partition and no config

    result = button.execute_in_process(instance=instance)
    assert result.success
    (version,) = instance.get_dynamic_partitions(f"{DATASET}_versions")
    assert VERSION_ID.match(version), version  # the CLI's and the schedule's form
    run = instance.get_run_by_id(result.run_id)
    assert run.tags[NEW_VERSION_TAG] == version

    sensor = _sensor(defs, f"{DATASET}_new_version_request")
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    success = next(e for e in result.all_events if e.event_type == dg.DagsterEventType.RUN_SUCCESS)
    context = dg.build_run_status_sensor_context(
        sensor_name=sensor.name,
        dagster_event=success,
        dagster_instance=instance,
        dagster_run=run,
        repository_def=defs.get_repository_def(),
    )
    request = sensor(context)
    assert isinstance(request, dg.RunRequest)
    assert request.partition_key == version and request.run_key == f"ui-{version}"
    # ... a run of the same job the nightly schedule requests.
    schedule = next(s for s in defs.schedules if s.name == f"{DATASET}_nightly")
    tick = dg.build_schedule_context(
        instance=instance,
        scheduled_execution_time=datetime(2026, 11, 26, 2, 0, tzinfo=UTC),
        repository_def=defs.get_repository_def(),
    )
    assert schedule.evaluate_tick(tick).run_requests[0].partition_key != version
    assert sensor.job_name == schedule.job_name == version_job_name(DATASET)
    assert instance.get_dynamic_partitions(f"{DATASET}_versions")[0] == version


def test_ui_materialization_and_cli_runs_land_in_the_same_job(project, instance):
    project.add_dataset(DATASET, **SMALL_INTENTS)
    defs = project.definitions()
    job = version_job_name(DATASET)
    # The UI launches in the first job (by name) that every selected asset belongs to.
    snaps = [
        s
        for s in asset_node_snaps_from_repo(defs.get_repository_def())
        if s.asset_key.path[0] == DATASET and s.is_executable
    ]
    assert len(snaps) >= 8
    common = [n for n in snaps[0].job_names if all(n in s.job_names for s in snaps)]
    assert common[0] == job, common  # not __ASSET_JOB
    for snap in snaps:  # "Materialize" on any one asset's page too
        assert snap.job_names[0] == job, (snap.asset_key, snap.job_names)

    run = materialize_version(defs, DATASET, "v1", instance, selection=["seeds", "holdout"])
    assert run.success, run.errors
    assert instance.get_run_by_id(run.run_id).job_name == job
    names = {s.job_name for s in defs.sensors if s.name.startswith(DATASET)}
    assert names == {job}


def _pointer(instance):
    event = instance.get_latest_materialization_event(current_published_key(DATASET))
    assert event is not None
    meta = event.asset_materialization.metadata
    return {k: getattr(v, "value", v) for k, v in meta.items()}


def test_current_published_follows_every_publication(project, rows, exports_dir, instance):  # noqa: F811
    project.add_dataset(DATASET)
    defs = project.definitions()
    key = current_published_key(DATASET)
    node = defs.resolve_asset_graph().get(key)
    assert {p.path[-1] for p in node.parent_keys} == {"published"}
    assert node.partitions_def is None
    job = defs.resolve_job_def(version_job_name(DATASET))
    assert key not in job.asset_layer.asset_graph.get_all_asset_keys()

    seeds, holdout = rows
    reference, clean = halves(holdout)
    versions = Versions(project, instance, seeds, reference)
    versions.make("v1", clean)
    first = _pointer(instance)
    assert first["published_version"] == "v1" and first["previous_published"] == "none"
    assert first["published_at"] and first["dagster/row_count"] == clean.height
    assert str(first["report_html"]).endswith("support_intents/v1/report.html")
    assert first["report_link"].startswith("file://")
    assert 0 <= first["score.headline"] <= 100 and "content.junk_share" in first

    versions.make("v2", halved_target(clean))  # held: worse than v1, so the pointer stays
    assert versions.wh.version_status(DATASET, "v2") == "held_regression"
    assert _pointer(instance)["published_version"] == "v1"

    versions.make("v3", clean)  # as good as v1: published by its run
    third = _pointer(instance)
    assert third["published_version"] == "v3" and third["previous_published"] == "v1"


def test_accept_regression_moves_current_published(
    project,
    rows,  # noqa: F811
    exports_dir,  # noqa: F811
    tmp_path,
    monkeypatch,
):
    from synth_pipeline.defs.runner import project_instance

    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    project.add_dataset(DATASET)
    seeds, holdout = rows
    reference, clean = halves(holdout)
    instance = project_instance()
    try:
        versions = Versions(project, instance, seeds, reference)
        versions.make("v1", clean)
        versions.make("v2", halved_target(clean))
        assert _pointer(instance)["published_version"] == "v1"
        synth("materialize", DATASET, "--version", "v2", "--accept-regression")
        pointer = _pointer(instance)
    finally:
        instance.dispose()
    assert pointer["published_version"] == "v2" and pointer["previous_published"] == "v1"


def test_versions_never_cuts_a_version_id(project, monkeypatch):
    from synth_pipeline.cli import app
    from synth_pipeline.defs.runner import new_version_id

    project.add_dataset(DATASET, **SMALL_INTENTS)
    wh = project.warehouse()
    ids = [new_version_id(), "a-long-hand-made-version-id-" + "x" * 30]
    for v in ids:
        wh.record_version(DATASET, v, status="running")
    for width in (80, 60):
        monkeypatch.setenv("COLUMNS", str(width))
        monkeypatch.setattr("synth_pipeline.cli.console", __import__("rich").console.Console())
        out = CliRunner().invoke(app, ["versions", DATASET], terminal_width=width)
        assert out.exit_code == 0, out.output
        for v in ids:  # whole, on one line, so it can be copied
            assert any(v in line for line in out.output.splitlines()), (width, v, out.output)
