"""Near-duplicate search: MinHash LSH with `rensa`, verified by exact Jaccard.

The pipeline stays vectorised where the rows are many:

1. polars tokenises and hashes word shingles for all texts at once;
2. rensa sketches every row from the flat hash buffer (one call) and flags every row that
   shares an LSH band with another row (one call);
3. only the flagged rows (usually a small share) are sketched again as rensa MinHash
   objects, indexed in an `RMinHashLSH` and queried, which names the colliding pairs;
4. every candidate pair is verified by the exact Jaccard of its shingle sets (a polars
   join), so sketch noise never decides a drop.

Steps 2 and 3 are two independent LSH passes with the same banding, so a pair exactly at
the threshold is found with probability of about target_recall squared (>= 0.96; with the
defaults, 192 permutations in 24 bands of 8 at Jaccard 0.8: 0.976), rising fast above it
(0.9990 at 0.85).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl
import rensa

from synth_pipeline.curation.text import normalized, shingles

_PAIR_SCHEMA = {"a": pl.UInt32, "b": pl.UInt32, "jaccard": pl.Float64}
_MATCH_SCHEMA = {"row": pl.UInt32, "match": pl.UInt32, "jaccard": pl.Float64}
_CHUNK = 50_000  # rows sketched as MinHash objects at once
_MAX_CANDIDATES = 64  # earlier LSH candidates verified per row in a self-join
_SKETCH_CHUNK = 200_000  # left rows sketched at once when searching a reference set


@dataclass(frozen=True)
class MinHashParams:
    num_perm: int = 192
    seed: int = 42
    shingle_size: int = 1


def rows_per_band(threshold: float, num_perm: int, target_recall: float = 0.98) -> int:
    """The largest band width r (fewest spurious candidates) that still finds a pair at
    `threshold` with probability >= target_recall; r must divide num_perm."""
    best = 1
    for r in range(1, num_perm + 1):
        if num_perm % r:
            continue
        bands = num_perm // r
        if 1.0 - (1.0 - threshold**r) ** bands >= target_recall:
            best = r
    return best


def empty_pairs() -> pl.DataFrame:
    return pl.DataFrame(schema=_PAIR_SCHEMA)


def _flat(sh: pl.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(doc rows, flat hashes, offsets) of a shingle frame ordered by row."""
    rows = sh["row"].to_numpy()
    counts = np.bincount(rows)
    docs = np.flatnonzero(counts)
    offsets = np.zeros(len(docs) + 1, dtype=np.uint64)
    np.cumsum(counts[docs], out=offsets[1:])
    return docs, sh["h"].to_numpy(), offsets


def _objects(flat: np.ndarray, offsets: np.ndarray, docs: np.ndarray, params: MinHashParams):
    """rensa MinHash objects of the given doc positions (their shingle hashes as tokens)."""
    starts = offsets[docs].astype(np.int64)
    lengths = offsets[docs + 1].astype(np.int64) - starts
    bounds = np.zeros(len(docs) + 1, dtype=np.int64)
    np.cumsum(lengths, out=bounds[1:])
    idx = np.repeat(starts - bounds[:-1], lengths) + np.arange(bounds[-1])
    toks = flat[idx].astype("<u8").view("S8").tolist()
    b = bounds.tolist()
    token_sets = [toks[b[i] : b[i + 1]] for i in range(len(docs))]
    return rensa.RMinHash.from_token_sets(token_sets, params.num_perm, params.seed)


def _lsh_candidates(
    flat: np.ndarray,
    offsets: np.ndarray,
    index_docs: np.ndarray,
    query_docs: np.ndarray,
    params: MinHashParams,
    threshold: float,
    r: int,
    flat_q: np.ndarray | None = None,
    offsets_q: np.ndarray | None = None,
    earlier_only: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """(query position, index position) of every LSH collision.

    Index and query rows are sketched in chunks so memory stays bounded; positions are
    into `index_docs` and `query_docs`. Query rows come from (flat_q, offsets_q) when
    given, else from the same buffers as the index. `earlier_only` (self-joins) keeps
    index positions below the query's, at most _MAX_CANDIDATES of the earliest: the
    keep-first resolution needs an earlier kept partner, and this bounds a large group
    of near-identical rows to linear work.
    """
    lsh = rensa.RMinHashLSH(threshold, params.num_perm, params.num_perm // r)
    reuse = None
    for lo in range(0, len(index_docs), _CHUNK):
        objects = _objects(flat, offsets, index_docs[lo : lo + _CHUNK], params)
        lsh.insert_many(objects, lo)
        if flat_q is None and len(index_docs) <= _CHUNK and query_docs is index_docs:
            reuse = objects  # self-join in one chunk: query with the same sketches
    if flat_q is None:
        flat_q, offsets_q = flat, offsets
    qs: list[int] = []
    ks: list[int] = []
    for lo in range(0, len(query_docs), _CHUNK):
        if reuse is not None:
            objects = reuse
        else:
            objects = _objects(flat_q, offsets_q, query_docs[lo : lo + _CHUNK], params)
        found = lsh.query_all(objects)
        for i, keys in enumerate(found, start=lo):
            if earlier_only:
                keys = [k for k in keys if k < i]
                if len(keys) > _MAX_CANDIDATES:
                    keys = sorted(keys)[:_MAX_CANDIDATES]
            qs.extend([i] * len(keys))
            ks.extend(keys)
    return np.asarray(qs, dtype=np.int64), np.asarray(ks, dtype=np.int64)


def _exact_jaccard(pairs: pl.DataFrame, sh_a: pl.DataFrame, sh_b: pl.DataFrame) -> pl.DataFrame:
    """The exact Jaccard of each pair (`a` a row of sh_a, `b` a row of sh_b)."""
    pairs = pairs.cast({"a": pl.UInt32, "b": pl.UInt32})
    set_a = sh_a.filter(pl.col("row").is_in(pairs["a"].unique().implode())).unique()
    set_b = sh_b.filter(pl.col("row").is_in(pairs["b"].unique().implode())).unique()
    inter = (
        pairs.join(set_a.rename({"row": "a"}), on="a")
        .join(set_b.rename({"row": "b"}), on=["b", "h"])
        .group_by("a", "b")
        .len()
        .rename({"len": "inter"})
    )
    sizes_a = set_a.group_by("row").len().rename({"row": "a", "len": "na"})
    sizes_b = set_b.group_by("row").len().rename({"row": "b", "len": "nb"})
    return (
        pairs.join(inter, on=["a", "b"], how="left")
        .join(sizes_a, on="a")
        .join(sizes_b, on="b")
        .with_columns(pl.col("inter").fill_null(0))
        .select(
            "a",
            "b",
            (pl.col("inter") / (pl.col("na") + pl.col("nb") - pl.col("inter"))).alias("jaccard"),
        )
    )


def _sketch(sh: pl.DataFrame, params: MinHashParams):
    docs, flat, offsets = _flat(sh)
    matrix = rensa.RMinHash.digest_matrix_from_flat_token_hashes(
        flat, offsets, params.num_perm, params.seed
    )
    return docs, flat, offsets, matrix


def similar_pairs(
    texts: pl.Series,
    threshold: float,
    params: MinHashParams | None = None,
    sh: pl.DataFrame | None = None,
    norm: pl.Series | np.ndarray | None = None,
) -> pl.DataFrame:
    """Pairs (a < b, row positions in `texts`) whose shingle Jaccard is >= threshold.

    Columns `a`, `b` (u32) and `jaccard`, sorted by b then a. Rows repeating an earlier
    row's normalised text are paired with that first row (Jaccard 1.0) and left out of
    the LSH search, so many copies of one text cost linear, not quadratic, work. Each row
    is verified against at most _MAX_CANDIDATES earlier LSH candidates. `sh` may pass
    precomputed shingles (see `text.shingles`) and `norm` hashes of the normalised texts
    (likewise `sh_left` in the functions below).
    """
    params = params or MinHashParams()
    n = texts.len()
    if sh is None:
        sh = shingles(texts, params.shingle_size, params.seed)
    if sh.height == 0 or n < 2:
        return empty_pairs()
    if norm is None:
        t = pl.col("t")
        norm = (
            pl.DataFrame({"t": texts})
            .select(pl.when(t.is_not_null()).then(normalized(t).hash(0)))
            .to_series()
        )
    norm = pl.Series(norm)
    valid = np.flatnonzero(norm.is_not_null().to_numpy())  # null texts are nobody's copy
    _, first_idx, inverse = np.unique(
        norm.gather(valid).to_numpy(), return_index=True, return_inverse=True
    )
    first_of = valid[first_idx[inverse.ravel()]]
    is_copy_of = first_of != valid
    copies, originals = valid[is_copy_of], first_of[is_copy_of]
    parts = [
        pl.DataFrame({"a": originals, "b": copies, "jaccard": np.ones(len(copies))}).cast(
            _PAIR_SCHEMA
        )
    ]
    if len(copies):
        is_copy = np.zeros(n, dtype=bool)
        is_copy[copies] = True
        sh = sh.filter(pl.Series(~is_copy[sh["row"].to_numpy()]))
    docs, flat, offsets, matrix = _sketch(sh, params)
    if len(docs) >= 2:
        r = rows_per_band(threshold, params.num_perm)
        lsh = rensa.RMinHashLSH(threshold, params.num_perm, params.num_perm // r)
        flags = np.asarray(lsh.query_duplicate_flags_matrix_one_shot(matrix), dtype=bool)
        flagged = np.flatnonzero(flags)
        if len(flagged) >= 2:
            q, k = _lsh_candidates(
                flat, offsets, flagged, flagged, params, threshold, r, earlier_only=True
            )
            if len(q):
                pairs = pl.DataFrame(
                    {
                        "a": docs[flagged[k]].astype(np.uint32),
                        "b": docs[flagged[q]].astype(np.uint32),
                    }
                ).unique()
                verified = _exact_jaccard(pairs, sh, sh).filter(pl.col("jaccard") >= threshold)
                parts.append(verified.cast(_PAIR_SCHEMA))
    return pl.concat(parts).sort("b", "a")


def greedy_duplicates(pairs: pl.DataFrame, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Keep-first resolution of similar pairs over rows 0..n-1.

    A row is a duplicate when it is similar to an earlier row that is itself kept. Returns
    (is_duplicate bool[n], kept partner index int64[n] or -1, jaccard float[n] or nan).
    """
    dup = np.zeros(n, dtype=bool)
    partner = np.full(n, -1, dtype=np.int64)
    score = np.full(n, np.nan)
    if pairs.height == 0:
        return dup, partner, score
    ordered = pairs.sort("b", "jaccard", "a", descending=[False, True, False])
    for a, b, j in zip(
        ordered["a"].to_list(), ordered["b"].to_list(), ordered["jaccard"].to_list(), strict=True
    ):
        if dup[b]:
            continue
        if not dup[a]:
            dup[b], partner[b], score[b] = True, a, j
        elif j >= 1.0:
            # Same shingle set as a dropped row: similar to exactly what a was similar to.
            dup[b], partner[b], score[b] = True, partner[a], score[a]
    return dup, partner, score


def _best_match(pairs: pl.DataFrame) -> pl.DataFrame:
    return (
        pairs.sort("row", "jaccard", "match", descending=[False, True, False])
        .unique("row", keep="first", maintain_order=True)
        .cast(_MATCH_SCHEMA)
    )


def cross_matches(
    left: pl.Series,
    right: pl.Series,
    threshold: float,
    params: MinHashParams | None = None,
    sh_left: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """MinHash LSH search of `left` rows against a (small) reference set `right`.

    For every left row with a reference at Jaccard >= threshold: columns `row` (position in
    left), `match` (position in right) and `jaccard` of the best match. The reference is
    indexed twice under distinct keys, so rensa's "more than one candidate key" flag marks
    every left row colliding with at least one reference; only those rows are queried.
    """
    params = params or MinHashParams()
    if left.len() == 0 or right.len() == 0:
        return pl.DataFrame(schema=_MATCH_SCHEMA)
    sh_l = sh_left if sh_left is not None else shingles(left, params.shingle_size, params.seed)
    sh_r = shingles(right, params.shingle_size, params.seed)
    if sh_l.height == 0 or sh_r.height == 0:
        return pl.DataFrame(schema=_MATCH_SCHEMA)
    docs_l, flat_l, off_l = _flat(sh_l)
    docs_r, flat_r, off_r, mat_r = _sketch(sh_r, params)
    r = rows_per_band(threshold, params.num_perm)
    lsh = rensa.RMinHashLSH(threshold, params.num_perm, params.num_perm // r)
    lsh.insert_matrix(mat_r, 0)
    lsh.insert_matrix(mat_r, len(docs_r))
    # Left rows are sketched and screened in chunks: the index holds only the reference.
    flagged_parts = []
    for lo in range(0, len(docs_l), _SKETCH_CHUNK):
        hi = min(lo + _SKETCH_CHUNK, len(docs_l))
        a, b = int(off_l[lo]), int(off_l[hi])
        mat_l = rensa.RMinHash.digest_matrix_from_flat_token_hashes(
            flat_l[a:b], off_l[lo : hi + 1] - off_l[lo], params.num_perm, params.seed
        )
        flags = np.asarray(lsh.query_duplicate_flags_matrix(mat_l), dtype=bool)
        flagged_parts.append(np.flatnonzero(flags) + lo)
    flagged = np.concatenate(flagged_parts) if flagged_parts else np.zeros(0, dtype=np.int64)
    if len(flagged) == 0:
        return pl.DataFrame(schema=_MATCH_SCHEMA)
    q, k = _lsh_candidates(
        flat_r, off_r, np.arange(len(docs_r)), flagged, params, threshold, r, flat_l, off_l
    )
    if len(q) == 0:
        return pl.DataFrame(schema=_MATCH_SCHEMA)
    pairs = pl.DataFrame(
        {
            "a": docs_l[flagged[q]].astype(np.uint32),
            "b": docs_r[k].astype(np.uint32),
        }
    ).unique()
    verified = _exact_jaccard(pairs, sh_l, sh_r).filter(pl.col("jaccard") >= threshold)
    return _best_match(verified.rename({"a": "row", "b": "match"}))


def similarity_join(
    left: pl.Series,
    right: pl.Series,
    threshold: float,
    params: MinHashParams | None = None,
    sh_left: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """Exact Jaccard similarity join of `left` (many rows) against `right` (a reference set).

    Same output as `cross_matches`, with no sketch error: recall is exact at any threshold.
    If J(x, y) >= t then at least ceil(t|y|) of y's tokens are in x, so any
    |y| - ceil(t|y|) + 1 tokens of y include one of x's. Each reference row keeps that many
    of its rarest tokens (rarity counted on the left side), only those are joined with the
    left rows' tokens, and every candidate pair is then verified exactly. Used where the
    threshold is too low for a selective LSH banding on short texts (contamination).
    """
    params = params or MinHashParams()
    if left.len() == 0 or right.len() == 0:
        return pl.DataFrame(schema=_MATCH_SCHEMA)
    sh_r = shingles(right, params.shingle_size, params.seed).unique()
    if sh_r.height == 0:
        return pl.DataFrame(schema=_MATCH_SCHEMA)
    sh_l = sh_left if sh_left is not None else shingles(left, params.shingle_size, params.seed)
    if sh_l.height == 0:
        return pl.DataFrame(schema=_MATCH_SCHEMA)
    ref_tokens = sh_r["h"].unique().implode()
    sh_l_ref = sh_l.filter(pl.col("h").is_in(ref_tokens))
    df = sh_l_ref.group_by("h").len().rename({"len": "df"})
    eps = 1e-9
    prefixes = (
        sh_r.join(df, on="h", how="left")
        .with_columns(pl.col("df").fill_null(0))
        .sort("row", "df", "h")
        .with_columns(
            pl.int_range(pl.len()).over("row").alias("pos"),
            pl.len().over("row").alias("n"),
        )
        .filter(pl.col("pos") < pl.col("n") - (pl.col("n") * threshold - eps).ceil() + 1)
        .select(pl.col("row").alias("b"), "h")
    )
    cand = sh_l_ref.join(prefixes, on="h").select(pl.col("row").alias("a"), "b").unique()
    if cand.height == 0:
        return pl.DataFrame(schema=_MATCH_SCHEMA)
    verified = _exact_jaccard(cand, sh_l, sh_r).filter(pl.col("jaccard") >= threshold)
    return _best_match(verified.rename({"a": "row", "b": "match"}))
