"""Run a dataset version through the Dagster job, on the project's instance.

The CLI and the tests use this, so a version made outside the UI is the same
Dagster run, with the same lineage, as one launched from `dagster dev`.
"""

from __future__ import annotations

import os
import secrets
import socket
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import dagster as dg

from synth_pipeline.defs.assets import version_job_name
from synth_pipeline.paths import dagster_home
from synth_pipeline.pipeline import versions_partitions_name
from synth_pipeline.warehouse import validate_version


def new_version_id(now: datetime | None = None) -> str:
    """Sortable by time; the random suffix keeps two versions in one second apart."""
    now = now or datetime.now(UTC)
    return f"{now.strftime('%Y%m%dT%H%M%SZ')}-{secrets.token_hex(2)}"


def project_instance() -> dg.DagsterInstance:
    home = dagster_home()
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        # An explicit file: no telemetry from an offline machine, no missing-file warning.
        config.write_text("telemetry:\n  enabled: false\n")
    os.environ["DAGSTER_HOME"] = str(home)
    return dg.DagsterInstance.get()


@dataclass
class VersionRun:
    dataset: str
    version: str
    success: bool
    run_id: str
    materialized: list[str] = field(default_factory=list)
    failed_steps: list[str] = field(default_factory=list)
    failed_checks: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


class VersionBusyError(RuntimeError):
    """Another process registered the same version at the same moment and is running it."""


def register_version(instance: dg.DagsterInstance, dataset: str, version: str) -> None:
    """Add VERSION to the dataset's partitions; a version another process is adding at the
    same moment (the instance's UNIQUE constraint) is refused before any stage runs."""
    from sqlalchemy.exc import IntegrityError

    try:
        instance.add_dynamic_partitions(versions_partitions_name(dataset), [version])
    except IntegrityError as e:
        raise VersionBusyError(
            f"version {version} of {dataset} is being started by another `synth materialize` "
            "at the same moment; let that run finish (see `synth versions`) or pick another "
            "--version"
        ) from e


def _step_error(step_key: str, error: Any) -> str:
    """`stage: message` of the stage's own error; Dagster's wrappers and their frames dropped."""
    stage = step_key.split("__")[-1] or step_key
    chain = []
    while error is not None:  # Dagster wraps the stage's own error as the cause
        chain.append(error)
        error = error.cause
    own = [e for e in chain if not (e.cls_name or "").startswith("Dagster")] or chain
    first = own[0]
    message = first.message.strip()
    head, sep, rest = message.partition(": ")
    if sep and head.split(".")[-1] == first.cls_name:
        # A refusal surfaces as a dg.Failure (`defs/failures.py`): its description alone.
        ours = head.startswith("synth_pipeline.") or first.cls_name == "Failure"
        message = rest if ours else f"{first.cls_name}: {rest}"
    return f"{stage}: {message}"


# Tags of a run the CLI or a test executes in its own process: which process owns the run, so
# a version whose process was killed between two stages is told from one still running.
PID_TAG, HOST_TAG, STARTED_TAG = "synth/pid", "synth/host", "synth/process_started"


def owner_tags() -> dict[str, str]:
    from synth_pipeline.run_state import process_start_time

    pid = os.getpid()
    return {
        PID_TAG: str(pid),
        HOST_TAG: socket.gethostname(),
        STARTED_TAG: repr(process_start_time(pid) or 0.0),
    }


def run_outcome(instance: dg.DagsterInstance) -> Callable[[str], str | None]:
    """How a run of the instance ended, for `run_state.version_states`: None while it runs
    (or when the instance does not know it), `interrupted` when its owning process is gone."""
    from synth_pipeline.run_state import INTERRUPTED, process_alive

    def outcome(run_id: str) -> str | None:
        run = instance.get_run_by_id(run_id)
        if run is None:
            return None
        if run.is_finished:
            return f"run {run.status.value.lower()}"
        tags = run.tags
        if PID_TAG in tags and not process_alive(
            tags.get(HOST_TAG), int(tags[PID_TAG]), float(tags.get(STARTED_TAG) or 0) or None
        ):
            return INTERRUPTED
        return None

    return outcome


def fail_run(instance: dg.DagsterInstance) -> Callable[[str, str], None]:
    """Mark a run whose process died as failed, so the UI stops showing it as started."""

    def mark(run_id: str, message: str) -> None:
        run = instance.get_run_by_id(run_id)
        if run is not None and not run.is_finished:
            instance.report_run_failed(run, message=message)

    return mark


def reconcile_versions(instance: dg.DagsterInstance, wh: Any, dataset: str) -> dict[str, Any]:
    """Every version's state (`run_state.VersionState`), interrupted runs marked failed."""
    from synth_pipeline.run_state import reconcile

    return reconcile(wh, dataset, fail_run=fail_run(instance), run_outcome=run_outcome(instance))


def unfinished_publication(instance: dg.DagsterInstance, dataset: str, version: str) -> list[str]:
    """Of a version the warehouse has published, the steps Dagster never recorded (a crash
    between moving the pointer and storing the event, or before the exports were written)."""
    return [
        stage
        for stage in ("published", "exports")
        if version not in instance.get_materialized_partitions(dg.AssetKey([dataset, stage]))
    ]


def materialize_version(
    defs: dg.Definitions,
    dataset: str,
    version: str | None = None,
    instance: dg.DagsterInstance | None = None,
    selection: list[str] | None = None,
    console_log_level: str = "DEBUG",
) -> VersionRun:
    version = validate_version(version or new_version_id())
    try:  # an unknown (or hostile) dataset name never reaches the instance
        job = defs.resolve_job_def(version_job_name(dataset))  # the UI's job too
    except Exception as e:
        raise KeyError(f"unknown dataset {dataset!r}") from e
    instance = instance or project_instance()
    register_version(instance, dataset, version)
    kwargs = {}
    if selection:
        kwargs["asset_selection"] = [dg.AssetKey([dataset, s]) for s in selection]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=dg.PreviewWarning)
        result = job.execute_in_process(
            instance=instance,
            partition_key=version,
            raise_on_error=False,
            run_config={"loggers": {"console": {"config": {"log_level": console_log_level}}}},
            tags=owner_tags(),
            **kwargs,
        )
    materialized = sorted(
        e.asset_key.path[-1]
        for e in result.get_asset_materialization_events()
        if e.asset_key is not None
    )
    failed_checks = sorted(
        e.check_name for e in result.get_asset_check_evaluations() if not e.passed
    )
    errors = []
    failed_steps = []
    for event in result.all_events:
        if event.event_type_value == "STEP_FAILURE":
            failed_steps.append(event.step_key or "")
            data = event.step_failure_data
            if data and data.error is not None:
                errors.append(_step_error(event.step_key or "", data.error))
    return VersionRun(
        dataset=dataset,
        version=version,
        success=result.success,
        run_id=result.run_id,
        materialized=materialized,
        failed_steps=failed_steps,
        failed_checks=failed_checks,
        errors=errors,
    )
