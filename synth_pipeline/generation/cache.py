"""Content-addressed response cache in DuckDB, shared across versions of a dataset.

A key hashes provider, model, messages, schema, sampling parameters, strategy
and sample index; not the endpoint URL (the embedded server's port changes per
run) and never the API key. Every answer, success or deterministic failure
(truncated, schema-invalid, refusal, a 400 on the request), is written as it
arrives, so a killed run resumes without paying again. Transport faults (rate
limits, 5xx, timeouts, auth errors) are not answers and are never cached.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import duckdb

from synth_pipeline.warehouse import Warehouse


def cache_key(
    identity: dict[str, str],
    messages: list[dict[str, str]],
    schema: dict[str, Any],
    params: dict[str, Any],
    sample_index: int,
    strategy: str | None = None,
) -> str:
    payload = {
        "identity": identity,
        "messages": messages,
        "schema": schema,
        "params": params,
        "sample_index": sample_index,
        "strategy": strategy,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


@dataclass
class CallOutcome:
    key: str
    status: str  # "ok", "failed", or "not_run" (a budget stopped the run before it)
    error: str | None
    response: dict[str, Any] | None
    raw: str | None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_seconds: float = 0.0
    from_cache: bool = False
    transient: bool = False  # transport faults: recorded, never cached
    calls: int = 0  # HTTP requests this run sent for it (retries and re-asks included)

    @property
    def cacheable(self) -> bool:
        return self.status in ("ok", "failed") and not self.transient and not self.from_cache


_INSERT = (
    "INSERT OR REPLACE INTO generation_cache (cache_key, dataset, provider, model, status, "
    "error, response, raw_response, prompt_tokens, completion_tokens, latency_seconds) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


class ResponseCache:
    def __init__(self, warehouse: Warehouse, dataset: str):
        self.warehouse = warehouse
        self.dataset = dataset

    def lookup(self, keys: list[str]) -> dict[str, CallOutcome]:
        if not keys:
            return {}
        found: dict[str, CallOutcome] = {}
        rows: list[tuple[Any, ...]] = []
        with self.warehouse.connect() as conn:  # one connection, whatever the number of keys
            # One query per chunk keeps the parameter list bounded.
            for start in range(0, len(keys), 5000):
                rows += conn.execute(
                    "SELECT cache_key, status, error, response, raw_response, prompt_tokens, "
                    "completion_tokens, latency_seconds FROM generation_cache "
                    "WHERE cache_key IN (SELECT unnest(?::VARCHAR[]))",
                    [keys[start : start + 5000]],
                ).fetchall()
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

    def _row(self, o: CallOutcome, identity: dict[str, str]) -> list[Any]:
        return [
            o.key,
            self.dataset,
            identity["provider"],
            identity["model"],
            o.status,
            o.error,
            json.dumps(o.response) if o.response is not None else None,
            o.raw,
            o.prompt_tokens,
            o.completion_tokens,
            o.latency_seconds,
        ]

    def store(self, outcome: CallOutcome, identity: dict[str, str]) -> None:
        self.store_many([outcome], identity)

    def store_many(
        self,
        outcomes: list[CallOutcome],
        identity: dict[str, str],
        also: Callable[[duckdb.DuckDBPyConnection], None] | None = None,
        conn: duckdb.DuckDBPyConnection | None = None,
    ) -> None:
        """Write the cacheable outcomes, and run `also` (the call journal, the usage ledger)
        in the same transaction, so a kill leaves answers and their recorded use consistent.
        Uses `conn` when given (a writer holding one), else a short-lived connection."""
        rows = [self._row(o, identity) for o in outcomes if o.cacheable]
        if not rows and also is None:
            return
        if conn is None:
            with self.warehouse.connect() as own:
                self._write(own, rows, also)
        else:
            self._write(conn, rows, also)

    @staticmethod
    def _write(
        conn: duckdb.DuckDBPyConnection,
        rows: list[list[Any]],
        also: Callable[[duckdb.DuckDBPyConnection], None] | None,
    ) -> None:
        conn.execute("BEGIN TRANSACTION")
        try:
            if rows:
                conn.executemany(_INSERT, rows)
            if also is not None:
                also(conn)
            conn.execute("COMMIT")
        except Exception:
            conn.execute("ROLLBACK")
            raise
