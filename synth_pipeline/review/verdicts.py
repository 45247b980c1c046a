"""Verdicts: accept or reject one sampled record, with a reason; stored in `review_verdicts`."""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal

from synth_pipeline.warehouse import Warehouse

VERDICTS = ("accept", "reject")
VerdictValue = Literal["accept", "reject"]
FILE_KEYS = {"record_id", "verdict", "reason"}


class VerdictError(ValueError):
    """A verdict is malformed, names an unknown record, or rejects without a reason."""


@dataclass(frozen=True)
class Verdict:
    record_id: str
    verdict: VerdictValue
    reason: str | None = None


@dataclass(frozen=True)
class StoredVerdict(Verdict):
    reviewer: str | None = None
    reviewed_at: datetime | None = None


def make_verdict(record_id: object, verdict: object, reason: object = None) -> Verdict:
    """A checked verdict: a known verdict word, and a reason whenever it rejects."""
    if not isinstance(record_id, str) or not record_id:
        raise VerdictError("record_id must be a non-empty string")
    if verdict not in VERDICTS:
        raise VerdictError(f"verdict must be 'accept' or 'reject', got {verdict!r}")
    if reason is not None and not isinstance(reason, str):
        raise VerdictError(f"reason must be text, got {type(reason).__name__}")
    reason = (reason or "").strip() or None
    if verdict == "reject" and not reason:
        raise VerdictError(f"rejecting {record_id} needs a reason")
    return Verdict(record_id, verdict, reason)  # type: ignore[arg-type]


def record_verdicts(
    wh: Warehouse, dataset: str, version: str, verdicts: Iterable[Verdict], reviewer: str | None
) -> int:
    """Store verdicts in one transaction; each replaces an earlier one on the same record."""
    items = list(verdicts)
    with wh.connect() as conn:
        conn.execute("BEGIN TRANSACTION")
        try:
            for v in items:
                conn.execute(
                    "INSERT INTO review_verdicts "
                    "(dataset, version, record_id, verdict, reason, reviewer, reviewed_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, now()) "
                    "ON CONFLICT (dataset, version, record_id) DO UPDATE SET "
                    "verdict = excluded.verdict, reason = excluded.reason, "
                    "reviewer = excluded.reviewer, reviewed_at = now()",
                    [dataset, version, v.record_id, v.verdict, v.reason, reviewer],
                )
            conn.execute("COMMIT")
        except Exception:
            conn.execute("ROLLBACK")
            raise
    return len(items)


def has_verdicts(wh: Warehouse, dataset: str, version: str) -> bool:
    return bool(
        wh.rows(
            "SELECT 1 FROM review_verdicts WHERE dataset = ? AND version = ? LIMIT 1",
            [dataset, version],
        )
    )


def load_verdicts(wh: Warehouse, dataset: str, version: str) -> dict[str, StoredVerdict]:
    rows = wh.rows(
        "SELECT record_id, verdict, reason, reviewer, reviewed_at FROM review_verdicts "
        "WHERE dataset = ? AND version = ?",
        [dataset, version],
    )
    return {r[0]: StoredVerdict(*r) for r in rows}


def read_verdict_file(
    path: Path, sample: Collection[str], records: Collection[str] = ()
) -> list[Verdict]:
    """Parse a JSONL file of `{"record_id", "verdict", "reason"}` lines, all or nothing.

    Every record must be in the review sample: the figures estimate the acceptance rate
    from that random draw, and hand-picked records would bias them. `records` (the
    version's record ids) only makes the error say which kind of id was wrong.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise VerdictError(f"{path}: cannot read the verdicts file: {e.strerror or e}") from e
    out: list[Verdict] = []
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path}:{n}"
        try:
            item = json.loads(line)
        except json.JSONDecodeError as e:
            raise VerdictError(f"{where}: malformed JSON ({e.msg})") from e
        if not isinstance(item, dict):
            raise VerdictError(f"{where}: expected an object with record_id, verdict, reason")
        unknown = sorted(set(item) - FILE_KEYS)
        if unknown:
            raise VerdictError(
                f"{where}: unknown key(s) {', '.join(unknown)}; use record_id, verdict, reason"
            )
        try:
            verdict = make_verdict(item.get("record_id"), item.get("verdict"), item.get("reason"))
        except VerdictError as e:
            raise VerdictError(f"{where}: {e}") from e
        if verdict.record_id not in sample:
            kind = (
                "is in the version but not in its review sample"
                if verdict.record_id in records
                else "is not a record of this version"
            )
            raise VerdictError(f"{where}: unknown record_id {verdict.record_id!r}: it {kind}")
        out.append(verdict)
    if not out:
        raise VerdictError(f"{path}: no verdicts in the file")
    return out
