"""`synth preview NAME [-n 5] [--strategy S]`: a handful of records through the real prompts
and the curation chain, with the prompt that made each and the filters' verdicts.

No version is made: no stage rows, no `versions` row, no Dagster partition, no usage-ledger
rows. The requests are the first N of the plan a version would run (`plan_generation` on the
same seeds), sent through the same engine and generation cache with the same keys (provider
identity, messages, schema, parameters, sample index, strategy), so a version made afterwards
finds their answers in the cache and does not pay for them again. Curation runs as `synth
curate` runs it (`curation/external.py`). Kept out of cli.py; cli.py only registers it.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Annotated, Any

import polars as pl
import typer
from rich.console import Console
from rich.markup import escape

from synth_pipeline.cli_errors import DatasetArg
from synth_pipeline.datasets import dataset_spec
from synth_pipeline.spec import DatasetSpec, DistillationStrategy, SpecError

console = Console()


@dataclass
class PreviewRecord:
    request: Any  # GenerationRequest
    status: str  # ok, failed
    error: str | None
    record: dict[str, Any] | None
    from_cache: bool
    record_id: str
    kept: bool | None = None  # None: not curated (generation failed)
    verdicts: list[dict[str, Any]] = field(default_factory=list)  # audit rows of this record


@dataclass
class Preview:
    spec: DatasetSpec
    records: list[PreviewRecord]
    planned: int  # requests of the whole plan
    calls: int
    cache_hits: int
    per_filter: dict[str, dict[str, Any]] = field(default_factory=dict)


def preview_requests(
    spec: DatasetSpec, seeds: pl.DataFrame, n: int, strategy: str | None
) -> tuple[list[Any], int]:
    """The first N requests of the version plan (of STRATEGY only, when given), and the
    plan's size."""
    from synth_pipeline.generation.planner import plan_generation

    plan = plan_generation(spec, seeds)
    requests = plan.requests
    if strategy is not None:
        names = [s.name for s in spec.generation.strategies]
        if strategy not in names:
            raise SpecError(
                f"{spec.path('spec.yaml')}: strategy {strategy!r} is not in "
                f"generation.strategies ({', '.join(names)})"
            )
        requests = [r for r in requests if r.strategy == strategy]
    return requests[:n], len(plan.requests)


def run_preview(spec: DatasetSpec, n: int = 5, strategy: str | None = None) -> Preview:
    """Generate and curate the first N requests of the version plan; nothing but the
    generation cache is written."""
    from synth_pipeline.curation.external import curate_records
    from synth_pipeline.generation.cache import ResponseCache
    from synth_pipeline.generation.engine import GenerationEngine, candidate_frame, merge_runs
    from synth_pipeline.generation.providers import ResolvedProvider, resolve_provider
    from synth_pipeline.generation.schema import ResponseModels
    from synth_pipeline.paths import default_warehouse
    from synth_pipeline.stages import check_inputs
    from synth_pipeline.warehouse import Warehouse

    seeds, _ = check_inputs(spec)  # the checks a version's input stages make
    requests, planned = preview_requests(spec, seeds, n, strategy)
    wh = Warehouse(default_warehouse())
    wh.verify()
    models = ResponseModels(spec)

    def engine(p: ResolvedProvider) -> GenerationEngine:
        # As generation/run.py builds it, without the usage ledger (it belongs to a version)
        # and without the failure-rate stop (a handful of records is shown whatever they are).
        return GenerationEngine(
            p,
            models,
            ResponseCache(wh, spec.name),
            max_failure_rate=1.0,
            refusal_markers=spec.generation.refusal_markers,
        )

    main = engine(resolve_provider(spec.provider))
    distill = next(
        (s for s in spec.generation.strategies if isinstance(s, DistillationStrategy)), None
    )
    teacher = main
    if distill is not None and distill.teacher is not None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SYNTH_")}
        teacher = engine(resolve_provider(distill.teacher, env=env))

    def engine_for(r: Any) -> GenerationEngine:
        return teacher if r.strategy == "distillation" else main

    parts = []
    for eng in {id(main): main, id(teacher): teacher}.values():
        idx = [i for i, r in enumerate(requests) if engine_for(r) is eng]
        if idx:
            parts.append((idx, eng.run([requests[i] for i in idx])))
    run = merge_runs(parts, len(requests))
    frame = candidate_frame(spec, requests, run, engine_for)
    by_key = {row["cache_key"]: row for row in frame.iter_rows(named=True)}
    records = []
    for request, outcome in zip(requests, run.outcomes, strict=True):
        row = by_key.get(outcome.key, {})
        records.append(
            PreviewRecord(
                request=request,
                status=outcome.status,
                error=outcome.error,
                record=json.loads(row["record"]) if row.get("record") else None,
                from_cache=outcome.from_cache,
                record_id=row.get("record_id") or f"c-{outcome.key[:16]}",
            )
        )
    ok = frame.filter(pl.col("status") == "ok")
    preview = Preview(spec, records, planned, run.calls, run.cache_hits)
    if ok.height:
        given = ok.select("record_id", "text", "label", "record").with_row_index(
            "source_line", offset=1
        )
        given = given.with_columns(pl.col("source_line").cast(pl.Int64))
        result = curate_records(
            spec, given.select("record_id", "text", "label", "record", "source_line")
        )
        kept = result.kept_ids
        audit = result.result.audit
        for rec in records:
            if rec.status != "ok":
                continue
            rec.kept = rec.record_id in kept
            rec.verdicts = audit.filter(pl.col("record_id") == rec.record_id).to_dicts()
        preview.per_filter = result.result.per_filter
    return preview


def _verdict_lines(rec: PreviewRecord, per_filter: dict[str, dict[str, Any]]) -> list[str]:
    if rec.status != "ok":
        return [f"[red]generation failed[/]: {escape(rec.error or 'unknown')}"]
    lines = []
    for v in rec.verdicts:
        what = "[red]dropped[/]" if not v["kept"] else "[yellow]changed[/]"
        score = "" if v.get("score") is None else f", score {v['score']:.3g}"
        detail = f": {v['detail']}" if v.get("detail") else ""
        lines.append(f"{what} by {v['filter']} ({v['reason']}{score}){escape(detail)}")
    if rec.kept:
        ran = [f for f, s in per_filter.items() if not s.get("skipped")]
        lines.append(f"[green]kept[/]: passed {', '.join(ran)}")
    skipped = [f"{f} ({s['skipped']})" for f, s in per_filter.items() if s.get("skipped")]
    if skipped:
        lines.append(f"not run on a preview this small: {escape(', '.join(skipped))}")
    return lines


def print_preview(p: Preview) -> None:
    for i, rec in enumerate(p.records, 1):
        r = rec.request
        label = f", label {r.label}" if r.label else ""
        attrs = f", {dict(r.attributes)}" if r.attributes else ""
        console.rule(
            f"[bold]record {i}[/] of {len(p.records)}: {r.strategy}{label}, sample "
            f"{r.sample_index}{escape(attrs)}" + (" (from the cache)" if rec.from_cache else "")
        )
        console.print("[bold]prompt[/]:")
        for m in r.message_list:
            console.print(f"  [cyan]{m['role']}[/]: {escape(m['content'])}", soft_wrap=True)
        if rec.record is not None:
            console.print(
                f"[bold]record[/]: {escape(json.dumps(rec.record, ensure_ascii=False))}",
                soft_wrap=True,
            )
        console.print("[bold]verdict[/]:")
        for line in _verdict_lines(rec, p.per_filter):
            console.print(f"  {line}", soft_wrap=True)
    kept = sum(1 for r in p.records if r.kept)
    console.rule()
    console.print(
        f"{len(p.records)} of the {p.planned} requests a version of {p.spec.name} plans: "
        f"{kept} kept by curation; {p.calls} model call(s), {p.cache_hits} answered from the "
        "cache. No version was made; a version made next reuses these answers from the cache.",
        soft_wrap=True,
    )


def preview(
    dataset: DatasetArg,
    n: Annotated[int, typer.Option("-n", "--records", min=1, max=50, help="Records to make.")] = 5,
    strategy: Annotated[
        str | None, typer.Option("--strategy", help="Only this strategy's requests.")
    ] = None,
) -> None:
    """Generate a few records through the real prompts and curation; no version is made."""
    spec = dataset_spec(dataset)
    with console.status(f"generating {n} record(s)"):
        result = run_preview(spec, n, strategy)
    print_preview(result)
