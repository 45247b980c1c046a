"""Cache keys, the response cache, the AIMD limiter and budgets: no server needed."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from generation_support import make_dataset

from synth_pipeline.generation.cache import CallOutcome, ResponseCache
from synth_pipeline.generation.engine import GenerationEngine
from synth_pipeline.generation.ledger import Budget, Spend
from synth_pipeline.generation.limiter import AdaptiveLimiter
from synth_pipeline.generation.planner import plan_generation
from synth_pipeline.generation.providers import resolve_provider
from synth_pipeline.generation.schema import ResponseModels
from synth_pipeline.records import load_real_records
from synth_pipeline.spec import BudgetSpec, DatasetSpec, load_spec
from synth_pipeline.warehouse import Warehouse

# --- cache keys ------------------------------------------------------------------------


def _keys(spec: DatasetSpec, tmp_path: Path, **provider: Any) -> list[str]:
    spec = spec.model_copy(deep=True)
    spec.provider = spec.provider.model_copy(update=provider)
    seeds = load_real_records(spec, spec.seeds_file, "seed")
    engine = GenerationEngine(
        resolve_provider(spec.provider, env={}),
        ResponseModels(spec),
        ResponseCache(Warehouse(tmp_path / "unused.duckdb"), spec.name),
    )
    return [engine.key_for(r) for r in plan_generation(spec, seeds).requests]


def _spec(tmp_path: Path, **generation: Any) -> DatasetSpec:
    folder = make_dataset(
        tmp_path,
        provider={"kind": "openai_compatible", "base_url": "http://127.0.0.1:9/v1", "model": "m1"},
        generation={"records_per_label": 3, **generation},
    )
    return load_spec(folder)


def test_keys_are_stable_and_distinct(tmp_path: Path) -> None:
    spec = _spec(tmp_path)
    keys = _keys(spec, tmp_path)
    assert keys == _keys(spec, tmp_path)
    assert len(set(keys)) == len(keys) == 24


def test_prompt_model_or_params_change_gives_new_keys(tmp_path: Path) -> None:
    spec = _spec(tmp_path)
    base = set(_keys(spec, tmp_path))
    other_task = spec.model_copy(update={"task": spec.task + " Be brief."})
    assert base.isdisjoint(_keys(other_task, tmp_path))  # prompt change
    assert base.isdisjoint(_keys(spec, tmp_path, model="m2"))  # model change
    assert base.isdisjoint(_keys(spec, tmp_path, temperature=0.3))  # sampling change
    assert base.isdisjoint(_keys(spec, tmp_path, seed=7))
    # The endpoint is not part of a key: the embedded server's port changes every run.
    assert base == set(_keys(spec, tmp_path, base_url="http://127.0.0.1:10/v1"))


def test_raising_the_count_only_adds_keys(tmp_path: Path) -> None:
    gen = {
        "strategies": [
            {"name": "seed_variation", "weight": 0.5},
            {"name": "attributes", "weight": 0.25, "scenarios": ["no order number", "typos"]},
            {"name": "class_balance", "weight": 0.25},
        ]
    }
    small = set(_keys(_spec(tmp_path, **gen), tmp_path))
    large = set(_keys(_spec(tmp_path, **{**gen, "records_per_label": 5}), tmp_path))
    assert small < large
    assert len(large - small) == 16


def test_cache_stores_answers_not_transient_faults(tmp_path: Path) -> None:
    cache = ResponseCache(Warehouse(tmp_path / "w.duckdb"), "d")
    identity = {"provider": "p", "model": "m"}
    ok = CallOutcome("k1", "ok", None, {"text": "hi"}, '{"text": "hi"}', 3, 4)
    truncated = CallOutcome("k2", "failed", "truncated", None, '{"te', 3, 9)
    limited = CallOutcome("k3", "failed", "rate_limited", None, None, transient=True)
    not_run = CallOutcome("k4", "not_run", "budget", None, None, transient=True)
    cache.store_many([ok, truncated, limited, not_run], identity)
    found = cache.lookup(["k1", "k2", "k3", "k4"])
    assert set(found) == {"k1", "k2"}
    assert found["k1"].response == {"text": "hi"} and found["k1"].from_cache
    assert found["k2"].error == "truncated" and found["k2"].completion_tokens == 9


# --- limiter -----------------------------------------------------------------------------


def test_limiter_halves_on_throttle_once_per_cooldown_and_recovers() -> None:
    lim = AdaptiveLimiter(8, cooldown_seconds=0.05)
    lim.on_throttle()
    lim.on_throttle()  # same burst: ignored
    assert lim.limit == 4
    time.sleep(0.06)
    lim.on_throttle()
    assert lim.limit == 2 and lim.decreases == 2
    for _ in range(3):
        lim.on_throttle()
        time.sleep(0.06)
    assert lim.limit == 1  # never below min_limit
    successes = 0
    while lim.limit < 8:
        lim.on_success()
        successes += 1
    assert lim.limit == 8
    assert 20 <= successes <= 40  # about +1 per round of `limit` successes


def test_limiter_caps_concurrency_and_honours_a_pause() -> None:
    async def scenario() -> tuple[int, float]:
        lim = AdaptiveLimiter(3)
        lim.limit = 2.0
        peak = 0

        async def job() -> None:
            nonlocal peak
            async with lim:
                peak = max(peak, lim.in_flight)
                await asyncio.sleep(0.01)

        await asyncio.gather(*(job() for _ in range(10)))
        lim.pause(0.2)
        t = time.monotonic()
        await asyncio.gather(*(job() for _ in range(3)))
        return peak, time.monotonic() - t

    peak, waited = asyncio.run(scenario())
    assert peak == 2
    assert waited >= 0.19


# --- budget --------------------------------------------------------------------------------


def test_budget_reserves_the_worst_case_and_counts_earlier_runs() -> None:
    budget = Budget(BudgetSpec(max_calls=5), Spend(calls=2), lambda p, c: 0.0)
    first = budget.reserve(2, 10, 10)
    assert isinstance(first, Spend)
    assert budget.reserve(2, 10, 10) == "max_calls"  # 2 spent + 2 reserved + 2 > 5
    budget.settle(first, Spend(calls=1, prompt_tokens=8, completion_tokens=3))
    assert isinstance(budget.reserve(2, 10, 10), Spend)  # 3 + 2 <= 5
    tokens = Budget(BudgetSpec(max_tokens=100), Spend(), lambda p, c: 0.0)
    assert isinstance(tokens.reserve(1, 40, 40), Spend)
    assert tokens.reserve(1, 10, 20) == "max_tokens"
    cost = Budget(BudgetSpec(max_cost=0.01), Spend(), lambda p, c: (p + c) / 1000)
    assert cost.reserve(1, 5, 4) != "max_cost"
    assert cost.reserve(1, 1, 1) == "max_cost"
