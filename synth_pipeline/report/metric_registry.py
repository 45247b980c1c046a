"""The report's figures that count: one entry per figure, each saying which score part it
feeds and how, which threshold bounds it, and which family of figures it belongs to.

A kind picks the families its records have (`DatasetKind.families`): `text` (every kind whose
records are text: detectability, lengths, lexical diversity, near-copies, the junk share),
`labels` (label shares, TSTR), `table` (the records kind's columns: shapes, pair trends,
train-on-synthetic efficacy, distance to the closest record, membership inference). The
score (`score.score_parts`), the thresholds (`score.evaluate_thresholds`), the score method
shown in the report and docs/SPEC.md all read this list; a new figure that counts is one
entry here, next to the code that computes it.

Within a part, a figure with `instead_of` counts only when none of the figures it names
exists (TSTR macro-F1 when the equal-size ratio is missing; judge scores when there is no
TSTR). An undecided figure (interval too wide) enters at its interval's unfavourable end.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

from synth_pipeline.report.config import ReportSpec

ALL = "*"  # a figure every kind has (the headline)

# (figure, every figure of the version, the report settings) -> a component in [0, 1]
ScoreRule = Callable[[float, Mapping[str, float], ReportSpec], float]


def clip01(x: float) -> float:
    return float(min(1.0, max(0.0, x)))


@dataclass(frozen=True)
class Metric:
    key: str  # the figure's name in metrics.json
    family: str  # the record feature it measures; ALL for every kind
    better: Literal["higher", "lower"]
    part: str | None = None  # the score part it feeds; None: shown, not scored
    rule: ScoreRule | None = None
    method: str = ""  # how it enters its part, as the report prints it
    threshold: str | None = None  # the `report:` field bounding it (ReportSpec)
    instead_of: tuple[str, ...] = ()

    @property
    def comparison(self) -> str:
        """How the threshold compares: the figure must be at least / at most the limit."""
        return ">=" if self.better == "higher" else "<="

    def applies(self, families: frozenset[str] | set[str]) -> bool:
        return self.family == ALL or self.family in families


def _ratio_or_tstr(v: float, m: Mapping[str, float], cfg: ReportSpec) -> float:
    trtr = m.get("utility.trtr_macro_f1") or 0.0
    return clip01(v / trtr) if trtr > 0 else clip01(v)


def _judge(v: float, m: Mapping[str, float], cfg: ReportSpec) -> float:
    return clip01((v - cfg.judge_score_min) / (cfg.judge_score_max - cfg.judge_score_min))


def _no_better_than_chance(v: float, m: Mapping[str, float], cfg: ReportSpec) -> float:
    """An attack figure where 0.5 is chance (an AUC, a share of nearest records): 1 at or
    below chance, 0 at certainty."""
    return clip01(1 - 2 * max(0.0, v - 0.5))


METRICS: tuple[Metric, ...] = (
    Metric("score.headline", ALL, "higher", threshold="min_headline_score"),
    # --- text ---------------------------------------------------------------------
    Metric(
        "fidelity.detectability_auc",
        "text",
        "lower",
        "fidelity",
        lambda v, m, c: clip01(2 * (1 - v)),
        "clip(2·(1 − detectability AUC), 0, 1)",
        threshold="max_detectability_auc",
    ),
    Metric(
        "fidelity.length_ks_mean",
        "text",
        "lower",
        "fidelity",
        lambda v, m, c: clip01(1 - v),
        "1 − mean length KS",
    ),
    Metric(
        "utility.judge_score_mean",
        "text",
        "higher",
        "utility",
        _judge,
        "mean judge score rescaled to 0–1 (when there is no TSTR)",
        instead_of=("utility.tstr_trtr_f1_ratio", "utility.tstr_macro_f1"),
    ),
    Metric(
        "diversity.distinct_2_vs_real",
        "text",
        "higher",
        "diversity",
        lambda v, m, c: clip01(v),
        "min(1, distinct-2 ÷ real) on equal-size samples",
        threshold="min_distinct_2_vs_real",
    ),
    Metric(
        "diversity.compression_vs_real",
        "text",
        "higher",
        "diversity",
        lambda v, m, c: clip01(v),
        "min(1, compression ratio ÷ real) on equal-size samples",
    ),
    Metric(
        "privacy.near_copy_share",
        "text",
        "lower",
        "privacy",
        lambda v, m, c: clip01(1 - v - (m.get("privacy.holdout_contamination_share") or 0.0)),
        "clip(1 − near-copy share − holdout contamination share, 0, 1)",
        threshold="max_near_copy_share",
    ),
    Metric(
        "privacy.holdout_contamination_count",
        "text",
        "lower",
        threshold="max_holdout_contamination",
    ),
    Metric("content.junk_share", "text", "lower", threshold="max_estimated_junk_share"),
    # --- labels -------------------------------------------------------------------
    Metric(
        "fidelity.label_js_distance",
        "labels",
        "lower",
        "fidelity",
        lambda v, m, c: clip01(1 - v),
        "1 − label JS distance",
        threshold="max_label_js_distance",
    ),
    Metric(
        "utility.tstr_trtr_f1_ratio",
        "labels",
        "higher",
        "utility",
        lambda v, m, c: clip01(v),
        "min(1, TSTR macro-F1 / TRTR macro-F1), both trained on the same number of rows",
        threshold="min_tstr_trtr_ratio",
    ),
    Metric(
        "utility.tstr_macro_f1",
        "labels",
        "higher",
        "utility",
        _ratio_or_tstr,
        "TSTR macro-F1 (÷ TRTR when that is above 0) when the equal-size ratio is missing",
        threshold="min_tstr_macro_f1",
        instead_of=("utility.tstr_trtr_f1_ratio",),
    ),
    Metric(
        "diversity.label_coverage",
        "labels",
        "higher",
        "diversity",
        lambda v, m, c: clip01(v),
        "share of the spec's labels present",
    ),
    # --- table (the records kind) ---------------------------------------------------
    Metric(
        "fidelity.column_shapes",
        "table",
        "higher",
        "fidelity",
        lambda v, m, c: clip01(v),
        "mean per-column shape similarity (KS / total-variation complement)",
        threshold="min_column_shapes",
    ),
    Metric(
        "fidelity.pair_trends",
        "table",
        "higher",
        "fidelity",
        lambda v, m, c: clip01(v),
        "mean per-pair trend similarity (correlation / contingency similarity)",
    ),
    Metric(
        "utility.efficacy_ratio",
        "table",
        "higher",
        "utility",
        lambda v, m, c: clip01(v),
        "min(1, train-on-synthetic ÷ train-on-real) on the real holdout, for the spec's target",
        threshold="min_efficacy_ratio",
    ),
    Metric(
        "privacy.dcr_share",
        "table",
        "lower",
        "privacy",
        _no_better_than_chance,
        "1 − 2·max(0, share of synthetic rows nearest a training row − 0.5)",
        threshold="max_dcr_share",
    ),
    Metric(
        "privacy.membership_auc",
        "table",
        "lower",
        "privacy",
        _no_better_than_chance,
        "1 − 2·max(0, membership-inference AUC − 0.5)",
        threshold="max_membership_auc",
    ),
    Metric("privacy.exact_copies", "table", "lower", threshold="max_exact_copies"),
)

# A family in words (docs/SPEC.md's threshold table).
FAMILY_WORDS = {
    ALL: "every kind",
    "text": "text kinds",
    "labels": "labelled kinds",
    "table": "the records kind",
}

BY_KEY: dict[str, Metric] = {m.key: m for m in METRICS}
THRESHOLD_METRICS: dict[str, Metric] = {m.threshold: m for m in METRICS if m.threshold}


def scored(part: str, families: frozenset[str] | set[str]) -> list[Metric]:
    """The figures that feed PART for a kind with FAMILIES, in the order they count."""
    return [m for m in METRICS if m.part == part and m.applies(families)]


def part_method(part: str, families: frozenset[str] | set[str]) -> str:
    """How PART is computed for a kind with FAMILIES, in words."""
    methods = [m.method for m in scored(part, families)]
    return "mean of " + "; ".join(methods) if len(methods) > 1 else "".join(methods) or "—"
