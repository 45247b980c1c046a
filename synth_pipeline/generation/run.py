"""One version's generation, end to end: plan, engine, ledger, candidate rows and figures.

`stages.generate_candidates` calls this and writes the rows; the benchmark and
the tests call it directly. Nothing here knows Dagster.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import polars as pl

from synth_pipeline.generation.cache import ResponseCache
from synth_pipeline.generation.engine import (
    GenerationEngine,
    GenerationRun,
    Progress,
    merge_runs,
)
from synth_pipeline.generation.engine import candidate_frame as _candidate_frame
from synth_pipeline.generation.ledger import Budget, UsageLedger, version_spend
from synth_pipeline.generation.planner import GenerationRequest, Plan, plan_generation
from synth_pipeline.generation.providers import ResolvedProvider, resolve_provider
from synth_pipeline.generation.schema import ResponseModels
from synth_pipeline.kinds import kind_of
from synth_pipeline.records import label_counts
from synth_pipeline.spec import DatasetSpec, DistillationStrategy
from synth_pipeline.warehouse import Warehouse

# Keys of GenerationRequest.attributes that identify an input rather than a sampled value.
_NOT_COVERAGE = {"input_id"}


@dataclass
class GenerationResult:
    plan: Plan
    run: GenerationRun
    frame: pl.DataFrame
    figures: dict[str, Any]


def budget_refusal(
    spec: DatasetSpec, wh: Warehouse, version: str, seeds: pl.DataFrame
) -> str | None:
    """Checked before a version writes anything: why its plan cannot be finished within
    `generation.budget`, counting answers already in the cache and what earlier runs of the
    version spent; None when it can (or the budget allows a partial run). The engine checks
    again before its first call (a distillation teacher's requests included)."""
    budget_spec = spec.generation.budget
    if budget_spec is None or budget_spec.allow_partial:
        return None
    provider = resolve_provider(spec.provider)
    budget = Budget(budget_spec, version_spend(wh, spec.name, version), provider.cost)
    if not budget.limited:
        return None
    engine = GenerationEngine(
        provider, ResponseModels(spec), ResponseCache(wh, spec.name), budget=budget_spec
    )
    uncached, cached = engine.uncached(plan_generation(spec, seeds).requests)
    return engine.budget_shortfall(budget, uncached, cached)


def generate_version(
    spec: DatasetSpec,
    wh: Warehouse,
    version: str,
    seeds: pl.DataFrame,
    *,
    progress: Callable[[Progress], None] | None = None,
    provider: ResolvedProvider | None = None,
    progress_interval: float = 3.0,
    engine_options: dict[str, Any] | None = None,
    log: Callable[[str], None] | None = None,
) -> GenerationResult:
    provider = provider or resolve_provider(spec.provider)
    plan = plan_generation(spec, seeds)
    models = ResponseModels(spec)

    def engine(p: ResolvedProvider) -> GenerationEngine:
        return GenerationEngine(
            p,
            models,
            ResponseCache(wh, spec.name),
            progress=progress,
            progress_interval=progress_interval,
            max_failure_rate=spec.generation.max_failure_rate,
            budget=spec.generation.budget,
            ledger=UsageLedger(wh, spec.name, version, p.kind, p.model),
            refusal_markers=spec.generation.refusal_markers,
            **(engine_options or {}),
        )

    main = engine(provider)
    distill = next(
        (s for s in spec.generation.strategies if isinstance(s, DistillationStrategy)), None
    )
    kind = kind_of(spec)
    # Requests may name a provider of their own: a distillation teacher, a preference
    # sampler's or judge's. Each provider gets its engine; SYNTH_* variables steer the main
    # generator only.
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYNTH_")}
    engines: dict[str, GenerationEngine] = {}

    def engine_for(request: GenerationRequest) -> GenerationEngine:
        if (
            distill is not None
            and distill.teacher is not None
            and (request.strategy == "distillation")
        ):
            own = distill.teacher
        else:
            own = kind.request_provider(spec, request)
        if own is None:
            return main
        key = own.model_dump_json()
        if key not in engines:
            engines[key] = engine(resolve_provider(own, env=env))
        return engines[key]

    def run_all(requests: list[GenerationRequest]) -> GenerationRun:
        """The requests on their engines, the main generator's first."""
        groups: dict[int, tuple[GenerationEngine, list[int]]] = {}
        for i, r in enumerate(requests):
            eng = engine_for(r)
            groups.setdefault(id(eng), (eng, []))[1].append(i)
        if len(groups) == 1:
            ((eng, _),) = groups.values()
            return eng.run(requests)
        order = sorted(groups.values(), key=lambda g: g[0] is not main)
        parts = [(idx, eng.run([requests[i] for i in idx])) for eng, idx in order]
        return merge_runs(parts, len(requests))

    run = run_all(plan.requests) if plan.requests else GenerationRun([], 0, 0, {}, 0.0)
    frame = _candidate_frame(spec, plan.requests, run, engine_for)
    own = kind.local_candidates(spec, seeds, version, log)
    local_figures: dict[str, Any] = {}
    if own is not None:  # rows the kind made itself (a tabular synthesizer's)
        local, local_figures = own
        frame = pl.concat([frame, local], how="vertical_relaxed") if frame.height else local
    # Further rounds on what the last one answered (a preference set's answers to generated
    # prompts, then the judge's verdicts), until the kind asks for none.
    n = len(plan.requests)
    while follow := kind.follow_up(spec, frame):
        more = run_all(follow)
        answered = _candidate_frame(spec, follow, more, engine_for)
        frame = kind.assemble(spec, frame, follow, more.outcomes, answered)
        run = merge_runs(
            [(list(range(n)), run), (list(range(n, n + len(follow))), more)], n + len(follow)
        )
        n += len(follow)
    figures = {**generation_figures(plan, run, frame, provider), **local_figures}
    return GenerationResult(plan, run, frame, figures)


def attribute_coverage(plan: Plan, frame: pl.DataFrame) -> dict[str, dict[str, int]]:
    """Per dimension and value, the records generated ok (0 for planned values none reached)."""
    ok_rows = {
        (r["strategy"], r["requested_label"], r["sample_index"])
        for r in frame.filter(pl.col("status") == "ok").iter_rows(named=True)
    }
    coverage: dict[str, dict[str, int]] = {}
    for req in plan.requests:
        for dim, value in req.attributes:
            if dim in _NOT_COVERAGE:
                continue
            values = coverage.setdefault(dim, {})
            hit = (req.strategy, req.label, req.sample_index) in ok_rows
            values[value] = values.get(value, 0) + int(hit)
    return {d: dict(sorted(v.items())) for d, v in sorted(coverage.items())}


def generation_figures(
    plan: Plan, run: GenerationRun, frame: pl.DataFrame, provider: ResolvedProvider
) -> dict[str, Any]:
    ok = frame.filter(pl.col("status") == "ok")
    per_strategy = {}
    for name, usage in run.per_strategy.items():
        figures = usage.figures()
        figures["per_label"] = label_counts(ok.filter(pl.col("strategy") == name))
        per_strategy[name] = figures
    coverage = attribute_coverage(plan, frame)
    return {
        "target_total": plan.target_total,
        "requested": len(plan.requests),
        "planned_by_strategy": plan.per_strategy,
        "plan_notes": plan.notes,
        "generated_ok": ok.height,
        "failed": frame.height - ok.height,
        "not_run": run.not_run,
        "failures_by_reason": run.failures_by_reason,
        "calls": run.calls,
        "cache_hits": run.cache_hits,
        "prompt_tokens": run.prompt_tokens,
        "completion_tokens": run.completion_tokens,
        "cost_usd": round(run.cost, 6),
        "wall_seconds": round(run.wall_seconds, 2),
        "budget_stopped": run.budget_stopped,
        "stop_reason": run.stop_reason or "none",
        "provider": provider.kind,
        "model": provider.model,
        "per_label": label_counts(ok),
        "per_strategy": per_strategy,
        "attribute_coverage": coverage,
        "attribute_values_missing": [
            f"{d}={v}" for d, values in coverage.items() for v, n in values.items() if n == 0
        ],
        "concurrency": {
            "max": provider.concurrency,
            "min_seen": round(run.limiter_min, 2),
            "final": round(run.limiter_final, 2),
            "decreases": run.limiter_decreases,
            "retry_after_pauses": run.limiter_pauses,
        },
    }
