"""The usage ledger tells the truth: every paid call, and every failure of every run.

Issue 10: requests in flight when a run was killed, answered after it, were paid but
missing from the ledger, and the ledger kept only the last run's failure reasons.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fake_openai_server import FakeOpenAIServer, FakeRequest
from generation_support import fake_provider, make_dataset, run_version

from synth_pipeline import stages
from synth_pipeline.generation.engine import GenerationError
from synth_pipeline.generation.ledger import (
    JOURNAL_TABLE,
    JournalCall,
    UsageLedger,
    ledger_frame,
)
from synth_pipeline.generation.run import generate_version
from synth_pipeline.spec import load_spec
from synth_pipeline.warehouse import Warehouse

HERE = Path(__file__).parent
CONCURRENCY = 4


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    srv = FakeOpenAIServer(latency=1.0)
    srv.start()
    yield srv
    srv.stop()


def _wait(condition, what: str, proc: subprocess.Popen | None = None, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if proc is not None:
            assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def _cached_base_keys(warehouse: Path) -> set[str]:
    rows = Warehouse(warehouse).rows("SELECT response FROM generation_cache")
    return {json.loads(r)["text"].split()[2] for (r,) in rows}  # "Synthetic text <key> ..."


def test_calls_in_flight_at_a_sigkill_are_counted_as_paid(
    tmp_path: Path, server: FakeOpenAIServer
) -> None:
    gen = {"records_per_label": 2}  # 16 requests
    provider = fake_provider(server.base_url, concurrency=CONCURRENCY)
    folder = make_dataset(tmp_path, generation=gen, provider=provider)
    warehouse = tmp_path / "killed.duckdb"
    env = {**os.environ, "PYTHONPATH": str(HERE.parent)}
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "generation_support.py"), "run", str(folder), str(warehouse),
         "v1"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        # A first round answered, the second round on the server's desk: kill then, while
        # every slot is in flight and nothing else can be sent (each answer takes 1 s).
        _wait(
            lambda: len(server.events) >= 2 * CONCURRENCY and server.in_flight == CONCURRENCY,
            "a second round in flight",
            proc,
        )
        seen = len(server.events)
        time.sleep(0.3)
        assert server.in_flight == CONCURRENCY and len(server.events) == seen
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    in_flight_at_kill = server.in_flight
    _wait(lambda: server.in_flight == 0, "the server answering the dead run")
    received = len(server.events)
    assert in_flight_at_kill == CONCURRENCY and received >= 2 * CONCURRENCY

    wh = Warehouse(warehouse)
    ledger = ledger_frame(wh, "support_intents", "v1")
    assert ledger["calls"].sum() == received  # served + in flight at the kill
    assert ledger["calls_unanswered"].sum() == in_flight_at_kill
    # Their prompt tokens are an estimate (the answer, with its usage, never arrived).
    assert ledger["estimated_prompt_tokens"].sum() > 0
    journal = wh.rows(f"SELECT status, count(*) FROM {JOURNAL_TABLE} GROUP BY 1 ORDER BY 1")
    assert dict(journal) == {"answered": received - in_flight_at_kill, "sent": in_flight_at_kill}

    # Resuming pays only for what was not cached, and the ledger again equals the server.
    cached = _cached_base_keys(warehouse)
    server.latency = 0.02
    figures = run_version(folder, warehouse, "v1")
    resumed = server.events[received:]
    assert {e.base_key for e in resumed}.isdisjoint(cached)
    assert figures["cache_hits"] == len(cached)
    assert figures["calls"] == len(resumed) == 16 - len(cached)
    ledger = ledger_frame(wh, "support_intents", "v1")
    assert ledger["calls"].sum() == len(server.events)
    assert ledger["calls_unanswered"].sum() == in_flight_at_kill  # still paid, never answered
    assert set(ledger["runs"]) == {2}
    journal = dict(wh.rows(f"SELECT status, count(*) FROM {JOURNAL_TABLE} GROUP BY 1"))
    assert journal == {"answered": len(server.events) - in_flight_at_kill,
                       "unknown": in_flight_at_kill}  # fmt: skip
    assert ledger["calls"].sum() == sum(journal.values())


def _class(req: FakeRequest) -> int:
    return int(req.base_key, 16) % 4


def _failed_keys(events: list, action: str) -> set[str]:
    return {e.base_key for e in events if e.action == action}


def test_failures_of_every_run_are_kept(tmp_path: Path, server: FakeOpenAIServer) -> None:
    server.latency = 0.01
    folder = make_dataset(
        tmp_path,
        generation={"records_per_label": 2, "max_failure_rate": 0.9},
        provider=fake_provider(server.base_url, max_retries=1),
    )
    spec = load_spec(folder)
    wh = Warehouse(tmp_path / "warehouse.duckdb")
    stages.load_seeds(spec, wh, "v1")
    seeds = wh.stage("seeds", spec.name, "v1")
    fast = {"backoff_initial": 0.01, "limiter_cooldown": 0.05}

    # Run 1: a quarter of the requests get HTTP 500 on every attempt.
    server.decide = lambda req: "500" if _class(req) == 0 else "ok"
    first = generate_version(spec, wh, "v1", seeds, engine_options=fast)
    n500 = len(_failed_keys(server.events, "500"))
    assert n500 > 0 and first.run.failures_by_reason == {"server_error_500": n500}
    run1_events = len(server.events)

    # Run 2, with more records asked of the version: the 500s are gone, and another
    # quarter of the new requests gets malformed output (the re-ask too).
    spec.generation.records_per_label = 3
    server.decide = lambda req: "malformed" if _class(req) == 1 else "ok"
    second = generate_version(spec, wh, "v1", seeds, engine_options=fast)
    n_malformed = len(_failed_keys(server.events[run1_events:], "malformed"))
    assert n_malformed > 0 and second.run.failures_by_reason == {"schema_invalid": n_malformed}

    ledger = ledger_frame(wh, spec.name, "v1")
    assert ledger["runs"].to_list() == [2]
    assert json.loads(ledger["failures_by_reason"][0]) == {
        "schema_invalid": n_malformed,
        "server_error_500": n500,
    }
    assert ledger["calls"][0] == len(server.events)
    assert ledger["calls_unanswered"][0] == 0


def test_the_journal_and_the_ledger_agree_call_by_call(tmp_path: Path) -> None:
    wh = Warehouse(tmp_path / "w.duckdb")
    ledger = UsageLedger(wh, "d", "v1", "fake", "fake-model")
    ledger.start_run(["a", "b"])
    calls = [JournalCall(i, "a" if i % 2 else "b", f"k{i}", 100, 0.001) for i in range(1, 6)]
    with wh.connect() as conn:
        ledger.journal_sent(conn, calls)  # sent: paid, with estimated prompt tokens
        calls[0].close("no_answer", error="timeout")
        calls[1].close("answered", http_status=200, prompt_tokens=90, completion_tokens=20,
                       cost=0.002)  # fmt: skip
        calls[2].status = "unsent"  # cancelled before it left: not paid after all
        ledger.journal_closed(conn, calls[:3])
    ledger.finish({}, 1.0, None, False)  # calls 4 and 5 were on the wire when the run ended

    journal = wh.rows(f"SELECT call_id, status, prompt_tokens FROM {JOURNAL_TABLE} ORDER BY 1")
    assert journal == [(1, "no_answer", 0), (2, "answered", 90), (4, "unknown", 100),
                       (5, "unknown", 100)]  # fmt: skip
    rows = ledger_frame(wh, "d").select(
        "strategy", "calls", "calls_unanswered", "prompt_tokens", "estimated_prompt_tokens",
        "completion_tokens", "cost_usd",
    ).rows()  # fmt: skip
    assert rows == [("a", 2, 1, 100, 100, 0, pytest.approx(0.001)),
                    ("b", 2, 1, 190, 100, 20, pytest.approx(0.003))]  # fmt: skip


def test_calls_cut_off_by_a_stopped_run_are_counted(
    tmp_path: Path, server: FakeOpenAIServer
) -> None:
    # Every answer fails, so the run stops at 20 failures; the first two requests are held
    # by the server until then, so they are on the wire when the run stops.
    release, held, lock = threading.Event(), [], threading.Lock()

    def decide(req: FakeRequest) -> str:
        with lock:
            hold = len(held) < 2
            if hold:
                held.append(req)
        if hold:
            release.wait(30)
        return "truncated"

    server.latency = 0.01
    server.decide = decide
    folder = make_dataset(
        tmp_path,
        generation={"records_per_label": 6, "max_failure_rate": 0.3},
        provider=fake_provider(server.base_url, concurrency=CONCURRENCY),
    )
    try:
        with pytest.raises(GenerationError, match="failure rate"):
            run_version(folder, tmp_path / "w.duckdb", "v1")
    finally:
        release.set()
    _wait(lambda: server.in_flight == 0, "the server answering the stopped run")
    wh = Warehouse(tmp_path / "w.duckdb")
    ledger = ledger_frame(wh, "support_intents", "v1")
    journal = dict(wh.rows(f"SELECT status, count(*) FROM {JOURNAL_TABLE} GROUP BY 1"))
    calls = ledger["calls"][0]
    assert calls == sum(journal.values()) >= len(server.events)
    # The held two, and any other request cut off: counted paid whether or not it had
    # reached the server (the write-ahead errs on the side of paying).
    assert journal["unknown"] == ledger["calls_unanswered"][0] >= 2
    assert calls - len(server.events) <= journal["unknown"] - 2
    assert "sent" not in journal  # the run's end settled every row
    assert json.loads(ledger["failures_by_reason"][0]) == {"truncated": ledger["failed"][0]}
