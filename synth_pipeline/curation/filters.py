"""The curation filters: plain functions over a record frame.

Every filter has the signature `filter(frame, ctx) -> Verdict`. `frame` holds the record
columns (`record_id`, `text`, `label`, `record`, and for candidates `status`, `error`,
`strategy`); `ctx` carries the spec and the real seed, holdout and extra eval frames. The
verdict says, row by row, whether to keep the row and, for dropped rows (and kept rows
that were changed, e.g. redacted), a reason, a score and a detail. A filter never
reorders rows; one that rewrites rows returns the rewritten frame.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from synth_pipeline.curation import dedup, pii
from synth_pipeline.curation.base import (
    _MIX64,
    CurationContext,
    FilterFn,
    Verdict,
    _decisions,
    keep_all,
    norm_hash,
)
from synth_pipeline.curation.pairs import pair_identical_filter, pair_verdict_filter
from synth_pipeline.curation.patterns import format_artifact_filter, voice_filter
from synth_pipeline.curation.privacy import (
    identifier_leak_filter,
    real_copy_filter,
    too_close_filter,
    unique_combination_filter,
)
from synth_pipeline.curation.prompt_echo import prompt_echo_filter
from synth_pipeline.curation.realism import realism_filter
from synth_pipeline.curation.text import (
    content_segments,
    ngram_hashes,
    record_object,
    shingles,
    string_content_fields,
    string_fields,
    token_lists,
    tokens,
)
from synth_pipeline.curation.turns import repeated_turn_filter
from synth_pipeline.field_types import PYTHON_TYPES, matches
from synth_pipeline.kinds import kind_of

if TYPE_CHECKING:
    from synth_pipeline.spec import DatasetSpec

# Scripts checked by the wrong-script filter (Unicode script names as the regex crate knows
# them). Letters of other scripts only count toward the total.
SCRIPTS = (
    "Latin",
    "Cyrillic",
    "Greek",
    "Arabic",
    "Hebrew",
    "Devanagari",
    "Bengali",
    "Tamil",
    "Thai",
    "Han",
    "Hiragana",
    "Katakana",
    "Hangul",
    "Armenian",
    "Georgian",
    "Ethiopic",
)


# --------------------------------------------------------------------------- schema


def _field_problem(spec: DatasetSpec, raw: str | None) -> str | None:
    """Why a record JSON does not fit spec.fields, or None when it does."""
    obj, problem = record_object(raw)
    if obj is None:
        return problem
    for f in spec.fields:
        value = obj.get(f.name)
        if value is None:
            return f"field {f.name!r} is missing"
        if not matches(value, f.type):
            return f"field {f.name!r} must be a {f.type}, got {type(value).__name__}"
        if isinstance(value, str) and (problem := f.length_problem(value)):
            return problem
    unknown = set(obj) - {f.name for f in spec.fields}
    if unknown:
        return f"unknown field(s) {sorted(unknown)}"
    return None


def _shape_problem(spec: DatasetSpec, raw: str | None) -> str | None:
    """Why a record JSON does not fit its kind's own shape, or None when it does."""
    obj, problem = record_object(raw)
    if obj is None:
        return problem
    return kind_of(spec).record_problem(spec, obj)


def _record_validator(spec: DatasetSpec) -> Any:
    """A strict pydantic-core validator of one record's JSON against spec.fields.

    A TypedDict (not a model), so field names such as "json" or "copy" cannot clash with
    model attributes. Strict: no coercion ("5" is not an integer, true is not a number).
    """
    from typing import Annotated

    from pydantic import ConfigDict, Field, TypeAdapter
    from typing_extensions import TypedDict

    fields: dict[str, Any] = {}
    for f in spec.fields:
        tp: Any = PYTHON_TYPES[f.type]
        if f.type == "string" and (f.min_length is not None or f.max_length is not None):
            tp = Annotated[str, Field(min_length=f.min_length, max_length=f.max_length)]
        fields[f.name] = tp
    record = TypedDict("CandidateRecord", fields)  # type: ignore[misc]
    record.__pydantic_config__ = ConfigDict(extra="forbid", strict=True)  # type: ignore[attr-defined]
    return TypeAdapter(record).validator


def schema_valid_filter(frame: pl.DataFrame, ctx: CurationContext) -> Verdict:
    """Drop failed generations ("generation_failed:<error>") and records that do not
    validate against spec.fields: types, presence, no unknown fields, min/max_length
    ("schema_invalid", detail says which field)."""
    from pydantic import ValidationError

    n = frame.height
    if n == 0:
        return keep_all(0)
    if "status" in frame.columns:
        failed_mask = frame.select(pl.col("status").fill_null("ok") != "ok").to_series().to_numpy()
        errors = (
            frame["error"] if "error" in frame.columns else pl.Series([None] * n, dtype=pl.String)
        )
    else:
        failed_mask = np.zeros(n, dtype=bool)
        errors = pl.Series([None] * n, dtype=pl.String)
    kind = kind_of(ctx.spec)
    # A flat record validates against the spec's fields; another shape (a conversation)
    # against its kind.
    validate = _record_validator(ctx.spec).validate_json if kind.flat_records else None
    reason = np.full(n, None, dtype=object)
    detail = np.full(n, None, dtype=object)
    raws = frame["record"].to_list()
    for i in np.flatnonzero(~failed_mask).tolist():
        raw = raws[i]
        if validate is None:
            problem = _shape_problem(ctx.spec, raw)
            if problem:
                reason[i], detail[i] = "schema_invalid", problem
            continue
        try:
            if raw is None:
                raise ValueError
            validate(raw)
        except (ValidationError, ValueError) as e:
            reason[i] = "schema_invalid"
            detail[i] = _field_problem(ctx.spec, raw) or str(e).splitlines()[0]
    if failed_mask.any():
        errs = errors.to_numpy()[failed_mask]
        reason[failed_mask] = [f"generation_failed:{e or 'unknown'}" for e in errs]
        detail[failed_mask] = list(errs)
    drop = np.array([r is not None for r in reason], dtype=bool)
    return Verdict(_decisions(n, drop, reason, None, detail))


# --------------------------------------------------------------------------- row content


def empty_fields_filter(frame: pl.DataFrame, ctx: CurationContext) -> Verdict:
    """Drop rows whose text or any string content field is empty or only whitespace."""
    n = frame.height
    if n == 0:
        return keep_all(0)
    fields = ctx.fields(frame)
    checks = {c: fields[c] for c in fields.columns}
    if ctx.spec.text_field not in checks:
        checks[ctx.spec.text_field] = frame["text"]
    empties = pl.DataFrame(
        {c: s.fill_null("").str.strip_chars().str.len_chars() == 0 for c, s in checks.items()}
    )
    detail = empties.select(
        pl.concat_str(
            [pl.when(pl.col(c)).then(pl.lit(c)) for c in empties.columns],
            separator=",",
            ignore_nulls=True,
        )
    ).to_series()
    drop = empties.select(pl.any_horizontal(pl.all())).to_series()
    return Verdict(_decisions(n, drop, "empty_field", None, detail))


def _seed_scripts(ctx: CurationContext) -> list[str]:
    if "seed_scripts" in ctx.cache:
        return ctx.cache["seed_scripts"]
    texts = (
        content_segments(ctx.spec, ctx.seeds)[0]
        if ctx.seeds.height
        else pl.Series([], dtype=pl.String)
    )
    letters = pl.DataFrame({"t": texts}).select(
        [pl.col("t").str.count_matches(rf"\p{{{s}}}").sum().alias(s) for s in SCRIPTS]
        + [pl.col("t").str.count_matches(r"\p{L}").sum().alias("_all")]
    )
    counts = letters.row(0, named=True)
    total = counts.pop("_all") or 0
    share = ctx.config.degenerate.seed_script_min_share
    scripts = [s for s, c in counts.items() if total and c / total >= share]
    ctx.cache["seed_scripts"] = scripts
    return scripts


def _first_distinct(rows: np.ndarray, hashes: np.ndarray, chunk: int = 4_000_000) -> np.ndarray:
    """True where (row, hash) occurs for the first time; `rows` sorted. Chunked on row
    boundaries so the hash table stays small."""
    out = np.empty(len(rows), dtype=bool)
    start = 0
    while start < len(rows):
        end = min(start + chunk, len(rows))
        if end < len(rows):
            # Never split a row: move the cut to the next row boundary.
            end = int(np.searchsorted(rows, rows[end - 1], side="right"))
        with np.errstate(over="ignore"):
            keys = hashes[start:end] ^ (rows[start:end].astype(np.uint64) * _MIX64)
        out[start:end] = pl.Series(keys).is_first_distinct().to_numpy()
        start = end
    return out


def _repetition_ratio(
    texts: pl.Series,
    n: int,
    min_ngrams: int,
    max_ratio: float,
    text_tokens: tuple[np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """Per row: 1 - unique/total word n-grams (0 where fewer than min_ngrams).

    Exact only where it can exceed `max_ratio`: a repeated n-gram occurrence starts with a
    repeated word, so (words - distinct words) bounds (n-grams - distinct n-grams). Rows
    under that bound (nearly all natural text) skip the n-gram count and report 0.
    `text_tokens` may pass the texts' (row, token hash) pairs.
    """
    size = texts.len()
    out = np.zeros(size)
    if size == 0:
        return out
    if text_tokens is None:
        rows, hashes = tokens(texts, 7)
    else:
        rows, hashes = text_tokens
    if len(rows) == 0:
        return out
    total = np.bincount(rows, minlength=size)
    uniq = np.bincount(rows, weights=_first_distinct(rows, hashes), minlength=size)
    grams = total - n + 1
    suspect = np.flatnonzero((grams >= min_ngrams) & (total - uniq > max_ratio * grams))
    if len(suspect) == 0:
        return out
    keep = np.isin(rows, suspect)
    s_rows = np.searchsorted(suspect, rows[keep])
    g_rows, g_hashes = ngram_hashes(s_rows, hashes[keep], n)
    if len(g_rows) == 0:
        return out
    first = _first_distinct(g_rows, g_hashes)
    g_total = np.bincount(g_rows, minlength=len(suspect))
    g_uniq = np.bincount(g_rows, weights=first, minlength=len(suspect))
    judged = g_total >= min_ngrams
    out[suspect[judged]] = 1.0 - g_uniq[judged] / g_total[judged]
    return out


def degenerate_filter(frame: pl.DataFrame, ctx: CurationContext) -> Verdict:
    """Drop degenerate model output.

    Reasons, first match wins: "boilerplate" (assistant phrases such as "As an AI language
    model", a refusal, "Sure, here is"), "repeated_ngrams" (a repetition loop), "wrong_script"
    (letters mostly outside the seeds' scripts), "restates_question" (instruction datasets: a
    later field only repeats an earlier one).
    """
    n = frame.height
    if n == 0:
        return keep_all(0)
    cfg = ctx.config.degenerate
    fields = ctx.fields(frame)
    if fields.width == 0:
        fields = frame.select("text")
    cols = fields.columns
    filled = fields.with_columns(pl.all().fill_null(""))

    reason = np.full(n, None, dtype=object)
    score = np.full(n, np.nan)
    detail = np.full(n, None, dtype=object)

    def assign(mask: np.ndarray, name: str, sc: np.ndarray | float, det: Any) -> None:
        new = mask & (reason == None)  # noqa: E711 - numpy object comparison
        reason[new] = name
        score[new] = sc[new] if isinstance(sc, np.ndarray) else sc
        if isinstance(det, np.ndarray):
            detail[new] = det[new]
        else:
            detail[new] = det

    # Boilerplate: first pattern matched in any field.
    if cfg.boilerplate_patterns:
        pattern = "(?i)" + "|".join(f"(?:{p})" for p in cfg.boilerplate_patterns)
        hits = filled.select(
            pl.coalesce([pl.col(c).str.extract(f"({pattern})", 1) for c in cols]).alias("m")
        ).to_series()
        mask = hits.is_not_null().to_numpy()
        assign(mask, "boilerplate", 1.0, np.array(hits.to_list(), dtype=object))

    # Repetition loops, per field.
    ratios = np.zeros(n)
    for c in cols:
        toks = ctx.text_tokens(frame) if c in (ctx.spec.text_field, "text") else None
        ratio = _repetition_ratio(
            filled[c], cfg.repeated_ngram_size, cfg.min_ngrams, cfg.max_repeated_ngram_ratio, toks
        )
        ratios = np.maximum(ratios, ratio)
    assign(
        ratios > cfg.max_repeated_ngram_ratio,
        "repeated_ngrams",
        ratios,
        f"over {cfg.max_repeated_ngram_ratio:g} of word {cfg.repeated_ngram_size}-grams repeated",
    )

    # Wrong script: share of letters in the seeds' scripts.
    if cfg.check_script:
        scripts = _seed_scripts(ctx)
        if scripts:
            allowed = "[" + "".join(rf"\p{{{s}}}" for s in scripts) + "]"
            joined = filled.select(
                pl.concat_str([pl.col(c) for c in cols], separator="\n")
            ).to_series()
            share = np.ones(n)
            # ASCII letters are Latin: with Latin among the seeds' scripts only rows with
            # non-ASCII characters can fall short.
            check = (
                joined.str.contains(r"[^\x00-\x7F]").fill_null(False).to_numpy()
                if "Latin" in scripts
                else np.ones(n, dtype=bool)
            )
            idx = np.flatnonzero(check)
            if len(idx):
                sub = joined.gather(idx)
                ok = sub.str.count_matches(allowed).to_numpy()
                total = sub.str.count_matches(r"\p{L}").to_numpy()
                share[idx] = np.where(total > 0, ok / np.maximum(total, 1), 1.0)
            assign(
                share < cfg.min_script_share,
                "wrong_script",
                share,
                f"letters mostly outside the seeds' scripts ({', '.join(scripts)})",
            )

    # Restatement: records of two or more free-text fields (a question and its answer), a
    # later field's words all in an earlier field.
    if cfg.check_restatement and len(cols) >= 2:
        toks = filled.select([token_lists(pl.col(c)).list.unique().alias(c) for c in cols])
        best = np.zeros(n)
        which = np.full(n, None, dtype=object)
        for later, earlier in kind_of(ctx.spec).restatement_pairs(cols):
            stats = toks.select(
                pl.col(later).list.len().alias("n"),
                pl.col(later).list.set_intersection(pl.col(earlier)).list.len().alias("inter"),
            )
            nn, inter = stats["n"].to_numpy(), stats["inter"].to_numpy()
            cont = np.where(nn >= cfg.restatement_min_tokens, inter / np.maximum(nn, 1), 0.0)
            better = cont > best
            best = np.where(better, cont, best)
            which[better] = f"{later!r} repeats {earlier!r}"
        assign(best >= cfg.restatement_threshold, "restates_question", best, which)

    drop = np.array([r is not None for r in reason], dtype=bool)
    return Verdict(_decisions(n, drop, list(reason), score, list(detail)))


def length_bounds_filter(frame: pl.DataFrame, ctx: CurationContext) -> Verdict:
    """Drop texts shorter than quality.min_length ("too_short") or longer than
    quality.max_length ("too_long") characters; the score is the length."""
    q = ctx.spec.quality
    out = frame.select(pl.col("text").fill_null("").str.len_chars().cast(pl.Float64).alias("len"))
    length = out["len"].to_numpy()
    short, long_ = length < q.min_length, length > q.max_length
    reason = np.where(short, "too_short", np.where(long_, "too_long", None))
    detail = np.where(
        short, f"min_length {q.min_length}", np.where(long_, f"max_length {q.max_length}", None)
    )
    return Verdict(_decisions(frame.height, short | long_, list(reason), length, list(detail)))


def label_not_allowed_filter(frame: pl.DataFrame, ctx: CurationContext) -> Verdict:
    """Labelled kinds: drop rows whose label is missing or not one of spec.labels."""
    bad = frame.select(~pl.col("label").is_in(ctx.spec.labels).fill_null(False)).to_series()
    detail = frame.select(
        pl.concat_str(pl.lit("label "), pl.col("label").fill_null("<null>"))
    ).to_series()
    return Verdict(_decisions(frame.height, bad, "label_not_allowed", None, detail))


# --------------------------------------------------------------------------- set-wise


def exact_duplicate_filter(frame: pl.DataFrame, ctx: CurationContext) -> Verdict:
    """Drop rows whose case- and whitespace-normalised text repeats an earlier row's
    (compared by a 64-bit hash of the normalised text)."""
    n = frame.height
    if n == 0:
        return keep_all(0)
    norm = ctx.norm_hash(frame)
    dup = (~norm.is_first_distinct() & norm.is_not_null()).to_numpy()
    detail = np.full(n, None, dtype=object)
    if dup.any():
        firsts = pl.DataFrame({"h": norm, "id": frame["record_id"]}).unique(
            "h", keep="first", maintain_order=True
        )
        ids = pl.DataFrame({"h": norm.filter(pl.Series(dup))}).join(
            firsts, on="h", how="left", maintain_order="left"
        )["id"]
        detail[dup] = [f"same text as {i}" for i in ids.to_list()]
    return Verdict(_decisions(n, dup, "exact_duplicate", 1.0, detail))


def _norm_lookup(norm: pl.Series, ref: pl.DataFrame) -> pl.Series:
    """For each row (by normalised-text hash), the record_id of a ref row with the same
    normalised text, else null."""
    ref_norm = (
        pl.DataFrame({"h": norm_hash(ref), "ref_id": ref["record_id"]})
        .drop_nulls("h")
        .unique("h", keep="first", maintain_order=True)
    )
    return (
        pl.DataFrame({"h": norm})
        .join(ref_norm, on="h", how="left", maintain_order="left")
        .get_column("ref_id")
    )


def _params(ctx: CurationContext) -> dedup.MinHashParams:
    d = ctx.config.dedup
    return dedup.MinHashParams(num_perm=d.num_perm, seed=d.seed, shingle_size=d.shingle_size)


def seed_overlap_share(ctx: CurationContext, frame: pl.DataFrame, n: int) -> np.ndarray:
    """Per row, the share of its word n-grams that occur anywhere in the seeds (NaN for rows
    with fewer than 3 n-grams: too short to judge by overlap)."""
    rows, hashes = ctx.text_tokens(frame)
    g_rows, g_hashes = ngram_hashes(rows, hashes, n)
    s_rows, s_hashes = tokens(ctx.seeds["text"], ctx.config.dedup.seed)
    _, seed_grams = ngram_hashes(s_rows, s_hashes, n)
    hit = np.isin(g_hashes, np.unique(seed_grams))
    total = np.bincount(g_rows, minlength=frame.height).astype(float)
    found = np.bincount(g_rows, weights=hit, minlength=frame.height)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total >= 3, found / total, np.nan)


def seed_copy_filter(frame: pl.DataFrame, ctx: CurationContext) -> Verdict:
    """Drop memorised seeds: "seed_copy" (same normalised text as a seed), "seed_near_copy"
    (MinHash LSH near-duplicate of a seed, verified Jaccard) and "seed_overlap" (most of
    the row's word n-grams occur in the seeds: a seed cut short, padded, or two seeds
    joined)."""
    n = frame.height
    if n == 0 or ctx.seeds.height == 0:
        return keep_all(n, None if n == 0 else "no seeds")
    cfg = ctx.config.dedup
    exact = _norm_lookup(ctx.norm_hash(frame), ctx.seeds)
    exact_mask = exact.is_not_null().to_numpy()
    near = dedup.cross_matches(
        frame["text"],
        ctx.seeds["text"],
        cfg.seed_near_copy_threshold,
        _params(ctx),
        sh_left=ctx.text_shingles(frame),
    )
    near_mask = np.zeros(n, dtype=bool)
    jac = np.full(n, np.nan)
    match = np.full(n, None, dtype=object)
    if near.height:
        rows = near["row"].to_numpy()
        near_mask[rows] = True
        jac[rows] = near["jaccard"].to_numpy()
        match[rows] = ctx.seeds["record_id"].gather(near["match"]).to_list()
    overlap = seed_overlap_share(ctx, frame, cfg.seed_overlap_ngram)
    overlap_mask = ~exact_mask & ~near_mask & (np.nan_to_num(overlap) >= cfg.seed_overlap_share)
    reason = np.where(
        exact_mask,
        "seed_copy",
        np.where(near_mask, "seed_near_copy", np.where(overlap_mask, "seed_overlap", None)),
    )
    score = np.where(exact_mask, 1.0, np.where(near_mask, jac, overlap))
    detail = np.where(
        exact_mask,
        np.array(["seed " + str(x) for x in exact.to_list()], dtype=object),
        np.array(
            [
                f"seed {m}"
                if m is not None
                else f"{o:.0%} of its {cfg.seed_overlap_ngram}-word runs are in the seeds"
                for m, o in zip(match, overlap, strict=True)
            ],
            dtype=object,
        ),
    )
    drop = exact_mask | near_mask | overlap_mask
    return Verdict(_decisions(n, drop, list(reason), score, list(detail)))


def near_duplicate_filter(frame: pl.DataFrame, ctx: CurationContext) -> Verdict:
    """Drop near-duplicates within the frame (MinHash LSH with rensa, exact Jaccard >=
    dedup.near_duplicate_threshold), keeping the first row of each group."""
    n = frame.height
    if n < 2:
        return keep_all(n)
    thr = ctx.config.dedup.near_duplicate_threshold
    pairs = dedup.similar_pairs(
        frame["text"], thr, _params(ctx), sh=ctx.text_shingles(frame), norm=ctx.norm_hash(frame)
    )
    dup, partner, score = dedup.greedy_duplicates(pairs, n)
    detail = "near " + frame["record_id"].gather(np.where(dup, partner, 0))
    return Verdict(_decisions(n, dup, "near_duplicate", score, detail))


def _ngram_frame(
    spec: DatasetSpec,
    frame: pl.DataFrame,
    n: int,
    text_tokens: tuple[np.ndarray, np.ndarray] | None = None,
) -> pl.DataFrame:
    """Hashes of every run of `n` consecutive words, per row (runs never span fields).

    `text_tokens` ((row, token hash) of the text, hashed with dedup.seed) is reused when
    the text is the record's only string field.
    """
    if text_tokens is not None and string_content_fields(spec) == [spec.text_field]:
        rows, hashes = text_tokens
        g_rows, g_hash = ngram_hashes(rows, hashes, n)
        return pl.DataFrame(
            {"row": g_rows.astype(np.uint32), "h": g_hash},
            schema={"row": pl.UInt32, "h": pl.UInt64},
        )
    segs, owners = content_segments(spec, frame)
    seg_rows, seg_hashes = tokens(segs, spec.curation.dedup.seed)
    g_seg, g_hash = ngram_hashes(seg_rows, seg_hashes, n)
    return pl.DataFrame(
        {"row": owners[g_seg].astype(np.uint32), "h": g_hash},
        schema={"row": pl.UInt32, "h": pl.UInt64},
    )


def contamination(
    spec: DatasetSpec,
    frame: pl.DataFrame,
    evals: list[tuple[str, pl.DataFrame]],
    sh: pl.DataFrame | None = None,
    norm: pl.Series | None = None,
    text_tokens: tuple[np.ndarray, np.ndarray] | None = None,
) -> pl.DataFrame:
    """Per row of `frame`: is it a copy of, a near-duplicate of, or does it share a long
    word run with a record of any eval frame? Columns reason, score, detail (null = clean).

    `sh`, `norm` and `text_tokens` may pass the frame's shingles, normalised-text hashes
    and text tokens when the caller already has them.
    """
    n = frame.height
    cfg = spec.curation
    reason = np.full(n, None, dtype=object)
    score = np.full(n, np.nan)
    detail = np.full(n, None, dtype=object)
    if n == 0:
        return pl.DataFrame(
            {"reason": [], "score": [], "detail": []},
            schema={"reason": pl.String, "score": pl.Float64, "detail": pl.String},
        )
    d = cfg.dedup
    params = dedup.MinHashParams(num_perm=d.num_perm, seed=d.seed, shingle_size=d.shingle_size)
    thr = cfg.contamination.near_duplicate_threshold
    run = cfg.contamination.ngram_run
    if norm is None:
        norm = norm_hash(frame)
    if sh is None:
        sh = shingles(frame["text"], params.shingle_size, params.seed)
    cand_ngrams = _ngram_frame(spec, frame, run, text_tokens) if run else None
    ngram_totals = (
        np.bincount(cand_ngrams["row"].to_numpy(), minlength=n) if cand_ngrams is not None else None
    )
    for name, ev in evals:
        ev_ids = ev["record_id"].to_list()
        exact = _norm_lookup(norm, ev)
        hit = exact.is_not_null().to_numpy() & (reason == None)  # noqa: E711
        if hit.any():
            reason[hit], score[hit] = "holdout_copy", 1.0
            detail[hit] = [f"{name} {rid}" for rid in exact.filter(pl.Series(hit)).to_list()]
        free = reason == None  # noqa: E711
        near = dedup.similarity_join(frame["text"], ev["text"], thr, params, sh_left=sh)
        for row, m, j in near.iter_rows():
            if free[row]:
                reason[row], score[row] = "holdout_contamination", j
                detail[row] = f"near-duplicate of {name} {ev_ids[m]} (jaccard {j:.2f})"
        free = reason == None  # noqa: E711
        if cand_ngrams is not None and cand_ngrams.height:
            ev_ngrams = _ngram_frame(spec, ev, run).unique("h", keep="first")
            shared = (
                cand_ngrams.join(ev_ngrams.rename({"row": "ev"}), on="h")
                .group_by("row")
                .agg(pl.len().alias("shared"), pl.col("ev").first())
            )
            for row, k, e in shared.select("row", "shared", "ev").iter_rows():
                if free[row]:
                    reason[row], score[row] = "holdout_contamination", k / ngram_totals[row]
                    detail[row] = f"shares a {run}-word run with {name} {ev_ids[e]}"
    return pl.DataFrame(
        {"reason": list(reason), "score": score, "detail": list(detail)},
        schema={"reason": pl.String, "score": pl.Float64, "detail": pl.String},
    )


def eval_contamination_filter(frame: pl.DataFrame, ctx: CurationContext) -> Verdict:
    """Drop rows overlapping the real holdout or extra eval frames: "holdout_copy" (same
    normalised text) and "holdout_contamination" (exact-Jaccard near-duplicate, or a shared
    run of contamination.ngram_run consecutive words in any string field)."""
    evals = ctx.eval_frames()
    if not evals:
        return keep_all(frame.height, "no holdout or eval frames")
    c = contamination(
        ctx.spec,
        frame,
        evals,
        sh=ctx.text_shingles(frame),
        norm=ctx.norm_hash(frame),
        text_tokens=ctx.text_tokens(frame),
    )
    drop = c["reason"].is_not_null()
    return Verdict(_decisions(frame.height, drop, c["reason"], c["score"], c["detail"]))


# --------------------------------------------------------------------------- PII


def _pii_rows(
    spec: DatasetSpec, frame: pl.DataFrame, types: list[str], fields: pl.DataFrame | None = None
) -> dict[int, tuple[list[str], str | None, str | None]]:
    """Rows holding PII: {row: (types found, redacted text, redacted record JSON)}.

    A polars regex screen picks the rows that may hold PII; only those are parsed and run
    through the validating detectors, once per string field (the label is never touched).
    """
    if fields is None:
        fields = string_fields(spec, frame)
    if fields.width == 0:
        fields = frame.select("text")
    screen = fields.select(
        pl.any_horizontal([pii.screen_expr(pl.col(c), types) for c in fields.columns])
    ).to_series()
    idx = np.flatnonzero(screen.to_numpy()).tolist()
    if not idx:
        return {}
    records = frame["record"].gather(idx).to_list()
    texts = frame["text"].gather(idx).to_list()
    out: dict[int, tuple[list[str], str | None, str | None]] = {}
    for i, raw, text in zip(idx, records, texts, strict=True):
        try:
            obj = json.loads(raw) if raw is not None else None
        except ValueError:
            obj = None
        found: list[str] = []
        if isinstance(obj, dict):
            for k, v in obj.items():
                if isinstance(v, str) and k != spec.label_field:
                    obj[k], kinds = pii.redact(v, types)
                    found += kinds
            new_text = obj.get(spec.text_field)
            if not isinstance(new_text, str):
                new_text = pii.redact(text, types)[0] if text is not None else None
            new_record = json.dumps(obj, ensure_ascii=False, sort_keys=True)
        else:
            new_text, found = pii.redact(text, types) if text is not None else (None, [])
            new_record = raw
        if found:
            out[i] = (found, new_text, new_record)
    return out


def pii_scan(spec: DatasetSpec, frame: pl.DataFrame, types: list[str]) -> list[list[str]]:
    """Per row: the PII types found in any string field (empty list when clean)."""
    found: list[list[str]] = [[] for _ in range(frame.height)]
    if frame.height:
        for i, (kinds, _, _) in _pii_rows(spec, frame, types).items():
            found[i] = kinds
    return found


def pii_filter(frame: pl.DataFrame, ctx: CurationContext) -> Verdict:
    """PII in any string field (emails, phones, Luhn-valid cards, mod-97 IBANs, US SSNs,
    IPv4/IPv6, URLs carrying secrets). pii.mode "redact": typed placeholders such as [EMAIL]
    replace each match in `text` and `record`, the row is kept, reason "pii_redacted";
    "drop": the row is dropped, reason "pii_detected". Score = number of matches."""
    n = frame.height
    cfg = ctx.config.pii
    types = list(cfg.types)
    if n == 0 or not types:
        return keep_all(n, None if n == 0 else "no PII types selected")
    rows = _pii_rows(ctx.spec, frame, types, ctx.fields(frame))
    hit = np.zeros(n, dtype=bool)
    score = np.full(n, np.nan)
    detail = np.full(n, None, dtype=object)
    for i, (kinds, _, _) in rows.items():
        hit[i], score[i], detail[i] = True, float(len(kinds)), ",".join(sorted(set(kinds)))
    if cfg.mode == "drop":
        return Verdict(_decisions(n, hit, "pii_detected", score, detail))
    decisions = _decisions(n, hit, "pii_redacted", score, detail).with_columns(
        pl.lit(True).alias("keep")
    )
    if not rows:
        return Verdict(decisions)
    idx = pl.Series("_i", list(rows), dtype=pl.UInt32)
    patch = pl.DataFrame(
        {
            "_i": idx,
            "_text": [t for _, t, _ in rows.values()],
            "_record": [r for _, _, r in rows.values()],
        },
        schema={"_i": pl.UInt32, "_text": pl.String, "_record": pl.String},
    )
    redacted = (
        frame.with_row_index("_i")
        .join(patch, on="_i", how="left", maintain_order="left")
        .with_columns(
            pl.when(pl.col("_i").is_in(idx.implode()))
            .then(pl.col("_text"))
            .otherwise(pl.col("text"))
            .alias("text"),
            pl.coalesce("_record", "record").alias("record"),
        )
        .drop("_i", "_text", "_record")
    )
    return Verdict(decisions, frame=redacted)


# --------------------------------------------------------------------------- judge


def _term_hashes(rows: np.ndarray, hashes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Word unigrams and bigrams (as hashes) per row, from row-ordered token hashes."""
    b_rows, b_hashes = ngram_hashes(rows, hashes, 2)
    return np.concatenate([rows, b_rows]), np.concatenate([hashes, b_hashes])


def _tfidf(
    rows: np.ndarray, terms: np.ndarray, n_docs: int, vocab: np.ndarray, idf: np.ndarray
) -> Any:
    """Sublinear-tf x idf, L2-normalised rows (as sklearn's TfidfVectorizer computes them),
    built directly from term hashes: out-of-vocabulary terms are dropped."""
    from scipy.sparse import csr_matrix
    from sklearn.preprocessing import normalize

    col = np.searchsorted(vocab, terms)
    col[col >= len(vocab)] = 0
    known = vocab[col] == terms
    m = csr_matrix(
        (np.ones(int(known.sum())), (rows[known], col[known])), shape=(n_docs, len(vocab))
    )
    m.sum_duplicates()
    m.data = (1.0 + np.log(m.data)) * idf[m.indices]
    return normalize(m)


def label_agreement_filter(frame: pl.DataFrame, ctx: CurationContext) -> Verdict:
    """Labelled datasets, when judge.enabled: a TF-IDF (word unigrams + bigrams) and
    logistic-regression classifier trained on the seeds scores each row; drop
    ("label_disagreement") when the top label's probability exceeds the assigned label's by
    more than judge.max_margin (the score). Rows whose label has too few seeds are kept.

    Features come from the run's cached token hashes, so scoring a million rows needs no
    per-row Python.
    """
    n = frame.height
    cfg = ctx.config.judge
    if not cfg.enabled:
        return keep_all(n, "judge.enabled is false")
    if n == 0:
        return keep_all(0)
    seeds = ctx.seeds.filter(pl.col("label").is_not_null())
    counts = seeds.group_by("label").len()
    usable = counts.filter(pl.col("len") >= cfg.min_seeds_per_label)["label"].to_list()
    if len(usable) < 2:
        return keep_all(n, f"fewer than 2 labels with {cfg.min_seeds_per_label}+ seeds")
    from sklearn.linear_model import LogisticRegression

    train = seeds.filter(pl.col("label").is_in(usable))
    s_rows, s_terms = _term_hashes(*tokens(train["text"], ctx.config.dedup.seed))
    pairs = np.unique(np.stack([s_rows.astype(np.uint64), s_terms]), axis=1)
    vocab, df = np.unique(pairs[1], return_counts=True)
    idf = np.log((1 + train.height) / (1 + df)) + 1.0
    x = _tfidf(s_rows, s_terms, train.height, vocab, idf)
    # saga: lbfgs spends seconds in scipy 1.17's L-BFGS-B on even a few hundred rows.
    model = LogisticRegression(C=4.0, solver="saga", max_iter=2000, tol=1e-4)
    model.fit(x, train["label"].to_list())
    c_rows, c_terms = _term_hashes(*ctx.text_tokens(frame))
    proba = model.predict_proba(_tfidf(c_rows, c_terms, n, vocab, idf))
    classes = [str(c) for c in model.classes_]
    col = {c: i for i, c in enumerate(classes)}
    labels = frame["label"].to_list()
    assigned_idx = np.array([col.get(lab, -1) for lab in labels])
    known = assigned_idx >= 0
    top = proba.max(axis=1)
    top_label = np.array(classes, dtype=object)[proba.argmax(axis=1)]
    assigned = np.where(known, proba[np.arange(n), np.maximum(assigned_idx, 0)], np.nan)
    margin = np.where(known, top - assigned, np.nan)
    drop = known & (margin > cfg.max_margin)
    detail = np.full(n, None, dtype=object)
    for i in np.flatnonzero(drop).tolist():
        detail[i] = (
            f"classifier prefers {top_label[i]!r} ({top[i]:.2f}) "
            f"over {labels[i]!r} ({assigned[i]:.2f})"
        )
    return Verdict(_decisions(n, drop, "label_disagreement", margin, detail))


FILTERS: dict[str, FilterFn] = {
    "schema_valid": schema_valid_filter,
    "empty_fields": empty_fields_filter,
    "degenerate": degenerate_filter,
    "prompt_echo": prompt_echo_filter,
    "format_artifact": format_artifact_filter,
    "voice": voice_filter,
    "length_bounds": length_bounds_filter,
    "label_not_allowed": label_not_allowed_filter,
    "exact_duplicate": exact_duplicate_filter,
    "seed_copy": seed_copy_filter,
    "eval_contamination": eval_contamination_filter,
    "near_duplicate": near_duplicate_filter,
    "pii": pii_filter,
    "label_agreement": label_agreement_filter,
    "realism": realism_filter,
    # Run by the kinds that name them (`DatasetKind.extra_filters`), after the spec's list.
    "pair_identical": pair_identical_filter,
    "pair_verdict": pair_verdict_filter,
    "repeated_turn": repeated_turn_filter,
    "real_copy": real_copy_filter,
    "too_close": too_close_filter,
    "unique_combination": unique_combination_filter,
    "identifier_leak": identifier_leak_filter,
}

# Filters that check a record feature only some kinds have (`DatasetKind.families`); a kind
# without it keeps every row with the reason.
FILTER_FAMILIES: dict[str, str] = {
    "label_not_allowed": "labels",
    "label_agreement": "labels",
    "pair_identical": "pairs",
    "pair_verdict": "pairs",
    "repeated_turn": "turns",
    "real_copy": "table",
    "too_close": "table",
    "unique_combination": "table",
    "identifier_leak": "table",
}
