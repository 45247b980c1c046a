"""Text helpers shared by the report metrics: tokens, normalised text, fields of a record."""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import polars as pl
from sklearn.feature_extraction.text import HashingVectorizer, TfidfTransformer, TfidfVectorizer
from sklearn.pipeline import Pipeline

from synth_pipeline.kinds import kind_of
from synth_pipeline.spec import DatasetSpec

_TOKEN = re.compile(r"\w+")


def tokenize(text: str) -> list[str]:
    """Lower-cased word tokens (NFKC, case-folded, `\\w+`)."""
    return _TOKEN.findall(unicodedata.normalize("NFKC", text).casefold())


def normalize_text(text: str) -> str:
    """The text as comparable words: case-folded tokens joined by one space."""
    return " ".join(tokenize(text))


def ngrams(tokens: Sequence[str], n: int) -> Iterable[tuple[str, ...]]:
    return zip(*(tokens[i:] for i in range(n)), strict=False)


def parse_records(frame: pl.DataFrame, spec: DatasetSpec | None = None) -> list[dict[str, Any]]:
    """Every row's `record` JSON as a dict ({} when missing or not a JSON object); with
    SPEC, as its kind's flat view (a conversation's roles)."""
    view = (lambda rec: kind_of(spec).view(spec, rec)) if spec is not None else (lambda r: r)
    if "record" not in frame.columns:
        return [{} for _ in range(frame.height)]
    out: list[dict[str, Any]] = []
    for raw in frame.get_column("record").to_list():
        try:
            obj = json.loads(raw) if raw else {}
        except (TypeError, ValueError):
            obj = {}
        out.append(view(obj) if isinstance(obj, dict) else {})
    return out


def field_values(records: list[dict[str, Any]], field: str) -> list[str]:
    """String values of one field (missing -> empty string)."""
    return ["" if r.get(field) is None else str(r.get(field)) for r in records]


def content_texts(
    records: list[dict[str, Any]], fields: Sequence[str], fallback: Sequence[str]
) -> list[str]:
    """All string content fields of each record joined by newlines (the text when empty)."""
    out = []
    for rec, fb in zip(records, fallback, strict=True):
        parts = [str(rec[f]) for f in fields if rec.get(f) not in (None, "")]
        out.append("\n".join(parts) if parts else fb)
    return out


def texts(frame: pl.DataFrame) -> list[str]:
    if frame.height == 0 or "text" not in frame.columns:
        return []
    return [t or "" for t in frame.get_column("text").to_list()]


def labels(frame: pl.DataFrame) -> list[str | None]:
    if "label" not in frame.columns:
        return [None] * frame.height
    return frame.get_column("label").to_list()


Doc = str | list[str]  # raw text, or its features from `word_features`


def word_features(tokens: Sequence[str]) -> list[str]:
    """TF-IDF features of a token list: its words and its word bigrams ("a b")."""
    return [*tokens, *(f"{a} {b}" for a, b in zip(tokens, tokens[1:], strict=False))]


def to_features(docs: Iterable[Doc]) -> list[list[str]]:
    """Feature lists for texts (analysed here) or for feature lists (passed through).

    Analysing each corpus once and handing the lists to every vectorizer saves most of
    the vectorizers' time: sklearn's own analyser is pure Python.
    """
    return [d if isinstance(d, list) else word_features(tokenize(d)) for d in docs]


def _identity(doc: list[str]) -> list[str]:
    return doc


def make_tfidf(max_features: int, *, min_df: int = 1) -> TfidfVectorizer:
    """TF-IDF over `to_features` lists (words + bigrams), sublinear tf, unit-length rows."""
    return TfidfVectorizer(
        analyzer=_identity,
        lowercase=False,
        sublinear_tf=True,
        min_df=min_df,
        max_features=max_features,
        dtype=np.float64,
    )


def make_similarity_space(n_features: int = 2**20) -> Pipeline:
    """Hashed TF-IDF over `to_features` lists (sublinear tf, unit rows) for similarities.

    Hashing needs no vocabulary, so texts outside the IDF fit (the holdout) keep every
    n-gram, weighted like the rarest fitted ones: fitted and unfitted texts are treated
    alike and the holdout never shapes the space.
    """
    return Pipeline(
        [
            (
                "hash",
                HashingVectorizer(
                    analyzer=_identity,
                    lowercase=False,
                    n_features=n_features,
                    alternate_sign=False,
                    norm=None,
                    dtype=np.float64,
                ),
            ),
            ("idf", TfidfTransformer(sublinear_tf=True)),
        ]
    )
