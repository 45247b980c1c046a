"""Dagster wiring only: assets, checks, jobs and resources built from the dataset specs."""

from __future__ import annotations

import warnings
from pathlib import Path

import dagster as dg

from synth_pipeline.defs.assets import DatasetDefs, dataset_defs
from synth_pipeline.defs.automation import nightly_schedule, seed_change_sensor
from synth_pipeline.defs.resources import default_resources
from synth_pipeline.paths import data_dir
from synth_pipeline.spec import discover_specs


def build_dataset_defs(data: Path | None = None) -> list[DatasetDefs]:
    with warnings.catch_warnings():
        # Partitioned asset checks are marked preview; they are what versions need.
        warnings.simplefilter("ignore", category=dg.PreviewWarning)
        return [dataset_defs(spec) for spec in discover_specs(data or data_dir())]


def build_definitions(data: Path | None = None) -> dg.Definitions:
    per_dataset = build_dataset_defs(data)
    return dg.Definitions(
        assets=[a for d in per_dataset for a in d.assets],
        asset_checks=[c for d in per_dataset for c in d.checks],
        jobs=[d.job for d in per_dataset],
        schedules=[nightly_schedule(d.spec, d.job) for d in per_dataset],
        sensors=[seed_change_sensor(d.spec, d.job) for d in per_dataset],
        resources=default_resources(),
        # One process: DuckDB takes one writer per file, and the embedded model
        # server is started once per process.
        executor=dg.in_process_executor,
    )
