"""Usage ledger and budgets: what each version's generation cost, per strategy.

Table `usage_ledger`, one row per (dataset, version, strategy):

- spend, summed over every run of the version: `calls` (HTTP requests sent,
  retries and re-asks included), `prompt_tokens`, `completion_tokens`,
  `cost_usd` (from the spec's price table; 0 for the embedded model),
  `wall_seconds` (time the strategy's requests were in progress),
  `run_wall_seconds` (whole generation runs; the same on every row of a version), `runs`;
- the latest run's outcome: `requests` (planned), `cache_hits`, `ok`, `failed`,
  `not_run` (left by a budget stop), `failures_by_reason` (JSON),
  `budget_stopped`, `stop_reason`.

Spend is written in the same transaction as the cache entries it paid for, so
a killed run's spend is not lost; budgets count it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import duckdb
import polars as pl

from synth_pipeline.spec import BudgetSpec
from synth_pipeline.warehouse import Warehouse

LEDGER_TABLE = "usage_ledger"

_DDL = f"""
CREATE TABLE IF NOT EXISTS {LEDGER_TABLE} (
    dataset VARCHAR NOT NULL,
    version VARCHAR NOT NULL,
    strategy VARCHAR NOT NULL,
    provider VARCHAR,
    model VARCHAR,
    runs BIGINT DEFAULT 0,
    calls BIGINT DEFAULT 0,
    prompt_tokens BIGINT DEFAULT 0,
    completion_tokens BIGINT DEFAULT 0,
    cost_usd DOUBLE DEFAULT 0,
    wall_seconds DOUBLE DEFAULT 0,
    run_wall_seconds DOUBLE DEFAULT 0,
    requests BIGINT DEFAULT 0,
    cache_hits BIGINT DEFAULT 0,
    ok BIGINT DEFAULT 0,
    failed BIGINT DEFAULT 0,
    not_run BIGINT DEFAULT 0,
    failures_by_reason JSON,
    budget_stopped BOOLEAN DEFAULT false,
    stop_reason VARCHAR,
    updated_at TIMESTAMP DEFAULT current_timestamp,
    PRIMARY KEY (dataset, version, strategy)
)"""


@dataclass
class Spend:
    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float = 0.0

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def add(self, other: Spend) -> None:
        self.calls += other.calls
        self.prompt_tokens += other.prompt_tokens
        self.completion_tokens += other.completion_tokens
        self.cost += other.cost


@dataclass
class StrategyUsage:
    """One strategy's figures for one run."""

    requests: int = 0
    cache_hits: int = 0
    ok: int = 0
    failed: int = 0
    not_run: int = 0
    failures_by_reason: dict[str, int] = field(default_factory=dict)
    spend: Spend = field(default_factory=Spend)
    busy_seconds: float = 0.0
    first_start: float | None = None
    last_end: float | None = None

    @property
    def wall_seconds(self) -> float:
        if self.first_start is None or self.last_end is None:
            return 0.0
        return max(0.0, self.last_end - self.first_start)

    def count(self, status: str, error: str | None) -> None:
        if status == "ok":
            self.ok += 1
        elif status == "not_run":
            self.not_run += 1
        else:
            self.failed += 1
            reason = error or "unknown"
            self.failures_by_reason[reason] = self.failures_by_reason.get(reason, 0) + 1

    def figures(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "cache_hits": self.cache_hits,
            "ok": self.ok,
            "failed": self.failed,
            "not_run": self.not_run,
            "failures_by_reason": dict(sorted(self.failures_by_reason.items())),
            "calls": self.spend.calls,
            "prompt_tokens": self.spend.prompt_tokens,
            "completion_tokens": self.spend.completion_tokens,
            "cost_usd": round(self.spend.cost, 6),
            "wall_seconds": round(self.wall_seconds, 2),
        }


class Budget:
    """Admits a request only if its worst case still fits in what the spec allows.

    `reserve` is called before each attempt with the attempt's worst case (one
    call per allowed re-ask, prompt estimate plus max_tokens each); `settle`
    replaces the reservation by what was actually used. Spend of earlier runs of
    the version counts, so raising the budget is what lets a stopped version go on.
    """

    def __init__(
        self,
        spec: BudgetSpec | None,
        spent_before: Spend,
        cost: Callable[[int, int], float],
    ):
        self.spec = spec or BudgetSpec()
        self.used = Spend(**vars(spent_before))
        self.cost = cost
        self.reserved = Spend()

    @property
    def limited(self) -> bool:
        s = self.spec
        return s.max_calls is not None or s.max_tokens is not None or s.max_cost is not None

    def reserve(self, calls: int, prompt_tokens: int, completion_tokens: int) -> Spend | str:
        """A reservation to settle later, or the name of the limit that refuses it."""
        cost = self.cost(prompt_tokens, completion_tokens)
        want = Spend(calls, prompt_tokens, completion_tokens, cost)
        s = self.spec
        if s.max_calls is not None and self.used.calls + self.reserved.calls + calls > s.max_calls:
            return "max_calls"
        if (
            s.max_tokens is not None
            and self.used.tokens + self.reserved.tokens + want.tokens > s.max_tokens
        ):
            return "max_tokens"
        if s.max_cost is not None and self.used.cost + self.reserved.cost + want.cost > s.max_cost:
            return "max_cost"
        self.reserved.add(want)
        return want

    def settle(self, reservation: Spend, actual: Spend) -> None:
        self.reserved.add(Spend(-reservation.calls, -reservation.prompt_tokens,
                                -reservation.completion_tokens, -reservation.cost))  # fmt: skip
        self.used.add(actual)


class UsageLedger:
    def __init__(self, warehouse: Warehouse, dataset: str, version: str, provider: str, model: str):
        self.warehouse = warehouse
        self.dataset = dataset
        self.version = version
        self.provider = provider
        self.model = model

    def start_run(self, strategies: list[str]) -> Spend:
        """Count a new run for each strategy; return the version's spend of earlier runs."""
        with self.warehouse.connect() as conn:
            conn.execute(_DDL)
            row = conn.execute(
                "SELECT coalesce(sum(calls), 0), coalesce(sum(prompt_tokens), 0), "
                f"coalesce(sum(completion_tokens), 0), coalesce(sum(cost_usd), 0) "
                f"FROM {LEDGER_TABLE} WHERE dataset = ? AND version = ?",
                [self.dataset, self.version],
            ).fetchall()[0]
            if strategies:
                conn.executemany(
                    f"INSERT INTO {LEDGER_TABLE} (dataset, version, strategy, provider, model, "
                    "runs) VALUES (?, ?, ?, ?, ?, 1) ON CONFLICT (dataset, version, strategy) DO "
                    "UPDATE SET runs = runs + 1, provider = excluded.provider, "
                    "model = excluded.model, updated_at = now()",
                    [
                        [self.dataset, self.version, s, self.provider, self.model]
                        for s in strategies
                    ],
                )
        return Spend(int(row[0]), int(row[1]), int(row[2]), float(row[3]))

    def add_spend(self, conn: duckdb.DuckDBPyConnection, deltas: dict[str, Spend]) -> None:
        """Add spend inside the caller's transaction (the cache writer's)."""
        for strategy, d in deltas.items():
            conn.execute(
                f"INSERT INTO {LEDGER_TABLE} (dataset, version, strategy, provider, model, calls, "
                "prompt_tokens, completion_tokens, cost_usd) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (dataset, version, strategy) DO UPDATE SET "
                "calls = calls + excluded.calls, "
                "prompt_tokens = prompt_tokens + excluded.prompt_tokens, "
                "completion_tokens = completion_tokens + excluded.completion_tokens, "
                "cost_usd = cost_usd + excluded.cost_usd, updated_at = now()",
                [self.dataset, self.version, strategy, self.provider, self.model,
                 d.calls, d.prompt_tokens, d.completion_tokens, d.cost],
            )  # fmt: skip

    def finish(
        self,
        per_strategy: dict[str, StrategyUsage],
        run_wall_seconds: float,
        stop_reason: str | None,
        budget_stopped: bool,
    ) -> None:
        rows = [
            [u.wall_seconds, run_wall_seconds, u.requests, u.cache_hits, u.ok, u.failed,
             u.not_run, json.dumps(dict(sorted(u.failures_by_reason.items()))),
             budget_stopped, stop_reason, self.dataset, self.version, s]
            for s, u in per_strategy.items()
        ]  # fmt: skip
        if not rows:
            return
        with self.warehouse.connect() as conn:
            conn.executemany(
                f"UPDATE {LEDGER_TABLE} SET wall_seconds = wall_seconds + ?, "
                "run_wall_seconds = run_wall_seconds + ?, requests = ?, cache_hits = ?, "
                "ok = ?, failed = ?, not_run = ?, failures_by_reason = ?, "
                "budget_stopped = ?, stop_reason = ?, updated_at = now() "
                "WHERE dataset = ? AND version = ? AND strategy = ?",
                rows,
            )


def ensure_ledger_table(warehouse: Warehouse) -> None:
    warehouse.execute(_DDL)


def ledger_frame(warehouse: Warehouse, dataset: str, version: str | None = None) -> pl.DataFrame:
    """The ledger rows of a dataset (or one version), for the CLI and reports."""
    ensure_ledger_table(warehouse)
    sql = f"SELECT * FROM {LEDGER_TABLE} WHERE dataset = ?"
    params: list[Any] = [dataset]
    if version is not None:
        sql += " AND version = ?"
        params.append(version)
    return warehouse.query(sql + " ORDER BY version, strategy", params)
