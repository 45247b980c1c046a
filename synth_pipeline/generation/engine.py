"""The async generation engine: cache lookup, adaptive concurrency, retries, progress.

One code path for every provider: the `openai` client pointed at the provider's
base URL, wrapped by instructor in JSON-schema mode.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import instructor
import openai
import polars as pl
from pydantic import BaseModel, ValidationError
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_exponential_jitter

from synth_pipeline.generation.cache import CallOutcome, ResponseCache, cache_key
from synth_pipeline.generation.limiter import AdaptiveLimiter
from synth_pipeline.generation.planner import GenerationRequest
from synth_pipeline.generation.prompts import messages_hash
from synth_pipeline.generation.providers import ResolvedProvider

REFUSAL_MARKERS = ("i'm sorry, but i can't", "i cannot help with", "i can't assist", "as an ai")


class GenerationError(RuntimeError):
    pass


@dataclass
class Progress:
    done: int
    total: int
    failed: int
    cache_hits: int
    elapsed: float
    limit: float

    @property
    def rate(self) -> float:
        return self.done / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def eta_seconds(self) -> float | None:
        return (self.total - self.done) / self.rate if self.rate > 0 else None

    def describe(self) -> str:
        eta = f"{self.eta_seconds:.0f}s" if self.eta_seconds is not None else "?"
        return (
            f"generated {self.done}/{self.total} ({self.rate:.2f}/s, ETA {eta}), "
            f"failures {self.failed}, cache hits {self.cache_hits}, concurrency {self.limit:.1f}"
        )


@dataclass
class GenerationRun:
    outcomes: list[CallOutcome]
    calls: int
    cache_hits: int
    failures_by_reason: dict[str, int]
    wall_seconds: float
    limiter_history: list[tuple[float, float]] = field(default_factory=list)

    @property
    def prompt_tokens(self) -> int:
        return sum(o.prompt_tokens for o in self.outcomes if not o.from_cache)

    @property
    def completion_tokens(self) -> int:
        return sum(o.completion_tokens for o in self.outcomes if not o.from_cache)


class _Transient(Exception):
    """A fault worth retrying: rate limit, server error, timeout, connection."""

    def __init__(self, reason: str, retry_after: float | None, cause: Exception):
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after
        self.cause = cause


def _root_api_error(e: BaseException) -> BaseException:
    """instructor wraps transport errors; find the openai error underneath."""
    seen = e
    while seen is not None:
        if isinstance(seen, openai.APIError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return e


def _retry_after(e: BaseException) -> float | None:
    response = getattr(e, "response", None)
    if response is None:
        return None
    value = response.headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def classify_transport(e: BaseException) -> tuple[str, bool] | None:
    """(reason, transient) for transport errors, None for anything else."""
    root = _root_api_error(e)
    if isinstance(root, openai.RateLimitError):
        return "rate_limited", True
    if isinstance(root, openai.APITimeoutError):
        return "timeout", True
    if isinstance(root, openai.APIConnectionError):
        return "connection_error", True
    if isinstance(root, openai.APIStatusError):
        if root.status_code >= 500:
            return f"server_error_{root.status_code}", True
        return f"client_error_{root.status_code}", False
    return None


def _wait(state: Any) -> float:
    exc = state.outcome.exception() if state.outcome else None
    if isinstance(exc, _Transient) and exc.retry_after is not None:
        return min(exc.retry_after, 60.0)
    return wait_exponential_jitter(initial=0.5, max=20.0)(state)


class _CacheWriter:
    """Writes answers as they arrive, batching whatever queued up while the last write ran."""

    def __init__(self, cache: ResponseCache, identity: dict[str, str]):
        self.cache = cache
        self.identity = identity
        self.queue: asyncio.Queue[CallOutcome | None] = asyncio.Queue()
        self.task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while True:
            item = await self.queue.get()
            batch = [item]
            while not self.queue.empty():
                batch.append(self.queue.get_nowait())
            outcomes = [o for o in batch if o is not None]
            if outcomes:
                await asyncio.to_thread(self._write, outcomes)
            if None in batch:
                return

    def _write(self, outcomes: list[CallOutcome]) -> None:
        for o in outcomes:
            self.cache.store(o, self.identity)

    async def close(self) -> None:
        await self.queue.put(None)
        if self.task:
            await self.task


def _refusal(text: str) -> bool:
    lowered = text.strip().lower()
    return any(lowered.startswith(m) for m in REFUSAL_MARKERS)


class GenerationEngine:
    def __init__(
        self,
        provider: ResolvedProvider,
        response_model: type[BaseModel],
        cache: ResponseCache,
        *,
        progress: Callable[[Progress], None] | None = None,
        progress_interval: float = 3.0,
        max_failure_rate: float = 1.0,
        min_calls_before_abort: int = 20,
    ):
        self.provider = provider
        self.response_model = response_model
        self.cache = cache
        self.progress = progress
        self.progress_interval = progress_interval
        self.max_failure_rate = max_failure_rate
        self.min_calls_before_abort = min_calls_before_abort
        self.schema = response_model.model_json_schema()
        self.http_calls = 0  # requests sent, retries included

    def key_for(self, request: GenerationRequest) -> str:
        return cache_key(
            self.provider.identity,
            request.message_list,
            self.schema,
            self.request_params(request),
            request.sample_index,
        )

    def request_params(self, request: GenerationRequest) -> dict[str, Any]:
        # A distinct sampling seed per sample index: same prompt, different records.
        return {**self.provider.params, "seed": request.sample_index}

    def run(self, requests: list[GenerationRequest]) -> GenerationRun:
        return asyncio.run(self.arun(requests))

    async def arun(self, requests: list[GenerationRequest]) -> GenerationRun:
        start = time.monotonic()
        keys = [self.key_for(r) for r in requests]
        cached = self.cache.lookup(sorted(set(keys)))
        outcomes: dict[str, CallOutcome] = dict(cached)
        todo = [(k, r) for k, r in zip(keys, requests, strict=True) if k not in cached]
        # Identical keys in one plan are one call.
        unique_todo = list({k: r for k, r in todo}.items())
        total = len(set(keys))
        state = {"done": len(cached), "failed": sum(o.status != "ok" for o in cached.values())}
        limiter = AdaptiveLimiter(self.provider.concurrency)
        writer = _CacheWriter(self.cache, self.provider.identity)
        self.http_calls = 0

        def snapshot() -> Progress:
            return Progress(
                done=state["done"],
                total=total,
                failed=state["failed"],
                cache_hits=len(cached),
                elapsed=time.monotonic() - start,
                limit=limiter.limit,
            )

        async def ticker() -> None:
            while True:
                await asyncio.sleep(self.progress_interval)
                if self.progress:
                    self.progress(snapshot())

        client = None
        if unique_todo:
            raw_client = openai.AsyncOpenAI(
                base_url=self.provider.endpoint(),
                api_key=self.provider.api_key(),
                max_retries=0,  # retries are ours, so Retry-After and the limiter see every fault
                timeout=self.provider.timeout_seconds,
            )
            client = instructor.from_openai(raw_client, mode=instructor.Mode.JSON_SCHEMA)

        async def one(key: str, request: GenerationRequest) -> None:
            assert client is not None
            async with limiter:
                outcome = await self._call(client, key, request, limiter)
            outcomes[key] = outcome
            state["done"] += 1
            state["failed"] += outcome.status != "ok"
            await writer.queue.put(outcome)
            attempted = state["done"] - len(cached)
            if (
                attempted >= self.min_calls_before_abort
                and state["failed"] / max(1, state["done"]) > self.max_failure_rate
            ):
                raise GenerationError(
                    f"generation failure rate {state['failed']}/{state['done']} exceeds the "
                    f"spec's limit of {self.max_failure_rate:.0%}; failures so far: "
                    f"{_count_reasons(outcomes.values())}"
                )

        writer.start()
        tick = asyncio.create_task(ticker())
        try:
            async with asyncio.TaskGroup() as tg:
                for key, request in unique_todo:
                    tg.create_task(one(key, request))
        except* GenerationError as eg:
            raise eg.exceptions[0] from None
        finally:
            tick.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await tick
            await writer.close()
            if client is not None:
                await client.client.close()
        if self.progress:
            self.progress(snapshot())

        ordered = [outcomes[k] for k in keys]
        failures = _count_reasons(ordered)
        failed = sum(failures.values())
        if ordered and failed / len(ordered) > self.max_failure_rate:
            raise GenerationError(
                f"generation failure rate {failed}/{len(ordered)} exceeds the spec's limit of "
                f"{self.max_failure_rate:.0%}; failures: {failures}"
            )
        return GenerationRun(
            outcomes=ordered,
            calls=self.http_calls,
            cache_hits=len(cached),
            failures_by_reason=failures,
            wall_seconds=time.monotonic() - start,
            limiter_history=limiter.history,
        )

    async def _call(
        self, client: Any, key: str, request: GenerationRequest, limiter: AdaptiveLimiter
    ) -> CallOutcome:
        params = self.request_params(request)
        started = time.monotonic()

        async def attempt() -> CallOutcome:
            self.http_calls += 1
            try:
                obj, completion = await client.chat.completions.create_with_completion(
                    model=self.provider.model,
                    response_model=self.response_model,
                    messages=request.message_list,
                    max_retries=1,  # one instructor re-ask on a validation error
                    timeout=self.provider.timeout_seconds,
                    **params,
                )
            except Exception as e:  # noqa: BLE001 - every fault becomes a recorded reason
                transport = classify_transport(e)
                if transport is not None:
                    reason, transient = transport
                    if transient:
                        limiter.on_throttle()
                        raise _Transient(reason, _retry_after(_root_api_error(e)), e) from e
                    return self._failed(key, reason, e, started)
                return self._failed(key, _answer_failure_reason(e), e, started)
            limiter.on_success()
            usage = getattr(completion, "usage", None)
            raw = completion.choices[0].message.content if completion.choices else None
            status, error = "ok", None
            if raw and _refusal(raw):
                status, error = "failed", "refusal"
            return CallOutcome(
                key=key,
                status=status,
                error=error,
                response=obj.model_dump(mode="json") if status == "ok" else None,
                raw=raw,
                prompt_tokens=getattr(usage, "prompt_tokens", 0) or 0,
                completion_tokens=getattr(usage, "completion_tokens", 0) or 0,
                latency_seconds=time.monotonic() - started,
            )

        try:
            async for retry in AsyncRetrying(
                retry=retry_if_exception(lambda e: isinstance(e, _Transient)),
                stop=stop_after_attempt(self.provider.max_retries + 1),
                wait=_wait,
                reraise=True,
            ):
                with retry:
                    return await attempt()
        except _Transient as e:
            return CallOutcome(
                key=key,
                status="failed",
                error=e.reason,
                response=None,
                raw=None,
                latency_seconds=time.monotonic() - started,
                transient=True,
            )
        raise AssertionError("unreachable")

    @staticmethod
    def _failed(key: str, reason: str, e: Exception, started: float) -> CallOutcome:
        completion = getattr(e, "last_completion", None)
        raw = None
        pt = ct = 0
        if completion is not None and getattr(completion, "choices", None):
            raw = completion.choices[0].message.content
            usage = getattr(completion, "usage", None)
            pt = getattr(usage, "prompt_tokens", 0) or 0
            ct = getattr(usage, "completion_tokens", 0) or 0
        return CallOutcome(
            key=key,
            status="failed",
            error=reason,
            response=None,
            raw=raw,
            prompt_tokens=pt,
            completion_tokens=ct,
            latency_seconds=time.monotonic() - started,
        )


def _answer_failure_reason(e: BaseException) -> str:
    seen: BaseException | None = e
    while seen is not None:
        name = type(seen).__name__
        if name == "IncompleteOutputException":
            return "truncated"
        if isinstance(seen, ValidationError | json.JSONDecodeError):
            return "schema_invalid"
        seen = seen.__cause__
    text = str(e).lower()
    if "length" in text and "finish" in text:
        return "truncated"
    return "schema_invalid"


def _count_reasons(outcomes: Any) -> dict[str, int]:
    counts: dict[str, int] = {}
    for o in outcomes:
        if o.status != "ok":
            counts[o.error or "unknown"] = counts.get(o.error or "unknown", 0) + 1
    return counts


def candidate_frame(
    spec_label_field: str | None,
    text_field: str,
    requests: list[GenerationRequest],
    run: GenerationRun,
    provider: ResolvedProvider,
    engine: GenerationEngine,
) -> pl.DataFrame:
    """One row per request: the record, or the failure with its reason, and its provenance."""
    rows = []
    for request, outcome in zip(requests, run.outcomes, strict=True):
        record = dict(outcome.response or {})
        if spec_label_field and request.label is not None and outcome.status == "ok":
            record[spec_label_field] = request.label
        rows.append(
            {
                "record_id": f"c-{outcome.key[:16]}",
                "text": str(record.get(text_field)) if outcome.status == "ok" else None,
                "label": request.label,
                "record": json.dumps(record, ensure_ascii=False, sort_keys=True)
                if outcome.status == "ok"
                else None,
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
                "params": json.dumps(engine.request_params(request), sort_keys=True),
                "raw_response": outcome.raw,
                "from_cache": outcome.from_cache,
                "prompt_tokens": outcome.prompt_tokens,
                "completion_tokens": outcome.completion_tokens,
            }
        )
    schema = {
        "record_id": pl.String, "text": pl.String, "label": pl.String, "record": pl.String,
        "status": pl.String, "error": pl.String, "strategy": pl.String,
        "requested_label": pl.String, "seed_ids": pl.String, "sample_index": pl.Int64,
        "cache_key": pl.String, "prompt_hash": pl.String, "provider": pl.String,
        "model": pl.String, "params": pl.String, "raw_response": pl.String,
        "from_cache": pl.Boolean, "prompt_tokens": pl.Int64, "completion_tokens": pl.Int64,
    }  # fmt: skip
    return pl.DataFrame(rows, schema=schema)
