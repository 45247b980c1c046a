"""`run_curation`: the configured filter chain over a candidate frame, with a full audit."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import polars as pl

from synth_pipeline.curation.base import keep_all
from synth_pipeline.curation.filters import FILTER_FAMILIES, FILTERS, CurationContext
from synth_pipeline.kinds import kind_of

if TYPE_CHECKING:
    from synth_pipeline.spec import DatasetSpec

KEPT_COLUMNS = ["record_id", "text", "label", "record"]
AUDIT_SCHEMA = {
    "record_id": pl.String,
    "filter": pl.String,
    "reason": pl.String,
    "score": pl.Float64,
    "detail": pl.String,
    "kept": pl.Boolean,
}
_ROW = "_row"


@dataclass
class CurationResult:
    """What curation kept and why everything else went.

    kept: the record columns (record_id, text, label, record; plus `strategy` when the
        candidates carry it) of the surviving rows, in candidate order, redactions applied.
    audit: one row per dropped row (kept=False) and per changed-but-kept row (kept=True,
        e.g. reason "pii_redacted"): record_id, filter, reason, score, detail, kept.
    counts: audit rows per reason.
    per_filter: for each filter in run order: in, out, dropped, changed, seconds, skipped.
    """

    kept: pl.DataFrame
    audit: pl.DataFrame
    counts: dict[str, int] = field(default_factory=dict)
    per_filter: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def dropped(self) -> int:
        return int((~self.audit["kept"]).sum()) if self.audit.height else 0


def _record_frame(frame: pl.DataFrame | None) -> pl.DataFrame:
    cols = {"record_id": pl.String, "text": pl.String, "label": pl.String, "record": pl.String}
    if frame is None:
        return pl.DataFrame(schema=cols)
    missing = [c for c in cols if c not in frame.columns]
    if missing:
        frame = frame.with_columns([pl.lit(None, cols[c]).alias(c) for c in missing])
    return frame


def run_curation(
    spec: DatasetSpec,
    candidates: pl.DataFrame,
    seeds: pl.DataFrame,
    holdout: pl.DataFrame,
    extra_eval: list[pl.DataFrame] | None = None,
    progress: Callable[[str], None] | None = None,
    reviewed: tuple[pl.DataFrame, pl.DataFrame] | None = None,
) -> CurationResult:
    """Run spec.curation.filters in order over `candidates`.

    Each filter sees only the rows every earlier filter kept. Seeds and holdout are the
    real frames (record columns); `extra_eval` are more frames no candidate may overlap
    (e.g. a downstream benchmark's test set). `reviewed` holds the (accepted, rejected)
    rows of earlier versions' reviews, which the realism filter learns from.
    """
    ctx = CurationContext(
        spec=spec,
        seeds=_record_frame(seeds),
        holdout=_record_frame(holdout),
        extra_eval=[_record_frame(f) for f in (extra_eval or [])],
        accepted=_record_frame(reviewed[0]) if reviewed else None,
        rejected=_record_frame(reviewed[1]) if reviewed else None,
    )
    frame = _record_frame(candidates).drop(_ROW, strict=False).with_row_index(_ROW)
    audits: list[pl.DataFrame] = []
    per_filter: dict[str, dict[str, Any]] = {}
    kind = kind_of(spec)
    for name in [*spec.curation.filters, *kind.extra_filters]:
        start = time.perf_counter()
        n_in = frame.height
        family = FILTER_FAMILIES.get(name)
        skipped = kind.skipped_filters.get(name) or (
            f"{kind.name} records have no {family}" if family and not kind.has(family) else None
        )
        verdict = keep_all(n_in, skipped) if skipped else FILTERS[name](frame, ctx)
        decisions = verdict.decisions
        if decisions.height != n_in:
            raise RuntimeError(
                f"filter {name} returned {decisions.height} decisions for {n_in} rows"
            )
        if verdict.frame is not None:
            frame = verdict.frame.with_columns(frame[_ROW])
            ctx.cache.clear()  # texts changed: derived tokens and hashes are stale
        flagged = pl.concat([frame.select("record_id"), decisions], how="horizontal").filter(
            pl.col("reason").is_not_null() | ~pl.col("keep")
        )
        audits.append(
            flagged.select(
                "record_id",
                pl.lit(name).alias("filter"),
                pl.col("reason").fill_null(name),
                "score",
                "detail",
                pl.col("keep").alias("kept"),
            )
        )
        frame = frame.filter(decisions["keep"])
        seconds = time.perf_counter() - start
        dropped = n_in - frame.height
        per_filter[name] = {
            "in": n_in,
            "out": frame.height,
            "dropped": dropped,
            "changed": int(flagged["keep"].sum()),
            "seconds": round(seconds, 3),
            "skipped": verdict.skipped,
        }
        if progress is not None:
            note = f" (skipped: {verdict.skipped})" if verdict.skipped else ""
            progress(f"curation {name}: {n_in} -> {frame.height} rows, {dropped} dropped{note}")
    audit = pl.concat(audits).cast(AUDIT_SCHEMA) if audits else pl.DataFrame(schema=AUDIT_SCHEMA)
    counts = (
        {r: int(c) for r, c in audit.group_by("reason").len().sort("reason").iter_rows()}
        if audit.height
        else {}
    )
    columns = KEPT_COLUMNS + (["strategy"] if "strategy" in frame.columns else [])
    return CurationResult(
        kept=frame.select(columns), audit=audit, counts=counts, per_filter=per_filter
    )


def label_shortfall(spec: DatasetSpec, kept: pl.DataFrame) -> dict[str, int]:
    """How many rows the kept data still lacks against the plan's target, as the kind counts
    them: per label for a labelled kind, one `_total` entry otherwise."""
    labels = kept["label"].to_list() if kept.height else []
    return kind_of(spec).shortfall(spec, labels)
