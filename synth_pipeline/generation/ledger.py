"""Usage ledger, call journal and budgets: what each version's generation cost, per strategy.

Table `call_journal`, one row per HTTP request the engine sent (retries and
instructor re-asks included), keyed by `run_id` and `call_id`, with dataset,
version, strategy, cache key, provider, model, `sent_at`, `answered_at`,
`status`, `http_status`, `error` and tokens. It is a write-ahead record: the
row is committed before the request leaves the process (the engine's httpx
request hook waits for it), so a request sent before a crash is a paid call
even though its answer was never received. Statuses:

- `sent`: on the wire, or its run was killed before the answer (a later run of
  the version, or the run's own end, turns it into `unknown`);
- `unknown`: the run ended before the answer (killed, or stopped while the
  request was on the wire); the server may well have answered, and charged;
- `answered`: an HTTP response came back (any status code; tokens from its usage);
- `no_answer`: the client gave up (timeout, connection lost): counted with no
  tokens, as the engine always counted such calls.

A request cancelled before it left (a stopped run) has its row deleted again.

Table `usage_ledger`, one row per (dataset, version, strategy):

- spend, summed over every run of the version and kept in the same transaction
  as the journal rows it counts (so `calls` equals the journal's rows of the
  version and strategy, whatever was killed when; versions generated before the
  journal existed keep their earlier counts on top): `calls` (HTTP requests
  sent), `calls_unanswered` (sent, never answered: in flight now, or lost to a
  crash), `prompt_tokens`, `estimated_prompt_tokens` (the part of
  `prompt_tokens` that is an estimate: the unanswered calls'), `completion_tokens`
  (answered calls: from each HTTP response's own `usage`, re-asks included),
  `cost_usd` (from the spec's price table; 0 for the embedded model),
  `wall_seconds` (time the strategy's requests were in progress),
  `run_wall_seconds` (whole generation runs; the same on every row of a version), `runs`;
- `failures_by_reason` (JSON): every failed request of every run of the
  version, counted once, when it failed (a cached failure replayed by a later
  run is not counted again), written with the cache entries as answers arrive,
  so a killed run's failures are kept too;
- the latest run's outcome: `requests` (planned), `cache_hits`, `ok`, `failed`
  (cache hits included), `not_run` (left by a budget stop), `budget_stopped`,
  `stop_reason`.

Costs of unanswered calls are an estimate: the engine does not tokenize, so an
unanswered call's prompt tokens are estimated from the request body it sent
(about 4 characters a token, `estimate_prompt_tokens`) and its completion tokens
count as 0 (the server may have generated up to max_tokens: the cost is a lower
bound). The estimate is replaced by the answer's own usage when it arrives, and
budgets count it while it stands.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import duckdb
import polars as pl

from synth_pipeline.spec import BudgetSpec
from synth_pipeline.warehouse import Warehouse

LEDGER_TABLE = "usage_ledger"
JOURNAL_TABLE = "call_journal"

_DDL = f"""
CREATE TABLE IF NOT EXISTS {LEDGER_TABLE} (
    dataset VARCHAR NOT NULL,
    version VARCHAR NOT NULL,
    strategy VARCHAR NOT NULL,
    provider VARCHAR,
    model VARCHAR,
    runs BIGINT DEFAULT 0,
    calls BIGINT DEFAULT 0,
    calls_unanswered BIGINT DEFAULT 0,
    prompt_tokens BIGINT DEFAULT 0,
    estimated_prompt_tokens BIGINT DEFAULT 0,
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

# Columns added after the first ledgers were written: added to older tables on open.
_LEDGER_ADDED = ("calls_unanswered BIGINT DEFAULT 0", "estimated_prompt_tokens BIGINT DEFAULT 0")

_JOURNAL_DDL = f"""
CREATE TABLE IF NOT EXISTS {JOURNAL_TABLE} (
    run_id VARCHAR NOT NULL,
    call_id BIGINT NOT NULL,
    dataset VARCHAR NOT NULL,
    version VARCHAR NOT NULL,
    strategy VARCHAR NOT NULL,
    cache_key VARCHAR,
    provider VARCHAR,
    model VARCHAR,
    sent_at TIMESTAMP NOT NULL,
    answered_at TIMESTAMP,
    status VARCHAR NOT NULL,
    http_status INTEGER,
    error VARCHAR,
    prompt_tokens BIGINT DEFAULT 0,
    completion_tokens BIGINT DEFAULT 0,
    cost_usd DOUBLE DEFAULT 0,
    estimated BOOLEAN DEFAULT true,
    PRIMARY KEY (run_id, call_id)
)"""

RUN_ENDED = "run ended before the answer"


def _ensure(conn: duckdb.DuckDBPyConnection) -> None:
    conn.execute(_DDL)
    for column in _LEDGER_ADDED:
        conn.execute(f"ALTER TABLE {LEDGER_TABLE} ADD COLUMN IF NOT EXISTS {column}")
    conn.execute(_JOURNAL_DDL)


def estimate_prompt_tokens(body_chars: int) -> int:
    """Prompt tokens of a request not (yet) answered: about 4 characters a token."""
    return max(1, body_chars // 4)


@dataclass
class JournalCall:
    """One HTTP request of the journal, from the moment before it is sent."""

    call_id: int
    strategy: str
    cache_key: str | None
    estimated_prompt_tokens: int
    estimated_cost: float
    sent_at: datetime = field(default_factory=lambda: datetime.now(UTC).replace(tzinfo=None))
    status: str = "sent"  # then "answered", "no_answer", or "unsent" (cancelled before it left)
    answered_at: datetime | None = None
    http_status: int | None = None
    error: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float = 0.0

    def close(
        self,
        status: str,
        *,
        http_status: int | None = None,
        error: str | None = None,
        prompt_tokens: int = 0,
        completion_tokens: int = 0,
        cost: float = 0.0,
    ) -> None:
        self.status = status
        self.answered_at = datetime.now(UTC).replace(tzinfo=None)
        self.http_status = http_status
        self.error = error
        self.prompt_tokens, self.completion_tokens, self.cost = (
            prompt_tokens,
            completion_tokens,
            cost,
        )


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

    def shortfall(self, need: Spend, cached: int) -> str | None:
        """Why a plan that needs at least `need` more (one call per uncached request, its
        prompt, no completion) cannot fit in what the budget has left; None when it may."""
        s, used = self.spec, self.used
        limits = (
            ("max_calls", s.max_calls, used.calls, need.calls, "{:,.0f} calls"),
            ("max_tokens", s.max_tokens, used.tokens, need.tokens, "{:,.0f} tokens"),
            ("max_cost", s.max_cost, used.cost, need.cost, "{:,.4f} USD"),
        )
        for name, limit, spent, wanted, unit in limits:
            if limit is not None and spent + wanted > limit:
                return (
                    f"generation.budget.{name}: the plan needs at least {unit.format(wanted)} "
                    f"more ({need.calls:,} uncached requests, {cached:,} answered from the "
                    f"cache), but the budget of {unit.format(limit)} has "
                    f"{unit.format(max(0, limit - spent))} left ({unit.format(spent)} spent by "
                    f"earlier runs of this version). Raise generation.budget.{name}, plan fewer "
                    "records, or set generation.budget.allow_partial: true to generate what the "
                    "budget allows and resume later"
                )
        return None

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
        self.run_id = ""

    def start_run(self, strategies: list[str]) -> Spend:
        """Count a new run for each strategy; return the version's spend of earlier runs.

        Journal rows of earlier runs still `sent` are calls those runs never saw answered
        (they were killed): they become `unknown`, and stay counted as paid."""
        self.run_id = uuid.uuid4().hex
        with self.warehouse.connect() as conn:
            _ensure(conn)
            conn.execute(
                f"UPDATE {JOURNAL_TABLE} SET status = 'unknown', error = ? "
                "WHERE dataset = ? AND version = ? AND status = 'sent'",
                [RUN_ENDED, self.dataset, self.version],
            )
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

    def _add(self, conn: duckdb.DuckDBPyConnection, deltas: dict[str, list[float]]) -> None:
        """Add [calls, unanswered, prompt, estimated prompt, completion, cost] per strategy.

        A plain UPDATE (start_run made the rows): an upsert costs DuckDB about 3x more,
        and this runs before every request leaves."""
        for strategy, d in deltas.items():
            values = [int(d[0]), int(d[1]), int(d[2]), int(d[3]), int(d[4]), d[5]]
            updated = conn.execute(
                f"UPDATE {LEDGER_TABLE} SET calls = calls + ?, "
                "calls_unanswered = calls_unanswered + ?, prompt_tokens = prompt_tokens + ?, "
                "estimated_prompt_tokens = estimated_prompt_tokens + ?, "
                "completion_tokens = completion_tokens + ?, cost_usd = cost_usd + ?, "
                "updated_at = now() WHERE dataset = ? AND version = ? AND strategy = ?",
                [*values, self.dataset, self.version, strategy],
            ).fetchall()
            if updated and updated[0][0]:
                continue
            conn.execute(
                f"INSERT INTO {LEDGER_TABLE} (dataset, version, strategy, provider, model, calls, "
                "calls_unanswered, prompt_tokens, estimated_prompt_tokens, completion_tokens, "
                "cost_usd) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [self.dataset, self.version, strategy, self.provider, self.model, *values],
            )

    @staticmethod
    def _rows(n: int, width: int) -> str:
        """`(?, ...), (?, ...)`: one statement for a batch (executemany runs one per row)."""
        return ", ".join(["(" + ", ".join(["?"] * width) + ")"] * n)

    def journal_sent(self, conn: duckdb.DuckDBPyConnection, calls: list[JournalCall]) -> None:
        """Record calls about to be sent, inside the caller's transaction: each is paid from
        now on (with its estimated prompt tokens) whatever happens to the process."""
        if not calls:
            return
        conn.execute(
            f"INSERT INTO {JOURNAL_TABLE} (run_id, call_id, dataset, version, strategy, "
            "cache_key, provider, model, sent_at, status, prompt_tokens, cost_usd, estimated) "
            f"VALUES {self._rows(len(calls), 13)}",
            [v for c in calls for v in (
                self.run_id, c.call_id, self.dataset, self.version, c.strategy, c.cache_key,
                self.provider, self.model, c.sent_at, "sent", c.estimated_prompt_tokens,
                c.estimated_cost, True)],
        )  # fmt: skip
        deltas: dict[str, list[float]] = {}
        for c in calls:
            d = deltas.setdefault(c.strategy, [0, 0, 0, 0, 0, 0.0])
            est = c.estimated_prompt_tokens
            for i, v in enumerate((1, 1, est, est, 0, c.estimated_cost)):
                d[i] += v
        self._add(conn, deltas)

    def journal_closed(self, conn: duckdb.DuckDBPyConnection, calls: list[JournalCall]) -> None:
        """Record what became of sent calls (answered, no answer, or never sent after all),
        replacing their estimates by what the answers say they used."""
        if not calls:
            return
        unsent = [c for c in calls if c.status == "unsent"]
        closed = [c for c in calls if c.status != "unsent"]
        if unsent:
            conn.execute(
                f"DELETE FROM {JOURNAL_TABLE} WHERE run_id = ? AND call_id IN "
                "(SELECT unnest(?::BIGINT[]))",
                [self.run_id, [c.call_id for c in unsent]],
            )
        if closed:
            conn.execute(
                f"UPDATE {JOURNAL_TABLE} AS j SET status = v.status, "
                "answered_at = v.answered::TIMESTAMP, http_status = v.code::INTEGER, "
                "error = v.error::VARCHAR, prompt_tokens = v.pt::BIGINT, "
                "completion_tokens = v.ct::BIGINT, cost_usd = v.cost::DOUBLE, estimated = false "
                f"FROM (VALUES {self._rows(len(closed), 8)}) "
                "AS v(call_id, status, answered, code, error, pt, ct, cost) "
                "WHERE j.run_id = ? AND j.call_id = v.call_id",
                [*(v for c in closed for v in (
                    c.call_id, c.status, c.answered_at, c.http_status, c.error,
                    c.prompt_tokens, c.completion_tokens, c.cost)), self.run_id],
            )  # fmt: skip
        deltas: dict[str, list[float]] = {}
        for c in calls:
            d = deltas.setdefault(c.strategy, [0, 0, 0, 0, 0, 0.0])
            est = c.estimated_prompt_tokens
            gone = c.status == "unsent"
            change = (-int(gone), -1, c.prompt_tokens - est, -est, c.completion_tokens,
                      c.cost - c.estimated_cost)  # fmt: skip
            for i, v in enumerate(change):
                d[i] += v
        self._add(conn, deltas)

    def add_failures(
        self, conn: duckdb.DuckDBPyConnection, failures: dict[str, dict[str, int]]
    ) -> None:
        """Add failed requests by strategy and reason, inside the caller's transaction."""
        for strategy, counts in failures.items():
            rows = conn.execute(
                f"SELECT failures_by_reason FROM {LEDGER_TABLE} "
                "WHERE dataset = ? AND version = ? AND strategy = ?",
                [self.dataset, self.version, strategy],
            ).fetchall()
            total: dict[str, int] = json.loads(rows[0][0]) if rows and rows[0][0] else {}
            for reason, n in counts.items():
                total[reason] = total.get(reason, 0) + n
            conn.execute(
                f"INSERT INTO {LEDGER_TABLE} (dataset, version, strategy, provider, model, "
                "failures_by_reason) VALUES (?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (dataset, version, strategy) DO UPDATE SET "
                "failures_by_reason = excluded.failures_by_reason, updated_at = now()",
                [self.dataset, self.version, strategy, self.provider, self.model,
                 json.dumps(dict(sorted(total.items())))],
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
             u.not_run, budget_stopped, stop_reason, self.dataset, self.version, s]
            for s, u in per_strategy.items()
        ]  # fmt: skip
        with self.warehouse.connect() as conn:
            # Calls of this run still on the wire were cut off by its end: paid, never seen.
            conn.execute(
                f"UPDATE {JOURNAL_TABLE} SET status = 'unknown', error = ? "
                "WHERE run_id = ? AND status = 'sent'",
                [RUN_ENDED, self.run_id],
            )
            if rows:
                conn.executemany(
                    f"UPDATE {LEDGER_TABLE} SET wall_seconds = wall_seconds + ?, "
                    "run_wall_seconds = run_wall_seconds + ?, requests = ?, cache_hits = ?, "
                    "ok = ?, failed = ?, not_run = ?, budget_stopped = ?, stop_reason = ?, "
                    "updated_at = now() WHERE dataset = ? AND version = ? AND strategy = ?",
                    rows,
                )


def version_spend(warehouse: Warehouse, dataset: str, version: str) -> Spend:
    """What every run of the version has spent so far (what a budget counts)."""
    ensure_ledger_table(warehouse)
    calls, prompt, completion, cost = warehouse.rows(
        "SELECT coalesce(sum(calls), 0), coalesce(sum(prompt_tokens), 0), "
        f"coalesce(sum(completion_tokens), 0), coalesce(sum(cost_usd), 0) "
        f"FROM {LEDGER_TABLE} WHERE dataset = ? AND version = ?",
        [dataset, version],
    )[0]
    return Spend(int(calls), int(prompt), int(completion), float(cost))


def ensure_ledger_table(warehouse: Warehouse) -> None:
    with warehouse.connect() as conn:
        _ensure(conn)


def ledger_frame(warehouse: Warehouse, dataset: str, version: str | None = None) -> pl.DataFrame:
    """The ledger rows of a dataset (or one version), for the CLI and reports."""
    ensure_ledger_table(warehouse)
    sql = f"SELECT * FROM {LEDGER_TABLE} WHERE dataset = ?"
    params: list[Any] = [dataset]
    if version is not None:
        sql += " AND version = ?"
        params.append(version)
    return warehouse.query(sql + " ORDER BY version, strategy", params)
