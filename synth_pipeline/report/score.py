"""The 0-100 headline score, the junk share it is multiplied by, and the spec's thresholds.

Each part is a number in [0, 1]; a part's components are averaged with equal weight over
those that exist for the dataset:

- **fidelity**
  - detectability: clip(2 * (1 - AUC), 0, 1)  (AUC 0.5 -> 1, AUC 1.0 -> 0)
  - lengths: 1 - mean KS statistic of the string fields' character lengths
  - labels (labelled only): 1 - Jensen-Shannon distance of the label shares
- **utility**
  - labelled: min(1, TSTR macro-F1 / TRTR macro-F1), both trained on the same number of
    rows (`utility.tstr_trtr_f1_ratio`; TSTR macro-F1 when TRTR is 0)
  - instruction: mean judge score mapped from [judge_score_min, judge_score_max] to [0, 1];
    without judge scores the part is unavailable
- **diversity**
  - min(1, distinct-2 / real distinct-2) on equal-size samples
  - min(1, zlib compression ratio / real compression ratio) on equal-size samples
  - labelled only: share of the spec's labels present
- **privacy**: clip(1 - near-copy share (to seeds) - holdout contamination share, 0, 1)

An undecided figure (95% interval wider than `report.max_decisive_interval_width`) enters
its component at the interval's unfavourable end (the low end of a TSTR/TRTR ratio, the
high end of an AUC), so a figure the data cannot pin down never reads as perfect.

headline = 100 * (1 - junk share) * sum(w_p * part_p) / sum(w_p) over the available parts
p, with the weights of `report.weights` (defaults fidelity 0.3, utility 0.3, diversity 0.2,
privacy 0.2).

The junk share (`content.junk_share`, see `junk_share`) is the largest of three estimates:
the spec's content filters re-run over the published rows (`content.estimated_junk_share`),
the junk the filters probably let through given their benchmark recall and precision
(`content.missed_junk_share`, see `synth_pipeline.curation.content`) and, when reviewers
have given verdicts, 1 - the reviewed acceptance rate. Multiplying by
(1 - junk share) means a version whose rows are 30% junk cannot score above 70, and one a
reviewer mostly rejects cannot score above 50, however well its other figures look: the
other parts measure the rows that are there, not whether they are what was asked for.
The "content" part shown next to the others is 100 * (1 - junk share).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np

from synth_pipeline.report.config import ReportSpec
from synth_pipeline.stats import wilson_interval

PARTS = ("fidelity", "utility", "diversity", "privacy")
CONTENT = "content"

SCORE_METHOD = {
    "fidelity": "mean of clip(2·(1 − detectability AUC), 0, 1), 1 − mean length KS, "
    "and (labelled) 1 − label JS distance",
    "utility": "labelled: min(1, TSTR macro-F1 / TRTR macro-F1), both trained on the same "
    "number of rows; instruction: mean judge score rescaled to 0–1 (unavailable without "
    "judge scores)",
    "diversity": "mean of min(1, distinct-2 ÷ real), min(1, compression ratio ÷ real) on "
    "equal-size samples, and (labelled) label coverage",
    "privacy": "clip(1 − near-copy share − holdout contamination share, 0, 1)",
    CONTENT: "1 − junk share (the largest of the content filters' re-run estimate, the junk "
    "they probably missed given their benchmark recall, and the reviewers' rejection rate); "
    "multiplies the weighted mean of the other parts",
}

JUNK_SHARE = "content.junk_share"
ESTIMATED_JUNK_SHARE = "content.estimated_junk_share"
MISSED_JUNK_SHARE = "content.missed_junk_share"
REVIEW_REVIEWED = "review.reviewed"
REVIEW_ACCEPTANCE_RATE = "review.acceptance_rate"


def _clip01(x: float) -> float:
    return float(min(1.0, max(0.0, x)))


def _mean(values: list[float]) -> float | None:
    return float(np.mean(values)) if values else None


# --- intervals --------------------------------------------------------------------


def interval(metrics: dict[str, float], key: str) -> tuple[float, float] | None:
    """The 95% interval of a figure (`<key>_low`, `<key>_high`), or None."""
    low, high = metrics.get(f"{key}_low"), metrics.get(f"{key}_high")
    if low is None or high is None:
        return None
    return float(low), float(high)


# Figures not on a 0-1 scale: lengths in characters have no "too wide", judge scores are
# measured against the width of their scale.
_UNSCALED = ("fidelity.mean_length.", "utility.answer_length_")
_JUDGE = "utility.judge_score_"


def is_undecided(metrics: dict[str, float], key: str, cfg: ReportSpec) -> bool:
    """True when the figure's interval is wider than `report.max_decisive_interval_width`
    (as a share of the judge scale for judge scores; never for lengths in characters)."""
    iv = interval(metrics, key)
    if iv is None or key.startswith(_UNSCALED):
        return False
    scale = cfg.judge_score_max - cfg.judge_score_min if key.startswith(_JUDGE) else 1.0
    return (iv[1] - iv[0]) / scale > cfg.max_decisive_interval_width


def undecided_figures(
    metrics: dict[str, float], cfg: ReportSpec, *, decisive_only: bool = False
) -> list[str]:
    """Figures of these metrics whose interval is too wide to decide on (only those that feed
    the score or a threshold with `decisive_only`)."""
    keys = [k[: -len("_low")] for k in metrics if k.endswith("_low")]
    if decisive_only:
        keys = [k for k in keys if k in DECISIVE_FIGURES]
    return sorted(k for k in keys if k in metrics and is_undecided(metrics, k, cfg))


def _component(
    metrics: dict[str, float], key: str, fn: Callable[[float], float], cfg: ReportSpec
) -> float | None:
    """fn(figure) in [0, 1]; for an undecided figure, the worse of fn at its interval's ends."""
    value = metrics.get(key)
    if value is None:
        return None
    if is_undecided(metrics, key, cfg):
        low, high = interval(metrics, key)  # type: ignore[misc]
        return min(fn(low), fn(high))
    return fn(value)


# --- junk share -------------------------------------------------------------------


def review_junk_share(metrics: dict[str, float]) -> float | None:
    """The reviewers' rejection rate, 1 - `review.acceptance_rate`, once a verdict exists.

    The hook for human review: `review.*` metrics (synth_pipeline.review.figures) added to a
    version's metrics make this count; `junk_share` takes the larger of it and the filters'
    estimate, so call `score_metrics` again after adding them.
    """
    reviewed = metrics.get(REVIEW_REVIEWED)
    rate = metrics.get(REVIEW_ACCEPTANCE_RATE)
    if not reviewed or rate is None:
        return None
    return _clip01(1.0 - rate)


def junk_share(metrics: dict[str, float]) -> dict[str, float]:
    """The junk share the score and the gate use: the larger of the available estimates.

    Returns `content.junk_share` with its interval (`_low`, `_high`: the Wilson interval of
    the estimate it came from) and `content.junk_share_from_review` (1.0 when the reviewers'
    rejection rate was the larger), or {} when neither estimate exists.
    """
    candidates: list[tuple[float, float, float, float]] = []  # (share, low, high, from review)
    est = metrics.get(ESTIMATED_JUNK_SHARE)
    if est is not None:
        low = metrics.get(f"{ESTIMATED_JUNK_SHARE}_low", est)
        high = metrics.get(f"{ESTIMATED_JUNK_SHARE}_high", est)
        candidates.append((est, low, high, 0.0))
    missed = metrics.get(MISSED_JUNK_SHARE)
    if missed is not None:
        low = metrics.get(f"{MISSED_JUNK_SHARE}_low", missed)
        high = metrics.get(f"{MISSED_JUNK_SHARE}_high", missed)
        candidates.append((missed, low, high, 0.0))
    rev = review_junk_share(metrics)
    if rev is not None:
        n = int(metrics[REVIEW_REVIEWED])
        rejected = round(rev * n)
        low, high = wilson_interval(rejected, n)
        candidates.append((rev, min(low, rev), max(high, rev), 1.0))
    if not candidates:
        return {}
    share, low, high, from_review = max(candidates, key=lambda c: (c[0], c[3]))
    return {
        JUNK_SHARE: share,
        f"{JUNK_SHARE}_low": low,
        f"{JUNK_SHARE}_high": high,
        "content.junk_share_from_review": from_review,
    }


def content_part(metrics: dict[str, float], cfg: ReportSpec) -> float | None:
    """1 - junk share in [0, 1] (the unfavourable end when undecided); None without one."""
    merged = {**metrics, **junk_share(metrics)}
    return _component(merged, JUNK_SHARE, lambda j: _clip01(1.0 - j), cfg)


# --- parts and headline -----------------------------------------------------------


def score_parts(metrics: dict[str, float], cfg: ReportSpec) -> dict[str, float | None]:
    """Each weighted part in [0, 1], None when it cannot be computed from these metrics."""

    def comp(key: str, fn: Callable[[float], float]) -> float | None:
        return _component(metrics, key, fn, cfg)

    fid = [
        c
        for c in (
            comp("fidelity.detectability_auc", lambda v: _clip01(2 * (1 - v))),
            comp("fidelity.length_ks_mean", lambda v: _clip01(1 - v)),
            comp("fidelity.label_js_distance", lambda v: _clip01(1 - v)),
        )
        if c is not None
    ]

    g = metrics.get
    util = None
    if g("utility.tstr_macro_f1") is not None:
        trtr = g("utility.trtr_macro_f1") or 0.0
        if g("utility.tstr_trtr_f1_ratio") is not None:
            util = comp("utility.tstr_trtr_f1_ratio", _clip01)
        elif trtr > 0:  # figures from before the equal-size ratio existed
            util = _clip01(g("utility.tstr_macro_f1") / trtr)
        else:  # TRTR is 0: TSTR alone
            util = comp("utility.tstr_macro_f1", _clip01)
    elif g("utility.judge_score_mean") is not None:
        span = cfg.judge_score_max - cfg.judge_score_min
        util = comp("utility.judge_score_mean", lambda v: _clip01((v - cfg.judge_score_min) / span))

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


def headline(
    parts: dict[str, float | None], cfg: ReportSpec, content: float | None = None
) -> float:
    """100 * content * weighted mean of the available parts (content 1 when unknown)."""
    weights = cfg.weights.as_dict()
    used = {p: weights[p] for p in PARTS if parts.get(p) is not None and weights[p] > 0}
    total = sum(used.values())
    if total == 0:
        return 0.0
    mean = sum(w * parts[p] for p, w in used.items()) / total  # type: ignore[operator]
    return 100.0 * mean * (1.0 if content is None else content)


def score_metrics(metrics: dict[str, float], cfg: ReportSpec) -> dict[str, float]:
    """`score.headline`, `score.<part>` (0-100), `score.content` and the junk share used.

    Idempotent: call it again after adding figures (review verdicts) to rescore a version.
    """
    junk = junk_share(metrics)
    merged = {**metrics, **junk}
    parts = score_parts(merged, cfg)
    content = content_part(merged, cfg)
    out = dict(junk)
    out["score.headline"] = headline(parts, cfg, content)
    out["score.before_content"] = headline(parts, cfg)
    for p, v in parts.items():
        if v is not None:
            out[f"score.{p}"] = 100.0 * v
    if content is not None:
        out[f"score.{CONTENT}"] = 100.0 * content
    return out


# --- thresholds -------------------------------------------------------------------


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
    "min_tstr_trtr_ratio": ("utility.tstr_trtr_f1_ratio", ">=", True),
    "max_detectability_auc": ("fidelity.detectability_auc", "<=", False),
    "max_estimated_junk_share": (JUNK_SHARE, "<=", False),
    "min_distinct_2_vs_real": ("diversity.distinct_2_vs_real", ">=", False),
    "max_near_copy_share": ("privacy.near_copy_share", "<=", False),
    "max_holdout_contamination": ("privacy.holdout_contamination_count", "<=", False),
    "max_label_js_distance": ("fidelity.label_js_distance", "<=", True),
}


# Figures that feed a score part or a threshold.
DECISIVE_FIGURES = frozenset(
    {
        "fidelity.detectability_auc",
        "fidelity.length_ks_mean",
        "fidelity.label_js_distance",
        "utility.tstr_trtr_f1_ratio",
        "utility.tstr_macro_f1",
        "utility.judge_score_mean",
        JUNK_SHARE,
        *(metric for metric, _, _ in THRESHOLDS.values()),
    }
)


def evaluate_thresholds(
    metrics: dict[str, float], cfg: ReportSpec, *, labelled: bool
) -> list[ThresholdResult]:
    """One result per threshold set in the spec (thresholds set to None are off, not listed).

    A threshold for a labelled-only figure passes with a note on an instruction dataset;
    a figure that could not be computed fails the threshold. The observed figure decides;
    when its interval is too wide to decide on, the note says so (and whether the interval
    reaches across the limit).
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
            if is_undecided(metrics, metric, cfg):
                low, high = interval(metrics, metric)  # type: ignore[misc]
                across = " and reaches across the limit" if low <= limit <= high else ""
                note = (
                    f"undecided: the 95% interval [{low:.3f}, {high:.3f}] is wider than "
                    f"{cfg.max_decisive_interval_width:g} (report.max_decisive_interval_width)"
                    f"{across}; more real or synthetic rows would settle it"
                )
        out.append(ThresholdResult(name, metric, cmp, float(limit), observed, passed, note))
    return out
