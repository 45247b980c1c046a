"""How much of a set of records is junk by content: two estimates the report combines.

1. Re-run: the report runs the spec's content filters (all but realism, which flags a
   fixed share of any set by design) over the rows a version would publish, so rows that
   reached the dataset any other way (a spec that turned a filter off, rows written by
   hand, a planted test) are counted. By construction it cannot see
   junk the filters miss: on curated rows it reads near zero whatever their quality.
2. Missed junk: the filters' recall and precision, measured against reviewers' verdicts
   by the junk benchmark (`bench/junk_filter.py`), say how much junk got past them. If the
   content filters dropped D candidates, about D x precision were junk, and that was
   `recall` of the junk there was: D x precision x (1 - recall) / recall junk rows are
   estimated to remain among the K kept rows. The figures live in the spec
   (`curation.junk_estimate`) with the benchmark's values as defaults; a version where
   realism dropped nothing takes the benchmark's figures for the chain without it
   (`junk_estimate.without_realism`: recall 0.29, not 0.81).

Both carry a 95% interval. Review verdicts, when they exist, are a direct measure and
replace neither: the report's junk share is the largest of the three.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import polars as pl

from synth_pipeline.curation.config import CONTENT_FILTERS
from synth_pipeline.stats import wilson_interval

if TYPE_CHECKING:
    from synth_pipeline.spec import DatasetSpec


@dataclass(frozen=True)
class JunkEstimate:
    share: float
    low: float
    high: float
    flagged: int
    rows: int
    by_reason: dict[str, int]
    method: str = "the spec's content filters re-run over the records"


@dataclass(frozen=True)
class MissedJunkEstimate:
    share: float
    low: float
    high: float
    dropped_by_content: int
    kept: int
    method: str = (
        "content-filter drops x benchmark precision x (1 - recall) / recall, over the kept rows"
    )


def missed_junk_share(
    spec: DatasetSpec, audit: pl.DataFrame, kept: int
) -> MissedJunkEstimate | None:
    """Junk estimated to have passed the content filters, as a share of the kept rows.

    The interval spans the benchmark's recall interval (`recall_low`..`recall_high`).
    """
    if kept <= 0 or audit.height == 0 or "filter" not in audit.columns:
        return None
    cfg: Any = spec.curation.junk_estimate
    dropped = audit.filter(~pl.col("kept") & pl.col("filter").is_in(list(CONTENT_FILTERS)))
    d = dropped.height
    method = MissedJunkEstimate.method
    if dropped.filter(pl.col("filter") == "realism").is_empty():
        # Realism did not run (or found nothing): the benchmark's recall with realism would
        # make the few drops of the other filters look like most of the junk.
        cfg, method = cfg.without_realism, method + " (the figures without realism)"

    def share(recall: float) -> float:
        return min(1.0, d * cfg.precision * (1 - recall) / recall / kept)

    return MissedJunkEstimate(
        share(cfg.recall), share(cfg.recall_high), share(cfg.recall_low), d, kept, method
    )


# Realism is a relative judgement: it flags the rows of a set that look least like the seeds,
# a fixed share of any set by design, so re-run over published rows it would measure its
# own quantile, not junk. Its drops still count in the missed-junk estimate.
RERUN_FILTERS = tuple(f for f in CONTENT_FILTERS if f != "realism")


def content_spec(spec: DatasetSpec) -> DatasetSpec:
    """The spec with only its re-runnable content filters switched on, in the spec's order."""
    filters = [f for f in spec.curation.filters if f in RERUN_FILTERS]
    curation = spec.curation.model_copy(update={"filters": filters})
    return spec.model_copy(update={"curation": curation})


def estimate_junk_share(
    spec: DatasetSpec, records: pl.DataFrame, seeds: pl.DataFrame, holdout: pl.DataFrame
) -> JunkEstimate:
    """Share of `records` (record columns) that the spec's content filters flag as junk."""
    from synth_pipeline.curation.pipeline import run_curation

    n = records.height
    if n == 0:
        return JunkEstimate(0.0, 0.0, 1.0, 0, 0, {})
    result = run_curation(content_spec(spec), records, seeds, holdout)
    dropped = result.audit.filter(~pl.col("kept"))
    by_reason = {r: int(c) for r, c in dropped.group_by("reason").len().sort("reason").iter_rows()}
    flagged = dropped.height
    low, high = wilson_interval(n - flagged, n)  # interval of the clean share
    return JunkEstimate(flagged / n, 1 - high, 1 - low, flagged, n, by_reason)
