"""The prompt-echo filter drops output that repeats the prompt, and keeps real records."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl

from synth_pipeline.curation.filters import FILTERS, CurationContext
from synth_pipeline.curation.prompt_echo import windows_of
from synth_pipeline.spec import load_spec

DATA = Path(__file__).resolve().parents[1] / "data"


def _frame(texts: list[str]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "record_id": [f"r{i}" for i in range(len(texts))],
            "text": texts,
            "label": ["order_status"] * len(texts),
            "record": [json.dumps({"text": t, "label": "order_status"}) for t in texts],
        }
    )


def test_windows_by_hand():
    windows = windows_of(["The quick brown_fox jumps"], 3)
    assert windows == {"brown fox jumps", "quick brown fox", "the quick brown"}


def test_echoed_task_and_instructions_are_dropped_and_real_text_kept():
    spec = load_spec(DATA / "support_intents")
    frame = _frame(
        [
            "Classify a message a customer sent to the support team about my parcel.",
            "Where is my order 5521? It was due Monday and the tracking hasn't moved.",
            "Write one new record in the same style please",
            "My message to support: the parcel is late",  # no 3-word run of the prompt: kept
        ]
    )
    verdict = FILTERS["prompt_echo"](frame, CurationContext(spec, frame.clear(), frame.clear()))
    assert verdict.decisions["keep"].to_list() == [False, True, False, True]
    assert verdict.decisions["reason"].to_list()[0] == "prompt_echo"
    assert verdict.decisions["score"][0] > 0
