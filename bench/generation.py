"""Generation throughput: the pipeline's generation stage vs direct requests, and a warm rerun.

Both sides send the same requests (messages, sampling parameters with the same
per-sample seed, and the same JSON-schema response format) to the same embedded
llama.cpp server at the same concurrency. The pipeline side is
`stages.generate_candidates` on a fresh temporary warehouse: planning, instructor
parsing and re-asks, the DuckDB cache and ledger writes, the candidates table.
The raw side is the plain `openai` async client with a semaphore, no cache.

After an untimed warm-up with the same requests, each round times one pipeline
and one raw run, the order alternating between rounds (other load on the
machine drifts, and alternating cancels a steady drift over an even number of
rounds); the headline pools all rounds. Then the last pipeline warehouse is
generated again: every answer comes from the cache.

    .venv/bin/python bench/generation.py [--records 200] [--concurrency 4] [--rounds 4]

The last line is `generation_vs_raw_throughput_ratio=<x>`: pipeline over raw
throughput in generated tokens per second over all rounds (the same requests
can give outputs of different lengths from run to run, as llama.cpp batches
non-deterministically; the records/s ratio and per-round ratios are printed
too, with their spread; a spread above --max-spread is reported as too noisy to conclude).
The line before it is `warm_rerun_calls=<n> warm_rerun_time_ratio=<x>`:
the warm rerun's time over the last cold pipeline run's.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import openai
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from synth_pipeline import stages  # noqa: E402
from synth_pipeline.generation.cache import ResponseCache  # noqa: E402
from synth_pipeline.generation.embedded import embedded_base_url  # noqa: E402
from synth_pipeline.generation.engine import GenerationEngine  # noqa: E402
from synth_pipeline.generation.planner import plan_generation  # noqa: E402
from synth_pipeline.generation.providers import resolve_provider  # noqa: E402
from synth_pipeline.generation.schema import ResponseModels  # noqa: E402
from synth_pipeline.spec import DatasetSpec, load_spec  # noqa: E402
from synth_pipeline.warehouse import Warehouse  # noqa: E402


def _tokens_per_s(run: dict[str, Any]) -> float:
    return run["completion_tokens"] / run["seconds"]


def make_spec(root: Path, dataset: str, records: int, concurrency: int) -> DatasetSpec:
    folder = root / dataset
    shutil.copytree(REPO / "data" / dataset, folder)
    raw = yaml.safe_load((folder / "spec.yaml").read_text())
    n_labels = len(raw.get("labels") or []) or 1
    if raw["kind"] == "classification":
        raw["generation"]["records_per_label"] = max(1, math.ceil(records / n_labels))
    else:
        raw["generation"]["total_records"] = records
    raw["provider"] = {**raw.get("provider", {}), "kind": "embedded", "concurrency": concurrency}
    (folder / "spec.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    return load_spec(folder)


def pipeline_run(spec: DatasetSpec, warehouse: Path, version: str) -> dict[str, Any]:
    wh = Warehouse(warehouse)
    if not wh.count("seeds", spec.name, version):
        stages.load_seeds(spec, wh, version)
    t = time.perf_counter()
    figures = stages.generate_candidates(spec, wh, version).figures
    return {"seconds": time.perf_counter() - t, **figures}


async def raw_run(spec: DatasetSpec, seeds: Any, scratch: Warehouse) -> dict[str, Any]:
    """The same requests with the plain openai client: no instructor, no cache, no DuckDB."""
    provider = resolve_provider(spec.provider, env={})
    plan = plan_generation(spec, seeds)
    models = ResponseModels(spec)
    # The engine only derives the very same parameters (per-sample seed) as the pipeline.
    engine = GenerationEngine(provider, models, ResponseCache(scratch, spec.name))
    client = openai.AsyncOpenAI(
        base_url=provider.endpoint(), api_key="embedded", max_retries=0, timeout=600
    )
    sem = asyncio.Semaphore(provider.concurrency)
    tokens = finished = truncated = 0

    async def one(request: Any) -> None:
        nonlocal tokens, finished, truncated
        if request.document_field is not None:  # a plain-text document prompt
            async with sem:
                completion = await client.completions.create(
                    model=provider.model,
                    prompt=request.message_list[0]["content"],
                    stop=["\n"],
                    **engine.request_params(request),
                )
            tokens += completion.usage.completion_tokens if completion.usage else 0
            finished += 1
            truncated += completion.choices[0].finish_reason == "length"
            return
        model = models(request)
        async with sem:
            completion = await client.chat.completions.create(
                model=provider.model,
                messages=request.message_list,
                response_format={
                    "type": "json_schema",
                    "json_schema": {"name": model.__name__, "schema": model.model_json_schema()},
                },
                **engine.request_params(request),
            )
        tokens += completion.usage.completion_tokens if completion.usage else 0
        finished += 1
        truncated += completion.choices[0].finish_reason == "length"

    t = time.perf_counter()
    await asyncio.gather(*(one(r) for r in plan.requests))
    seconds = time.perf_counter() - t
    await client.close()
    return {
        "seconds": seconds,
        "records": finished,
        "completion_tokens": tokens,
        "truncated": truncated,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default="support_intents")
    # Rounds of a few hundred records: 16-record rounds gave per-round ratios from 0.59 to
    # 1.21 on a loaded machine; longer rounds average the load out.
    ap.add_argument("--records", type=int, default=200)
    ap.add_argument("--concurrency", type=int, default=4)
    ap.add_argument("--rounds", type=int, default=4, help="pairs of pipeline and raw runs")
    ap.add_argument(
        "--max-spread",
        type=float,
        default=0.1,
        help="per-round ratios further apart than this make the run too noisy to conclude",
    )
    args = ap.parse_args()

    root = Path(tempfile.mkdtemp(prefix="bench_generation_"))
    try:
        spec = make_spec(root, args.dataset, args.records, args.concurrency)
        t = time.perf_counter()
        embedded_base_url(parallel=args.concurrency)
        print(f"embedded server started in {time.perf_counter() - t:.1f}s", flush=True)
        seeds_wh = Warehouse(root / "seeds.duckdb")
        stages.load_seeds(spec, seeds_wh, "warmup")
        seeds = seeds_wh.stage("seeds", spec.name, "warmup")
        n = len(plan_generation(spec, seeds).requests)
        print(f"{n} requests per run, concurrency {args.concurrency}, dataset {spec.name}")

        # Warm up off the clock with the very requests of the timed runs, through the pipeline
        # (its own scratch warehouse), so every timed run finds the same state: weights paged
        # in, llama.cpp's per-slot prompt cache, templates compiled, clients imported.
        warm = pipeline_run(spec, root / "warmup.duckdb", "warmup")
        print(f"warm-up : {warm['requested']} records in {warm['seconds']:.1f}s", flush=True)

        runs: dict[str, list[dict[str, Any]]] = {"pipeline": [], "raw": []}
        pair_ratios: list[float] = []
        last_pipeline = root / "none.duckdb"
        for rnd in range(args.rounds):
            # One pipeline and one raw run per round, the order alternating between rounds.
            order = ["pipeline", "raw"] if rnd % 2 == 0 else ["raw", "pipeline"]
            pair: dict[str, dict[str, Any]] = {}
            for side in order:
                if side == "pipeline":
                    last_pipeline = root / f"pipeline_{rnd}.duckdb"
                    r = pipeline_run(spec, last_pipeline, "bench")
                    r["records"] = r["requested"]
                    calls = f", {r['calls']} calls, failures {r['failures_by_reason']}"
                else:
                    r = asyncio.run(raw_run(spec, seeds, seeds_wh))
                    calls = f", {r['truncated']} truncated"
                runs[side].append(r)
                pair[side] = r
                print(
                    f"round {rnd + 1} {side:8s}: {r['records']} records in {r['seconds']:.1f}s "
                    f"({r['records'] / r['seconds']:.2f}/s, {r['completion_tokens']} completion "
                    f"tokens, {r['completion_tokens'] / r['seconds']:.1f} tokens/s{calls})",
                    flush=True,
                )
            pair_ratios.append(_tokens_per_s(pair["pipeline"]) / _tokens_per_s(pair["raw"]))

        def rate(side: str, what: str) -> float:
            return sum(r[what] for r in runs[side]) / sum(r["seconds"] for r in runs[side])

        records_ratio = rate("pipeline", "records") / rate("raw", "records")
        tokens_ratio = rate("pipeline", "completion_tokens") / rate("raw", "completion_tokens")
        print(
            f"pipeline {rate('pipeline', 'records'):.3f} records/s, "
            f"{rate('pipeline', 'completion_tokens'):.1f} tokens/s; "
            f"raw {rate('raw', 'records'):.3f} records/s, "
            f"{rate('raw', 'completion_tokens'):.1f} tokens/s"
        )
        print(
            f"pooled ratios: records/s {records_ratio:.3f}, tokens/s {tokens_ratio:.3f}; "
            f"per-round tokens/s ratios {[round(x, 3) for x in pair_ratios]}"
        )
        spread = max(pair_ratios) - min(pair_ratios)
        noisy = spread > args.max_spread
        print(
            f"per-round spread {spread:.3f} (min {min(pair_ratios):.3f}, max "
            f"{max(pair_ratios):.3f}, sd {statistics.pstdev(pair_ratios):.3f}); "
            + (
                f"TOO NOISY TO CONCLUDE: spread above {args.max_spread} (other load on the "
                "machine); rerun on a quiet machine or with more records per round"
                if noisy
                else "rounds agree"
            ),
            flush=True,
        )

        cold = runs["pipeline"][-1]
        warm_run = pipeline_run(spec, last_pipeline, "bench")
        print(f"warm rerun: {warm_run['seconds']:.3f}s, cache hits {warm_run['cache_hits']}")
        print(
            f"warm_rerun_calls={warm_run['calls']} "
            f"warm_rerun_time_ratio={warm_run['seconds'] / cold['seconds']:.4f}"
        )
        # Throughput = generated tokens per second (llama.cpp batches non-deterministically, so
        # the same requests can give outputs of different lengths from run to run), pooled
        # over all rounds: with the order alternating, drift in the machine's other load
        # cancels out over an even number of rounds.
        print(f"generation_vs_raw_throughput_ratio={tokens_ratio:.3f}")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
