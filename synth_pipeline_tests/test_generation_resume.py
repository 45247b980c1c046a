"""Resuming: a run killed with SIGKILL, and a run stopped by its budget."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest
from fake_openai_server import FakeOpenAIServer
from generation_support import fake_provider, make_dataset, run_version

from synth_pipeline import stages
from synth_pipeline.generation.ledger import ledger_frame
from synth_pipeline.spec import load_spec
from synth_pipeline.warehouse import Warehouse

HERE = Path(__file__).parent
STRATEGIES = [
    {"name": "seed_variation", "weight": 0.5},
    {"name": "attributes", "weight": 0.3, "attributes": {"tone": ["calm", "angry", "dry"]}},
    {"name": "evolution", "weight": 0.2},
]
CONTENT = ["record_id", "text", "label", "record", "status", "error", "strategy", "seed_ids",
           "sample_index", "cache_key", "prompt_hash", "params"]  # fmt: skip


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    srv = FakeOpenAIServer(latency=0.15)
    srv.start()
    yield srv
    srv.stop()


def _candidates(warehouse: Path, version: str) -> pl.DataFrame:
    frame = Warehouse(warehouse).stage("candidates", "support_intents", version)
    return frame.select(CONTENT).sort("cache_key")


def _answered_keys(warehouse: Path) -> set[str]:
    """The fake server's base keys of every answer the killed run had cached."""
    rows = Warehouse(warehouse).rows("SELECT response FROM generation_cache")
    keys = set()
    for (response,) in rows:
        text = json.loads(response)["text"]
        keys.add(text.split()[2])  # "Synthetic text <key> about ..."
    return keys


def test_a_killed_run_resumes_without_paying_again(
    tmp_path: Path, server: FakeOpenAIServer
) -> None:
    gen = {"records_per_label": 6, "strategies": STRATEGIES}
    folder = make_dataset(tmp_path, generation=gen, provider=fake_provider(server.base_url))
    warehouse = tmp_path / "killed.duckdb"
    env = {**os.environ, "PYTHONPATH": str(HERE.parent)}
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "generation_support.py"), "run", str(folder), str(warehouse),
         "v1"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while len(server.answered()) < 16:
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the generation subprocess made no progress"
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL

    answered = _answered_keys(warehouse)
    assert 0 < len(answered) < 48  # killed mid-run, with answers safely stored
    first_run_events = len(server.events)

    figures = run_version(folder, warehouse, "v1")
    resumed = server.events[first_run_events:]
    assert {e.base_key for e in resumed}.isdisjoint(answered)  # no answered key paid again
    assert figures["cache_hits"] >= len(answered)
    assert figures["calls"] == len(resumed) == 48 - figures["cache_hits"]

    # The resumed version equals an uninterrupted run with the same settings.
    run_version(folder, tmp_path / "clean.duckdb", "v1")
    resumed_frame = _candidates(warehouse, "v1")
    assert resumed_frame.height == 48
    assert resumed_frame.equals(_candidates(tmp_path / "clean.duckdb", "v1"))


def test_a_budget_stops_cleanly_and_a_larger_one_resumes(
    tmp_path: Path, server: FakeOpenAIServer
) -> None:
    server.latency = 0.01
    gen = {
        "records_per_label": 4,
        "strategies": STRATEGIES,
        "budget": {"max_calls": 10, "allow_partial": True},
    }
    folder = make_dataset(tmp_path, generation=gen, provider=fake_provider(server.base_url))
    spec = load_spec(folder)
    wh = Warehouse(tmp_path / "warehouse.duckdb")
    stages.load_seeds(spec, wh, "v1")

    out = stages.generate_candidates(spec, wh, "v1")
    figures = out.figures
    assert figures["budget_stopped"] is True and figures["stop_reason"] == "max_calls"
    assert 8 <= figures["calls"] <= 10 == spec.generation.budget.max_calls
    assert len(server.events) == figures["calls"]
    # Nothing generated is lost: every answer is a candidate row and a cache entry.
    assert out.frame.height == figures["calls"] == figures["generated_ok"]
    assert figures["not_run"] == 32 - out.frame.height
    assert wh.count("candidates", spec.name, "v1") == out.frame.height
    assert wh.rows("SELECT count(*) FROM generation_cache")[0][0] == out.frame.height
    assert wh.rows("SELECT status FROM versions WHERE version = 'v1'")[0][0] == "budget_stopped"
    ledger = ledger_frame(wh, spec.name, "v1")
    assert ledger["budget_stopped"].all() and set(ledger["stop_reason"]) == {"max_calls"}
    assert ledger["calls"].sum() == figures["calls"]
    assert set(figures["per_strategy"]) == {"seed_variation", "attributes", "evolution"}
    assert all(s["ok"] > 0 for s in figures["per_strategy"].values())  # a balanced prefix

    # The same budget again: the version has spent it, so nothing more is paid.
    again = stages.generate_candidates(spec, wh, "v1")
    assert again.figures["calls"] == 0 and again.frame.height == out.frame.height

    # A larger budget finishes the version and pays only for what was missing.
    spec.generation.budget.max_calls = 100
    done = stages.generate_candidates(spec, wh, "v1")
    assert done.figures["budget_stopped"] is False
    assert done.frame.height == 32 and done.figures["cache_hits"] == out.frame.height
    assert done.figures["calls"] == 32 - out.frame.height
    assert server.requested_after_answer() == []
    assert wh.rows("SELECT status FROM versions WHERE version = 'v1'")[0][0] == "running"
    ledger = ledger_frame(wh, spec.name, "v1")
    assert ledger["calls"].sum() == 32 and not ledger["budget_stopped"].any()
    assert set(ledger["runs"]) == {3}


def test_a_token_budget_is_never_exceeded(tmp_path: Path, server: FakeOpenAIServer) -> None:
    server.latency = 0.01
    gen = {"records_per_label": 4, "budget": {"max_tokens": 3000, "allow_partial": True}}
    folder = make_dataset(tmp_path, generation=gen, provider=fake_provider(server.base_url))
    figures = run_version(folder, tmp_path / "w.duckdb", "v1")
    assert figures["stop_reason"] == "max_tokens" and figures["budget_stopped"]
    assert 0 < figures["prompt_tokens"] + figures["completion_tokens"] <= 3000


def test_a_cost_budget_needs_a_price(tmp_path: Path, server: FakeOpenAIServer) -> None:
    priced = fake_provider(
        server.base_url,
        prices={"fake-model": {"prompt_per_million": 10.0, "completion_per_million": 20.0}},
    )
    gen = {"records_per_label": 4, "budget": {"max_cost": 0.05, "allow_partial": True}}
    folder = make_dataset(tmp_path, generation=gen, provider=priced)
    figures = run_version(folder, tmp_path / "w.duckdb", "v1")
    assert figures["stop_reason"] == "max_cost"
    assert 0 < figures["cost_usd"] <= 0.05
    folder = make_dataset(tmp_path, generation=gen, provider=fake_provider(server.base_url))
    with pytest.raises(Exception, match="no price for model 'fake-model'"):
        run_version(folder, tmp_path / "w2.duckdb", "v1")


def test_a_plan_the_budget_cannot_finish_is_refused_before_the_first_call(
    tmp_path: Path, server: FakeOpenAIServer
) -> None:
    from synth_pipeline.generation.engine import GenerationError
    from synth_pipeline.spec import SpecError

    server.latency = 0.01
    gen = {"records_per_label": 4, "strategies": STRATEGIES, "budget": {"max_calls": 10}}
    folder = make_dataset(tmp_path, generation=gen, provider=fake_provider(server.base_url))
    spec = load_spec(folder)
    wh = Warehouse(tmp_path / "warehouse.duckdb")
    # Up front: the version's first stage refuses before it writes anything.
    with pytest.raises(SpecError) as refused:
        stages.load_seeds(spec, wh, "v1")
    message = str(refused.value)
    assert str(folder / "spec.yaml") in message
    assert "generation.budget.max_calls: the plan needs at least 32 calls more" in message
    assert "0 answered from the cache" in message and "10 calls has 10 calls left" in message
    assert "allow_partial" in message
    assert server.events == []  # nothing paid
    assert wh.count("seeds", spec.name, "v1") == 0  # nothing written

    # Paid answers count: 10 cached, 22 to go; 10 spent + 22 > 30 is refused, 40 fits.
    spec.generation.budget.allow_partial = True
    stages.load_seeds(spec, wh, "v1")
    stages.generate_candidates(spec, wh, "v1")
    paid = len(server.events)
    spec.generation.budget.allow_partial = False
    spec.generation.budget.max_calls = 30
    with pytest.raises(SpecError, match=f"at least {32 - paid} calls more"):
        stages.load_seeds(spec, wh, "v1")
    # The engine checks again before its first call (the seeds are there already).
    with pytest.raises(GenerationError, match=f"{paid} answered from the cache"):
        stages.generate_candidates(spec, wh, "v1")
    assert len(server.events) == paid
    spec.generation.budget.max_calls = 40
    stages.load_seeds(spec, wh, "v1")
    done = stages.generate_candidates(spec, wh, "v1")
    assert done.frame.height == 32 and len(server.events) == 32
