"""The async generation engine: cache lookup, adaptive concurrency, retries, budgets, progress.

One code path for every provider: the `openai` client pointed at the provider's
base URL, wrapped by instructor in JSON-schema mode.

Faults and what becomes of them:

- 429, 408, 409, 5xx, timeouts, connection errors: transient. The limiter halves
  (AIMD), a Retry-After (or retry-after-ms) header pauses every new request, and
  the request is retried with exponential back-off up to `max_retries`. If it
  still fails it is recorded with its reason but not cached: a re-run tries again.
- 401, 403, 404: configuration errors (key, model, URL). The run stops at once
  with a clear error; every other request would fail the same way.
- Truncated output (finish_reason "length"), schema-invalid output after the
  instructor re-asks, refusals, a 400/422 on the request: answers. Recorded with
  their reason, counted and cached: the same request gives the same answer.

The run stops with `GenerationError` only when the failure rate passes the
spec's limit; a budget stops it cleanly (requests left are "not_run").

Every HTTP request is journaled before it leaves (`ledger.JournalCall`, written by
the cache writer's thread; the httpx request hook waits for the commit), and its
response (status and usage) closes the row: a kill never loses a paid call.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import json
import logging
import queue
import random
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import instructor
import openai
import polars as pl
from pydantic import BaseModel, ValidationError

from synth_pipeline.generation.cache import CallOutcome, ResponseCache, cache_key
from synth_pipeline.generation.ledger import (
    Budget,
    JournalCall,
    Spend,
    StrategyUsage,
    UsageLedger,
    estimate_prompt_tokens,
)
from synth_pipeline.generation.limiter import AdaptiveLimiter
from synth_pipeline.generation.planner import GenerationRequest
from synth_pipeline.generation.prompts import messages_hash
from synth_pipeline.generation.providers import ResolvedProvider
from synth_pipeline.kinds import kind_of
from synth_pipeline.records import CANDIDATE_SCHEMA
from synth_pipeline.spec import DEFAULT_REFUSAL_MARKERS, BudgetSpec, DatasetSpec

log = logging.getLogger(__name__)

ModelResolver = Callable[[GenerationRequest], type[BaseModel]]


class GenerationError(RuntimeError):
    """The run stopped: failure rate over the spec's limit, or a provider configuration error."""

    def __init__(self, message: str, reason: str = "failure_rate"):
        super().__init__(message)
        self.reason = reason


@dataclass
class Progress:
    done: int
    total: int
    failed: int
    cache_hits: int
    elapsed: float
    limit: float
    calls: int = 0
    stopped: str | None = None

    @property
    def rate(self) -> float:
        new = self.done - self.cache_hits
        return new / self.elapsed if self.elapsed > 0 and new > 0 else 0.0

    @property
    def eta_seconds(self) -> float | None:
        return (self.total - self.done) / self.rate if self.rate > 0 else None

    def describe(self) -> str:
        eta = f"{self.eta_seconds:.0f}s" if self.eta_seconds is not None else "?"
        stopped = f", stopped: {self.stopped}" if self.stopped else ""
        return (
            f"generated {self.done}/{self.total} ({self.rate:.2f}/s, ETA {eta}), "
            f"failures {self.failed}, cache hits {self.cache_hits}, calls {self.calls}, "
            f"concurrency {self.limit:.1f}{stopped}"
        )


@dataclass
class GenerationRun:
    outcomes: list[CallOutcome]  # one per request, in request order
    calls: int
    cache_hits: int
    failures_by_reason: dict[str, int]
    wall_seconds: float
    limiter_history: list[tuple[float, float]] = field(default_factory=list)
    per_strategy: dict[str, StrategyUsage] = field(default_factory=dict)
    stop_reason: str | None = None  # "max_calls", "max_tokens", "max_cost"
    limiter_decreases: int = 0
    limiter_pauses: int = 0

    @property
    def budget_stopped(self) -> bool:
        return self.stop_reason is not None and self.not_run > 0

    @property
    def not_run(self) -> int:
        return sum(u.not_run for u in self.per_strategy.values())

    @property
    def prompt_tokens(self) -> int:
        return sum(u.spend.prompt_tokens for u in self.per_strategy.values())

    @property
    def completion_tokens(self) -> int:
        return sum(u.spend.completion_tokens for u in self.per_strategy.values())

    @property
    def cost(self) -> float:
        return sum(u.spend.cost for u in self.per_strategy.values())

    @property
    def limiter_min(self) -> float:
        return min((v for _, v in self.limiter_history), default=0.0)

    @property
    def limiter_final(self) -> float:
        return self.limiter_history[-1][1] if self.limiter_history else 0.0


@dataclass
class _Fault:
    """A transient transport fault: retried, never cached."""

    reason: str
    retry_after: float | None
    prompt_tokens: int = 0
    completion_tokens: int = 0


class _Calls:
    """The HTTP requests of one generation request (its retries and re-asks)."""

    def __init__(self, strategy: str = "", key: str | None = None):
        self.n = 0
        self.strategy = strategy
        self.key = key
        self.current: JournalCall | None = None  # the journal row of the request on the wire


# The HTTP-request counter of the request being processed (set per asyncio task).
_current_calls: contextvars.ContextVar[_Calls | None] = contextvars.ContextVar(
    "synth_generation_calls", default=None
)


def _root_api_error(e: BaseException) -> BaseException:
    """instructor wraps transport errors; find the openai error underneath."""
    seen: BaseException | None = e
    while seen is not None:
        if isinstance(seen, openai.APIError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return e


def _retry_after(e: BaseException) -> float | None:
    response = getattr(e, "response", None)
    headers = getattr(response, "headers", None)
    if headers is None:
        return None
    for name, scale in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            return max(0.0, float(value) / scale)
        except ValueError:
            continue  # an HTTP date: fall back to our own back-off
    return None


TRANSIENT_STATUS = {408, 409, 429}
FATAL_STATUS = {401, 403, 404}


def classify_transport(e: BaseException) -> tuple[str, str] | None:
    """(reason, kind) for transport errors, kind in transient/fatal/answer; None otherwise."""
    root = _root_api_error(e)
    if isinstance(root, openai.APITimeoutError):
        return "timeout", "transient"
    if isinstance(root, openai.APIConnectionError):
        return "connection_error", "transient"
    if isinstance(root, openai.APIStatusError):
        code = root.status_code
        if code == 429:
            return "rate_limited", "transient"
        if code >= 500:
            return f"server_error_{code}", "transient"
        if code in TRANSIENT_STATUS:
            return f"client_error_{code}", "transient"
        if code in FATAL_STATUS:
            return f"client_error_{code}", "fatal"
        return f"client_error_{code}", "answer"
    return None


def _usage(obj: Any) -> tuple[int, int]:
    if obj is None:
        return 0, 0
    return (getattr(obj, "prompt_tokens", 0) or 0, getattr(obj, "completion_tokens", 0) or 0)


def _usage_of(usage: Any) -> tuple[int, int]:
    """(prompt, completion) tokens of a response body's `usage` object."""
    if not isinstance(usage, dict):
        return 0, 0
    return int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0)


def _message(completion: Any) -> Any:
    choices = getattr(completion, "choices", None)
    return choices[0].message if choices else None


def _content(completion: Any) -> str | None:
    message = _message(completion)
    return getattr(message, "content", None) if message is not None else None


class _Writer:
    """A background thread writing the call journal, answers and their spend as they arrive.

    Opening a DuckDB file costs about 15 ms of CPU, a write on an open connection
    about 5, so the writer keeps its connection for at most `hold_seconds`, then
    closes it for at least `gap_seconds` so another process (the CLI) gets its turn
    at the file. Everything that arrived meanwhile is written in one transaction when
    the gap ends (group commit).

    A call about to be sent (`sent`) is waited for: the request leaves only once its
    journal row is committed, so a kill never loses a paid call. Answers, what became of
    each call, and failure counts are not waited for: a kill loses at most those not yet
    written (their keys are simply requested again; their calls stay counted as sent,
    with estimated tokens).
    """

    def __init__(
        self,
        cache: ResponseCache,
        identity: dict[str, str],
        ledger: UsageLedger | None,
        hold_seconds: float = 2.0,
        gap_seconds: float = 0.5,
    ):
        self.cache = cache
        self.identity = identity
        self.ledger = ledger
        self.hold_seconds = hold_seconds
        self.gap_seconds = gap_seconds
        self.queue: queue.SimpleQueue[tuple[str, Any, Any] | None] = queue.SimpleQueue()
        self.error: BaseException | None = None
        self._dead = False
        self._thread = threading.Thread(target=self._run, name="generation-cache-writer")
        self._session: contextlib.ExitStack | None = None
        self._conn: Any = None
        self._opened_at = 0.0
        self._closed_at = -1e9
        self._next_call = 0
        self.journal_seconds = 0.0  # time spent committing batches that held sent calls
        self.journal_batches = 0
        self.journal_calls = 0

    @property
    def journaling(self) -> bool:
        return self.ledger is not None

    def start(self) -> None:
        self._thread.start()

    def put(self, strategy: str, outcome: CallOutcome) -> None:
        self.queue.put(("answer", strategy, outcome))

    def new_call(
        self, strategy: str, key: str | None, estimated_prompt: int, estimated_cost: float
    ) -> JournalCall:
        self._next_call += 1
        return JournalCall(self._next_call, strategy, key, estimated_prompt, estimated_cost)

    async def sent(self, call: JournalCall) -> None:
        """Return once the call's journal row is committed (durable before the request)."""
        loop = asyncio.get_running_loop()
        done = loop.create_future()
        self.queue.put(("sent", call, (loop, done)))
        if self._dead and not done.done():
            raise GenerationError(f"writing the call journal failed: {self.error}")
        await done

    def closed(self, call: JournalCall) -> None:
        self.queue.put(("closed", call, None))

    def _open(self) -> None:
        wait = self._closed_at + self.gap_seconds - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        self._session = contextlib.ExitStack()
        self._conn = self._session.enter_context(self.cache.warehouse.connect())
        self._opened_at = time.monotonic()

    def _close(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None
            self._conn = None
            self._closed_at = time.monotonic()

    def _run(self) -> None:
        try:
            done = False
            while not done:
                try:
                    item = self.queue.get(timeout=0.1)
                except queue.Empty:
                    if self._session and time.monotonic() - self._opened_at > self.hold_seconds:
                        self._close()
                    continue
                if self._session is None and item is not None:
                    self._open()  # may wait out the gap: drain what arrived meanwhile
                batch = [item]
                while True:
                    try:
                        batch.append(self.queue.get_nowait())
                    except queue.Empty:
                        break
                done = None in batch
                items = [i for i in batch if i is not None]
                if items:
                    if self._session is None:
                        self._open()
                    self._write(items)
                if self._session and time.monotonic() - self._opened_at > self.hold_seconds:
                    self._close()
        except BaseException as e:  # noqa: BLE001 - surfaced by close() and sent()
            self.error = e
            self._dead = True
            self._fail_waiting(e)
        finally:
            self._close()

    def _fail_waiting(self, e: BaseException) -> None:
        error = GenerationError(f"writing the call journal failed: {e}")
        while True:
            try:
                item = self.queue.get_nowait()
            except queue.Empty:
                return
            if item is not None and item[0] == "sent":
                self._resolve(item[2], error)

    @staticmethod
    def _resolve(waiter: Any, error: BaseException | None = None) -> None:
        loop, future = waiter

        def settle() -> None:
            if future.done():
                return
            if error is None:
                future.set_result(None)
            else:
                future.set_exception(error)

        with contextlib.suppress(RuntimeError):  # the loop is gone: nobody waits
            loop.call_soon_threadsafe(settle)

    def _write(self, items: list[tuple[str, Any, Any]]) -> None:
        sent = [call for kind, call, _ in items if kind == "sent"]
        closed = [call for kind, call, _ in items if kind == "closed"]
        answers = [(strategy, o) for kind, strategy, o in items if kind == "answer"]
        failures: dict[str, dict[str, int]] = {}
        for strategy, o in answers:
            if o.status == "failed" and not o.from_cache:
                counts = failures.setdefault(strategy, {})
                counts[o.error or "unknown"] = counts.get(o.error or "unknown", 0) + 1
        ledger = self.ledger

        def journal(conn: Any) -> None:
            assert ledger is not None
            ledger.journal_sent(conn, sent)
            ledger.journal_closed(conn, closed)
            ledger.add_failures(conn, failures)

        also = journal if ledger is not None else None
        started = time.perf_counter()
        try:
            self.cache.store_many([o for _, o in answers], self.identity, also=also,
                                  conn=self._conn)  # fmt: skip
        except BaseException as e:
            for kind, _, waiter in items:
                if kind == "sent":
                    self._resolve(waiter, GenerationError(f"writing the call journal failed: {e}"))
            raise
        if sent:
            self.journal_seconds += time.perf_counter() - started
            self.journal_batches += 1
            self.journal_calls += len(sent)
        for kind, _, waiter in items:
            if kind == "sent":
                self._resolve(waiter)

    async def close(self) -> None:
        self.queue.put(None)
        await asyncio.to_thread(self._thread.join)
        if self.error is not None:
            raise GenerationError(f"writing the generation cache failed: {self.error}")


class _RunState:
    def __init__(self, total: int, cache_hits: int, failed: int, start: float):
        self.total = total
        self.cache_hits = cache_hits
        self.done = cache_hits
        self.failed = failed
        self.attempted = 0
        self.start = start
        self.stop_reason: str | None = None
        self.settled = asyncio.Event()  # replaced each time a reservation settles

    def notify_settled(self) -> None:
        self.settled.set()
        self.settled = asyncio.Event()


class GenerationEngine:
    def __init__(
        self,
        provider: ResolvedProvider,
        response_model: type[BaseModel] | ModelResolver,
        cache: ResponseCache,
        *,
        progress: Callable[[Progress], None] | None = None,
        progress_interval: float = 3.0,
        max_failure_rate: float = 1.0,
        min_calls_before_abort: int = 20,
        budget: BudgetSpec | None = None,
        ledger: UsageLedger | None = None,
        refusal_markers: list[str] | None = None,
        backoff_initial: float = 0.5,
        backoff_max: float = 20.0,
        limiter_cooldown: float = 1.0,
    ):
        self.provider = provider
        if isinstance(response_model, type) and issubclass(response_model, BaseModel):
            fixed = response_model
            self._model_for: ModelResolver = lambda _r: fixed
        else:
            self._model_for = response_model  # type: ignore[assignment]
        self.cache = cache
        self.progress = progress
        self.progress_interval = progress_interval
        self.max_failure_rate = max_failure_rate
        self.min_calls_before_abort = min_calls_before_abort
        self.budget_spec = budget
        self.ledger = ledger
        markers = DEFAULT_REFUSAL_MARKERS if refusal_markers is None else refusal_markers
        self.refusal_markers = tuple(m.lower() for m in markers)
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.limiter_cooldown = limiter_cooldown
        self._schemas: dict[type[BaseModel], dict[str, Any]] = {}
        self.http_calls = 0  # HTTP requests sent this run, retries and re-asks included
        self.limiter: AdaptiveLimiter | None = None
        self._writer: _Writer | None = None
        # (calls journaled, journal commits, seconds in those commits) of the last run
        self.journal_stats: tuple[int, int, float] = (0, 0, 0.0)

    # --- keys ----------------------------------------------------------------------

    def schema_for(self, request: GenerationRequest) -> dict[str, Any]:
        if request.document_field is not None:  # plain text: one line is the field
            return {"name": "document", "field": request.document_field}
        model = self._model_for(request)
        if model not in self._schemas:
            self._schemas[model] = {"name": model.__name__, "schema": model.model_json_schema()}
        return self._schemas[model]

    def key_for(self, request: GenerationRequest) -> str:
        return cache_key(
            self.provider.identity,
            request.message_list,
            self.schema_for(request),
            self.request_params(request),
            request.sample_index,
            request.strategy,
        )

    def request_params(self, request: GenerationRequest) -> dict[str, Any]:
        # A distinct sampling seed per sample index: same prompt, different records.
        return {
            **self.provider.params,
            **dict(request.params),
            "seed": self.provider.sampling_seed(request.sample_index),
        }

    # --- run -----------------------------------------------------------------------

    def run(self, requests: list[GenerationRequest]) -> GenerationRun:
        return asyncio.run(self.arun(requests))

    async def arun(self, requests: list[GenerationRequest]) -> GenerationRun:
        # instructor logs every failed attempt at ERROR; the engine records them as reasons.
        quiet = logging.getLogger("instructor")
        level = quiet.level
        quiet.setLevel(logging.CRITICAL)
        try:
            return await self._arun(requests)
        finally:
            quiet.setLevel(level)

    async def _arun(self, requests: list[GenerationRequest]) -> GenerationRun:
        start = time.monotonic()
        keys = [self.key_for(r) for r in requests]
        first: dict[str, GenerationRequest] = {}
        for k, r in zip(keys, requests, strict=True):
            first.setdefault(k, r)  # identical keys in one plan are one call
        cached = self.cache.lookup(list(first))
        outcomes: dict[str, CallOutcome] = dict(cached)
        stats: dict[str, StrategyUsage] = {}
        for k, r in first.items():
            u = stats.setdefault(r.strategy, StrategyUsage())
            u.requests += 1
            if k in cached:
                u.cache_hits += 1
                u.count(cached[k].status, cached[k].error)
        todo = deque((k, r) for k, r in first.items() if k not in cached)
        state = _RunState(
            total=len(first),
            cache_hits=len(cached),
            failed=sum(o.status != "ok" for o in cached.values()),
            start=start,
        )
        limiter = AdaptiveLimiter(self.provider.concurrency, cooldown_seconds=self.limiter_cooldown)
        self.limiter = limiter
        self.http_calls = 0
        spent_before = Spend()
        if self.ledger is not None:
            spent_before = self.ledger.start_run(list(stats))
        cost_capped = self.budget_spec is not None and self.budget_spec.max_cost is not None
        if cost_capped and todo and not self.provider.priced:
            raise GenerationError(
                f"generation.budget.max_cost is set but provider.prices has no price for "
                f"model {self.provider.model!r}: add one, or remove max_cost"
            )
        budget = Budget(self.budget_spec, spent_before, self.provider.cost)
        problem = self.budget_shortfall(budget, [r for _, r in todo], len(cached))
        if problem:
            raise GenerationError(problem, reason="budget")

        def snapshot() -> Progress:
            return Progress(
                done=state.done,
                total=state.total,
                failed=state.failed,
                cache_hits=state.cache_hits,
                elapsed=time.monotonic() - start,
                limit=limiter.limit,
                calls=self.http_calls,
                stopped=state.stop_reason,
            )

        async def ticker() -> None:
            while True:
                await asyncio.sleep(self.progress_interval)
                if self.progress:
                    self.progress(snapshot())

        writer = _Writer(self.cache, self.provider.identity, self.ledger)
        self._writer = writer
        client = self._client() if todo else None

        def record(key: str, request: GenerationRequest, outcome: CallOutcome) -> None:
            outcomes[key] = outcome
            u = stats[request.strategy]
            u.count(outcome.status, outcome.error)
            spend = Spend(
                outcome.calls,
                outcome.prompt_tokens,
                outcome.completion_tokens,
                self.provider.cost(outcome.prompt_tokens, outcome.completion_tokens),
            )
            u.spend.add(spend)
            writer.put(request.strategy, outcome)
            if outcome.status == "not_run":
                return
            u.busy_seconds += outcome.latency_seconds
            u.last_end = time.monotonic()
            state.done += 1
            state.attempted += 1
            state.failed += outcome.status != "ok"
            if (
                state.attempted >= self.min_calls_before_abort
                and state.failed / max(1, state.done) > self.max_failure_rate
            ):
                raise GenerationError(
                    f"generation failure rate {state.failed}/{state.done} exceeds the spec's "
                    f"limit of {self.max_failure_rate:.0%}; failures so far: "
                    f"{_count_reasons(outcomes.values())}"
                )

        async def worker() -> None:
            assert client is not None
            while todo and state.stop_reason is None:
                if writer.error is not None:  # no journal, no cache: nothing may be sent
                    raise GenerationError(
                        f"writing the generation cache failed: {writer.error}",
                        reason="write_error",
                    )
                key, request = todo.popleft()
                u = stats[request.strategy]
                if u.first_start is None:
                    u.first_start = time.monotonic()
                outcome = await self._process(client, key, request, limiter, budget, state)
                record(key, request, outcome)

        writer.start()
        tick = asyncio.create_task(ticker())
        stop_reason_on_exit: str | None = None
        try:
            if todo:
                # More workers than slots: a request sleeping before a retry holds a worker,
                # not a slot. The limiter caps what is on the wire.
                n_workers = min(len(todo), 2 * self.provider.concurrency)
                async with asyncio.TaskGroup() as tg:
                    for _ in range(n_workers):
                        tg.create_task(worker())
        except* GenerationError as eg:
            stop_reason_on_exit = eg.exceptions[0].reason  # type: ignore[attr-defined]
            raise eg.exceptions[0] from None
        finally:
            tick.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await tick
            # Whatever the budget (or an abort) left unstarted is recorded as not run.
            while todo:
                key, request = todo.popleft()
                record(key, request, self._not_run(key, reason=stop_reason_on_exit or "budget"))
            await writer.close()
            self._writer = None
            self.journal_stats = (writer.journal_calls, writer.journal_batches,
                                  writer.journal_seconds)  # fmt: skip
            if client is not None:
                await client.client.close()
            if self.ledger is not None and stop_reason_on_exit is not None:
                self.ledger.finish(
                    stats, time.monotonic() - start, stop_reason_on_exit, budget_stopped=False
                )
        if self.progress:
            self.progress(snapshot())

        ordered = [outcomes[k] for k in keys]
        answered = [o for k, o in outcomes.items() if o.status != "not_run"]
        failures = _count_reasons(answered)
        failed = sum(failures.values())
        run = GenerationRun(
            outcomes=ordered,
            calls=self.http_calls,
            cache_hits=len(cached),
            failures_by_reason=failures,
            wall_seconds=time.monotonic() - start,
            limiter_history=list(limiter.history),
            per_strategy=stats,
            stop_reason=state.stop_reason,
            limiter_decreases=limiter.decreases,
            limiter_pauses=limiter.pauses,
        )
        too_many = answered and failed / len(answered) > self.max_failure_rate
        if self.ledger is not None:
            self.ledger.finish(
                stats,
                run.wall_seconds,
                "failure_rate" if too_many else run.stop_reason,
                run.budget_stopped,
            )
        if too_many:
            raise GenerationError(
                f"generation failure rate {failed}/{len(answered)} exceeds the spec's limit of "
                f"{self.max_failure_rate:.0%}; failures: {failures}"
            )
        return run

    # --- one request ---------------------------------------------------------------

    def _client(self) -> Any:
        async def count_request(request: Any) -> None:
            # Write-ahead: the journal row is committed before the request leaves, so a
            # kill from here on leaves the call counted as paid.
            counter = _current_calls.get()
            writer = self._writer
            if counter is not None and writer is not None and writer.journaling:
                try:
                    body = len(request.content)
                except Exception:  # noqa: BLE001 - a streamed body: no size to estimate from
                    body = 0
                estimate = estimate_prompt_tokens(body)
                call = writer.new_call(
                    counter.strategy, counter.key, estimate, self.provider.cost(estimate, 0)
                )
                try:
                    await writer.sent(call)
                except asyncio.CancelledError:
                    call.status = "unsent"  # stopped before it left: not a paid call
                    writer.closed(call)
                    raise
                counter.current = call
            self.http_calls += 1
            if counter is not None:
                counter.n += 1

        async def answered(response: Any) -> None:
            counter = _current_calls.get()
            writer = self._writer
            call = counter.current if counter is not None else None
            if call is None or writer is None:
                return
            assert counter is not None
            counter.current = None
            pt = ct = 0
            if response.status_code < 300:
                with contextlib.suppress(Exception):  # usage is best effort; 0 if absent
                    await response.aread()
                    pt, ct = _usage_of(json.loads(response.content).get("usage"))
            call.close("answered", http_status=response.status_code, prompt_tokens=pt,
                       completion_tokens=ct, cost=self.provider.cost(pt, ct))  # fmt: skip
            writer.closed(call)

        raw_client = openai.AsyncOpenAI(
            base_url=self.provider.endpoint(),
            api_key=self.provider.api_key(),
            max_retries=0,  # retries are ours, so Retry-After and the limiter see every fault
            timeout=self.provider.timeout_seconds,
            http_client=openai.DefaultAsyncHttpxClient(
                timeout=self.provider.timeout_seconds,
                event_hooks={"request": [count_request], "response": [answered]},
            ),
        )
        return instructor.from_openai(raw_client, mode=instructor.Mode.JSON_SCHEMA)

    def _no_answer(self, counter: _Calls, result: CallOutcome | _Fault) -> None:
        """The attempt is over and its last request never got a response (a timeout, a
        lost connection): the call stays paid, with no tokens known."""
        call, counter.current = counter.current, None
        if call is not None and self._writer is not None:
            reason = result.reason if isinstance(result, _Fault) else (result.error or "")
            call.close("no_answer", error=reason or "no response")
            self._writer.closed(call)

    def budget_shortfall(
        self, budget: Budget, uncached: list[GenerationRequest], cached: int
    ) -> str | None:
        """Why `uncached` cannot all be asked within what `budget` has left (one call each,
        its prompt, no completion: the least they can cost); None when they may, or when the
        spec allows a partial run. A plan the budget cannot finish is refused before the
        first call: it would stop half-way and need a larger budget anyway."""
        if not uncached or not budget.limited or budget.spec.allow_partial:
            return None
        reasks = self.provider.validation_reasks + 1
        prompt = sum(self._worst_case(r)[1] // reasks for r in uncached)
        need = Spend(len(uncached), prompt, 0, self.provider.cost(prompt, 0))
        return budget.shortfall(need, cached)

    def uncached(self, requests: list[GenerationRequest]) -> tuple[list[GenerationRequest], int]:
        """The requests the cache cannot answer (one per distinct key), and how many it can."""
        first = {self.key_for(r): r for r in reversed(requests)}
        cached = self.cache.lookup(list(first))
        return [r for k, r in first.items() if k not in cached], len(cached)

    def _worst_case(self, request: GenerationRequest) -> tuple[int, int, int]:
        """(calls, prompt tokens, completion tokens) one attempt may use, re-asks included."""
        chars = sum(len(m.get("content", "")) for m in request.message_list)
        prompt = chars // 3 + 16 * len(request.messages) + 16
        max_tokens = int(self.provider.params.get("max_tokens") or 0)
        reasks = self.provider.validation_reasks
        # A re-ask resends the conversation plus the bad reply and the error.
        prompt_total = sum(prompt + i * (max_tokens + 200) for i in range(reasks + 1))
        return reasks + 1, prompt_total, max_tokens * (reasks + 1)

    def _backoff(self, attempt: int) -> float:
        base = min(self.backoff_max, self.backoff_initial * 2**attempt)
        return base * random.uniform(0.5, 1.0)

    async def _process(
        self,
        client: Any,
        key: str,
        request: GenerationRequest,
        limiter: AdaptiveLimiter,
        budget: Budget,
        state: _RunState,
    ) -> CallOutcome:
        counter = _Calls(request.strategy, key)
        token = _current_calls.set(counter)
        started = time.monotonic()
        worst = self._worst_case(request)
        last_fault: _Fault | None = None
        pt_total = ct_total = 0
        try:
            for attempt in range(self.provider.max_retries + 1):
                await limiter.acquire()
                try:
                    if state.stop_reason is not None:
                        return self._not_run(key, counter.n, pt_total, ct_total, started)
                    reservation = budget.reserve(*worst)
                    while isinstance(reservation, str):
                        if budget.reserved.calls <= 0 or state.stop_reason is not None:
                            # Refused with nothing in flight that could give budget back.
                            state.stop_reason = state.stop_reason or reservation
                            return self._not_run(key, counter.n, pt_total, ct_total, started)
                        await state.settled.wait()  # in-flight requests may use less
                        reservation = budget.reserve(*worst)
                    calls_before = counter.n
                    result: CallOutcome | _Fault | None = None
                    try:
                        result = await self._attempt(client, key, request, started)
                        self._no_answer(counter, result)
                    finally:
                        pt, ct = (
                            (result.prompt_tokens, result.completion_tokens) if result else (0, 0)
                        )
                        budget.settle(
                            reservation,
                            Spend(counter.n - calls_before, pt, ct, self.provider.cost(pt, ct)),
                        )
                        state.notify_settled()
                finally:
                    await limiter.release()
                pt_total += result.prompt_tokens
                ct_total += result.completion_tokens
                if isinstance(result, CallOutcome):
                    limiter.on_success()
                    result.calls = counter.n
                    result.prompt_tokens, result.completion_tokens = pt_total, ct_total
                    return result
                last_fault = result
                limiter.on_throttle()
                if result.retry_after is not None:
                    limiter.pause(result.retry_after)
                if attempt < self.provider.max_retries:
                    await asyncio.sleep(
                        result.retry_after
                        if result.retry_after is not None
                        else self._backoff(attempt)
                    )
            assert last_fault is not None
            return CallOutcome(
                key=key,
                status="failed",
                error=last_fault.reason,
                response=None,
                raw=None,
                prompt_tokens=pt_total,
                completion_tokens=ct_total,
                latency_seconds=time.monotonic() - started,
                transient=True,
                calls=counter.n,
            )
        finally:
            _current_calls.reset(token)

    async def _attempt(
        self, client: Any, key: str, request: GenerationRequest, started: float
    ) -> CallOutcome | _Fault:
        if request.document_field is not None:
            return await self._attempt_document(client, key, request, started)
        model = self._model_for(request)
        try:
            obj, completion = await client.chat.completions.create_with_completion(
                model=self.provider.model,
                response_model=model,
                messages=request.message_list,
                max_retries=self.provider.validation_reasks,  # instructor re-asks
                timeout=self.provider.timeout_seconds,
                **self.request_params(request),
            )
        except Exception as e:  # noqa: BLE001 - every fault becomes a recorded reason
            return self._failure(key, e, started)
        total = getattr(obj, "_total_usage", None) or getattr(completion, "usage", None)
        pt, ct = _usage(total)
        raw = _content(completion)
        response = obj.model_dump(mode="json")
        if self._is_refusal(completion, response):
            return CallOutcome(
                key, "failed", "refusal", None, raw, pt, ct, time.monotonic() - started
            )
        return CallOutcome(key, "ok", None, response, raw, pt, ct, time.monotonic() - started)

    async def _attempt_document(
        self, client: Any, key: str, request: GenerationRequest, started: float
    ) -> CallOutcome | _Fault:
        """A document prompt on the completions endpoint: the model's next line is the
        record's one free-text field. A line cut by max_tokens is "truncated"."""
        params = self.request_params(request)
        try:
            completion = await client.client.completions.create(
                model=self.provider.model,
                prompt=request.message_list[0]["content"],
                stop=["\n"],
                timeout=self.provider.timeout_seconds,
                **params,
            )
        except Exception as e:  # noqa: BLE001 - every fault becomes a recorded reason
            return self._failure(key, e, started)
        pt, ct = _usage(getattr(completion, "usage", None))
        choice = completion.choices[0] if completion.choices else None
        raw = (choice.text if choice is not None else None) or ""
        text = raw.strip()
        elapsed = time.monotonic() - started
        if choice is not None and choice.finish_reason == "length":
            return CallOutcome(key, "failed", "truncated", None, raw, pt, ct, elapsed)
        if not text:
            return CallOutcome(key, "failed", "empty", None, raw, pt, ct, elapsed)
        assert request.document_field is not None
        response = {request.document_field: text}
        if self._is_refusal(None, response):
            return CallOutcome(key, "failed", "refusal", None, raw, pt, ct, elapsed)
        return CallOutcome(key, "ok", None, response, raw, pt, ct, elapsed)

    def _failure(self, key: str, e: Exception, started: float) -> CallOutcome | _Fault:
        transport = classify_transport(e)
        total_usage = getattr(e, "total_usage", None)
        completion = getattr(e, "last_completion", None)
        pt, ct = (
            _usage(total_usage)
            if total_usage is not None
            else _usage(getattr(completion, "usage", None))
        )
        if transport is not None:
            reason, kind = transport
            if kind == "transient":
                return _Fault(reason, _retry_after(_root_api_error(e)), pt, ct)
            if kind == "fatal":
                p = self.provider
                raise GenerationError(
                    f"provider {p.kind!r} (model {p.model!r}) refused the request with "
                    f"{reason.removeprefix('client_error_')}: check the model name, the base URL "
                    f"and the API key in ${p.api_key_env or '(none)'}",
                    reason="provider_error",
                ) from None
            return CallOutcome(
                key, "failed", reason, None, None, pt, ct, time.monotonic() - started
            )
        reason = _answer_failure_reason(e)
        raw = _content(completion)
        if reason is None:
            # Not an answer we understand (a bug, an unexpected library error): record it,
            # never cache it, so a fixed re-run tries again.
            log.warning("generation request failed unexpectedly: %s: %s", type(e).__name__, e)
            return CallOutcome(
                key, "failed", f"error_{type(e).__name__}", None, raw, pt, ct,
                time.monotonic() - started, transient=True,
            )  # fmt: skip
        if reason == "schema_invalid" and self._is_refusal(completion, None):
            reason = "refusal"
        return CallOutcome(key, "failed", reason, None, raw, pt, ct, time.monotonic() - started)

    def _is_refusal(self, completion: Any, response: dict[str, Any] | None) -> bool:
        message = _message(completion)
        if message is not None and getattr(message, "refusal", None):
            return True
        texts: list[str] = []
        if response is not None:
            texts = [v for v in response.values() if isinstance(v, str)]
        elif (raw := _content(completion)) is not None:
            texts = [raw]
        return any(t.strip().lower().startswith(self.refusal_markers) for t in texts)

    @staticmethod
    def _not_run(
        key: str,
        calls: int = 0,
        pt: int = 0,
        ct: int = 0,
        started: float | None = None,
        reason: str = "budget",
    ) -> CallOutcome:
        return CallOutcome(
            key=key,
            status="not_run",
            error=reason,
            response=None,
            raw=None,
            prompt_tokens=pt,
            completion_tokens=ct,
            latency_seconds=time.monotonic() - started if started is not None else 0.0,
            transient=True,
            calls=calls,
        )


def merge_runs(runs: list[tuple[list[int], GenerationRun]], n: int) -> GenerationRun:
    """One run out of runs over disjoint parts of a plan (index lists into the plan of n),
    e.g. the generator's requests and the distillation teacher's, run one after the other."""
    outcomes: list[CallOutcome | None] = [None] * n
    failures: dict[str, int] = {}
    per_strategy: dict[str, StrategyUsage] = {}
    for indices, run in runs:
        for i, o in zip(indices, run.outcomes, strict=True):
            outcomes[i] = o
        for reason, count in run.failures_by_reason.items():
            failures[reason] = failures.get(reason, 0) + count
        per_strategy.update(run.per_strategy)
    assert all(o is not None for o in outcomes)
    parts = [run for _, run in runs]
    return GenerationRun(
        outcomes=outcomes,  # type: ignore[arg-type]
        calls=sum(r.calls for r in parts),
        cache_hits=sum(r.cache_hits for r in parts),
        failures_by_reason=dict(sorted(failures.items())),
        wall_seconds=sum(r.wall_seconds for r in parts),
        limiter_history=[h for r in parts for h in r.limiter_history],
        per_strategy=per_strategy,
        stop_reason=next((r.stop_reason for r in parts if r.stop_reason), None),
        limiter_decreases=sum(r.limiter_decreases for r in parts),
        limiter_pauses=sum(r.limiter_pauses for r in parts),
    )


def _answer_failure_reason(e: BaseException) -> str | None:
    seen: BaseException | None = e
    while seen is not None:
        name = type(seen).__name__
        if name == "IncompleteOutputException":
            return "truncated"
        if name in ("InstructorRetryException", "ResponseParsingError") or isinstance(
            seen, ValidationError | json.JSONDecodeError
        ):
            return "schema_invalid"
        seen = seen.__cause__
    return None


def _count_reasons(outcomes: Any) -> dict[str, int]:
    counts: dict[str, int] = {}
    for o in outcomes:
        if o.status == "failed":
            counts[o.error or "unknown"] = counts.get(o.error or "unknown", 0) + 1
    return dict(sorted(counts.items()))


def candidate_frame(
    spec: DatasetSpec,
    requests: list[GenerationRequest],
    run: GenerationRun,
    engine: GenerationEngine | Callable[[GenerationRequest], GenerationEngine],
) -> pl.DataFrame:
    """One row per answered request: the record, or the failure with its reason, and its
    provenance. Requests a budget left unstarted have no row (the ledger counts them).
    `engine` is the engine that ran the requests, or a function giving each request's.

    `params` holds the sampling parameters sent, plus `attributes` (attribute and
    scenario values, evolution operation, distillation input id) when the strategy set any.
    """
    engine_for = None if isinstance(engine, GenerationEngine) else engine
    kind = kind_of(spec)
    rows = []
    seen: set[str] = set()
    for request, outcome in zip(requests, run.outcomes, strict=True):
        if outcome.status == "not_run" or outcome.key in seen:
            continue
        seen.add(outcome.key)
        eng = engine_for(request) if engine_for else engine
        assert isinstance(eng, GenerationEngine)
        provider = eng.provider
        ok = outcome.status == "ok"
        record: dict[str, Any] = {}
        label = request.label
        if ok:
            record = kind.record_from_response(
                spec, outcome.response or {}, request.fixed_dict, request.label
            )
            label = kind.label_of(spec, record) if label is None else label
        params = eng.request_params(request)
        if request.attributes:
            params["attributes"] = request.attribute_dict
        rows.append(
            {
                "record_id": f"c-{outcome.key[:16]}",
                "text": kind.text_of(spec, record) if ok else None,
                "label": label,
                "record": json.dumps(record, ensure_ascii=False, sort_keys=True) if ok else None,
                "status": outcome.status,
                "error": outcome.error,
                "strategy": request.strategy,
                "requested_label": request.label,
                "seed_ids": json.dumps(list(request.seed_ids)),
                "sample_index": request.sample_index,
                "cache_key": outcome.key,
                "prompt_hash": messages_hash(request.message_list),
                "provider": provider.kind,
                "model": provider.model,
                "params": json.dumps(params, sort_keys=True),
                "raw_response": outcome.raw,
                "from_cache": outcome.from_cache,
                "prompt_tokens": outcome.prompt_tokens,
                "completion_tokens": outcome.completion_tokens,
            }
        )
    return pl.DataFrame(rows, schema=CANDIDATE_SCHEMA)
