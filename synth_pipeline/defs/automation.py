"""Nightly regeneration, the seed-change sensor and the UI's "new version" job, per dataset.

A schedule cannot request a partition that does not exist yet, so each tick
adds its version to the instance first and then asks for a run of it
(`version_request`); the sensors do the same.

The nightly schedule skips a night when nothing changed since the dataset's latest version
that was published or held by a gate (`synth_pipeline.changes` decides and says why).

From the UI, a version needs no typed id: launching the `New_version_<dataset>` job
(Jobs, then Launchpad, then "Launch run") makes a version id of the form the CLI and the
schedule use and adds it as a partition; the `<dataset>_new_version_request` sensor then
requests that version's run of the version job, exactly as the schedule does.
"""

import hashlib
import os
from datetime import UTC
from typing import Any

import dagster as dg

from synth_pipeline.changes import changes_since_latest
from synth_pipeline.defs.runner import new_version_id
from synth_pipeline.pipeline import versions_partitions_name
from synth_pipeline.spec import DatasetSpec
from synth_pipeline.warehouse import Warehouse

DEFAULT_CRON = "0 2 * * *"
DEFAULT_TIMEZONE = "UTC"
NEW_VERSION_TAG = "synth/new_version"


def version_request(
    instance: dg.DagsterInstance, dataset: str, version: str, run_key: str
) -> dg.RunRequest:
    """Add VERSION to the dataset's partitions (a no-op when it is there) and ask for its run."""
    instance.add_dynamic_partitions(versions_partitions_name(dataset), [version])
    return dg.RunRequest(run_key=run_key, partition_key=version)


def seed_fingerprint(spec: DatasetSpec) -> str:
    """Hash of the real data files: a change means new seeds worth a new version."""
    digest = hashlib.sha256()
    for name in (spec.seeds_file, spec.holdout_file):
        path = spec.path(name)
        digest.update(name.encode())
        digest.update(path.read_bytes() if path.exists() else b"<missing>")
    return digest.hexdigest()


def nightly_schedule(spec: DatasetSpec, job: Any) -> dg.ScheduleDefinition:
    @dg.schedule(
        name=f"{spec.name}_nightly",
        cron_schedule=os.environ.get("SYNTH_NIGHTLY_CRON", DEFAULT_CRON),
        execution_timezone=os.environ.get("SYNTH_SCHEDULE_TIMEZONE", DEFAULT_TIMEZONE),
        job=job,
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description=f"Regenerate {spec.name} every night as a new version, unless nothing "
        "changed (spec, seed or holdout file, code version, provider, model) since its latest "
        "version that was published or held by a gate.",
    )
    def _nightly(context: dg.ScheduleEvaluationContext):
        try:
            report = changes_since_latest(spec, Warehouse(lock_timeout_seconds=30))
        except Exception as e:  # a busy or damaged warehouse: run, and let the run say why
            context.log.warning(f"{spec.name}: could not compare with earlier versions: {e}")
        else:
            if not report.changed:
                return dg.SkipReason(report.summary())
            context.log.info(f"{spec.name}: {report.summary()}")
        when = context.scheduled_execution_time
        version = new_version_id(when.astimezone(UTC) if when else None)
        return version_request(context.instance, spec.name, version, f"nightly-{version}")

    return _nightly


def seed_change_sensor(spec: DatasetSpec, job: Any) -> dg.SensorDefinition:
    @dg.sensor(
        name=f"{spec.name}_seed_change",
        job=job,
        minimum_interval_seconds=60,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=f"Start a new version of {spec.name} when its seed or holdout files change.",
    )
    def _on_change(context: dg.SensorEvaluationContext):
        fingerprint = seed_fingerprint(spec)
        if context.cursor is None:
            # First look: remember the files as they are; no run for the state we start in.
            context.update_cursor(fingerprint)
            return dg.SkipReason("recorded the current seed files")
        if context.cursor == fingerprint:
            return dg.SkipReason("seed files unchanged")
        version = new_version_id()
        request = version_request(context.instance, spec.name, version, f"seeds-{fingerprint[:16]}")
        context.update_cursor(fingerprint)
        return request

    return _on_change


def new_version_job_name(dataset: str) -> str:
    return f"New_version_{dataset}"


def new_version_job(spec: DatasetSpec) -> dg.JobDefinition:
    """A job with no config to launch from the UI: it names and registers a new version."""
    name = spec.name

    @dg.op(name=f"{name}_new_version_id")
    def make_version(context: dg.OpExecutionContext) -> str:
        version = new_version_id()
        context.instance.add_dynamic_partitions(versions_partitions_name(name), [version])
        # The request sensor reads the id from the run's tags.
        context.instance.add_run_tags(context.run_id, {NEW_VERSION_TAG: version})
        context.log.info(
            f"{name} version {version} added; the {name}_new_version_request sensor starts its "
            "run of the version job within seconds (the daemon must run: `dagster dev` runs it)"
        )
        return version

    @dg.job(
        name=new_version_job_name(name),
        description=f"Make a new version of {name} from the UI, no id to type: launch this job "
        "(Launchpad, then 'Launch run'). It adds a partition with a generated id; the "
        f"{name}_new_version_request sensor then runs that version end to end.",
        tags={"synth/dataset": name},
    )
    def _new_version() -> None:
        make_version()

    return _new_version


def new_version_request_sensor(
    spec: DatasetSpec, new_job: dg.JobDefinition, job: Any
) -> dg.SensorDefinition:
    name = spec.name

    @dg.run_status_sensor(
        name=f"{name}_new_version_request",
        run_status=dg.DagsterRunStatus.SUCCESS,
        monitored_jobs=[new_job],
        request_job=job,
        minimum_interval_seconds=5,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=f"Requests the version run of each {new_job.name} run, as the schedule does.",
    )
    def _request(context: dg.RunStatusSensorContext):
        version = context.dagster_run.tags.get(NEW_VERSION_TAG)
        if not version:
            return dg.SkipReason(f"run {context.dagster_run.run_id} named no version")
        return version_request(context.instance, name, version, f"ui-{version}")

    return _request
