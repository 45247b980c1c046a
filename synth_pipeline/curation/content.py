"""How much of a set of records is junk by content: the content filters run again as a measure.

Curation drops what its content filters flag among the candidates; the report runs the
same filters over the rows a version would publish, so rows that reached the dataset any
other way (a spec that turned a filter off, rows written by hand, a planted test) are
counted. The share carries a Wilson 95% interval: it is an estimate from a finite sample.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

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


def content_spec(spec: DatasetSpec) -> DatasetSpec:
    """The spec with only its content filters switched on, in the spec's order."""
    filters = [f for f in spec.curation.filters if f in CONTENT_FILTERS]
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
