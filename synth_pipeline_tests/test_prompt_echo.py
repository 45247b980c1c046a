"""The prompt-echo filter drops output that repeats the prompt, and keeps real records."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl

from synth_pipeline.curation.filters import FILTERS, CurationContext
from synth_pipeline.curation.prompt_echo import echo_share, prompt_windows
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


def test_windows_and_share_by_hand():
    windows = prompt_windows(["The quick brown fox jumps"], 3)
    assert windows == ["brown fox jumps", "quick brown fox", "the quick brown"]
    share = echo_share(
        pl.Series(["so the quick brown cat", "nothing alike here at all"]), windows, 3
    )
    assert share.to_list() == [1 / 3, 0.0]  # 1 prompt window among 3 windows; none


def test_echoed_task_and_instructions_are_dropped_and_real_text_kept():
    spec = load_spec(DATA / "support_intents")
    frame = _frame(
        [
            "Classify a message a customer sent to the support team about my parcel.",
            "Where is my order 5521? It was due Monday and the tracking hasn't moved.",
            "Write one new record in the same style please",
            "My message to support: the parcel is late",  # shares 3 words only: kept
        ]
    )
    verdict = FILTERS["prompt_echo"](frame, CurationContext(spec, frame.clear(), frame.clear()))
    assert verdict.decisions["keep"].to_list() == [False, True, False, True]
    assert verdict.decisions["reason"].to_list()[0] == "prompt_echo"
    assert verdict.decisions["score"][0] > 0
