"""Stray versions: which of a dataset's versions may be removed, and removing them.

A mistyped id, or a version that failed on its inputs, would otherwise stay for good as a
partition of `<dataset>_versions` and as rows in the warehouse. A version may be pruned
when it holds no published data (it is not, and never was, the published version) and no
run of it is going on. Pruning a version deletes its rows from every version-scoped
warehouse table in one transaction, its report folder, and its partition.

It never touches the generation cache: cached responses are content-addressed and shared by
versions, and a re-run of a pruned version's inputs is answered from it without paying
again. Nor the `published` pointer and the publish history.

No Dagster here: the orchestrator is reached through `VersionRegistry`; `defs/prune.py`
implements it on a Dagster instance and wires the UI's `Prune_versions_<dataset>` job.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import duckdb

from synth_pipeline.warehouse import VERSION_PATTERN, Warehouse, WarehouseError

# Tables with dataset and version columns that pruning leaves alone: the publication record
# (no prunable version is in it, and it is checked again inside the deleting transaction).
KEPT_TABLES = ("published", "publish_history")
CACHE_NOTE = (
    "The generation cache is kept: it is content-addressed and shared, so a re-run of the "
    "same inputs does not pay again."
)


class PruneRefused(WarehouseError):
    """A version asked for cannot be pruned; the message says why. Nothing was removed."""


class VersionRegistry(Protocol):
    """What the orchestrator knows of a dataset's versions."""

    def versions(self, dataset: str) -> set[str]:
        """The registered versions (Dagster: the partitions of `<dataset>_versions`)."""
        ...

    def active_runs(self, dataset: str, version: str) -> list[str]:
        """A description of each run of the version that is not over (and not stale)."""
        ...

    def remove(self, dataset: str, version: str) -> None:
        """Unregister the version; a version that is not registered is no error."""
        ...


@dataclass(frozen=True)
class StrayVersion:
    """A version that may be pruned, and what pruning it removes."""

    version: str
    status: str | None  # the warehouse's status; None when only the orchestrator knows it
    registered: bool
    rows: dict[str, int] = field(default_factory=dict)  # warehouse rows per table
    report: Path | None = None  # the report folder, when there is one

    def describe(self) -> str:
        parts = []
        if self.registered:
            parts.append("partition")
        rows = sum(self.rows.values())
        if rows:
            tables = ", ".join(f"{t} {n}" for t, n in self.rows.items())
            parts.append(f"{rows} warehouse rows ({tables})")
        elif self.status is not None:
            parts.append("its versions row")
        if self.report is not None:
            parts.append(f"report folder {self.report}")
        status = self.status or "no warehouse status"
        return f"{self.version} [{status}]: " + (", ".join(parts) or "nothing stored")


@dataclass
class PrunePlan:
    dataset: str
    prunable: list[StrayVersion]
    kept: dict[str, str]  # version -> why it stays

    @property
    def versions(self) -> list[str]:
        return [v.version for v in self.prunable]


def version_tables(conn: duckdb.DuckDBPyConnection) -> list[str]:
    """Every base table with `dataset` and `version` columns, but the publication record.

    Found in the catalog, so tables other modules add (the usage ledger, SQL models
    materialized as tables, stage records) are pruned with the stage tables."""
    rows = conn.execute(
        "SELECT table_name FROM duckdb_columns() WHERE schema_name = 'main' "
        "AND NOT internal AND column_name IN ('dataset', 'version') "
        "AND table_name IN (SELECT table_name FROM duckdb_tables() WHERE schema_name = 'main') "
        "GROUP BY table_name HAVING count(DISTINCT column_name) = 2 ORDER BY table_name"
    ).fetchall()
    return [r[0] for r in rows if r[0] not in KEPT_TABLES]


def _quote(table: str) -> str:
    return '"' + table.replace('"', '""') + '"'


def _published_reason(conn: duckdb.DuckDBPyConnection, dataset: str, version: str) -> str | None:
    current = conn.execute("SELECT version FROM published WHERE dataset = ?", [dataset]).fetchall()
    if current and current[0][0] == version:
        return "published (the current version)"
    ever = conn.execute(
        "SELECT count(*) FROM publish_history WHERE dataset = ? AND version = ?",
        [dataset, version],
    ).fetchone()
    if ever and ever[0]:
        return "published earlier (its rows stay immutable)"
    return None


def report_folder(reports_root: Path, dataset: str, version: str) -> Path | None:
    """The version's report folder when it exists; None for an id no report could have."""
    if not VERSION_PATTERN.match(version):
        return None
    folder = reports_root / dataset / version
    return folder if folder.is_dir() else None


def _warehouse_versions(
    conn: duckdb.DuckDBPyConnection, dataset: str
) -> tuple[dict[str, str | None], dict[str, dict[str, int]]]:
    statuses = dict(
        conn.execute("SELECT version, status FROM versions WHERE dataset = ?", [dataset]).fetchall()
    )
    rows: dict[str, dict[str, int]] = {}
    for table in version_tables(conn):
        for version, n in conn.execute(
            f"SELECT version, count(*) FROM {_quote(table)} WHERE dataset = ? GROUP BY version",
            [dataset],
        ).fetchall():
            rows.setdefault(version, {})[table] = n
    return statuses, rows


# Statuses of versions that wait for a person's decision, as the list says them.
WAITING_FOR_A_PERSON = {
    "awaiting_review": "awaiting review",
    "held_regression": "held by the regression gate",
}


def plan_prune(
    wh: Warehouse,
    registry: VersionRegistry,
    dataset: str,
    reports_root: Path,
    only: list[str] | None = None,
) -> PrunePlan:
    """The versions of DATASET that pruning would remove, and why the others stay.

    With `only`, just those versions: one that is unknown, published or running refuses the
    whole request (PruneRefused), so nothing is removed that was not asked for."""
    wh.init()
    with wh.connect(read_only=True) as conn:
        statuses, rows = _warehouse_versions(conn, dataset)
        registered = registry.versions(dataset)
        known = sorted(set(statuses) | set(rows) | registered)
        published = {v: r for v in known if (r := _published_reason(conn, dataset, v))}
    kept = dict(published)
    for version in known:
        if version in kept:
            continue
        runs = registry.active_runs(dataset, version)
        if runs:
            kept[version] = "running: " + "; ".join(runs)
    if not only:
        # Waiting for a person (a review, an accepted regression): pruned only when named.
        for version, status in statuses.items():
            if version not in kept and status in WAITING_FOR_A_PERSON:
                kept[version] = f"{WAITING_FOR_A_PERSON[status]} (name it to prune it)"
    if only:
        refusals = []
        for version in dict.fromkeys(only):
            if version in kept:
                refusals.append(f"version {version} of {dataset} is {kept[version]}")
            elif version not in known:
                refusals.append(f"{dataset} has no version {version!r}")
        if refusals:
            raise PruneRefused(
                "; ".join(refusals) + ". Only versions that hold no published data and are not "
                "running can be pruned; nothing was removed"
            )
    wanted = set(only) if only else set(known)
    prunable = [
        StrayVersion(
            version=v,
            status=statuses.get(v),
            registered=v in registered,
            rows=rows.get(v, {}),
            report=report_folder(reports_root, dataset, v),
        )
        for v in known
        if v in wanted and v not in kept
    ]
    return PrunePlan(dataset, prunable, {v: r for v, r in kept.items() if v in wanted})


def delete_version_rows(wh: Warehouse, dataset: str, version: str) -> dict[str, int]:
    """Delete one version's rows from every version-scoped table, in one transaction.

    Refuses (PruneRefused, nothing deleted) when the version is or was published: checked
    inside the transaction, so a publication that happened since the plan is respected."""
    deleted: dict[str, int] = {}
    with wh.connect() as conn:
        conn.execute("BEGIN TRANSACTION")
        try:
            reason = _published_reason(conn, dataset, version)
            if reason:
                raise PruneRefused(f"version {version} of {dataset} is {reason}; not pruned")
            for table in version_tables(conn):
                n = conn.execute(
                    f"DELETE FROM {_quote(table)} WHERE dataset = ? AND version = ?",
                    [dataset, version],
                ).fetchone()
                if n and n[0]:
                    deleted[table] = n[0]
            conn.execute("COMMIT")
        except Exception:
            conn.execute("ROLLBACK")
            raise
    return deleted


def prune(
    wh: Warehouse, registry: VersionRegistry, plan: PrunePlan, reports_root: Path
) -> list[StrayVersion]:
    """Remove the plan's versions: rows, report folder, then the partition. Each version is
    checked again first; one that started running or was published since is refused."""
    removed = []
    for stray in plan.prunable:
        runs = registry.active_runs(plan.dataset, stray.version)
        if runs:
            raise PruneRefused(
                f"version {stray.version} of {plan.dataset} started running "
                f"({'; '.join(runs)}); not pruned"
                + (f" (already pruned: {', '.join(v.version for v in removed)})" if removed else "")
            )
        rows = delete_version_rows(wh, plan.dataset, stray.version)
        folder = report_folder(reports_root, plan.dataset, stray.version)
        if folder is not None:
            shutil.rmtree(folder)
        registry.remove(plan.dataset, stray.version)
        removed.append(StrayVersion(stray.version, stray.status, stray.registered, rows, folder))
    return removed
