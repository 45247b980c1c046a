"""DuckDB warehouse: every intermediate, keyed by dataset and version.

Connections are short-lived: DuckDB allows one read-write process per file, so
holding a connection open would lock out the CLI while a run is going. Opening
retries on lock errors so two processes take turns instead of failing.
"""

from __future__ import annotations

import contextlib
import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from synth_pipeline.paths import default_warehouse
from synth_pipeline.pipeline import RECORD_TABLES, VERSIONED_TABLES

VERSION_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")

# Stage tables share these key columns; `replace_version` swaps one version's rows.
_DDL = [
    """
    CREATE TABLE IF NOT EXISTS versions (
        dataset VARCHAR NOT NULL,
        version VARCHAR NOT NULL,
        created_at TIMESTAMP DEFAULT current_timestamp,
        spec_hash VARCHAR,
        provider VARCHAR,
        model VARCHAR,
        seed_files_sha256 JSON,
        code_version VARCHAR,
        status VARCHAR,
        PRIMARY KEY (dataset, version)
    )""",
    """
    CREATE TABLE IF NOT EXISTS seeds (
        dataset VARCHAR, version VARCHAR, record_id VARCHAR, text VARCHAR, label VARCHAR,
        record JSON, source_file VARCHAR, source_line BIGINT
    )""",
    """
    CREATE TABLE IF NOT EXISTS holdout (
        dataset VARCHAR, version VARCHAR, record_id VARCHAR, text VARCHAR, label VARCHAR,
        record JSON, source_file VARCHAR, source_line BIGINT
    )""",
    """
    CREATE TABLE IF NOT EXISTS candidates (
        dataset VARCHAR, version VARCHAR, record_id VARCHAR, text VARCHAR, label VARCHAR,
        record JSON, status VARCHAR, error VARCHAR, strategy VARCHAR, requested_label VARCHAR,
        seed_ids JSON, sample_index BIGINT, cache_key VARCHAR, prompt_hash VARCHAR,
        provider VARCHAR, model VARCHAR, params JSON, raw_response VARCHAR, from_cache BOOLEAN,
        prompt_tokens BIGINT, completion_tokens BIGINT
    )""",
    """
    CREATE TABLE IF NOT EXISTS filtered (
        dataset VARCHAR, version VARCHAR, record_id VARCHAR, text VARCHAR, label VARCHAR,
        record JSON
    )""",
    """
    CREATE TABLE IF NOT EXISTS curation_audit (
        dataset VARCHAR, version VARCHAR, record_id VARCHAR, filter VARCHAR, reason VARCHAR,
        score DOUBLE, detail VARCHAR, kept BOOLEAN
    )""",
    """
    CREATE TABLE IF NOT EXISTS dataset_records (
        dataset VARCHAR, version VARCHAR, record_id VARCHAR, text VARCHAR, label VARCHAR,
        record JSON
    )""",
    # Where a row of a version comes from: `synthetic` (curated generated records) or `real`
    # (the holdout rows an eval version keeps, `purpose: eval`). Added to older warehouses in
    # place; rows written before it was added hold NULL.
    "ALTER TABLE dataset_records ADD COLUMN IF NOT EXISTS origin VARCHAR",
    """
    CREATE TABLE IF NOT EXISTS check_results (
        dataset VARCHAR, version VARCHAR, check_name VARCHAR, asset VARCHAR,
        expectation VARCHAR, passed BOOLEAN, observed JSON, expected JSON, details VARCHAR,
        checked_at TIMESTAMP DEFAULT current_timestamp
    )""",
    # What a check result is bound to (`synth_pipeline.fingerprints`): the sha256 of the rows
    # it checked and the hash of the spec it ran under. Added to older warehouses in place.
    "ALTER TABLE check_results ADD COLUMN IF NOT EXISTS rows_fingerprint VARCHAR",
    "ALTER TABLE check_results ADD COLUMN IF NOT EXISTS spec_hash VARCHAR",
    """
    CREATE TABLE IF NOT EXISTS report_metrics (
        dataset VARCHAR, version VARCHAR, metric VARCHAR, value DOUBLE,
        created_at TIMESTAMP DEFAULT current_timestamp
    )""",
    """
    CREATE TABLE IF NOT EXISTS published (
        dataset VARCHAR PRIMARY KEY, version VARCHAR NOT NULL,
        published_at TIMESTAMP DEFAULT current_timestamp
    )""",
    """
    CREATE TABLE IF NOT EXISTS publish_history (
        dataset VARCHAR, version VARCHAR, published_at TIMESTAMP DEFAULT current_timestamp
    )""",
    # Human review: one verdict per sampled record; a later verdict replaces the earlier one.
    """
    CREATE TABLE IF NOT EXISTS review_verdicts (
        dataset VARCHAR NOT NULL, version VARCHAR NOT NULL, record_id VARCHAR NOT NULL,
        verdict VARCHAR NOT NULL CHECK (verdict IN ('accept', 'reject')),
        reason VARCHAR, reviewer VARCHAR,
        reviewed_at TIMESTAMP DEFAULT current_timestamp,
        PRIMARY KEY (dataset, version, record_id)
    )""",
    # The regression gate (`synth_pipeline.regression`): who published a version although it
    # was worse than the published one (`synth materialize --accept-regression`), and when.
    """
    CREATE TABLE IF NOT EXISTS regression_acceptances (
        dataset VARCHAR NOT NULL, version VARCHAR NOT NULL, accepted_by VARCHAR NOT NULL,
        accepted_at TIMESTAMP DEFAULT current_timestamp, baseline_version VARCHAR, note VARCHAR
    )""",
    """
    CREATE TABLE IF NOT EXISTS generation_cache (
        cache_key VARCHAR PRIMARY KEY, dataset VARCHAR, provider VARCHAR, model VARCHAR,
        status VARCHAR, error VARCHAR, response VARCHAR, raw_response VARCHAR,
        prompt_tokens BIGINT, completion_tokens BIGINT, latency_seconds DOUBLE,
        created_at TIMESTAMP DEFAULT current_timestamp
    )""",
]

# The tables holding one row per record of a version, in stage order (from the stage graph).
STAGE_TABLES = RECORD_TABLES


def json_value(value: Any) -> Any:
    """A JSON column's value: DuckDB hands JSON back as text; text that is not JSON stays."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


class WarehouseError(RuntimeError):
    pass


class PublishedVersionError(WarehouseError):
    """A published version's rows never change."""


def validate_version(version: str) -> str:
    if not VERSION_PATTERN.match(version or ""):
        raise WarehouseError(
            f"invalid version id {version!r}: use letters, digits, '.', '_' or '-' "
            "(at most 64 characters, no path separators)"
        )
    return version


def warehouse_path() -> Path:
    return default_warehouse()


def _is_lock_error(e: Exception) -> bool:
    # Not a bare "lock": a damaged file's "checksum ... in block at location" holds it too.
    msg = str(e).lower()
    return "could not set lock" in msg or "conflicting lock" in msg


class DamagedWarehouseError(WarehouseError):
    """The warehouse file cannot be read back: cut short, overwritten or not DuckDB's."""


# Files read back whole by `Warehouse.verify` in this process: (path, size and mtime of the
# file and of its write-ahead log). Any write changes them, so the next verify reads again.
_VERIFIED: set[tuple[Any, ...]] = set()


def _file_state(path: Path) -> tuple[Any, ...]:
    def stat(p: Path) -> tuple[int, int] | None:
        try:
            st = p.stat()
        except FileNotFoundError:
            return None
        return st.st_size, st.st_mtime_ns

    return str(path.resolve()), stat(path), stat(path.with_name(path.name + ".wal"))


def damaged_message(path: Path, error: BaseException, where: str = "") -> str:
    """One line: which file, what DuckDB found, and what to do (the project keeps no backup)."""
    first = (str(error).strip().splitlines() or [type(error).__name__])[0].rstrip(".!")
    return (
        f"the warehouse {path} cannot be used: it is damaged{where}: {first}. Nothing more "
        "was written to it and nothing is published from it. Restore the file from a copy you "
        "made (synth_pipeline keeps no backup of it), or move it away to start an empty "
        "warehouse (its versions are then gone)"
    )


class Warehouse:
    """A DuckDB file; each method opens, works and closes, so other processes get their turn."""

    def __init__(self, path: Path | str | None = None, lock_timeout_seconds: float = 120.0):
        self.path = Path(path) if path else warehouse_path()
        self.lock_timeout_seconds = lock_timeout_seconds
        self._initialised = False

    @contextlib.contextmanager
    def connect(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        if read_only and not self.path.exists():
            read_only = False  # nothing to read yet: create it so queries see empty tables
        self.path.parent.mkdir(parents=True, exist_ok=True)
        deadline = time.monotonic() + self.lock_timeout_seconds
        delay = 0.05
        while True:
            try:
                conn = duckdb.connect(str(self.path), read_only=read_only)
                break
            except duckdb.Error as e:
                if not _is_lock_error(e) or time.monotonic() > deadline:
                    raise
                time.sleep(delay)
                delay = min(delay * 2, 1.0)
        try:
            if not self._initialised and not read_only:
                for ddl in _DDL:
                    conn.execute(ddl)
                self._initialised = True
            yield conn
        finally:
            conn.close()

    def init(self) -> None:
        if self._initialised:
            return
        with self.connect():
            pass

    def verify(self) -> None:
        """Read every value of every table once, so DuckDB checks each block's checksum.

        A file cut short or overwritten in places raises DamagedWarehouseError naming the file
        and what to do; counts alone would not notice (they come from metadata). About 0.07 s
        for 50 versions of 500 rows per stage; done again only when the file has changed
        since it last passed in this process. A file that does not exist yet passes.
        """
        if not self.path.exists():
            return
        state = _file_state(self.path)
        if state in _VERIFIED:
            return
        where = ""
        try:
            with self.connect(read_only=True) as conn:
                tables = conn.execute(
                    "SELECT schema_name, table_name, list(column_name ORDER BY column_index) "
                    "FROM duckdb_columns() WHERE database_name = current_database() "
                    "AND NOT internal AND table_name IN (SELECT table_name FROM duckdb_tables() "
                    "WHERE database_name = current_database() AND schema_name = "
                    "duckdb_columns.schema_name) GROUP BY ALL ORDER BY ALL"
                ).fetchall()
                for schema, table, columns in tables:
                    where = f" (table {table})"
                    cols = ", ".join(f'"{c}"' for c in columns)
                    conn.execute(f'SELECT count(*), sum(hash({cols})) FROM "{schema}"."{table}"')
                    conn.fetchall()
        except duckdb.Error as e:
            if _is_lock_error(e):
                raise
            raise DamagedWarehouseError(damaged_message(self.path, e, where)) from e
        _VERIFIED.add(state)

    # --- reads -----------------------------------------------------------------

    def query(self, sql: str, params: list[Any] | None = None) -> pl.DataFrame:
        self.init()
        with self.connect(read_only=True) as conn:
            return conn.sql(sql, params=params or None).pl()

    def rows(self, sql: str, params: list[Any] | None = None) -> list[tuple]:
        self.init()
        with self.connect(read_only=True) as conn:
            return conn.execute(sql, params or []).fetchall()

    def stage(self, table: str, dataset: str, version: str) -> pl.DataFrame:
        self._check_table(table)
        return self.query(
            f"SELECT * EXCLUDE (dataset, version) FROM {table} "
            "WHERE dataset = ? AND version = ? ORDER BY rowid",
            [dataset, version],
        )

    def count(self, table: str, dataset: str, version: str) -> int:
        self._check_table(table)
        return self.rows(
            f"SELECT count(*) FROM {table} WHERE dataset = ? AND version = ?", [dataset, version]
        )[0][0]

    # --- writes ----------------------------------------------------------------

    def replace_version(self, table: str, dataset: str, version: str, frame: pl.DataFrame) -> int:
        """Swap one version's rows of a stage table in a single transaction."""
        return self.replace_versions({table: frame}, dataset, version)[table]

    def replace_versions(
        self, frames: dict[str, pl.DataFrame], dataset: str, version: str
    ) -> dict[str, int]:
        """Swap several tables' rows for one version atomically: all land or none do."""
        validate_version(version)
        for t in frames:
            self._check_table(t)
        counts: dict[str, int] = {}
        with self.connect() as conn:
            conn.execute("BEGIN TRANSACTION")
            try:
                if self._was_published(conn, dataset, version):
                    raise PublishedVersionError(
                        f"version {version} of {dataset} is published and immutable; "
                        "materialize a new version instead (synth materialize --force makes one)"
                    )
                for table, frame in frames.items():
                    conn.execute(
                        f"DELETE FROM {table} WHERE dataset = ? AND version = ?", [dataset, version]
                    )
                    cols = [
                        c for c in self._columns(conn, table) if c not in ("dataset", "version")
                    ]
                    data = frame.select([c for c in cols if c in frame.columns])
                    data = data.with_columns(
                        pl.lit(dataset).alias("dataset"), pl.lit(version).alias("version")
                    )
                    names = ", ".join(data.columns)
                    conn.register("_frame", data.to_arrow())
                    conn.execute(f"INSERT INTO {table} ({names}) SELECT {names} FROM _frame")
                    conn.unregister("_frame")
                    counts[table] = data.height
                conn.execute("COMMIT")
            except Exception:
                conn.execute("ROLLBACK")
                raise
        return counts

    def execute(self, sql: str, params: list[Any] | None = None) -> None:
        with self.connect() as conn:
            conn.execute(sql, params or [])

    def append(self, table: str, frame: pl.DataFrame) -> None:
        with self.connect() as conn:
            conn.register("_frame", frame.to_arrow())
            names = ", ".join(frame.columns)
            conn.execute(f"INSERT INTO {table} ({names}) SELECT {names} FROM _frame")
            conn.unregister("_frame")

    # --- versions, gates and the published pointer ------------------------------

    def record_version(self, dataset: str, version: str, **fields: Any) -> None:
        validate_version(version)
        cols = ["dataset", "version", *fields]
        updates = ", ".join(f"{k} = excluded.{k}" for k in fields) or "dataset = excluded.dataset"
        with self.connect() as conn:
            conn.execute(
                f"INSERT INTO versions ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))}) "
                f"ON CONFLICT (dataset, version) DO UPDATE SET {updates}",
                [dataset, version, *fields.values()],
            )

    def set_version_status(self, dataset: str, version: str, status: str) -> None:
        self.record_version(dataset, version, status=status)

    def version_status(self, dataset: str, version: str) -> str | None:
        rows = self.rows(
            "SELECT status FROM versions WHERE dataset = ? AND version = ?", [dataset, version]
        )
        return rows[0][0] if rows else None

    def replace_metrics(
        self, dataset: str, version: str, metrics: dict[str, float], prefix: str
    ) -> None:
        """Swap one family of a version's report metrics (`prefix*`), leaving the others.

        Figures added after the report was built (review verdicts) land here; they describe
        the version and may change after publication, unlike its records.
        """
        with self.connect() as conn:
            conn.execute("BEGIN TRANSACTION")
            try:
                conn.execute(
                    "DELETE FROM report_metrics WHERE dataset = ? AND version = ? "
                    "AND starts_with(metric, ?)",
                    [dataset, version, prefix],
                )
                for metric, value in metrics.items():
                    conn.execute(
                        "INSERT INTO report_metrics (dataset, version, metric, value) "
                        "VALUES (?, ?, ?, ?)",
                        [dataset, version, metric, float(value)],
                    )
                conn.execute("COMMIT")
            except Exception:
                conn.execute("ROLLBACK")
                raise

    def failed_checks(self, dataset: str, version: str) -> list[str]:
        """Checks that ever failed for this version: one failure makes it unpublishable."""
        return [
            r[0]
            for r in self.rows(
                "SELECT DISTINCT check_name FROM check_results "
                "WHERE dataset = ? AND version = ? AND NOT passed ORDER BY 1",
                [dataset, version],
            )
        ]

    def passed_checks(self, dataset: str, version: str) -> list[str]:
        return [
            r[0]
            for r in self.rows(
                "SELECT DISTINCT check_name FROM check_results "
                "WHERE dataset = ? AND version = ? AND passed ORDER BY 1",
                [dataset, version],
            )
        ]

    def publish(self, dataset: str, version: str) -> None:
        with self.connect() as conn:
            conn.execute("BEGIN TRANSACTION")
            conn.execute(
                "INSERT INTO published (dataset, version) VALUES (?, ?) ON CONFLICT (dataset) "
                "DO UPDATE SET version = excluded.version, published_at = now()",
                [dataset, version],
            )
            conn.execute(
                "INSERT INTO publish_history (dataset, version) VALUES (?, ?)", [dataset, version]
            )
            conn.execute(
                "UPDATE versions SET status = 'published' WHERE dataset = ? AND version = ?",
                [dataset, version],
            )
            conn.execute("COMMIT")

    def published_version(self, dataset: str) -> str | None:
        r = self.rows("SELECT version FROM published WHERE dataset = ?", [dataset])
        return r[0][0] if r else None

    def was_published(self, dataset: str, version: str) -> bool:
        self.init()
        with self.connect(read_only=True) as conn:
            return self._was_published(conn, dataset, version)

    @staticmethod
    def _was_published(conn: duckdb.DuckDBPyConnection, dataset: str, version: str) -> bool:
        return bool(
            conn.execute(
                "SELECT count(*) FROM publish_history WHERE dataset = ? AND version = ?",
                [dataset, version],
            ).fetchone()[0]
        )

    @staticmethod
    def _columns(conn: duckdb.DuckDBPyConnection, table: str) -> list[str]:
        return [r[0] for r in conn.execute(f"DESCRIBE {table}").fetchall()]

    @staticmethod
    def _check_table(table: str) -> None:
        if table not in VERSIONED_TABLES:
            raise WarehouseError(f"unknown warehouse table {table!r}")
