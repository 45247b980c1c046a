"""Pruning stray versions from the UI: the `Prune_versions_<dataset>` job, and the Dagster
side of `synth_pipeline.prune` (partitions and runs of a version) for the job and the CLI.

In the UI: Jobs, `Prune_versions_<dataset>`, Launchpad, "Launch run". The run's logs list
every version it removed (its partition, warehouse rows and report folder) and the versions
it kept with the reason; naming a published or running version in `versions` fails the run
with that message and removes nothing.
"""

import time
from datetime import timedelta

import dagster as dg
from pydantic import Field

from synth_pipeline.defs.assets import version_job_name
from synth_pipeline.defs.failures import refusal_failure
from synth_pipeline.defs.resources import ReportsResource, WarehouseResource
from synth_pipeline.pipeline import versions_partitions_name
from synth_pipeline.prune import CACHE_NOTE, PruneRefused, plan_prune, prune
from synth_pipeline.spec import DatasetSpec

FINISHED = {dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED}
# A run not over whose last sign of life (status change or event) is older than this is taken
# for one whose process died without telling the instance; it no longer keeps its version.
STALE_AFTER = timedelta(hours=24)


class InstanceVersions:
    """`prune.VersionRegistry` on a Dagster instance."""

    def __init__(self, instance: dg.DagsterInstance, stale_after: timedelta = STALE_AFTER):
        self.instance = instance
        self.stale_after = stale_after

    def versions(self, dataset: str) -> set[str]:
        return set(self.instance.get_dynamic_partitions(versions_partitions_name(dataset)))

    def active_runs(self, dataset: str, version: str) -> list[str]:
        records = self.instance.get_run_records(
            filters=dg.RunsFilter(
                tags={"dagster/partition": version},
                statuses=[s for s in dg.DagsterRunStatus if s not in FINISHED],
            )
        )
        active = []
        for record in records:
            run = record.dagster_run
            if not self._may_touch(run, dataset):
                continue
            idle = time.time() - self._last_seen(record)
            if idle > self.stale_after.total_seconds():
                continue
            active.append(f"run {run.run_id} is {run.status.value}")
        return active

    def remove(self, dataset: str, version: str) -> None:
        if version in self.versions(dataset):
            self.instance.delete_dynamic_partition(versions_partitions_name(dataset), version)

    @staticmethod
    def _may_touch(run: dg.DagsterRun, dataset: str) -> bool:
        """Conservative: only another dataset's own job is known to leave this one alone."""
        if run.job_name == version_job_name(dataset):
            return True
        if run.asset_selection:
            return any(key.path[0] == dataset for key in run.asset_selection)
        return not run.job_name.startswith("Version_")

    def _last_seen(self, record: dg.RunRecord) -> float:
        seen = [record.create_timestamp.timestamp(), record.update_timestamp.timestamp()]
        if record.start_time:
            seen.append(record.start_time)
        events = self.instance.get_records_for_run(
            record.dagster_run.run_id, ascending=False, limit=1
        )
        seen += [r.event_log_entry.timestamp for r in events.records]
        return max(seen)


class PruneConfig(dg.Config):
    versions: list[str] = Field(
        default_factory=list,
        description="Version ids to prune; empty prunes every version that holds no published "
        "data and is not running.",
    )


def prune_job_name(dataset: str) -> str:
    return f"Prune_versions_{dataset}"


def prune_versions_job(spec: DatasetSpec) -> dg.JobDefinition:
    """A job to launch from the UI: removes stray versions of the dataset and logs them."""
    name = spec.name

    @dg.op(name=f"{name}_prune_versions")
    def prune_versions(
        context: dg.OpExecutionContext,
        config: PruneConfig,
        warehouse: WarehouseResource,
        reports: ReportsResource,
    ) -> None:
        wh, registry = warehouse.get(), InstanceVersions(context.instance)
        try:
            plan = plan_prune(wh, registry, name, reports.path(), only=config.versions or None)
            for version, reason in plan.kept.items():
                context.log.info(f"{name} version {version} stays: {reason}")
            if not plan.prunable:
                context.log.info(f"{name}: nothing to prune")
                return
            removed = prune(wh, registry, plan, reports.path())
        except PruneRefused as e:
            raise refusal_failure(e) from None
        for stray in removed:
            context.log.info(f"{name}: pruned {stray.describe()}")
        context.log.info(
            f"{name}: pruned {len(removed)} version(s): "
            f"{', '.join(s.version for s in removed)}. {CACHE_NOTE}"
        )

    @dg.job(
        name=prune_job_name(name),
        description=f"Remove stray versions of {name} (a mistyped id, a version that failed): "
        "launch this job (Launchpad, then 'Launch run'). It removes each version's partition, "
        "warehouse rows and report folder, and logs what it removed. Set `versions` in the "
        "config to prune only those; empty prunes every version that holds no published data "
        "and is not running. Published versions are refused, never touched. " + CACHE_NOTE,
        tags={"synth/dataset": name},
    )
    def _prune() -> None:
        prune_versions()

    return _prune
