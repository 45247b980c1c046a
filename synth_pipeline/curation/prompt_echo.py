"""Prompt echo: output that repeats the prompt's own words instead of writing a record.

Small models often answer "The customer's message to online-store support, as
the customer wrote it" -- the field description, not a message. A record that
shares a run of `ngram` consecutive words with the task or a field description
is dropped as "prompt_echo".
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import polars as pl

if TYPE_CHECKING:
    from synth_pipeline.curation.filters import CurationContext, Verdict

_WORD = re.compile(r"[a-z0-9']+")
# Instructions every strategy template shows the model.
TEMPLATE_PHRASES = (
    "write one new record in the same style",
    "do not copy the examples change the situation the details and the wording",
    "reply with the json object only",
    "at most 400 characters",
)


def _normalise_expr(col: str) -> pl.Expr:
    return (
        pl.col(col)
        .fill_null("")
        .str.to_lowercase()
        .str.replace_all(r"[^a-z0-9']+", " ")
        .str.strip_chars()
    )


def prompt_windows(phrases: list[str], n: int) -> list[str]:
    """Every run of n consecutive words in the prompt phrases."""
    windows: set[str] = set()
    for phrase in phrases:
        words = _WORD.findall(phrase.lower())
        for i in range(len(words) - n + 1):
            windows.add(" ".join(words[i : i + n]))
    return sorted(windows)


def echo_share(texts: pl.Series, windows: list[str], n: int) -> pl.Series:
    """Share of each text's n-word windows that come from the prompt (0 when none)."""
    if not windows:
        return pl.Series([0.0] * len(texts))
    frame = pl.DataFrame({"t": texts}).with_columns(_normalise_expr("t").alias("norm"))
    pattern = "|".join(rf"\b{re.escape(w)}\b" for w in windows)
    hits = frame["norm"].str.count_matches(pattern)
    words = frame["norm"].str.count_matches(r"\S+")
    total = (words - n + 1).clip(lower_bound=1)
    return (hits.cast(pl.Float64) / total.cast(pl.Float64)).clip(upper_bound=1.0)


def prompt_echo_filter(frame: pl.DataFrame, ctx: CurationContext) -> Verdict:
    from synth_pipeline.curation.filters import Verdict, _decisions

    spec = ctx.spec
    n = spec.curation.degenerate.prompt_echo_ngram
    phrases = [spec.task, *(f.description for f in spec.fields), *TEMPLATE_PHRASES]
    windows = prompt_windows(phrases, n)
    share = echo_share(frame["text"], windows, n)
    drop = (share > 0).to_numpy()
    return Verdict(
        _decisions(
            frame.height,
            drop,
            reason="prompt_echo",
            score=share.to_numpy(),
            detail=f"shares a run of {n} words with the prompt",
        )
    )
