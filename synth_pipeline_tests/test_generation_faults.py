"""Generation against a fake OpenAI-compatible server that injects faults."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from fake_openai_server import FakeOpenAIServer, FakeRequest
from generation_support import fake_provider, make_dataset

from synth_pipeline import stages
from synth_pipeline.generation.engine import GenerationError
from synth_pipeline.generation.ledger import ledger_frame
from synth_pipeline.generation.run import generate_version
from synth_pipeline.records import load_real_records
from synth_pipeline.spec import load_spec
from synth_pipeline.warehouse import Warehouse

SECRET = "sk-test-NEVER-STORE-ME-42"


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    srv = FakeOpenAIServer(latency=0.02, timeout_sleep=1.0, retry_after="0.3")
    srv.start()
    yield srv
    srv.stop()


def _class(req: FakeRequest) -> int:
    return int(req.base_key, 16) % 20


def faulty(req: FakeRequest) -> str:
    """Deterministic per request: answers (final) and transport faults (first attempt only)."""
    c = _class(req)
    if c == 0:
        return "truncated"
    if c == 1:
        return "malformed"  # the re-ask too: schema_invalid
    if c == 2:
        return "ok" if req.is_reask else "malformed"  # fixed by the re-ask
    if c == 3:
        return "refusal"
    if c == 4 and req.attempt == 0:
        return "500"
    if c == 5 and req.attempt == 0:
        return "timeout"
    return "ok"


def _setup(
    tmp_path: Path,
    server: FakeOpenAIServer,
    monkeypatch: pytest.MonkeyPatch,
    inbox: str | None = None,
    **gen,
):
    monkeypatch.setenv("FAKE_KEY", SECRET)
    folder = make_dataset(
        tmp_path,
        generation={"records_per_label": 6, "max_failure_rate": 0.5, **gen},
        provider=fake_provider(server.base_url, api_key_env="FAKE_KEY", timeout_seconds=0.5),
    )
    if inbox is not None:  # distillation inputs: the seeds stage checks them before writing
        (folder / "inbox.jsonl").write_text(inbox)
    spec = load_spec(folder)
    wh = Warehouse(tmp_path / "warehouse.duckdb")
    stages.load_seeds(spec, wh, "v1")
    return spec, wh


def test_faults_are_recorded_retried_and_never_paid_twice(
    tmp_path: Path, server: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.decide = faulty
    spec, wh = _setup(tmp_path, server, monkeypatch)
    out = stages.generate_candidates(spec, wh, "v1")
    frame, figures = out.frame, out.figures

    # Every request has a row; failures carry the reason the server's behaviour implies.
    assert frame.height == 48
    originals = {e.base_key: e for e in server.events if not e.is_reask}
    classes = Counter(int(k, 16) % 20 for k in originals)
    expected = {
        "truncated": classes[0],
        "schema_invalid": classes[1],
        "refusal": classes[3],
    }
    expected = {k: v for k, v in expected.items() if v}
    assert figures["failures_by_reason"] == expected
    failed = frame.filter(frame["status"] == "failed")
    assert dict(Counter(failed["error"].to_list())) == expected
    assert failed["record"].null_count() == failed.height
    assert frame.filter(frame["status"] == "ok")["text"].null_count() == 0
    # Transport faults were retried into answers, and the limiter reacted to them.
    actions = server.actions()
    if classes[4] or classes[5]:
        assert figures["concurrency"]["decreases"] >= 1
    assert actions.get("500", 0) == classes[4] and actions.get("timeout", 0) == classes[5]
    assert figures["calls"] == len(server.events)
    assert server.max_in_flight <= spec.provider.concurrency
    # No content the server answered was ever requested again.
    assert server.requested_after_answer() == []

    # The ledger holds the same figures, per strategy.
    ledger = ledger_frame(wh, spec.name, "v1")
    assert ledger["strategy"].to_list() == ["seed_variation"]
    assert ledger["calls"][0] == figures["calls"] and ledger["failed"][0] == failed.height

    # A re-run is answered by the cache: zero calls.
    before = len(server.events)
    again = stages.generate_candidates(spec, wh, "v1")
    assert len(server.events) == before
    assert again.figures["calls"] == 0 and again.figures["cache_hits"] == 48
    assert again.frame.drop("from_cache").equals(frame.drop("from_cache"))

    # The cache is shared across versions of the dataset: a new version pays nothing either.
    stages.load_seeds(spec, wh, "v2")
    v2 = stages.generate_candidates(spec, wh, "v2")
    assert len(server.events) == before and v2.figures["cache_hits"] == 48

    # The key went to the server and nowhere else.
    assert server.authorizations == {f"Bearer {SECRET}"}
    for path in tmp_path.glob("warehouse.duckdb*"):
        assert SECRET.encode() not in path.read_bytes()
    assert SECRET not in repr(out.figures) + repr(frame.to_dicts())


def test_a_429_burst_backs_off_and_recovers(
    tmp_path: Path, server: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec, wh = _setup(tmp_path, server, monkeypatch)
    server.burst_429(6)
    seeds = wh.stage("seeds", spec.name, "v1")
    started = server.retry_after
    result = generate_version(spec, wh, "v1", seeds, engine_options={"limiter_cooldown": 0.1})
    run = result.run
    assert server.actions()["429"] == 6
    assert result.figures["generated_ok"] == 48 and run.failures_by_reason == {}
    history = [v for _, v in run.limiter_history]
    low = history.index(min(history))
    assert min(history) <= 2  # backed off
    assert max(history[low:]) == 4  # and climbed back to the configured concurrency
    assert run.limiter_pauses >= 1  # Retry-After held new requests
    # Nothing was sent while the Retry-After pause held: the first retry came after it.
    t429 = [e.at for e in server.events if e.action == "429"]
    after = [e.at for e in server.events if e.action != "429"]
    assert min(after) - min(t429) >= float(started) * 0.9


def test_failure_rate_over_the_limit_stops_with_a_clear_error(
    tmp_path: Path, server: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.decide = lambda req: "truncated"
    spec, wh = _setup(tmp_path, server, monkeypatch, max_failure_rate=0.3)
    with pytest.raises(GenerationError, match=r"failure rate .* exceeds the spec's limit of 30%"):
        stages.generate_candidates(spec, wh, "v1")
    ledger = ledger_frame(wh, spec.name, "v1")
    assert ledger["stop_reason"][0] == "failure_rate"
    assert ledger["calls"][0] >= 20
    # What was answered is cached: the re-run after fixing things does not pay for it again.
    assert wh.rows("SELECT count(*) FROM generation_cache")[0][0] >= 20


def test_a_rejected_key_stops_at_once_without_leaking_it(
    tmp_path: Path, server: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.decide = lambda req: "401"
    spec, wh = _setup(tmp_path, server, monkeypatch)
    with pytest.raises(GenerationError, match=r"API key in \$FAKE_KEY") as err:
        stages.generate_candidates(spec, wh, "v1")
    assert SECRET not in str(err.value)
    assert len(server.events) <= 2 * spec.provider.concurrency
    assert wh.rows("SELECT count(*) FROM generation_cache")[0][0] == 0


def test_distillation_and_attributes_rows_record_their_origin(
    tmp_path: Path, server: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec, wh = _setup(
        tmp_path,
        server,
        monkeypatch,
        records_per_label=2,
        strategies=[
            {"name": "attributes", "weight": 0.5, "attributes": {"tone": ["calm", "angry"]}},
            {"name": "distillation", "weight": 0.5, "inputs_file": "inbox.jsonl"},
        ],
        inbox='{"text": "parcel is late"}\n{"text": "x"}\n',
    )
    seeds = load_real_records(spec, spec.seeds_file, "seed")
    result = generate_version(spec, wh, "v1", seeds)
    frame = result.frame
    distilled = frame.filter(frame["strategy"] == "distillation")
    assert distilled.height == 2
    assert set(distilled["label"].to_list()) <= set(spec.labels)  # the teacher's labels
    assert distilled["requested_label"].null_count() == 2
    assert "parcel is late" in distilled["text"].to_list()
    attrs = frame.filter(frame["strategy"] == "attributes")
    assert attrs.height == 14
    assert all('"tone"' in p for p in attrs["params"].to_list())
    assert result.figures["attribute_coverage"] == {"tone": {"angry": 7, "calm": 7}}
    assert result.figures["attribute_values_missing"] == []


def test_a_distillation_teacher_of_its_own_answers_the_inputs(
    tmp_path: Path, server: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    teacher = FakeOpenAIServer()
    teacher.start()
    try:
        spec, wh = _setup(
            tmp_path,
            server,
            monkeypatch,
            records_per_label=1,
            strategies=[
                {"name": "seed_variation", "weight": 0.75},
                {
                    "name": "distillation",
                    "weight": 0.25,
                    "inputs_file": "inbox.jsonl",
                    "teacher": fake_provider(teacher.base_url, model="teacher-model"),
                },
            ],
            inbox='{"text": "parcel is late"}\n{"text": "refund?"}\n',
        )
        out = stages.generate_candidates(spec, wh, "v1")
        frame = out.frame
        assert frame.height == 8 and out.figures["failures_by_reason"] == {}
        distilled = frame.filter(frame["strategy"] == "distillation")
        assert distilled.height == 2 and set(distilled["model"]) == {"teacher-model"}
        assert len(teacher.events) == 2 and len(server.events) == 6
        ledger = ledger_frame(wh, spec.name, "v1")
        models = dict(zip(ledger["strategy"], ledger["model"], strict=True))
        assert models == {"distillation": "teacher-model", "seed_variation": "fake-model"}
        again = stages.generate_candidates(spec, wh, "v1")
        assert again.figures["calls"] == 0 and again.frame.equals(frame.with_columns(
            from_cache=True))  # fmt: skip
    finally:
        teacher.stop()


def test_progress_reports_done_total_rate_and_failures(
    tmp_path: Path, server: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.latency = 0.05
    server.decide = lambda req: "truncated" if _class(req) < 3 else "ok"
    spec, wh = _setup(tmp_path, server, monkeypatch, records_per_label=2)
    seen = []
    seeds = wh.stage("seeds", spec.name, "v1")
    result = generate_version(spec, wh, "v1", seeds, progress=seen.append, progress_interval=0.1)
    assert len(seen) >= 3  # periodic snapshots, then the final one
    assert [p.done for p in seen] == sorted(p.done for p in seen)
    last = seen[-1]
    assert last.done == last.total == 16 and last.calls == result.run.calls
    assert last.failed == sum(result.run.failures_by_reason.values())
    assert any(p.rate > 0 and p.eta_seconds is not None for p in seen[:-1])
    assert last.describe().startswith("generated 16/16")
