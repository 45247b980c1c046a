"""Filters of conversations (the `turns` family, `kinds/chat.py`): a turn must say something
new, not repeat an earlier turn of the same conversation."""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

from synth_pipeline.curation.base import CurationContext, Verdict, _decisions, keep_all
from synth_pipeline.curation.text import record_objects, word_set

# A turn repeats an earlier one when this share of its words (at least MIN_WORDS of them)
# is in that turn.
REPEAT_SHARE = 0.8
MIN_WORDS = 4


def _turns(record: dict[str, Any]) -> list[tuple[str, set[str]]]:
    messages = record.get("messages")
    if not isinstance(messages, list):
        return []
    return [
        (str(m.get("role")), word_set(str(m.get("content", ""))))
        for m in messages
        if isinstance(m, dict) and m.get("role") in ("user", "assistant")
    ]


def repeated_turn_filter(frame: pl.DataFrame, ctx: CurationContext) -> Verdict:
    """Drop ("repeated_turn") conversations with a turn whose words are mostly an earlier
    turn's (a model looping, a user asking the same again, an answer parroting the question);
    the score is the largest share."""
    n = frame.height
    if n == 0:
        return keep_all(0)
    score = np.zeros(n)
    detail = np.full(n, None, dtype=object)
    for row, record in enumerate(record_objects(frame)):
        turns = _turns(record)
        for j in range(1, len(turns)):
            role, words = turns[j]
            if len(words) < MIN_WORDS:
                continue
            for i in range(j):
                share = len(words & turns[i][1]) / len(words)
                if share > score[row]:
                    score[row] = share
                    detail[row] = f"turn {j + 1} ({role}) repeats turn {i + 1} ({turns[i][0]})"
    drop = score >= REPEAT_SHARE
    detail[~drop] = None
    return Verdict(_decisions(n, drop, "repeated_turn", score, list(detail)))
