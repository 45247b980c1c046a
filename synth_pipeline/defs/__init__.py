"""Dagster wiring only: assets, checks, jobs and resources built from the dataset specs."""

from __future__ import annotations

import logging
import re
import warnings
from pathlib import Path

import dagster as dg

from synth_pipeline.datasets import scan_datasets
from synth_pipeline.defs.assets import DatasetDefs, dataset_defs
from synth_pipeline.defs.automation import (
    new_version_job,
    new_version_request_sensor,
    nightly_schedule,
    seed_change_sensor,
)
from synth_pipeline.defs.prune import prune_versions_job
from synth_pipeline.defs.resources import default_resources
from synth_pipeline.paths import data_dir

log = logging.getLogger(__name__)


def build_dataset_defs(data: Path | None = None) -> list[DatasetDefs]:
    """Each valid dataset's definitions; a folder whose spec is broken is left out."""
    scan = scan_datasets(data or data_dir())
    with warnings.catch_warnings():
        # Partitioned asset checks are marked preview; they are what versions need.
        warnings.simplefilter("ignore", category=dg.PreviewWarning)
        return [dataset_defs(spec) for spec in scan.specs]


def broken_dataset_assets(data: Path | None = None) -> list[dg.AssetSpec]:
    """One placeholder per dataset folder whose spec cannot be loaded: the dataset is disabled
    (no assets, job, schedule or sensor), and the UI shows this asset saying why."""
    specs = []
    for name, error in scan_datasets(data or data_dir()).broken.items():
        log.warning("dataset %s is disabled: %s", name, " ".join(error.split())[:300])
        safe = re.sub(r"[^A-Za-z0-9_]", "_", name)[:60] or "unnamed"
        specs.append(
            dg.AssetSpec(
                key=dg.AssetKey([safe, "spec_error"]),
                group_name=safe,
                description=f"Dataset {name} is disabled: its spec cannot be loaded.\n\n{error}",
                metadata={"dataset": name, "error": error},
            )
        )
    return specs


def build_definitions(data: Path | None = None) -> dg.Definitions:
    per_dataset = build_dataset_defs(data)
    new_jobs = {d.spec.name: new_version_job(d.spec) for d in per_dataset}  # the UI's button
    return dg.Definitions(
        assets=[a for d in per_dataset for a in d.assets] + broken_dataset_assets(data),
        asset_checks=[c for d in per_dataset for c in d.checks],
        jobs=[d.job for d in per_dataset]
        + list(new_jobs.values())
        + [prune_versions_job(d.spec) for d in per_dataset],  # the UI's prune button
        schedules=[nightly_schedule(d.spec, d.job) for d in per_dataset],
        sensors=[seed_change_sensor(d.spec, d.job) for d in per_dataset]
        + [new_version_request_sensor(d.spec, new_jobs[d.spec.name], d.job) for d in per_dataset],
        resources=default_resources(),
        # One process: DuckDB takes one writer per file, and the embedded model
        # server is started once per process.
        executor=dg.in_process_executor,
    )
