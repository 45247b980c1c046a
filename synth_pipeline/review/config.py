"""The spec's `review:` section: human review of a version's sample before publication."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class ReviewSpec(BaseModel):
    """Human review of a fixed random sample of each version's records.

    Reviewers accept or reject each sampled record (`synth review`). The review gate passes
    when the Wilson 95% lower bound of the acceptance rate reaches `min_acceptance`, and
    fails when every sampled record has a verdict and the bound stays below it.
    """

    model_config = ConfigDict(extra="forbid")

    required: bool = Field(
        default=False,
        description="Hold every version whose other gates passed as `awaiting_review` until "
        "its review gate passes; `synth review` then publishes it. A version made while this "
        "was on keeps waiting for its review even if the spec changes later. When off, "
        "verdicts are still recorded and reported but publication does not wait for them.",
    )
    sample_size: int = Field(
        default=50,
        ge=1,
        le=10_000,
        description="Records drawn for review per version (all of them when the version has "
        "fewer).",
    )
    min_acceptance: float = Field(
        default=0.9,
        ge=0,
        le=1,
        description="The gate: the Wilson 95% lower bound of the reviewed acceptance rate "
        "must reach this. A small sample cannot prove a high rate: with 50 of 50 accepted the "
        "bound is 0.93, with 45 of 50 it is 0.79.",
    )
    seed: int = Field(
        default=0,
        description="Seed of the random draw; the same seed and the same version's records "
        "always give the same sample.",
    )
