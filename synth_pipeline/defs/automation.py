"""Nightly regeneration and the seed-change sensor, one of each per dataset.

A schedule cannot request a partition that does not exist yet, so each tick
adds its version to the instance first and then asks for a run of it.
"""

from __future__ import annotations

import hashlib
import os
from datetime import UTC
from typing import Any

import dagster as dg

from synth_pipeline.defs.runner import new_version_id
from synth_pipeline.spec import DatasetSpec

DEFAULT_CRON = "0 2 * * *"
DEFAULT_TIMEZONE = "UTC"


def seed_fingerprint(spec: DatasetSpec) -> str:
    """Hash of the real data files: a change means new seeds worth a new version."""
    digest = hashlib.sha256()
    for name in (spec.seeds_file, spec.holdout_file):
        path = spec.path(name)
        digest.update(name.encode())
        digest.update(path.read_bytes() if path.exists() else b"<missing>")
    return digest.hexdigest()


def nightly_schedule(spec: DatasetSpec, job: Any) -> dg.ScheduleDefinition:
    partitions = f"{spec.name}_versions"

    @dg.schedule(
        name=f"{spec.name}_nightly",
        cron_schedule=os.environ.get("SYNTH_NIGHTLY_CRON", DEFAULT_CRON),
        execution_timezone=os.environ.get("SYNTH_SCHEDULE_TIMEZONE", DEFAULT_TIMEZONE),
        job=job,
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description=f"Regenerate {spec.name} every night as a new version.",
    )
    def _nightly(context: dg.ScheduleEvaluationContext):
        when = context.scheduled_execution_time
        version = new_version_id(when.astimezone(UTC) if when else None)
        context.instance.add_dynamic_partitions(partitions, [version])
        return dg.RunRequest(run_key=f"nightly-{version}", partition_key=version)

    return _nightly


def seed_change_sensor(spec: DatasetSpec, job: Any) -> dg.SensorDefinition:
    partitions = f"{spec.name}_versions"

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
        context.instance.add_dynamic_partitions(partitions, [version])
        context.update_cursor(fingerprint)
        return dg.RunRequest(run_key=f"seeds-{fingerprint[:16]}", partition_key=version)

    return _on_change
