"""The spec's `curation.llm_judge` section: a rubric, a scale, a threshold and a judge model."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class LlmJudgeSpec(BaseModel):
    """An optional LLM judge: scores each curated row against criteria, drops low scores."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(default=False, description="Run the LLM judge.")
    criteria: list[str] = Field(
        default_factory=lambda: [
            "The record fits the task and reads like real data, not like instructions.",
            "Every field is filled with content, not a placeholder or a description.",
        ],
        description="What the judge scores against; shown to the judge model.",
    )
    scale_min: int = Field(default=1, ge=0, description="Lowest score of the judge's scale.")
    scale_max: int = Field(default=5, ge=1, description="Highest score of the judge's scale.")
    threshold: int = Field(default=3, description="Rows scoring below this are dropped.")
    min_pass_rate: float = Field(
        default=0.5, ge=0, le=1, description="Gate: share of judged rows at or above threshold."
    )
    # The judge model: default the embedded model, whatever the generator is.
    kind: Literal["embedded", "openai", "openai_compatible"] = Field(
        default="embedded", description="The judge's provider kind, as provider.kind."
    )
    model: str | None = Field(default=None, description="The judge's model name.")
    base_url: str | None = Field(default=None, description="The judge's endpoint URL.")
    api_key_env: str | None = Field(
        default=None, description="Environment variable holding the judge's API key."
    )
    max_tokens: int = Field(default=128, ge=8, description="Most tokens of one verdict.")
    concurrency: int = Field(default=4, ge=1, le=256, description="Judge requests in flight.")

    @model_validator(mode="after")
    def _check_scale(self) -> LlmJudgeSpec:
        if self.scale_min >= self.scale_max:
            raise ValueError("llm_judge.scale_min must be below scale_max")
        if not self.scale_min <= self.threshold <= self.scale_max:
            raise ValueError("llm_judge.threshold must lie on the scale")
        if self.scale_max - self.scale_min > 20:
            raise ValueError("llm_judge scale spans at most 20 points")
        return self
