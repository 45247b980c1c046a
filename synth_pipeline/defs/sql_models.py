"""Dagster wiring for the SQL models of `dbt_like_sql/`: one asset per model and dataset.

The models themselves (loading, refs, dependency order, rendering, running) live in
`synth_pipeline.sql_models`, which knows nothing of Dagster; this module only wraps them.

(No `from __future__ import annotations` here: Dagster reads the asset function's
parameter annotations at definition time.)
"""

from collections.abc import Callable
from typing import Any

import dagster as dg

from synth_pipeline.defs.metadata import markdown_table
from synth_pipeline.defs.resources import WarehouseResource
from synth_pipeline.spec import DatasetSpec
from synth_pipeline.sql_models import SqlModel, SqlModelError, run_model, spec_variables


def build_model_assets(
    spec: DatasetSpec,
    models: list[SqlModel],
    partitions_def: Any,
    stage_key_fn: Callable[[str], Any],
) -> list[dg.AssetsDefinition]:
    """One asset per model for the spec's dataset: key [dataset, "sql", model]."""
    dataset = spec.name
    variables = spec_variables(spec)

    def model_key(name: str) -> dg.AssetKey:
        return dg.AssetKey([dataset, "sql", name])

    def build(model: SqlModel) -> dg.AssetsDefinition:
        deps = [stage_key_fn(s) for s in model.stages] + [model_key(m) for m in model.model_refs]
        description = (
            (model.description + "\n\n" if model.description else "")
            + f"Materialized as a {model.materialized} `{model.relation}` "
            f"from `{model.path.name}`.\n\n```sql\n{model.source.strip()}\n```"
        )

        @dg.asset(
            key=model_key(model.name),
            group_name=dataset,
            partitions_def=partitions_def,
            deps=deps,
            description=description,
            kinds={"duckdb", "sql"},
            metadata={"relation": model.relation, "materialized": model.materialized},
        )
        def _model_asset(
            context: dg.AssetExecutionContext, warehouse: WarehouseResource
        ) -> dg.MaterializeResult:
            try:
                run = run_model(warehouse.get(), model, dataset, context.partition_key, variables)
            except SqlModelError as e:
                raise dg.Failure(description=str(e)) from e
            return dg.MaterializeResult(
                metadata={
                    "dagster/row_count": dg.MetadataValue.int(run.rows),
                    "relation": dg.MetadataValue.text(run.relation),
                    "preview": dg.MetadataValue.md(markdown_table(run.preview)),
                    "rendered_sql": dg.MetadataValue.md(f"```sql\n{run.sql}\n```"),
                }
            )

        return _model_asset

    return [build(m) for m in models]


__all__ = ["build_model_assets"]
