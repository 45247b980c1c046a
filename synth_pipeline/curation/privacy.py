"""Filters of privacy stand-ins (the `table` family, `kinds/records.py`): a synthetic row may
not be a real one, sit closer to a real row than real rows sit to each other, reproduce a
quasi-identifier combination only one real person has, or carry a real identifier value.

"Real" is every real row the version has (seeds and holdout) except for `too_close`, which
measures the distance to the rows the synthesizer learned from (the seeds) against the
holdout's own distances to them.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from synth_pipeline.curation.base import CurationContext, Verdict, _decisions, keep_all
from synth_pipeline.kinds import kind_of
from synth_pipeline.tables import privacy


def _tables(
    frame: pl.DataFrame, ctx: CurationContext
) -> tuple[Any, pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """(the kind, candidates, seeds, holdout) as typed tables of the spec's columns."""
    from synth_pipeline.kinds.records import table_frame

    kind = kind_of(ctx.spec)
    key = "table:real"
    if key not in ctx.cache:
        ctx.cache[key] = (table_frame(ctx.spec, ctx.seeds), table_frame(ctx.spec, ctx.holdout))
    seeds, holdout = ctx.cache[key]
    return kind, table_frame(ctx.spec, frame), seeds, holdout


def _real(seeds: pl.DataFrame, holdout: pl.DataFrame) -> pl.DataFrame:
    return pl.concat([seeds, holdout], how="vertical_relaxed")


def real_copy_filter(frame: pl.DataFrame, ctx: CurationContext) -> Verdict:
    """Drop ("real_copy") a row equal to a real row (seed or holdout) on every column the
    synthesizer models."""
    n = frame.height
    if n == 0:
        return keep_all(0)
    kind, table, seeds, holdout = _tables(frame, ctx)
    drop = privacy.exact_copies(table, _real(seeds, holdout), kind.columns(ctx.spec))
    return Verdict(_decisions(n, drop, "real_copy", 1.0, "equals a real row"))


def too_close_filter(frame: pl.DataFrame, ctx: CurationContext) -> Verdict:
    """Drop ("too_close") a row closer to its nearest seed row than all but
    `records.too_close_quantile` of the holdout rows are to theirs: real people are not that
    alike, so such a row is a lightly changed copy. The score is its distance."""
    n = frame.height
    if n == 0:
        return keep_all(0)
    kind, table, seeds, holdout = _tables(frame, ctx)
    opts = kind.table_options(ctx.spec)
    # One distance space for the decision and the distance shown with it.
    distance, threshold = privacy.closeness(
        table, seeds, holdout, opts.columns, quantile=opts.too_close_quantile
    )
    drop = distance < threshold
    detail = [
        f"distance {d:.4f} to a seed row < {threshold:.4f}, the holdout's "
        f"{opts.too_close_quantile:.0%} quantile"
        if x
        else None
        for d, x in zip(distance.tolist(), drop.tolist(), strict=True)
    ]
    return Verdict(_decisions(n, drop, "too_close", distance, detail))


def unique_combination_filter(frame: pl.DataFrame, ctx: CurationContext) -> Verdict:
    """Drop ("unique_combination") a row whose quasi-identifier combination belongs to
    exactly one real person: published, it points at that person."""
    n = frame.height
    if n == 0:
        return keep_all(0)
    kind, table, seeds, holdout = _tables(frame, ctx)
    quasi = [c for c in kind.columns(ctx.spec) if c.role == "quasi_identifier"]
    if not quasi:
        return keep_all(n, "no quasi_identifier columns in records.columns")
    drop = privacy.reproduced_unique_combinations(table, _real(seeds, holdout), quasi)
    names = ", ".join(c.name for c in quasi)
    return Verdict(
        _decisions(n, drop, "unique_combination", 1.0, f"({names}) unique to one real row")
    )


def identifier_leak_filter(frame: pl.DataFrame, ctx: CurationContext) -> Verdict:
    """Drop ("identifier_leak") a row carrying an identifier value of the real table."""
    n = frame.height
    if n == 0:
        return keep_all(0)
    kind, table, seeds, holdout = _tables(frame, ctx)
    ids = [c for c in kind.columns(ctx.spec) if c.role == "identifier"]
    if not ids:
        return keep_all(n, "no identifier columns in records.columns")
    drop = privacy.leaked_identifiers(table, _real(seeds, holdout), ids)
    return Verdict(_decisions(n, drop, "identifier_leak", 1.0, "a real identifier value"))


def privacy_flags(
    spec: Any, frame: pl.DataFrame, seeds: pl.DataFrame, holdout: pl.DataFrame
) -> dict[str, list[float]]:
    """1.0/0.0 per row of FRAME for each privacy filter, recomputed from scratch: the quality
    suite's flags (`DatasetKind.row_flags`), so a gate holds even if curation skipped one."""
    ctx = CurationContext(spec=spec, seeds=seeds, holdout=holdout)
    out: dict[str, list[float]] = {}
    for name, fn in (
        ("real_copy", real_copy_filter),
        ("too_close", too_close_filter),
        ("unique_combination", unique_combination_filter),
        ("identifier_leak", identifier_leak_filter),
    ):
        keep = fn(frame, ctx).decisions["keep"].to_numpy()
        out[name] = (~keep).astype(float).tolist() if len(keep) else []
    return out
