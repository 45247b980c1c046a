"""The spec's `report:` section: report settings and blocking thresholds.

Every field has a default, so a spec without a `report:` section is valid. Thresholds
default to `None` (off); a threshold that is set is evaluated into the report's
`threshold_results` and the publish gate decides on them.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator


class HeadlineWeights(BaseModel):
    """Weights of the four parts of the 0-100 headline score (normalised to sum 1).

    A part that cannot be computed for a dataset (utility of an instruction dataset
    without judge scores) drops out and the others are re-normalised.
    """

    model_config = ConfigDict(extra="forbid")

    fidelity: float = Field(default=0.3, ge=0)
    utility: float = Field(default=0.3, ge=0)
    diversity: float = Field(default=0.2, ge=0)
    privacy: float = Field(default=0.2, ge=0)

    @model_validator(mode="after")
    def _check_sum(self) -> HeadlineWeights:
        if self.fidelity + self.utility + self.diversity + self.privacy <= 0:
            raise ValueError("report.weights: at least one weight must be positive")
        return self

    def as_dict(self) -> dict[str, float]:
        return {
            "fidelity": self.fidelity,
            "utility": self.utility,
            "diversity": self.diversity,
            "privacy": self.privacy,
        }


class ReportSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # --- settings -------------------------------------------------------------------
    near_copy_similarity: float = Field(
        default=0.9,
        gt=0,
        le=1,
        description="Cosine similarity above which a record is a near-copy.",
    )
    weights: HeadlineWeights = Field(
        default_factory=HeadlineWeights, description="Weights of the headline score parts."
    )
    random_seed: int = Field(default=0, description="Seed for every subsample and CV split.")
    detectability_max_per_side: int = Field(
        default=2000,
        ge=2,
        description="Real and synthetic records per side in the detectability CV (subsampled).",
    )
    cv_folds: int = Field(default=5, ge=2, le=20, description="Folds of the detectability CV.")
    mmd_max_per_side: int = Field(
        default=1000, ge=2, description="Records per side used for the TF-IDF MMD (subsampled)."
    )
    max_tfidf_features: int = Field(
        default=100_000, ge=100, description="Vocabulary cap of every TF-IDF space."
    )
    judge_score_min: float = Field(default=1.0, description="Lowest value of the judge scale.")
    judge_score_max: float = Field(default=5.0, description="Highest value of the judge scale.")

    # --- thresholds (None = off) ----------------------------------------------------
    min_headline_score: float | None = Field(default=None, ge=0, le=100)
    min_tstr_macro_f1: float | None = Field(
        default=None, ge=0, le=1, description="Labelled datasets only."
    )
    max_detectability_auc: float | None = Field(default=None, ge=0, le=1)
    max_near_copy_share: float | None = Field(default=None, ge=0, le=1)
    max_holdout_contamination: int | None = Field(
        default=None, ge=0, description="Synthetic records matching a holdout record."
    )
    max_label_js_distance: float | None = Field(
        default=None, ge=0, le=1, description="Labelled datasets only."
    )

    @model_validator(mode="after")
    def _check_judge_scale(self) -> ReportSpec:
        if self.judge_score_max <= self.judge_score_min:
            raise ValueError("report.judge_score_max must exceed report.judge_score_min")
        return self
