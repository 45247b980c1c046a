"""Prompt echo: output that repeats the prompt's own words instead of writing a record.

Small models answer "What the customer wrote." (the field description), "refund_request"
(the label), or "Write one example" (the instruction) instead of a record. Every piece of
text the generator may have been shown is a source: the task, the field names and
descriptions, the labels, and the literal text of every built-in prompt template. A record
is an echo when it shares a run of `prompt_echo_ngram` words (3 by default, so a
four-word field description is caught) with a source, or when it is nothing but a label or
field name. Runs that real records also contain ("can you help") are not evidence of
an echo and are ignored, so the check adapts to each dataset's own language.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

import numpy as np
import polars as pl
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

from synth_pipeline.curation.base import CurationContext, Verdict, _decisions, keep_all
from synth_pipeline.curation.text import string_content_fields

_WORD = re.compile(r"[a-z0-9']+")
_TEMPLATE_DIR = Path(__file__).resolve().parents[1] / "generation" / "templates"
_JINJA = re.compile(r"\{#.*?#\}|\{%.*?%\}|\{\{.*?\}\}", re.S)
# Instructions of earlier prompt versions, still echoed by rows generated with them.
LEGACY_PHRASES = (
    "write one new record in the same style",
    "do not copy the examples change the situation the details and the wording",
    "reply with the json object only",
    "at most 400 characters",
    "here are real examples to show the style only",
)


@lru_cache(maxsize=1)
def template_phrases() -> tuple[str, ...]:
    """The literal text of every built-in prompt template, jinja tags removed."""
    out = []
    for path in sorted(_TEMPLATE_DIR.glob("*.j2")):
        out += [p for p in _JINJA.split(path.read_text(encoding="utf-8")) if p.strip()]
    return tuple(out)


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower().replace("_", " "))


def windows_of(phrases: list[str], n: int) -> set[str]:
    """Every run of n consecutive words in the phrases."""
    out: set[str] = set()
    for phrase in phrases:
        w = words(phrase)
        out.update(" ".join(w[i : i + n]) for i in range(len(w) - n + 1))
    return out


def rendered_requests(ctx: CurationContext) -> list[str]:
    """The request turns of the few-shot prompts as the model saw them, per label."""
    from synth_pipeline.generation.prompts import render

    out = []
    for label in ctx.spec.labels or [None]:
        for template in ("ask.j2", "seed_variation.j2"):
            out += [render(template, label=label, n_examples=k) for k in (0, 1)]
    return out


def prompt_sources(ctx: CurationContext) -> list[str]:
    spec = ctx.spec
    return [
        spec.task,
        *(f.description for f in spec.fields),
        *spec.labels,
        *template_phrases(),
        *rendered_requests(ctx),
        *LEGACY_PHRASES,
    ]


def echo_windows(ctx: CurationContext, n: int) -> list[str]:
    """Prompt word runs that no real record contains and that hold a content word."""
    real = [t for t in ctx.seeds["text"].drop_nulls().to_list()]
    real_windows = windows_of(real, n)
    return sorted(
        w
        for w in windows_of(prompt_sources(ctx), n) - real_windows
        if any(t not in ENGLISH_STOP_WORDS for t in w.split())
    )


def _normalise(texts: pl.Series) -> pl.Series:
    return (
        texts.fill_null("")
        .str.to_lowercase()
        .str.replace_all("_", " ")
        .str.replace_all(r"[^a-z0-9']+", " ")
        .str.strip_chars()
    )


def prompt_echo_filter(frame: pl.DataFrame, ctx: CurationContext) -> Verdict:
    """Drop ("prompt_echo") a record whose string fields share a run of
    `degenerate.prompt_echo_ngram` words with the prompt (score: runs found), or whose
    whole text is a label, a field name or an identifier with underscores."""
    n_rows = frame.height
    if n_rows == 0:
        return keep_all(0)
    spec = ctx.spec
    n = spec.curation.degenerate.prompt_echo_ngram
    windows = echo_windows(ctx, n)
    fields = ctx.fields(frame)
    columns = [c for c in string_content_fields(spec) if c in fields.columns] or []
    texts = [fields[c] for c in columns] or [frame["text"]]
    hits = np.zeros(n_rows, dtype=np.int64)
    found = np.full(n_rows, None, dtype=object)
    if windows:
        pattern = "|".join(rf"\b{re.escape(w)}\b" for w in windows)
        for series in texts:
            norm = _normalise(series)
            counts = norm.str.count_matches(pattern).fill_null(0).to_numpy()
            first = norm.str.extract(f"({pattern})", 1).to_numpy()
            for i in np.flatnonzero((counts > 0) & (found == None)):  # noqa: E711
                found[i] = first[i]
            hits += counts
    names = {" ".join(words(x)) for x in [*spec.labels, *(f.name for f in spec.fields)]}
    # snake_case identifiers are how labels and fields are written, not how people write,
    # unless the real records do it too.
    ident = re.compile(r"\b[a-z0-9]+_[a-z0-9_]+\b", re.I)
    seeds_use_idents = any(ident.search(t) for t in ctx.seeds["text"].drop_nulls().to_list())
    bare = np.zeros(n_rows, dtype=bool)
    for series in texts:
        norm = _normalise(series).to_list()
        raw = series.fill_null("").to_list()
        bare |= np.array(
            [
                t in names or (not seeds_use_idents and bool(ident.search(r)))
                for t, r in zip(norm, raw, strict=True)
            ],
            dtype=bool,
        )
    drop = (hits > 0) | bare
    detail = np.array(
        [
            f'repeats the prompt: "{f}"' if f is not None else "is a label or field name"
            for f in found
        ],
        dtype=object,
    )
    return Verdict(_decisions(n_rows, drop, "prompt_echo", hits.astype(float), detail))
