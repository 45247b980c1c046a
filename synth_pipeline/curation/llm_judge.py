"""LLM-as-judge: a rubric from the spec, a score and a rationale per row.

The judge goes through the generation engine, so it shares its cache (a re-run
pays nothing), its retries and its adaptive concurrency. It runs last in
curation, on the rows every cheaper filter kept, to spend calls only where
they matter.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import polars as pl
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from pydantic import BaseModel, Field

from synth_pipeline.curation.judge_config import LlmJudgeSpec
from synth_pipeline.generation.cache import ResponseCache
from synth_pipeline.generation.engine import GenerationEngine
from synth_pipeline.generation.planner import GenerationRequest
from synth_pipeline.generation.providers import resolve_provider
from synth_pipeline.spec import DatasetSpec, ProviderSpec
from synth_pipeline.warehouse import Warehouse

JUDGE_FILTER = "llm_judge"
AUDIT_SCHEMA = {
    "record_id": pl.String,
    "filter": pl.String,
    "reason": pl.String,
    "score": pl.Float64,
    "detail": pl.String,
    "kept": pl.Boolean,
}


@lru_cache(maxsize=1)
def _templates() -> Environment:
    return Environment(
        loader=FileSystemLoader(Path(__file__).parent / "templates"),
        undefined=StrictUndefined,
        autoescape=False,  # prompts are plain text
    )


def verdict_model(cfg: LlmJudgeSpec) -> type[BaseModel]:
    """The judge's answer schema: the score is an enum, so the server can only emit the scale."""
    scale = tuple(range(cfg.scale_min, cfg.scale_max + 1))

    class JudgeVerdict(BaseModel):
        score: Literal[scale] = Field(description="The score on the rubric's scale.")  # type: ignore[valid-type]
        rationale: str = Field(description="One sentence saying why.")

    return JudgeVerdict


def judge_provider_spec(cfg: LlmJudgeSpec) -> ProviderSpec:
    return ProviderSpec(
        kind=cfg.kind,
        model=cfg.model,
        base_url=cfg.base_url,
        api_key_env=cfg.api_key_env,
        temperature=0.0,  # a judge should be repeatable
        top_p=1.0,
        max_tokens=cfg.max_tokens,
        concurrency=cfg.concurrency,
    )


def judge_requests(
    spec: DatasetSpec, cfg: LlmJudgeSpec, frame: pl.DataFrame
) -> list[GenerationRequest]:
    env = _templates()
    system = env.get_template("judge_system.j2").render(
        task=spec.task, scale_min=cfg.scale_min, scale_max=cfg.scale_max
    )
    requests = []
    for row in frame.iter_rows(named=True):
        record = json.loads(row["record"]) if row["record"] else {"text": row["text"]}
        shown = {k: v for k, v in record.items() if k != spec.label_field}
        user = env.get_template("judge.j2").render(
            criteria=cfg.criteria,
            label=row.get("label"),
            record=shown,
            scale_min=cfg.scale_min,
            scale_max=cfg.scale_max,
        )
        messages = (
            (("content", system.strip()), ("role", "system")),
            (("content", user.strip()), ("role", "user")),
        )
        requests.append(
            GenerationRequest(
                strategy=JUDGE_FILTER,
                label=row.get("label"),
                seed_ids=(),
                messages=messages,
                sample_index=0,  # the same record judged again is the same question
            )
        )
    return requests


@dataclass
class JudgeResult:
    kept: pl.DataFrame
    audit: pl.DataFrame  # one row per judged record: scored (kept) or below threshold
    scores: dict[str, float]
    calls: int
    cache_hits: int
    failures_by_reason: dict[str, int]

    @property
    def pass_rate(self) -> float:
        if not self.scores:
            return 1.0
        return self.kept.height / len(self.scores) if self.scores else 1.0


def run_llm_judge(
    spec: DatasetSpec, cfg: LlmJudgeSpec, frame: pl.DataFrame, wh: Warehouse
) -> JudgeResult:
    """Score every row; drop those under the threshold. A row the judge could not score is
    dropped too ("judge_failed"): an unverified row must not pass a gate that requires a verdict.
    """
    if frame.is_empty():
        return JudgeResult(frame, pl.DataFrame(schema=AUDIT_SCHEMA), {}, 0, 0, {})
    # The judge is chosen by its own section: SYNTH_PROVIDER and friends steer the generator only.
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYNTH_")}
    if cfg.api_key_env and cfg.api_key_env in os.environ:
        env[cfg.api_key_env] = os.environ[cfg.api_key_env]
    provider = resolve_provider(judge_provider_spec(cfg), env=env)
    requests = judge_requests(spec, cfg, frame)
    engine = GenerationEngine(provider, verdict_model(cfg), ResponseCache(wh, spec.name))
    run = engine.run(requests)
    audit_rows: list[dict[str, Any]] = []
    keep: list[bool] = []
    scores: dict[str, float] = {}
    for rid, outcome in zip(frame["record_id"].to_list(), run.outcomes, strict=True):
        if outcome.status != "ok" or not outcome.response:
            keep.append(False)
            audit_rows.append(
                {
                    "record_id": rid,
                    "filter": JUDGE_FILTER,
                    "reason": "judge_failed",
                    "score": None,
                    "detail": outcome.error,
                    "kept": False,
                }  # fmt: skip
            )
            continue
        score = float(outcome.response["score"])
        scores[rid] = score
        passed = score >= cfg.threshold
        keep.append(passed)
        audit_rows.append(
            {
                "record_id": rid,
                "filter": JUDGE_FILTER,
                "reason": "judge_scored" if passed else "judge_below_threshold",
                "score": score,
                "detail": str(outcome.response.get("rationale", ""))[:500],
                "kept": passed,
            }
        )
    return JudgeResult(
        kept=frame.filter(pl.Series(keep, dtype=pl.Boolean)),
        audit=pl.DataFrame(audit_rows, schema=AUDIT_SCHEMA),
        scores=scores,
        calls=run.calls,
        cache_hits=run.cache_hits,
        failures_by_reason=run.failures_by_reason,
    )
