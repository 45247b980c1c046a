"""Top-up generation: when curation leaves labels short of their quota, ask for more.

The extra requests come from the same planner with a larger per-label target,
keeping only requests the version's own plan did not already hold, for the
short labels only. The sample indexes continue where the plan stopped, so the
cache keeps them stable: a re-run pays nothing for a top-up it already made.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import polars as pl

from synth_pipeline.generation.cache import ResponseCache
from synth_pipeline.generation.engine import GenerationEngine, GenerationRun, candidate_frame
from synth_pipeline.generation.ledger import UsageLedger
from synth_pipeline.generation.planner import GenerationRequest, plan_generation
from synth_pipeline.generation.providers import resolve_provider
from synth_pipeline.generation.schema import ResponseModels
from synth_pipeline.kinds import kind_of
from synth_pipeline.spec import DatasetSpec
from synth_pipeline.warehouse import Warehouse


@dataclass
class TopUp:
    requested: dict[str, int]
    frame: pl.DataFrame
    run: GenerationRun | None


def _identity(r: GenerationRequest) -> tuple:
    return (r.strategy, r.label, r.sample_index, r.attributes, r.messages)


def top_up_requests(
    spec: DatasetSpec, seeds: pl.DataFrame, shortfall: dict[str, int], factor: float
) -> tuple[list[GenerationRequest], dict[str, int]]:
    """New requests for the short labels: `factor` times each label's shortfall."""
    wanted = {label: math.ceil(n * factor) for label, n in shortfall.items() if n > 0}
    if not wanted or not kind_of(spec).tops_up:
        return [], {}
    base = plan_generation(spec, seeds)
    per_label = spec.generation.records_per_label or 0
    bigger = spec.model_copy(
        update={
            "generation": spec.generation.model_copy(
                update={"records_per_label": per_label + max(wanted.values())}
            )
        }
    )
    bigger.folder = spec.folder
    known = {_identity(r) for r in base.requests}
    chosen: list[GenerationRequest] = []
    taken = dict.fromkeys(wanted, 0)
    for r in plan_generation(bigger, seeds).requests:
        if r.label in wanted and _identity(r) not in known and taken[r.label] < wanted[r.label]:
            chosen.append(r)
            taken[r.label] += 1
    return chosen, taken


def generate_top_up(
    spec: DatasetSpec,
    wh: Warehouse,
    version: str,
    seeds: pl.DataFrame,
    shortfall: dict[str, int],
    factor: float,
) -> TopUp:
    requests, taken = top_up_requests(spec, seeds, shortfall, factor)
    if not requests:
        return TopUp({}, pl.DataFrame(), None)
    provider = resolve_provider(spec.provider)
    engine = GenerationEngine(
        provider,
        ResponseModels(spec),
        ResponseCache(wh, spec.name),
        max_failure_rate=1.0,  # a top-up never fails the version: what it yields is extra
        budget=spec.generation.budget,
        # The version's ledger: top-up spend counts toward the same budget and shows in it.
        ledger=UsageLedger(wh, spec.name, version, provider.kind, provider.model),
        refusal_markers=spec.generation.refusal_markers,
    )
    run = engine.run(requests)
    frame = candidate_frame(spec, requests, run, engine)
    return TopUp(taken, frame, run)
