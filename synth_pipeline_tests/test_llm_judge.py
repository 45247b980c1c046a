"""LLM-as-judge on the real embedded model: scores, rationales, the threshold and the cache."""

from __future__ import annotations

import json

import polars as pl
import pytest

from synth_pipeline.curation.judge_config import LlmJudgeSpec
from synth_pipeline.curation.llm_judge import run_llm_judge, verdict_model
from synth_pipeline.spec import load_spec
from synth_pipeline.warehouse import Warehouse

TEXTS = [
    ("refund_request", "I sent the lamp back two weeks ago and still have no refund. Order 5521."),
    ("order_status", "The customer's message to online-store support, as the customer wrote it."),
    ("damaged_item", "103103112006951246465"),
]


def _frame() -> pl.DataFrame:
    return pl.DataFrame(
        [
            {
                "record_id": f"c-{i}",
                "text": t,
                "label": label,
                "record": json.dumps({"text": t, "label": label}),
            }
            for i, (label, t) in enumerate(TEXTS)
        ]
    )


def test_verdict_schema_allows_only_the_scale():
    model = verdict_model(LlmJudgeSpec(scale_min=1, scale_max=3, threshold=2))
    assert model.model_json_schema()["properties"]["score"]["enum"] == [1, 2, 3]
    with pytest.raises(ValueError):
        model(score=4, rationale="off the scale")


def test_scale_and_threshold_are_validated():
    with pytest.raises(ValueError, match="threshold must lie on the scale"):
        LlmJudgeSpec(scale_min=1, scale_max=5, threshold=7)


def test_embedded_judge_scores_every_row_and_is_cached(project):
    spec = load_spec(project.add_dataset("support_intents"))
    cfg = LlmJudgeSpec(enabled=True, threshold=3)
    wh = Warehouse(project.warehouse_path)

    first = run_llm_judge(spec, cfg, _frame(), wh)

    assert first.audit.height == len(TEXTS)
    scored = first.audit.filter(pl.col("score").is_not_null())
    assert scored["score"].is_between(1, 5).all()
    assert (scored["detail"].str.len_chars() > 0).all()  # a rationale per row
    expected_kept = {r for r, s in first.scores.items() if s >= cfg.threshold}
    assert set(first.kept["record_id"]) == expected_kept
    assert first.calls >= len(TEXTS) - first.failures_by_reason.get("truncated", 0) - 1

    again = run_llm_judge(spec, cfg, _frame(), wh)
    assert again.calls == 0 and again.cache_hits == len(TEXTS)
    assert again.scores == first.scores
