"""Pruning stray versions: a mistyped partition and a failed version go, published ones stay."""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path

import dagster as dg
import polars as pl
import pytest
from typer.testing import CliRunner

from synth_pipeline.cli import app
from synth_pipeline.defs.prune import InstanceVersions, prune_job_name
from synth_pipeline.defs.runner import materialize_version
from synth_pipeline.prune import PruneRefused, plan_prune, prune
from synth_pipeline_tests.conftest import SMALL_INTENTS

DS = "support_intents"
PARTITIONS = f"{DS}_versions"


def _report(project, version: str) -> Path:
    folder = project.reports / DS / version
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "report.html").write_text(f"<p>{version}</p>")
    return folder


def _versions_with_rows(wh) -> set[str]:
    tables = ("versions", "seeds", "holdout", "check_results", "report_metrics")
    return {r[0] for t in tables for r in wh.rows(f"SELECT DISTINCT version FROM {t}")}


def _make_strays(project, instance) -> dict[str, int]:
    """v0 published earlier, v1 published now, `bad` failed on its run, `typo` only a partition.

    Returns the published versions' seed counts."""
    project.add_dataset(DS, **SMALL_INTENTS)
    wh, defs = project.warehouse(), project.definitions()
    for version in ("v0", "v1"):
        run = materialize_version(defs, DS, version, instance, selection=["seeds", "holdout"])
        assert run.success, run.errors
        wh.publish(DS, version)  # as the published asset does once every gate passed
        _report(project, version)
    # A version that failed: its real-data stages ran, then curation found no candidates.
    bad = materialize_version(defs, DS, "bad", instance, selection=["seeds", "holdout", "filtered"])
    assert not bad.success and wh.count("seeds", DS, "bad") > 0
    wh.append(
        "report_metrics",
        pl.DataFrame({"dataset": [DS], "version": ["bad"], "metric": ["m"], "value": [1.0]}),
    )
    _report(project, "bad")
    instance.add_dynamic_partitions(PARTITIONS, ["typo"])  # a mistyped id, never run
    wh.execute(
        "INSERT INTO generation_cache (cache_key, dataset, status) VALUES ('k1', ?, 'ok')", [DS]
    )
    return {v: wh.count("seeds", DS, v) for v in ("v0", "v1")}


def test_prune_removes_a_stray_partition_and_a_failed_version_only(project, instance):
    seeds = _make_strays(project, instance)
    wh, registry = project.warehouse(), InstanceVersions(instance)

    plan = plan_prune(wh, registry, DS, project.reports)
    assert plan.versions == ["bad", "typo"]
    assert plan.kept == {
        "v0": "published earlier (its rows stay immutable)",
        "v1": "published (the current version)",
    }
    bad = plan.prunable[0]
    assert bad.registered and bad.rows["seeds"] == seeds["v1"] and bad.report is not None
    assert "partition" in bad.describe() and "report folder" in bad.describe()

    removed = prune(wh, registry, plan, project.reports)
    assert [s.version for s in removed] == ["bad", "typo"]
    assert removed[0].rows["seeds"] == seeds["v1"] and "versions" in removed[0].rows

    assert sorted(instance.get_dynamic_partitions(PARTITIONS)) == ["v0", "v1"]
    assert _versions_with_rows(wh) == {"v0", "v1"}
    assert {v: wh.count("seeds", DS, v) for v in ("v0", "v1")} == seeds
    assert wh.published_version(DS) == "v1" and wh.was_published(DS, "v0")
    assert not (project.reports / DS / "bad").exists()
    assert (project.reports / DS / "v0" / "report.html").exists()
    assert (project.reports / DS / "v1" / "report.html").exists()
    # The generation cache is shared and content-addressed: kept.
    assert wh.rows("SELECT count(*) FROM generation_cache")[0][0] == 1

    assert plan_prune(wh, registry, DS, project.reports).prunable == []


def test_published_or_running_versions_are_refused_and_nothing_is_removed(project, instance):
    _make_strays(project, instance)
    wh = project.warehouse()
    registry = InstanceVersions(instance)
    with pytest.raises(PruneRefused, match="version v0 of support_intents is published earlier"):
        plan_prune(wh, registry, DS, project.reports, only=["typo", "v0"])
    with pytest.raises(PruneRefused, match="has no version 'nope'"):
        plan_prune(wh, registry, DS, project.reports, only=["nope"])
    assert "typo" in instance.get_dynamic_partitions(PARTITIONS)

    # A run of `bad` that is not over keeps it, unless it has shown no sign of life for long.
    run = dg.DagsterRun(
        job_name=f"Version_{DS}",
        run_id=str(uuid.uuid4()),
        status=dg.DagsterRunStatus.STARTED,
        tags={"dagster/partition": "bad"},
    )
    instance.add_run(run)
    plan = plan_prune(wh, registry, DS, project.reports)
    assert plan.versions == ["typo"]
    assert plan.kept["bad"] == f"running: run {run.run_id} is STARTED"
    with pytest.raises(PruneRefused, match="version bad of support_intents is running"):
        plan_prune(wh, registry, DS, project.reports, only=["bad"])
    # Another dataset's run of a version with the same id does not keep this one.
    instance.add_run(
        dg.DagsterRun(
            job_name="Version_other",
            run_id=str(uuid.uuid4()),
            status=dg.DagsterRunStatus.STARTED,
            tags={"dagster/partition": "typo"},
        )
    )
    assert plan_prune(wh, registry, DS, project.reports).versions == ["typo"]
    stale = InstanceVersions(instance, stale_after=timedelta(seconds=-1))
    assert plan_prune(wh, stale, DS, project.reports).versions == ["bad", "typo"]

    # The run started between the plan and the removal: refused then, nothing deleted.
    plan = plan_prune(wh, stale, DS, project.reports, only=["bad"])
    with pytest.raises(PruneRefused, match="started running"):
        prune(wh, registry, plan, project.reports)
    assert wh.count("seeds", DS, "bad") > 0 and "bad" in instance.get_dynamic_partitions(PARTITIONS)


def test_the_prune_job_prunes_what_its_config_names_and_refuses_published(project, instance):
    _make_strays(project, instance)
    job = project.definitions().resolve_job_def(prune_job_name(DS))
    op = f"{DS}_prune_versions"

    def launch(versions: list[str]):
        return job.execute_in_process(
            instance=instance,
            run_config={"ops": {op: {"config": {"versions": versions}}}},
            raise_on_error=False,
        )

    refused = launch(["typo", "v1"])
    assert not refused.success
    [failure] = [e for e in refused.all_events if e.event_type_value == "STEP_FAILURE"]
    description = failure.step_failure_data.user_failure_data.description
    assert "version v1 of support_intents is published (the current version)" in description
    assert "nothing was removed" in description
    assert "typo" in instance.get_dynamic_partitions(PARTITIONS)

    assert launch(["typo"]).success
    assert sorted(instance.get_dynamic_partitions(PARTITIONS)) == ["bad", "v0", "v1"]

    everything = launch([])  # the Launchpad's default: every prunable version
    assert everything.success
    assert sorted(instance.get_dynamic_partitions(PARTITIONS)) == ["v0", "v1"]
    logs = [
        e.message
        for e in instance.all_logs(everything.run_id)
        if e.user_message and "pruned" in e.user_message
    ]
    assert any("pruned bad [" in m for m in logs), logs
    assert _versions_with_rows(project.warehouse()) == {"v0", "v1"}


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A Dagster instance folder of the test's own, as the CLI uses it."""
    folder = tmp_path / "dagster_home"
    monkeypatch.setenv("DAGSTER_HOME", str(folder))
    return folder


def test_cli_prune_asks_first_and_yes_skips_the_question(project, home):
    from synth_pipeline.defs.runner import project_instance

    project.add_dataset(DS, **SMALL_INTENTS)
    instance = project_instance()
    instance.add_dynamic_partitions(PARTITIONS, ["typo"])

    def synth(*args: str, answer: str | None = None):
        return CliRunner().invoke(app, ["versions", DS, *args], input=answer, terminal_width=200)

    declined = synth("--prune", answer="n\n")
    assert declined.exit_code == 1, declined.output
    assert "typo [no warehouse status]: partition" in declined.output
    assert "Prune these 1 version(s)?" in declined.output and "Nothing removed." in declined.output
    assert "generation cache is kept" in declined.output
    assert "typo" in instance.get_dynamic_partitions(PARTITIONS)

    confirmed = synth("--prune", answer="y\n")
    assert confirmed.exit_code == 0, confirmed.output
    assert "Pruned 1 version(s) of support_intents: typo" in confirmed.output
    assert instance.get_dynamic_partitions(PARTITIONS) == []

    instance.add_dynamic_partitions(PARTITIONS, ["typo2"])
    unasked = synth("--prune", "--yes")
    assert unasked.exit_code == 0, unasked.output
    assert "?" not in unasked.output and "typo2" in unasked.output
    assert instance.get_dynamic_partitions(PARTITIONS) == []

    nothing = synth("--prune")
    assert nothing.exit_code == 0 and "Nothing to prune in support_intents." in nothing.output

    help_text = CliRunner().invoke(app, ["versions", "--help"], terminal_width=200).output
    assert "--prune" in help_text and "generation cache is kept" in help_text


def test_a_version_waiting_for_a_person_stays_unless_named(project, instance):
    _make_strays(project, instance)
    wh, registry = project.warehouse(), InstanceVersions(instance)
    wh.set_version_status(DS, "bad", "awaiting_review")
    plan = plan_prune(wh, registry, DS, project.reports)
    assert plan.versions == ["typo"]
    assert plan.kept["bad"] == "awaiting review (name it to prune it)"
    named = plan_prune(wh, registry, DS, project.reports, only=["bad"])
    assert named.versions == ["bad"]
