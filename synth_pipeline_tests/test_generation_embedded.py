"""The real embedded model (SmolLM2-135M via llama.cpp) through the engine: a handful of records."""

from __future__ import annotations

import json
from pathlib import Path

from generation_support import make_dataset

from synth_pipeline.generation.cache import ResponseCache
from synth_pipeline.generation.engine import GenerationEngine
from synth_pipeline.generation.planner import plan_generation
from synth_pipeline.generation.providers import resolve_provider
from synth_pipeline.generation.schema import ResponseModels
from synth_pipeline.records import load_real_records
from synth_pipeline.spec import load_spec
from synth_pipeline.warehouse import Warehouse

KNOWN_REASONS = {"truncated", "schema_invalid", "refusal", "timeout"}


def test_embedded_model_returns_structured_records(tmp_path: Path) -> None:
    folder = make_dataset(
        tmp_path,
        "coffee_qa",
        generation={
            "total_records": 4,
            "seeds_per_prompt": 1,
            "strategies": [
                {"name": "seed_variation", "weight": 0.5},
                {"name": "attributes", "weight": 0.5, "attributes": {"persona": ["beginner"]}},
            ],
        },
        provider={"kind": "embedded", "max_tokens": 120, "concurrency": 4},
    )
    spec = load_spec(folder)
    requests = plan_generation(spec, load_real_records(spec, spec.seeds_file, "seed")).requests
    wh = Warehouse(tmp_path / "w.duckdb")
    engine = GenerationEngine(
        resolve_provider(spec.provider, env={}),
        ResponseModels(spec),
        ResponseCache(wh, spec.name),
        max_failure_rate=1.0,
    )
    run = engine.run(requests)
    assert len(run.outcomes) == 4 and run.calls >= 4
    ok = [o for o in run.outcomes if o.status == "ok"]
    assert ok, run.failures_by_reason
    for o in ok:
        assert set(o.response) == {"question", "answer"}
        assert all(isinstance(v, str) and v.strip() for v in o.response.values())
        assert json.loads(o.raw) == o.response
        assert o.completion_tokens > 0
    assert set(run.failures_by_reason) <= KNOWN_REASONS
    # Answers are cached: the same requests again cost nothing.
    if not any(o.transient for o in run.outcomes):
        again = engine.run(requests)
        assert again.calls == 0 and again.cache_hits == 4
