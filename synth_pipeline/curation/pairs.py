"""Filters of preference pairs (the `pairs` family, `kinds/preference.py`): a pair must hold
two different answers and a verdict that does not depend on the order they were shown in."""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

from synth_pipeline.curation.base import CurationContext, Verdict, _decisions, keep_all
from synth_pipeline.curation.text import record_objects, word_set
from synth_pipeline.kinds import kind_of

# Word-set Jaccard at or above which two answers count as the same answer.
NEAR_IDENTICAL = 0.9


def pair_identical_filter(frame: pl.DataFrame, ctx: CurationContext) -> Verdict:
    """Drop ("identical_pair") pairs whose chosen and rejected answers are the same or nearly
    (word-set Jaccard >= 0.9): nothing to prefer; the score is the Jaccard."""
    n = frame.height
    if n == 0:
        return keep_all(0)
    score = np.zeros(n)
    for i, rec in enumerate(record_objects(frame)):
        a, b = word_set(str(rec.get("chosen", ""))), word_set(str(rec.get("rejected", "")))
        score[i] = len(a & b) / len(a | b) if a | b else 1.0
    drop = score >= NEAR_IDENTICAL
    detail = [
        f"answers {s:.0%} the same words" if d else None for s, d in zip(score, drop, strict=True)
    ]
    return Verdict(_decisions(n, drop, "identical_pair", score, detail))


def pair_verdict_filter(frame: pl.DataFrame, ctx: CurationContext) -> Verdict:
    """Drop pairs whose judge preferred a different answer when the order was swapped
    ("position_bias") and pairs whose mean score margin is under `preference.min_margin`
    ("small_margin": a tie); the score is the margin."""
    n = frame.height
    if n == 0:
        return keep_all(0)
    options: Any = kind_of(ctx.spec).options(ctx.spec)
    min_margin = float(options.min_margin)
    reason = np.full(n, None, dtype=object)
    detail = np.full(n, None, dtype=object)
    score = np.zeros(n)
    for i, rec in enumerate(record_objects(frame)):
        margin = float(rec.get("chosen_score", 0)) - float(rec.get("rejected_score", 0))
        score[i] = margin
        if not rec.get("verdicts_agree", False):
            reason[i] = "position_bias"
            detail[i] = "the judge's verdict changed with the order of the answers"
        elif margin < min_margin:
            reason[i] = "small_margin"
            detail[i] = f"margin {margin:.1f} < preference.min_margin {min_margin:g}"
    drop = np.array([r is not None for r in reason], dtype=bool)
    return Verdict(_decisions(n, drop, list(reason), score, list(detail)))
