"""The spec's `regression:` section: how much worse than the published version a new version
may be before it is held.

Each figure has a tolerance; `null` leaves that figure out of the comparison. A version is
held when at least one figure is worse than the published version's by more than its
tolerance **and** the two versions' 95% intervals of that figure do not overlap (when the
report has intervals for it), so sampling noise between two equally good versions does not
hold a nightly run. Every field has a default, so a spec without the section compares on the
six figures below.

The defaults were set against the demo's figures (docs/BENCHMARKS.md) and the spread of the
same figures between random halves of real held-out rows standing in for two versions of
equal quality (synth_pipeline_tests/test_regression.py measures it on support_intents).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class RegressionSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(
        default=True,
        description="Compare every new version with the published one. Off: the check still "
        "runs and records that the comparison is off.",
    )
    # 0.05: five points of macro-F1 is a loss a model trained on the data shows. On 48 rows
    # the 95% interval is about ±0.13 wide, so the interval rule keeps small versions'
    # noise (0.47-0.60 between halves of the same real rows) from holding them.
    tstr_macro_f1: float | None = Field(
        default=0.05,
        ge=0,
        le=1,
        description="`utility.tstr_macro_f1` (labelled datasets), absolute: held when lower "
        "by more than this.",
    )
    # 0.05: five points more junk is one bad row in twenty; the fixed bar
    # (`report.max_estimated_junk_share`, 0.15) stops worse versions outright.
    junk_share: float | None = Field(
        default=0.05,
        ge=0,
        le=1,
        description="`content.junk_share`, absolute: held when higher by more than this.",
    )
    # 0.05: the demo measured 0.91-0.94 across versions. Values below 0.5 (a classifier at
    # chance) count as 0.5: between halves of real rows the AUC ranged 0.25-0.59, and an AUC
    # under chance is no better than chance.
    detectability_auc: float | None = Field(
        default=0.05,
        ge=0,
        le=1,
        description="`fidelity.detectability_auc`, absolute, values below 0.5 counted as 0.5: "
        "held when higher by more than this.",
    )
    # 0.10: the report has no interval for it; between halves of the same real rows it
    # ranged 0.95-1.05, and a generator collapsing onto templates loses far more (a third of
    # rows repeated: 1.0 -> 0.69).
    distinct_2_vs_real: float | None = Field(
        default=0.10,
        ge=0,
        description="`diversity.distinct_2_vs_real`, absolute: held when lower by more than this.",
    )
    # 0.25: a halved target or a curation that drops far more is caught; the yield of one
    # prompt set varies by a few percent between runs of a few hundred records.
    published_rows: float | None = Field(
        default=0.25,
        ge=0,
        le=1,
        description="`records.synthetic`, relative to the published version's count: held "
        "when smaller by more than this share (0.25: a quarter fewer rows).",
    )
    # 0.05: copies of seeds teach nothing new and leak the seeds; the interval is the Wilson
    # interval of the near-copy count among the synthetic rows.
    near_copy_share: float | None = Field(
        default=0.05,
        ge=0,
        le=1,
        description="`privacy.near_copy_share`, absolute: held when higher by more than this.",
    )
    # Tables (the records kind). 0.05 each: a stand-in whose columns drift or that sits
    # measurably closer to its training rows than the published one is held.
    column_shapes: float | None = Field(
        default=0.05,
        ge=0,
        le=1,
        description="`fidelity.column_shapes` (records), absolute: held when lower by more "
        "than this.",
    )
    dcr_share: float | None = Field(
        default=0.05,
        ge=0,
        le=1,
        description="`privacy.dcr_share` (records), absolute: held when higher by more than this.",
    )
    membership_auc: float | None = Field(
        default=0.05,
        ge=0,
        le=1,
        description="`privacy.membership_auc` (records), absolute: held when higher by more "
        "than this.",
    )
    require_separate_intervals: bool = Field(
        default=True,
        description="Hold only when the two versions' 95% intervals of the figure do not "
        "overlap (figures without intervals are decided by the tolerance alone). Off: the "
        "tolerance alone decides.",
    )

    def tolerance(self, key: str) -> float | None:
        return getattr(self, key)
