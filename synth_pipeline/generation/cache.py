"""Content-addressed response cache in DuckDB, shared across versions of a dataset.

A key hashes provider, model, messages, schema, parameters and sample index.
Every answer, success or deterministic failure, is written as it arrives, so a
killed run resumes without paying again. Transient faults (rate limits, 5xx,
timeouts) are not answers and are never cached.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from synth_pipeline.warehouse import Warehouse


def cache_key(
    identity: dict[str, str],
    messages: list[dict[str, str]],
    schema: dict[str, Any],
    params: dict[str, Any],
    sample_index: int,
) -> str:
    payload = {
        "identity": identity,
        "messages": messages,
        "schema": schema,
        "params": params,
        "sample_index": sample_index,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


@dataclass
class CallOutcome:
    key: str
    status: str  # "ok" or "failed"
    error: str | None
    response: dict[str, Any] | None
    raw: str | None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_seconds: float = 0.0
    from_cache: bool = False
    transient: bool = False  # transport faults: recorded, never cached


class ResponseCache:
    def __init__(self, warehouse: Warehouse, dataset: str):
        self.warehouse = warehouse
        self.dataset = dataset

    def lookup(self, keys: list[str]) -> dict[str, CallOutcome]:
        if not keys:
            return {}
        found: dict[str, CallOutcome] = {}
        # One query per chunk keeps the parameter list bounded.
        for start in range(0, len(keys), 5000):
            chunk = keys[start : start + 5000]
            rows = self.warehouse.rows(
                "SELECT cache_key, status, error, response, raw_response, prompt_tokens, "
                "completion_tokens, latency_seconds FROM generation_cache "
                "WHERE cache_key IN (SELECT unnest(?::VARCHAR[]))",
                [chunk],
            )
            for key, status, error, response, raw, pt, ct, lat in rows:
                found[key] = CallOutcome(
                    key=key,
                    status=status,
                    error=error,
                    response=json.loads(response) if response else None,
                    raw=raw,
                    prompt_tokens=pt or 0,
                    completion_tokens=ct or 0,
                    latency_seconds=lat or 0.0,
                    from_cache=True,
                )
        return found

    def store(self, outcome: CallOutcome, identity: dict[str, str]) -> None:
        if outcome.transient:
            return
        self.warehouse.execute(
            "INSERT OR REPLACE INTO generation_cache (cache_key, dataset, provider, model, status, "
            "error, response, raw_response, prompt_tokens, completion_tokens, latency_seconds) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                outcome.key,
                self.dataset,
                identity["provider"],
                identity["model"],
                outcome.status,
                outcome.error,
                json.dumps(outcome.response) if outcome.response is not None else None,
                outcome.raw,
                outcome.prompt_tokens,
                outcome.completion_tokens,
                outcome.latency_seconds,
            ],
        )
