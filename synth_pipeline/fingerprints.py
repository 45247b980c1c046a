"""Fingerprints that bind a check result to the exact rows and spec it checked.

Every stored check result carries the sha256 of the rows it evaluated (one stage table of
one version, in a form that does not depend on row order) and the hash of the spec it ran
under. Publication and exports compare them with what is there now: rows written after the
check passed (a re-materialization without its checks, a hand edit of the warehouse) or a
changed spec make the gate refuse until the checks run again on what would be published.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import polars as pl

from synth_pipeline.pipeline import DATASET_TABLE, stage_table

if TYPE_CHECKING:
    from synth_pipeline.warehouse import Warehouse

# The columns a stage table's fingerprint covers: what a record is, not where it came from.
FINGERPRINT_COLUMNS = ("record_id", "text", "label", "record")
# Covered too where it is set (`dataset_records.origin`: real or synthetic), so relabelling a
# row's origin after the eval share passed stales the check; a NULL origin (rows written
# before the column existed) leaves the fingerprint as it was.
ORIGIN_COLUMN = "origin"
# The table whose rows a check evaluated, by the asset the check is attached to. The report
# and the review judge the quality-checked dataset, so everything but `filtered` binds to it.
_CHECKED_TABLES = {"filtered": stage_table("filtered")}
DEFAULT_CHECKED_TABLE = DATASET_TABLE


def checked_table(asset: str | None) -> str:
    return _CHECKED_TABLES.get(asset or "", DEFAULT_CHECKED_TABLE)


def _cell(value: Any) -> str | None:
    return None if value is None else str(value)


def frame_fingerprint(frame: pl.DataFrame) -> str:
    """sha256 over the rows' record_id, text, label and record (and origin where set),
    sorted: order-independent."""
    cols = [pl.col(c) if c in frame.columns else pl.lit(None) for c in FINGERPRINT_COLUMNS]
    cols.append(pl.col(ORIGIN_COLUMN) if ORIGIN_COLUMN in frame.columns else pl.lit(None))
    lines = sorted(
        json.dumps(
            [_cell(v) for v in row[:-1]] + ([row[-1]] if row[-1] is not None else []),
            ensure_ascii=False,
        )
        for row in frame.select(cols).iter_rows()
    )
    digest = hashlib.sha256()
    for line in lines:
        digest.update(line.encode("utf-8"))
        digest.update(b"\n")
    return digest.hexdigest()


def table_fingerprint(wh: Warehouse, table: str, dataset: str, version: str) -> str:
    """The fingerprint of one version's rows of a stage table, as they are now."""
    if table not in {"filtered", DEFAULT_CHECKED_TABLE}:
        raise ValueError(f"no fingerprint for table {table!r}")
    origin = f", {ORIGIN_COLUMN}" if table == DEFAULT_CHECKED_TABLE else ""
    frame = wh.query(
        f"SELECT record_id, text, label, CAST(record AS VARCHAR) AS record{origin} "
        f"FROM {table} WHERE dataset = ? AND version = ?",
        [dataset, version],
    )
    return frame_fingerprint(frame)


@dataclass(frozen=True)
class StaleCheck:
    """A check whose latest evaluation no longer matches the version's rows or the spec."""

    check_name: str
    table: str
    rows_changed: bool  # also True when the result recorded no fingerprint at all
    checked_fingerprint: str | None
    spec_changed: bool
    checked_spec_hash: str | None
    current_spec_hash: str | None


def stale_checks(
    wh: Warehouse, dataset: str, version: str, spec_hash: str | None = None
) -> list[StaleCheck]:
    """Checks of the version whose latest evaluation was made on other rows than the version
    holds now, or (when `spec_hash` is given) under another spec."""
    latest = wh.rows(
        "SELECT check_name, asset, rows_fingerprint, spec_hash FROM ("
        "  SELECT check_name, asset, rows_fingerprint, spec_hash, row_number() OVER ("
        "    PARTITION BY check_name ORDER BY checked_at DESC, rowid DESC) AS n"
        "  FROM check_results WHERE dataset = ? AND version = ?"
        ") WHERE n = 1 ORDER BY check_name",
        [dataset, version],
    )
    now: dict[str, str] = {}
    out = []
    for check_name, asset, fingerprint, checked_hash in latest:
        table = checked_table(asset)
        if table not in now:
            now[table] = table_fingerprint(wh, table, dataset, version)
        rows_changed = fingerprint != now[table]
        spec_changed = spec_hash is not None and checked_hash != spec_hash
        if rows_changed or spec_changed:
            out.append(
                StaleCheck(
                    check_name,
                    table,
                    rows_changed,
                    fingerprint,
                    spec_changed,
                    checked_hash,
                    spec_hash,
                )
            )
    return out


def describe_stale(stale: list[StaleCheck]) -> str:
    """A short form for version lists, e.g. `rows changed since dataset_quality_suite`."""
    rows = [s.check_name for s in stale if s.rows_changed]
    spec = [s.check_name for s in stale if s.spec_changed and not s.rows_changed]
    parts = [f"rows changed since {', '.join(rows)}"] if rows else []
    parts += [f"spec changed since {', '.join(spec)}"] if spec else []
    return "; ".join(parts)


def binding_refusal(
    wh: Warehouse, dataset: str, version: str, spec_hash: str | None = None
) -> str | None:
    """One line naming the checks that no longer hold for what would be published, or None."""
    stale = stale_checks(wh, dataset, version, spec_hash)
    if not stale:
        return None
    unbound = [s.check_name for s in stale if s.rows_changed and s.checked_fingerprint is None]
    parts = []
    if unbound:
        parts.append(f"{', '.join(unbound)} recorded no fingerprint of the rows it checked")
    by_table: dict[str, list[str]] = {}
    for s in stale:
        if s.rows_changed and s.checked_fingerprint is not None:
            by_table.setdefault(s.table, []).append(s.check_name)
    parts += [
        f"the rows of {table} changed after {', '.join(names)} passed on them"
        for table, names in by_table.items()
    ]
    spec_stale = [s for s in stale if s.spec_changed]
    if spec_stale:
        then = sorted({s.checked_spec_hash or "not recorded" for s in spec_stale})
        parts.append(
            f"the spec changed after {', '.join(s.check_name for s in spec_stale)} passed "
            f"(spec hash {', '.join(then)} then, {spec_stale[0].current_spec_hash} now)"
        )
    if wh.was_published(dataset, version):  # immutable: it cannot be checked again
        todo = f"make a new version (`synth materialize {dataset}`)"
        if not any(s.rows_changed for s in stale):
            todo = f"restore the spec it was checked with, or {todo}"
    else:
        todo = (
            f"re-run the version with its checks (`synth materialize {dataset} --version "
            f"{version}`) or make a new version"
        )
    return f"version {version} of {dataset} is not what passed its checks: " + (
        "; ".join(parts) + f"; {todo}"
    )


__all__ = [
    "FINGERPRINT_COLUMNS",
    "StaleCheck",
    "binding_refusal",
    "checked_table",
    "describe_stale",
    "frame_fingerprint",
    "stale_checks",
    "table_fingerprint",
]
