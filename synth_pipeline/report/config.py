"""The spec's `report:` section: report settings and blocking thresholds."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class ReportSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    near_copy_similarity: float = Field(
        default=0.9, gt=0, le=1, description="Cosine similarity above which a record is a near-copy."
    )
