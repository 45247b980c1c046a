"""What every curation filter shares: the context it reads, the verdict it returns.

A filter family lives in a module of its own and imports only this one (and `text`), so
no filter module imports another.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from synth_pipeline.curation.text import (
    normalized,
    shingles_from_tokens,
    string_fields,
    tokens,
)

if TYPE_CHECKING:
    from synth_pipeline.curation.config import CurationSpec
    from synth_pipeline.spec import DatasetSpec

_NORM_SEED = 5
_MIX64 = np.uint64(0x9E3779B97F4A7C15)


@dataclass
class CurationContext:
    spec: DatasetSpec
    seeds: pl.DataFrame
    holdout: pl.DataFrame
    extra_eval: list[pl.DataFrame] = field(default_factory=list)
    cache: dict[str, Any] = field(default_factory=dict)
    # Rows reviewers accepted and rejected in earlier versions (record frames): the realism
    # filter learns from them, so every review improves the next version's curation.
    accepted: pl.DataFrame | None = None
    rejected: pl.DataFrame | None = None

    @property
    def config(self) -> CurationSpec:
        return self.spec.curation

    # Derived data (decoded fields, normalised-text hashes, text tokens) is computed once per
    # run: `run_curation` passes frames with a stable `_row` id, filters only drop rows, so
    # a later frame's rows are a subsequence of the frame the data was first computed for.
    # Without `_row` (a filter called on its own) everything is computed afresh.

    def _index(self, frame: pl.DataFrame, key: str) -> np.ndarray | None:
        """Positions of frame's rows in the cached entry `key`, or None."""
        entry = self.cache.get(key)
        if entry is None or "_row" not in frame.columns:
            return None
        ids = frame["_row"].to_numpy()
        base = entry[0]
        idx = np.searchsorted(base, ids)
        if len(ids) and (idx.max() >= len(base) or not np.array_equal(base[idx], ids)):
            return None
        return idx

    def _store(self, frame: pl.DataFrame, key: str, *values: Any) -> None:
        if "_row" in frame.columns:
            self.cache[key] = (frame["_row"].to_numpy(), *values)

    def fields(self, frame: pl.DataFrame) -> pl.DataFrame:
        """`text.string_fields` of the frame (decoded once per run)."""
        idx = self._index(frame, "fields")
        if idx is None:
            out = string_fields(self.spec, frame)
        else:
            cached = self.cache["fields"][1]
            out = cached if len(idx) == cached.height else cached[idx]
        self._store(frame, "fields", out)
        return out

    def norm_hash(self, frame: pl.DataFrame) -> pl.Series:
        """64-bit hash of each row's case- and whitespace-normalised text."""
        idx = self._index(frame, "norm")
        if idx is None:
            out = norm_hash(frame)
        else:
            cached = self.cache["norm"][1]
            out = cached if len(idx) == cached.len() else cached.gather(idx)
        self._store(frame, "norm", out)
        return out

    def text_tokens(self, frame: pl.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """(row position, token hash) of every word of frame["text"], in order."""
        idx = self._index(frame, "tokens")
        if idx is None:
            rows, hashes = tokens(frame["text"], self.config.dedup.seed)
        else:
            base, rows, hashes = self.cache["tokens"]
            if len(idx) != len(base):
                pos = np.full(len(base), -1, dtype=np.int64)
                pos[idx] = np.arange(len(idx))
                mapped = pos[rows]
                keep = mapped >= 0
                rows, hashes = mapped[keep].astype(np.uint32), hashes[keep]
        # Keep the entry for this (smaller) frame: later frames are subsets of it.
        self._store(frame, "tokens", rows, hashes)
        return rows, hashes

    def text_shingles(self, frame: pl.DataFrame) -> pl.DataFrame:
        """Word shingles of frame["text"] as `text.shingles` returns them."""
        rows, hashes = self.text_tokens(frame)
        return shingles_from_tokens(rows, hashes, frame.height, self.config.dedup.shingle_size)

    def eval_frames(self) -> list[tuple[str, pl.DataFrame]]:
        frames = [("holdout", self.holdout)] if self.holdout is not None else []
        frames += [(f"eval[{i}]", f) for i, f in enumerate(self.extra_eval)]
        return [(name, f) for name, f in frames if f is not None and f.height > 0]


@dataclass
class Verdict:
    """One filter's decision over every input row, in input order.

    `decisions` has columns keep (bool), reason, score, detail; a row with a reason goes to
    the audit (dropped, or kept but changed). `frame` replaces the input rows when the
    filter rewrote them (PII redaction). `skipped` explains a filter that did not apply.
    """

    decisions: pl.DataFrame
    frame: pl.DataFrame | None = None
    skipped: str | None = None


FilterFn = Callable[[pl.DataFrame, CurationContext], Verdict]

_DECISION_SCHEMA = {
    "keep": pl.Boolean,
    "reason": pl.String,
    "score": pl.Float64,
    "detail": pl.String,
}


def _decisions(
    n: int,
    drop: np.ndarray | pl.Series | None = None,
    reason: Any = None,
    score: Any = None,
    detail: Any = None,
) -> pl.DataFrame:
    """Build a decisions frame; reason/score/detail are set only where `drop` is true.

    Each of reason/score/detail is None, one scalar for every dropped row, or one value
    per row (list, numpy array or Series).
    """
    drop_s = pl.Series("drop", np.zeros(n, dtype=bool) if drop is None else drop, pl.Boolean)
    columns: dict[str, pl.Series] = {"drop": drop_s}
    exprs: dict[str, pl.Expr] = {}
    for name, value, dtype in (
        ("reason", reason, pl.String()),
        ("score", score, pl.Float64()),
        ("detail", detail, pl.String()),
    ):
        if value is None or isinstance(value, str | float | int):
            exprs[name] = pl.lit(value, dtype)
            continue
        if isinstance(value, np.ndarray) and value.dtype == object:
            value = value.tolist()
        columns[name] = pl.Series(name, value, dtype, strict=False)
        exprs[name] = pl.col(name)
    exprs["score"] = exprs["score"].fill_nan(None)
    frame = pl.DataFrame(list(columns.values()))
    return frame.select(
        (~pl.col("drop")).alias("keep"),
        *[pl.when(pl.col("drop")).then(e).alias(k) for k, e in exprs.items()],
    ).cast(_DECISION_SCHEMA)


def keep_all(n: int, skipped: str | None = None) -> Verdict:
    return Verdict(_decisions(n), skipped=skipped)


def norm_hash(frame: pl.DataFrame) -> pl.Series:
    """64-bit hash of each row's normalised text (null where the text is null)."""
    text = pl.col("text")
    return frame.select(
        pl.when(text.is_not_null()).then(normalized(text).hash(_NORM_SEED))
    ).to_series()
