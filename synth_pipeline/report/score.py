"""The 0-100 headline score and the spec's thresholds.

Each part is a number in [0, 1]; a part's components are averaged with equal weight over
those that exist for the dataset:

- **fidelity**
  - detectability: clip(2 * (1 - AUC), 0, 1)  (AUC 0.5 -> 1, AUC 1.0 -> 0)
  - lengths: 1 - mean KS statistic of the string fields' character lengths
  - labels (labelled only): 1 - Jensen-Shannon distance of the label shares
- **utility**
  - labelled: min(1, TSTR macro-F1 / TRTR macro-F1) (TSTR macro-F1 when TRTR is 0)
  - instruction: mean judge score mapped from [judge_score_min, judge_score_max] to [0, 1];
    without judge scores the part is unavailable
- **diversity**
  - min(1, distinct-2 / real distinct-2) on equal-size samples
  - min(1, zlib compression ratio / real compression ratio) on equal-size samples
  - labelled only: share of the spec's labels present
- **privacy**: clip(1 - near-copy share (to seeds) - holdout contamination share, 0, 1)

headline = 100 * sum(w_p * part_p) / sum(w_p) over the available parts p, with the
weights of `report.weights` (defaults fidelity 0.3, utility 0.3, diversity 0.2,
privacy 0.2).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from synth_pipeline.report.config import ReportSpec

PARTS = ("fidelity", "utility", "diversity", "privacy")

SCORE_METHOD = {
    "fidelity": "mean of clip(2·(1 − detectability AUC), 0, 1), 1 − mean length KS, "
    "and (labelled) 1 − label JS distance",
    "utility": "labelled: min(1, TSTR macro-F1 / TRTR macro-F1); instruction: mean judge "
    "score rescaled to 0–1 (unavailable without judge scores)",
    "diversity": "mean of min(1, distinct-2 ÷ real), min(1, compression ratio ÷ real) on "
    "equal-size samples, and (labelled) label coverage",
    "privacy": "clip(1 − near-copy share − holdout contamination share, 0, 1)",
}


def _clip01(x: float) -> float:
    return float(min(1.0, max(0.0, x)))


def _mean(values: list[float]) -> float | None:
    return float(np.mean(values)) if values else None


def score_parts(metrics: dict[str, float], cfg: ReportSpec) -> dict[str, float | None]:
    """Each part in [0, 1], None when it cannot be computed from these metrics."""
    g = metrics.get
    fid = []
    if g("fidelity.detectability_auc") is not None:
        fid.append(_clip01(2 * (1 - g("fidelity.detectability_auc"))))
    if g("fidelity.length_ks_mean") is not None:
        fid.append(_clip01(1 - g("fidelity.length_ks_mean")))
    if g("fidelity.label_js_distance") is not None:
        fid.append(_clip01(1 - g("fidelity.label_js_distance")))

    util = None
    if g("utility.tstr_macro_f1") is not None:
        tstr, trtr = g("utility.tstr_macro_f1"), g("utility.trtr_macro_f1") or 0.0
        util = _clip01(tstr / trtr) if trtr > 0 else _clip01(tstr)
    elif g("utility.judge_score_mean") is not None:
        span = cfg.judge_score_max - cfg.judge_score_min
        util = _clip01((g("utility.judge_score_mean") - cfg.judge_score_min) / span)

    div = []
    if g("diversity.distinct_2_vs_real") is not None:
        div.append(_clip01(g("diversity.distinct_2_vs_real")))
    if g("diversity.compression_vs_real") is not None:
        div.append(_clip01(g("diversity.compression_vs_real")))
    if g("diversity.label_coverage") is not None:
        div.append(_clip01(g("diversity.label_coverage")))

    priv = None
    if g("privacy.near_copy_share") is not None:
        priv = _clip01(
            1 - g("privacy.near_copy_share") - (g("privacy.holdout_contamination_share") or 0)
        )
    return {"fidelity": _mean(fid), "utility": util, "diversity": _mean(div), "privacy": priv}


def headline(parts: dict[str, float | None], cfg: ReportSpec) -> float:
    weights = cfg.weights.as_dict()
    used = {p: weights[p] for p in PARTS if parts.get(p) is not None and weights[p] > 0}
    total = sum(used.values())
    if total == 0:
        return 0.0
    return 100.0 * sum(w * parts[p] for p, w in used.items()) / total  # type: ignore[operator]


def score_metrics(metrics: dict[str, float], cfg: ReportSpec) -> dict[str, float]:
    """`score.headline` and `score.<part>` (0-100) for a metrics dict."""
    parts = score_parts(metrics, cfg)
    out = {"score.headline": headline(parts, cfg)}
    for p, v in parts.items():
        if v is not None:
            out[f"score.{p}"] = 100.0 * v
    return out


@dataclass
class ThresholdResult:
    name: str
    metric: str
    comparison: str  # ">=" or "<="
    threshold: float
    observed: float | None
    passed: bool
    note: str | None = None

    def as_dict(self) -> dict:
        return asdict(self)


# threshold field -> (metric, comparison, labelled only)
THRESHOLDS: dict[str, tuple[str, str, bool]] = {
    "min_headline_score": ("score.headline", ">=", False),
    "min_tstr_macro_f1": ("utility.tstr_macro_f1", ">=", True),
    "max_detectability_auc": ("fidelity.detectability_auc", "<=", False),
    "max_near_copy_share": ("privacy.near_copy_share", "<=", False),
    "max_holdout_contamination": ("privacy.holdout_contamination_count", "<=", False),
    "max_label_js_distance": ("fidelity.label_js_distance", "<=", True),
}


def evaluate_thresholds(
    metrics: dict[str, float], cfg: ReportSpec, *, labelled: bool
) -> list[ThresholdResult]:
    """One result per threshold set in the spec (unset thresholds are off and not listed).

    A threshold for a labelled-only figure passes with a note on an instruction dataset;
    a figure that could not be computed fails the threshold.
    """
    out = []
    for name, (metric, cmp, labelled_only) in THRESHOLDS.items():
        limit = getattr(cfg, name)
        if limit is None:
            continue
        observed = metrics.get(metric)
        note = None
        if observed is None:
            if labelled_only and not labelled:
                passed, note = True, "not applicable to an instruction dataset"
            else:
                passed, note = False, "figure could not be computed"
        else:
            passed = observed >= limit if cmp == ">=" else observed <= limit
        out.append(ThresholdResult(name, metric, cmp, float(limit), observed, passed, note))
    return out
