"""The spec's `eval:` section: what an eval version (`purpose: eval`) must hold.

An eval version is never synthetic-only: its `dataset` stage writes the version's real
holdout rows (`origin` real) next to its curated synthetic rows (`origin` synthetic), and
the blocking dataset suite refuses it when too few of its rows are real
(`synth_pipeline.quality.suites`, expectation `real_share_at_least_min`).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

# Values of `dataset_records.origin`.
ORIGIN_REAL = "real"
ORIGIN_SYNTHETIC = "synthetic"
ORIGINS = (ORIGIN_REAL, ORIGIN_SYNTHETIC)


class EvalSpec(BaseModel):
    """Settings of an eval version; read only when the spec says `purpose: eval`."""

    model_config = ConfigDict(extra="forbid")

    min_real_share: float = Field(
        default=0.5,
        ge=0,
        le=1,
        description="The share of an eval version's rows that must be real holdout rows "
        "(origin real), from 0 to 1. A blocking expectation of the dataset suite: an eval "
        "version below it fails and never publishes, so a synthetic-only or mostly synthetic "
        "eval set is refused. Only read when `purpose` is eval.",
    )
