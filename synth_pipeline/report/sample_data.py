"""Generated record frames for the report's tests and benchmark (no model, no files).

Texts are drawn from a shared Zipf-distributed filler vocabulary plus label-specific
topic words, so a classifier can learn the labels and two draws of the same
`TextDistribution` are statistically indistinguishable.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import polars as pl

from synth_pipeline.records import record_id


@lru_cache(maxsize=256)
def _words(prefix: str, n: int) -> tuple[str, ...]:
    return tuple(f"{prefix}{i}" for i in range(n))


@lru_cache(maxsize=16)
def _zipf(n: int) -> np.ndarray:
    p = 1 / np.arange(1, n + 1)
    return p / p.sum()


@dataclass(frozen=True)
class TextDistribution:
    labels: tuple[str, ...]
    filler_size: int = 600
    topic_size: int = 40
    topic_share: float = 0.35
    min_tokens: int = 8
    max_tokens: int = 30
    vocab_tag: str = "w"  # a different tag gives a disjoint vocabulary (a "wrong" distribution)

    def _filler(self) -> tuple[str, ...]:
        return _words(f"{self.vocab_tag}", self.filler_size)

    def _topic(self, label: str) -> tuple[str, ...]:
        return _words(f"{self.vocab_tag}{label}x", self.topic_size)

    def text(self, label: str | None, rng: np.random.Generator) -> str:
        filler = self._filler()
        p = _zipf(len(filler))
        n = int(rng.integers(self.min_tokens, self.max_tokens + 1))
        fill_idx = rng.choice(len(filler), size=n, p=p)
        if not label:
            return " ".join(filler[i] for i in fill_idx)
        topic = self._topic(label)
        use_topic = rng.random(n) < self.topic_share
        topic_idx = rng.integers(len(topic), size=n)
        return " ".join(
            topic[t] if u else filler[f]
            for u, t, f in zip(use_topic, topic_idx, fill_idx, strict=True)
        )


def labelled_frame(
    dist: TextDistribution,
    n: int,
    *,
    seed: int,
    prefix: str = "syn",
    label_probs: list[float] | None = None,
    label_of_text: dict[str, str] | None = None,
) -> pl.DataFrame:
    """`n` records with `text` and `label` fields. `label_of_text` relabels (wrong labels)."""
    rng = np.random.default_rng(seed)
    labels = list(dist.labels)
    rows = []
    for i in range(n):
        lbl = labels[int(rng.choice(len(labels), p=label_probs))]
        text = dist.text(lbl, rng)
        shown = label_of_text.get(lbl, lbl) if label_of_text else lbl
        rec = {"text": text, "label": shown}
        rows.append(
            {
                "record_id": record_id(prefix, {**rec, "i": i}),
                "text": text,
                "label": shown,
                "record": json.dumps(rec, sort_keys=True),
            }
        )
    return pl.DataFrame(
        rows,
        schema={"record_id": pl.String, "text": pl.String, "label": pl.String, "record": pl.String},
    )


def instruction_frame(dist: TextDistribution, n: int, *, seed: int, prefix: str = "syn"):
    """`n` question/answer records (the question is the text field)."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        topic = dist.labels[int(rng.integers(len(dist.labels)))]
        q = dist.text(topic, rng) + "?"
        a = " ".join(dist.text(topic, rng) for _ in range(2)) + "."
        rec = {"question": q, "answer": a}
        rows.append(
            {
                "record_id": record_id(prefix, {**rec, "i": i}),
                "text": q,
                "label": None,
                "record": json.dumps(rec, sort_keys=True),
            }
        )
    return pl.DataFrame(
        rows,
        schema={"record_id": pl.String, "text": pl.String, "label": pl.String, "record": pl.String},
    )
