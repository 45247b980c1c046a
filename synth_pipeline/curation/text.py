"""Text helpers shared by the filters and the quality suites, vectorised with polars.

Tokens are runs of letters and digits after lower-casing; everything downstream (shingles,
n-gram runs, restatement, repetition) uses this one tokenisation.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from synth_pipeline.kinds import kind_of

if TYPE_CHECKING:
    from synth_pipeline.spec import DatasetSpec

TOKEN_PATTERN = r"[\p{L}\p{N}]+"
_MIX = np.uint64(0x9E3779B97F4A7C15)  # odd multiplier for combining token hashes into n-grams
_PARALLEL_ROWS = 50_000


def normalized(expr: pl.Expr) -> pl.Expr:
    """Case- and whitespace-normalised text: what exact-duplicate checks compare.

    Whitespace runs become one space; the regex rewrite runs only on rows that need it
    (a run of two, or whitespace other than a plain space), a fraction of real text.
    """
    collapse = (
        pl.when(expr.str.contains(r"\s\s|[^ \S]"))
        .then(expr.str.replace_all(r"\s+", " "))
        .otherwise(expr)
    )
    return collapse.str.to_lowercase().str.strip_chars()


def token_lists(expr: pl.Expr) -> pl.Expr:
    return expr.str.to_lowercase().str.extract_all(TOKEN_PATTERN)


def tokens(texts: pl.Series, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(row index, token hash) of every token of every text, in order.

    Tokens are hashed (polars `hash(seed)`, u64) inside the plan, so the exploded token
    strings of one slice are freed before the next is built.
    """
    source = pl.DataFrame({"t": texts.cast(pl.String)}).with_row_index("row")
    # polars runs one string kernel per column on one thread: split big inputs into
    # slices tokenised in parallel.
    parts = max(1, min(pl.thread_pool_size(), source.height // _PARALLEL_ROWS))
    step = -(-source.height // parts)
    plans = [
        source.slice(i * step, step)
        .lazy()
        .select("row", token_lists(pl.col("t")).alias("tok"))
        .explode("tok")
        .drop_nulls("tok")
        .select("row", pl.col("tok").hash(seed).alias("h"))
        for i in range(parts)
    ]
    frame = pl.concat(pl.collect_all(plans)) if parts > 1 else plans[0].collect()
    return frame["row"].to_numpy(), frame["h"].to_numpy()


def ngram_hashes(rows: np.ndarray, tok_hashes: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Hashes of every window of `n` consecutive tokens within one row.

    `rows` must be sorted (tokens of a row contiguous and in order). Rows shorter than `n`
    produce no windows.
    """
    if n <= 1 or len(rows) == 0:
        return rows, tok_hashes
    m = len(rows) - n + 1
    if m <= 0:
        return rows[:0], tok_hashes[:0]
    acc = tok_hashes[:m].copy()
    same = np.ones(m, dtype=bool)
    with np.errstate(over="ignore"):
        for k in range(1, n):
            acc = acc * _MIX + tok_hashes[k : k + m]
            same &= rows[k : k + m] == rows[:m]
    return rows[:m][same], acc[same]


def shingles(texts: pl.Series, size: int = 1, seed: int = 0) -> pl.DataFrame:
    """Word-shingle hashes per row: columns `row` (u32) and `h` (u64), ordered by row.

    A row may repeat a hash (MinHash does not care); the exact-Jaccard steps take sets.
    Rows with fewer than `size` tokens fall back to their unigrams so short texts still get
    a signature; rows without tokens are absent.
    """
    rows, hashes = tokens(texts, seed)
    return shingles_from_tokens(rows, hashes, texts.len(), size)


def shingles_from_tokens(
    rows: np.ndarray, hashes: np.ndarray, n_rows: int, size: int
) -> pl.DataFrame:
    """`shingles` from already hashed tokens (row-ordered, as `tokens` returns them)."""
    if size > 1 and len(rows):
        g_rows, g_hashes = ngram_hashes(rows, hashes, size)
        counts = np.bincount(rows, minlength=n_rows)
        short = counts[rows] < size
        if short.any():
            rows = np.concatenate([g_rows, rows[short]])
            hashes = np.concatenate([g_hashes, hashes[short]])
            order = np.argsort(rows, kind="stable")
            rows, hashes = rows[order], hashes[order]
        else:
            rows, hashes = g_rows, g_hashes
    return pl.DataFrame(
        {"row": rows.astype(np.uint32), "h": hashes.astype(np.uint64)},
        schema={"row": pl.UInt32, "h": pl.UInt64},
    )


def string_content_fields(spec: DatasetSpec) -> list[str]:
    """Names of the fields the generator writes as free text (not the label)."""
    return [f.name for f in spec.content_fields if f.type == "string"]


def record_object(raw: str | None) -> tuple[dict[str, Any] | None, str | None]:
    """(a `record` JSON as an object, None), or (None, why it is not one)."""
    if raw is None:
        return None, "record is missing"
    try:
        obj = json.loads(raw)
    except (TypeError, ValueError) as e:
        return None, f"record is not valid JSON: {getattr(e, 'msg', e)}"
    if not isinstance(obj, dict):
        return None, "record is not a JSON object"
    return obj, None


def record_objects(frame: pl.DataFrame) -> list[dict[str, Any]]:
    """Every row's `record` as an object ({} where it is not one)."""
    return [record_object(raw)[0] or {} for raw in frame["record"].to_list()]


_WORD = re.compile(r"[^\W_]+")


def word_set(text: str) -> set[str]:
    """The text's distinct case-folded words (row-wise checks; frames use `tokens`)."""
    return set(_WORD.findall(text.casefold()))


def _decode_one(raw: str | None, names: list[str], view: Any = None) -> dict[str, Any]:
    obj, _ = record_object(raw)
    if obj is None:
        return dict.fromkeys(names)
    if view is not None:
        obj = view(obj)
    return {n: (obj.get(n) if isinstance(obj.get(n), str) else None) for n in names}


def string_fields(spec: DatasetSpec, frame: pl.DataFrame) -> pl.DataFrame:
    """The record's string content fields as String columns (null when missing or not text).

    Fast path: polars JSON decoding; rows that do not decode (only possible when the
    schema filter did not run first) fall back to a per-row parse.
    """
    names = string_content_fields(spec)
    if not names:
        return pl.DataFrame({}, schema={})
    if names == [spec.text_field] and "text" in frame.columns:
        # The record frame's `text` column is that field: no JSON to decode.
        return frame.select(pl.col("text").alias(spec.text_field))
    dtype = pl.Struct({n: pl.String() for n in names})
    if frame.height == 0:
        return pl.DataFrame(schema=dict.fromkeys(names, pl.String))
    kind = kind_of(spec)
    if not kind.flat_records:  # the kind maps each record to its flat fields
        rows = [
            _decode_one(r, names, lambda rec: kind.view(spec, rec))
            for r in frame["record"].to_list()
        ]
        return pl.DataFrame(rows, schema=dict.fromkeys(names, pl.String))
    try:
        return frame.select(pl.col("record").str.json_decode(dtype).alias("_r")).unnest("_r")
    except pl.exceptions.PolarsError:
        rows = [_decode_one(r, names) for r in frame["record"].to_list()]
        return pl.DataFrame(rows, schema=dict.fromkeys(names, pl.String))


def content_segments(spec: DatasetSpec, frame: pl.DataFrame) -> tuple[pl.Series, np.ndarray]:
    """Every string content field of every row as one series, with the owning row per entry.

    Used where all fields matter (contamination runs, PII): a run of words never spans two
    fields because each field is its own segment.
    """
    fields = string_fields(spec, frame)
    if fields.width == 0:
        return frame["text"], np.arange(frame.height)
    parts = [fields[c].fill_null("") for c in fields.columns]
    owners = np.tile(np.arange(frame.height), len(parts))
    return pl.concat(parts), owners
