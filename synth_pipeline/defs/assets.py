"""The asset factory: one group of assets and checks per dataset spec.

Each asset is a thin wrapper: it calls one function of `synth_pipeline.stages`
and turns its figures into metadata.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from typing import Any

import dagster as dg

from synth_pipeline import pipeline, stages
from synth_pipeline.defs.failures import refusal_failure, refusals_as_failure
from synth_pipeline.defs.metadata import figure_value, markdown_table, stage_metadata
from synth_pipeline.defs.resources import ReportsResource, WarehouseResource
from synth_pipeline.defs.sql_models import build_model_assets
from synth_pipeline.exports import ExportRefused, export_published
from synth_pipeline.gates import (
    DATASET_SUITE,
    FILTERED_SUITE,
    REGRESSION,
    REPORT_THRESHOLDS,
    GateRefused,
    RegressionHeld,
)
from synth_pipeline.published_pointer import PublishedPointer, current_published
from synth_pipeline.regression import gate as regression
from synth_pipeline.regression.compare import Comparison
from synth_pipeline.run_state import stage_run
from synth_pipeline.spec import DatasetSpec
from synth_pipeline.sql_models import MODELS_DIR, SqlModel, load_models

STAGES = pipeline.STAGE_NAMES
PREVIEW = ["record_id", "label", "text"]


@cache
def sql_models() -> list[SqlModel]:
    """dbt_like_sql/ parsed once per process; a bad model fails the code location with file:line."""
    return load_models(MODELS_DIR, set(STAGES))


def versions_partitions(dataset: str) -> dg.DynamicPartitionsDefinition:
    return dg.DynamicPartitionsDefinition(name=pipeline.versions_partitions_name(dataset))


def version_job_name(dataset: str) -> str:
    """The one job every version of DATASET runs in: the UI, the CLI, the schedule and sensors.

    The UI launches an asset's materialization in the first job, by name, that holds every
    selected asset; Dagster's implicit `__ASSET_JOB` holds them all and sorts before any
    lowercase name. A capital first letter sorts before it (`V` < `_`), so "Materialize" in
    the asset graph runs this job too, not `__ASSET_JOB`.
    """
    return f"Version_{dataset}"


def current_published_key(dataset: str) -> dg.AssetKey:
    return dg.AssetKey([dataset, "current_published"])


@dataclass
class DatasetDefs:
    spec: DatasetSpec
    assets: list[dg.AssetsDefinition | dg.AssetSpec]
    checks: list[dg.AssetChecksDefinition]
    partitions: dg.DynamicPartitionsDefinition
    job: Any  # the unresolved asset job define_asset_job returns


def _check_result(out: stages.CheckOutput) -> dg.AssetCheckResult:
    table = "\n".join(
        ["| expectation | passed | observed | expected |", "|---|---|---|---|"]
        + [
            f"| {o.name} | {'yes' if o.passed else '**NO**'} | {o.observed} | {o.expected} |"
            for o in out.outcomes
        ]
    )
    meta: dict[str, Any] = {k: figure_value(v) for k, v in out.figures.items()}
    meta["results"] = dg.MetadataValue.md(table)
    return dg.AssetCheckResult(
        passed=out.passed, severity=dg.AssetCheckSeverity.ERROR, metadata=meta
    )


@contextmanager
def recorded_stage(
    context: dg.AssetExecutionContext, wh: Any, dataset: str, stage: str
) -> Iterator[None]:
    """The stage's start and end in `stage_runs`: the version list tells a killed or failed
    stage from a running one. A gate's refusal is recorded as refused, not failed."""
    with stage_run(
        wh, dataset, context.partition_key, stage, context.run.run_id,
        refusals=(GateRefused, RegressionHeld, ExportRefused),
    ):  # fmt: skip
        yield


def dataset_defs(spec: DatasetSpec) -> DatasetDefs:
    name = spec.name
    parts = versions_partitions(name)

    def key(stage: str) -> dg.AssetKey:
        return dg.AssetKey([name, stage])

    def upstream(stage: str) -> list[dg.AssetKey]:
        """The stage's deps, as the stage graph declares them."""
        return [key(u) for u in pipeline.stage(stage).upstream]

    common: dict[str, Any] = {"group_name": name, "partitions_def": parts}
    kinds = {"duckdb", "polars"}

    @dg.asset(
        key=key("seeds"),
        description=f"Real seed examples of {name}, loaded from {spec.seeds_file} and validated "
        "against the spec. Shown to the generator.",
        kinds=kinds,
        **common,
    )
    @refusals_as_failure
    def seeds(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
        # Bad input or a damaged warehouse refuses before the stage records itself: a failed
        # input check leaves no row of the version anywhere.
        checked = stages.check_version_start(spec, warehouse.get(), context.partition_key)
        with recorded_stage(context, warehouse.get(), name, "seeds"):
            out = stages.load_seeds(spec, warehouse.get(), context.partition_key, checked)
        return dg.MaterializeResult(metadata=stage_metadata(out.frame, out.figures, PREVIEW))

    @dg.asset(
        key=key("holdout"),
        description=f"Real held-out examples of {name} from {spec.holdout_file}: never shown to "
        "the generator, used only to judge the synthetic data.",
        kinds=kinds,
        **common,
    )
    @refusals_as_failure
    def holdout(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
        # Bad input or a damaged warehouse refuses before the stage records itself: a failed
        # input check leaves no row of the version anywhere.
        checked = stages.check_version_start(spec, warehouse.get(), context.partition_key)
        with recorded_stage(context, warehouse.get(), name, "holdout"):
            out = stages.load_holdout(spec, warehouse.get(), context.partition_key, checked)
        return dg.MaterializeResult(metadata=stage_metadata(out.frame, out.figures, PREVIEW))

    @dg.asset(
        key=key("candidates"),
        deps=upstream("candidates"),
        description="Model-generated candidate records, one row per request with its strategy, "
        "seeds, prompt hash, provider and raw response. Cached by content hash.",
        kinds={"duckdb", "openai"},
        **common,
    )
    @refusals_as_failure
    def candidates(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
        with recorded_stage(context, warehouse.get(), name, "candidates"):
            out = stages.generate_candidates(
                spec,
                warehouse.get(),
                context.partition_key,
                progress=lambda p: context.log.info(p.describe()),
                log=context.log.info,
            )
        return dg.MaterializeResult(
            metadata=stage_metadata(out.frame, out.figures, [*PREVIEW, "status", "error"])
        )

    @dg.asset(
        key=key("filtered"),
        deps=upstream("filtered"),
        description="Candidates after curation; every dropped row keeps its reason in "
        "the curation_audit table.",
        kinds=kinds,
        **common,
    )
    @refusals_as_failure
    def filtered(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
        with recorded_stage(context, warehouse.get(), name, "filtered"):
            out = stages.curate(spec, warehouse.get(), context.partition_key, log=context.log.info)
        return dg.MaterializeResult(metadata=stage_metadata(out.frame, out.figures, PREVIEW))

    @dg.asset_check(
        asset=key("filtered"),
        name=FILTERED_SUITE,
        blocking=True,
        partitions_def=parts,
        description="Great Expectations suite built from the spec; blocks `dataset`.",
    )
    @refusals_as_failure
    def filtered_suite(context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource):
        version = context.op_execution_context.partition_key
        return _check_result(stages.run_quality_suite(spec, warehouse.get(), version, "filtered"))

    @dg.asset(
        key=key("dataset"),
        deps=upstream("dataset"),
        description="The quality-checked dataset: materializes only when the filtered suite "
        "passed.",
        kinds=kinds,
        **common,
    )
    @refusals_as_failure
    def dataset(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
        with recorded_stage(context, warehouse.get(), name, "dataset"):
            out = stages.build_dataset(spec, warehouse.get(), context.partition_key)
        return dg.MaterializeResult(metadata=stage_metadata(out.frame, out.figures, PREVIEW))

    @dg.asset_check(
        asset=key("dataset"),
        name=DATASET_SUITE,
        blocking=True,
        partitions_def=parts,
        description="Great Expectations suite on the final dataset; blocks publication.",
    )
    @refusals_as_failure
    def dataset_suite(context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource):
        version = context.op_execution_context.partition_key
        return _check_result(stages.run_quality_suite(spec, warehouse.get(), version, "dataset"))

    @dg.asset(
        key=key("validation_report"),
        deps=upstream("validation_report"),
        description="Real-vs-synthetic validation report (HTML + metrics.json); every figure "
        "is also a row of the report_metrics table.",
        kinds={"html", "scikitlearn"},
        **common,
    )
    @refusals_as_failure
    def validation_report(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource, reports: ReportsResource
    ):
        with recorded_stage(context, warehouse.get(), name, "validation_report"):
            result, _ = stages.build_validation_report(
                spec, warehouse.get(), context.partition_key, reports.path()
            )
        return dg.MaterializeResult(metadata=_report_metadata(result))

    @dg.asset_check(
        asset=key("validation_report"),
        name=REPORT_THRESHOLDS,
        blocking=True,
        partitions_def=parts,
        description="The spec's report thresholds, evaluated by the report; blocks publication.",
    )
    @refusals_as_failure
    def report_thresholds(context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource):
        version = context.op_execution_context.partition_key
        return _check_result(stages.stored_check(spec, warehouse.get(), version, REPORT_THRESHOLDS))

    @dg.asset_check(
        asset=key("validation_report"),
        name=REGRESSION,
        blocking=True,
        partitions_def=parts,
        description="Compares the version with the dataset's published version on the spec's "
        "`regression:` figures. A figure worse by more than its tolerance, with the two "
        "versions' 95% intervals apart, holds the version (a warning, not an error): "
        "`published` keeps the published version until `synth materialize --version V "
        "--accept-regression`. The first version has nothing to compare with and passes.",
    )
    @refusals_as_failure
    def report_regression(
        context: dg.AssetCheckExecutionContext,
        warehouse: WarehouseResource,
        reports: ReportsResource,
    ):
        version = context.op_execution_context.partition_key
        return _regression_result(
            regression.evaluate(spec, warehouse.get(), version, reports.path())
        )

    @dg.asset(
        key=key("published"),
        deps=upstream("published"),
        description="Moves the dataset's published pointer to this version, only when every "
        "check of the version passed (checked across runs, not only in this one). A version "
        "worse than the published one is held as held_regression, and with `review.required` "
        "in the spec a version is held as awaiting_review (no materialization, an observation "
        "instead) until `synth review` passes its review gate.",
        kinds={"duckdb"},
        # Not materialized while a version is held; `exports` is then skipped.
        output_required=False,
        **common,
    )
    @refusals_as_failure
    def published(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource, reports: ReportsResource
    ):
        wh, version = warehouse.get(), context.partition_key
        try:
            with recorded_stage(context, wh, name, "published"):
                # The published version may have changed since the check compared with it.
                regression.refresh_if_stale(spec, wh, version, reports.path())
                out = stages.publish(spec, wh, version)
        except RegressionHeld as e:
            held = regression.holding(wh, name, version)
            if held is None:
                raise refusal_failure(e) from None
            context.log.info(f"{name} version {version} is {held.describe()}")
            context.log_event(
                dg.AssetObservation(
                    asset_key=context.asset_key,
                    partition=version,
                    metadata=_regression_metadata(held),
                )
            )
            return
        out.figures.update(regression.publication_metadata(wh, name, version))
        if out.figures.get("published") is False:
            context.log.info(
                f"{name} version {context.partition_key} awaits human review: "
                f"synth review {name} --version {context.partition_key}"
            )
            context.log_event(
                dg.AssetObservation(
                    asset_key=context.asset_key,
                    partition=context.partition_key,
                    metadata={k: figure_value(v) for k, v in out.figures.items()},
                )
            )
            return
        pointer = current_published(wh, name, reports.path())
        if pointer is not None:  # the pointer moved: the non-partitioned view of it follows
            context.log_event(
                dg.AssetMaterialization(
                    asset_key=current_published_key(name),
                    description=f"{name} publishes version {pointer.version}",
                    metadata=pointer_metadata(pointer),
                )
            )
        yield dg.MaterializeResult(metadata=stage_metadata(out.frame, out.figures, PREVIEW))

    current = dg.AssetSpec(
        key=current_published_key(name),
        deps=[key("published")],
        group_name=name,
        kinds={"duckdb"},
        description=f"The version of {name} users export and train on now. Not partitioned: "
        "its latest materialization names the published version, when it was published, its "
        "report and headline figures. Updated by the `published` step whenever it moves the "
        "pointer (a run, `synth review`, `--accept-regression`); the versioned `published` "
        "asset keeps one materialization per version ever published.",
    )

    @dg.asset(
        key=key("exports"),
        deps=[key("published")],
        description="The published version's files in SYNTH_EXPORTS_DIR/<dataset>/<version>/: "
        "OpenAI chat JSONL, JSONL, Parquet and a Hugging Face folder whose dataset card holds "
        "the provenance. Only a published version exports.",
        kinds={"parquet", "huggingface"},
        **common,
    )
    @refusals_as_failure
    def exports(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
        try:
            with recorded_stage(context, warehouse.get(), name, "exports"):
                results = export_published(warehouse.get(), spec, context.partition_key)
        except ExportRefused as e:
            raise refusal_failure(e) from None
        meta: dict[str, Any] = {"dagster/row_count": dg.MetadataValue.int(results[0].rows)}
        meta.update({r.format: dg.MetadataValue.path(str(r.path)) for r in results})
        return dg.MaterializeResult(metadata=meta)

    sql_assets = build_model_assets(spec, sql_models(), parts, key)

    job = dg.define_asset_job(
        version_job_name(name),
        # current_published is not partitioned and is written by `published`, not run.
        selection=dg.AssetSelection.groups(name) - dg.AssetSelection.assets(current.key),
        description=f"Materialize one version of {name} end to end (UI, CLI, schedule and "
        "sensors all run this job).",
    )
    return DatasetDefs(
        spec=spec,
        assets=[
            seeds,
            holdout,
            candidates,
            filtered,
            dataset,
            validation_report,
            published,
            exports,
            *sql_assets,
            current,
        ],
        checks=[filtered_suite, dataset_suite, report_thresholds, report_regression],
        partitions=parts,
        job=job,
    )


def pointer_metadata(p: PublishedPointer) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "summary": dg.MetadataValue.md(p.markdown()),  # figures, the score plot, the path
        "published_version": dg.MetadataValue.text(p.version),
        "published_at": dg.MetadataValue.text(p.published_at),
        "previous_published": dg.MetadataValue.text(p.previous or "none"),
        "dagster/row_count": dg.MetadataValue.int(p.rows),
        "versioned_asset": dg.MetadataValue.url(
            f"/assets/{p.dataset}/published?partition={p.version}"
        ),
    }
    if p.report_html is not None:
        meta["report_html"] = dg.MetadataValue.path(str(p.report_html))
        meta["report_link"] = dg.MetadataValue.url(p.report_html.resolve().as_uri())
    for metric, value in p.figures.items():
        meta[metric] = figure_value(float(value))  # 3 significant digits
    return meta


def _regression_metadata(c: Comparison) -> dict[str, Any]:
    from synth_pipeline.report.comparison import markdown_table

    meta: dict[str, Any] = {
        "state": dg.MetadataValue.text(c.state),
        "published_version": dg.MetadataValue.text(c.baseline or "none"),
        "summary": dg.MetadataValue.text(c.describe()),
        "comparison": dg.MetadataValue.md(markdown_table(c)),
        "regressed": dg.MetadataValue.json([f.figure.metric for f in c.regressed]),
    }
    if c.acceptance is not None:
        meta["accepted_by"] = dg.MetadataValue.text(c.acceptance.accepted_by)
        meta["accepted_at"] = dg.MetadataValue.text(c.acceptance.accepted_at)
    for f in c.figures:
        if f.candidate is not None:
            meta[f"{f.figure.metric}"] = dg.MetadataValue.float(float(f.candidate))
        if f.published is not None:
            meta[f"{f.figure.metric} (published)"] = dg.MetadataValue.float(float(f.published))
    return meta


def _regression_result(c: Comparison) -> dg.AssetCheckResult:
    # Held is a warning: `published` then runs and keeps the version from publication (an
    # observation, not a failed run); an error would fail the nightly run instead.
    return dg.AssetCheckResult(
        passed=not c.held,
        severity=dg.AssetCheckSeverity.WARN if c.held else dg.AssetCheckSeverity.ERROR,
        metadata=_regression_metadata(c),
        description=c.describe(),
    )


def _report_metadata(result: Any) -> dict[str, Any]:
    """The summary (figures, the score plot, the path) first; figures to 3 significant
    digits (exact values: metrics.json and the report_metrics table)."""
    meta: dict[str, Any] = {
        "summary": dg.MetadataValue.md(result.markdown),
        "headline_score": figure_value(float(result.headline_score)),
        "html_report": dg.MetadataValue.path(str(result.html_path)),
        # Opens the report where the browser allows file:// links from the UI's page.
        "report_link": dg.MetadataValue.url(result.html_path.resolve().as_uri()),
        "metrics_json": dg.MetadataValue.path(str(result.json_path)),
    }
    for metric, value in result.metrics.items():
        meta[metric] = figure_value(float(value))
    return meta


__all__ = [
    "STAGES",
    "DatasetDefs",
    "current_published_key",
    "dataset_defs",
    "markdown_table",
    "version_job_name",
    "versions_partitions",
]
