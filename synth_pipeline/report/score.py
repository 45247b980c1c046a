"""The 0-100 headline score, the junk share it is multiplied by, and the spec's thresholds.

Each part is a number in [0, 1]: the mean of the figures that feed it and exist for the
dataset, each mapped to [0, 1] by its rule in `metric_registry.METRICS` (detectability,
lengths, label shares, TSTR/TRTR or judge scores, distinct-2, compression, label coverage,
near-copies for text; column shapes, pair trends, efficacy, DCR share and membership
inference for tables). A kind's families pick which apply.

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
from synth_pipeline.report.metric_registry import METRICS, THRESHOLD_METRICS, Metric, part_method
from synth_pipeline.stats import wilson_interval

PARTS = ("fidelity", "utility", "diversity", "privacy")
CONTENT = "content"

CONTENT_METHOD = (
    "1 − junk share (the largest of the content filters' re-run estimate, the junk "
    "they probably missed given their benchmark recall, and the reviewers' rejection rate); "
    "multiplies the weighted mean of the other parts"
)


def score_method(families: frozenset[str]) -> dict[str, str]:
    """How each part (and the content multiplier) is computed for a kind with FAMILIES."""
    return {**{p: part_method(p, families) for p in PARTS}, CONTENT: CONTENT_METHOD}


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


def score_parts(
    metrics: dict[str, float], cfg: ReportSpec, families: frozenset[str] | None = None
) -> dict[str, float | None]:
    """Each weighted part in [0, 1], None when it cannot be computed from these metrics: the
    mean of the registry's figures for that part (`metric_registry`) that exist here, of the
    kind's FAMILIES when given."""
    out: dict[str, float | None] = {}
    for part in PARTS:
        entries = [m for m in METRICS if m.part == part]
        if families is not None:
            entries = [m for m in entries if m.applies(families)]
        values = []
        for m in entries:
            if m.instead_of and any(metrics.get(k) is not None for k in m.instead_of):
                continue
            rule = m.rule
            assert rule is not None, m.key
            value = _component(metrics, m.key, lambda v, r=rule: r(v, metrics, cfg), cfg)
            if value is not None:
                values.append(value)
        out[part] = _mean(values)
    return out


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


# threshold field -> the figure it bounds (its comparison and family come with it)
THRESHOLDS: dict[str, Metric] = THRESHOLD_METRICS


# Figures that feed a score part or a threshold.
DECISIVE_FIGURES = frozenset(m.key for m in METRICS if m.part or m.threshold)


def evaluate_thresholds(
    metrics: dict[str, float], cfg: ReportSpec, *, families: frozenset[str], kind: str = ""
) -> list[ThresholdResult]:
    """One result per threshold set in the spec (thresholds set to None are off, not listed).

    A threshold on a figure of a family the kind's records lack (FAMILIES; KIND names it)
    passes with a note; a figure that could not be computed fails the threshold. The observed
    figure decides; when its interval is too wide to decide on, the note says so (and whether
    the interval reaches across the limit).
    """
    out = []
    for name, entry in THRESHOLDS.items():
        metric, cmp = entry.key, entry.comparison
        limit = getattr(cfg, name)
        if limit is None:
            continue
        if not entry.applies(families) and name not in cfg.model_fields_set:
            continue  # a default of another kind's figures: nothing to say
        observed = metrics.get(metric)
        note = None
        if observed is None:
            if not entry.applies(families):
                passed, note = True, f"not applicable to {kind or 'these'} records"
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
