"""The regression rule on plain metric dicts: which figures of a version are clearly worse
than the published version's.

A figure is *worse beyond tolerance* when it moved in its bad direction by more than the
spec's tolerance (relative to the published value for the row count). It is *apart* when
the two versions' 95% intervals do not overlap; a figure with an interval on one side only
uses the point value on the other, and one without intervals is apart whenever it differs.
A figure *regresses* when it is both. Figures missing on either side are not compared.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from synth_pipeline.regression.config import RegressionSpec

Interval = tuple[float, float]


@dataclass(frozen=True)
class Figure:
    key: str  # the field of the spec's `regression:` section
    metric: str  # the report metric (a row of `report_metrics`)
    label: str
    higher_is_better: bool
    relative: bool = False  # the tolerance is a share of the published value
    floor: float | None = None  # values below count as this (detectability: chance level)
    # A share without bootstrap interval: its Wilson interval from a count and a total.
    count_metric: str | None = None
    total_metric: str | None = None
    integer: bool = False


FIGURES: tuple[Figure, ...] = (
    Figure("tstr_macro_f1", "utility.tstr_macro_f1", "TSTR macro-F1", higher_is_better=True),
    Figure("junk_share", "content.junk_share", "junk share", higher_is_better=False),
    Figure(
        "detectability_auc",
        "fidelity.detectability_auc",
        "detectability AUC",
        higher_is_better=False,
        floor=0.5,
    ),
    Figure(
        "distinct_2_vs_real",
        "diversity.distinct_2_vs_real",
        "distinct-2 vs real",
        higher_is_better=True,
    ),
    Figure(
        "published_rows",
        "records.synthetic",
        "published rows",
        higher_is_better=True,
        relative=True,
        integer=True,
    ),
    Figure(
        "near_copy_share",
        "privacy.near_copy_share",
        "near-copy share",
        higher_is_better=False,
        count_metric="privacy.near_copy_count",
        total_metric="records.synthetic",
    ),
    Figure("column_shapes", "fidelity.column_shapes", "column shapes", higher_is_better=True),
    Figure("dcr_share", "privacy.dcr_share", "DCR share", higher_is_better=False),
    Figure(
        "membership_auc",
        "privacy.membership_auc",
        "membership-inference AUC",
        higher_is_better=False,
        floor=0.5,
    ),
)
BY_METRIC = {f.metric: f for f in FIGURES}


def interval(metrics: dict[str, float], figure: Figure) -> Interval | None:
    """The figure's 95% interval: the report's bootstrap one, or a Wilson one for a share."""
    low, high = metrics.get(f"{figure.metric}_low"), metrics.get(f"{figure.metric}_high")
    if low is not None and high is not None:
        return float(low), float(high)
    if figure.count_metric and figure.total_metric:
        count, total = metrics.get(figure.count_metric), metrics.get(figure.total_metric)
        if count is not None and total:
            from synth_pipeline.stats import wilson_interval  # scipy: only when needed

            low, high = wilson_interval(round(count), round(total))
            return round(low, 12), round(high, 12)  # no 1e-17 for a bound at 0
    return None


@dataclass(frozen=True)
class FigureComparison:
    figure: Figure
    tolerance: float
    published: float | None
    published_interval: Interval | None
    candidate: float | None
    candidate_interval: Interval | None
    use_intervals: bool = True

    @property
    def compared(self) -> bool:
        return self.published is not None and self.candidate is not None

    def _floor(self, v: float) -> float:
        return max(v, self.figure.floor) if self.figure.floor is not None else v

    @property
    def change(self) -> float | None:
        """Candidate minus published (raw values)."""
        if not self.compared:
            return None
        assert self.published is not None and self.candidate is not None
        return self.candidate - self.published

    @property
    def worse_by(self) -> float | None:
        """How much worse the candidate is (negative: better); a share of the published value
        for a relative figure. Values under the figure's floor count as the floor."""
        if not self.compared:
            return None
        assert self.published is not None and self.candidate is not None
        p, c = self._floor(self.published), self._floor(self.candidate)
        worse = (p - c) if self.figure.higher_is_better else (c - p)
        if self.figure.relative:
            return worse / abs(p) if p else (0.0 if worse <= 0 else float("inf"))
        return worse

    @property
    def tolerance_edge(self) -> float | None:
        """The value past which the candidate is worse beyond tolerance."""
        if self.published is None:
            return None
        p = self._floor(self.published)
        step = abs(p) * self.tolerance if self.figure.relative else self.tolerance
        return p - step if self.figure.higher_is_better else p + step

    @property
    def beyond_tolerance(self) -> bool:
        w = self.worse_by
        return w is not None and w > self.tolerance + 1e-12

    @property
    def apart(self) -> bool:
        """The intervals (or points) lie apart, the candidate on the bad side."""
        if not self.compared:
            return False
        assert self.published is not None and self.candidate is not None
        p_lo, p_hi = self.published_interval or (self.published, self.published)
        c_lo, c_hi = self.candidate_interval or (self.candidate, self.candidate)
        p_lo, p_hi, c_lo, c_hi = map(self._floor, (p_lo, p_hi, c_lo, c_hi))
        if self.figure.higher_is_better:
            return c_hi < p_lo
        return c_lo > p_hi

    @property
    def regressed(self) -> bool:
        return self.beyond_tolerance and (self.apart or not self.use_intervals)

    @property
    def verdict(self) -> str:
        if not self.compared:
            side = "this version" if self.candidate is None else "the published version"
            return f"not compared: {side} has no {self.figure.metric}"
        w = self.worse_by or 0.0
        if self.regressed:
            return "worse beyond tolerance" + (
                ", intervals apart" if self.use_intervals and self.has_intervals else ""
            )
        if self.beyond_tolerance:
            return "worse beyond tolerance, within the intervals (noise)"
        if w > 1e-12:
            return "worse within tolerance"
        return "same or better"

    @property
    def has_intervals(self) -> bool:
        return self.published_interval is not None or self.candidate_interval is not None

    def tolerance_text(self) -> str:
        if self.figure.relative:
            return f"{self.tolerance:.0%} of published"
        return f"{self.tolerance:g}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "key": self.figure.key,
            "metric": self.figure.metric,
            "label": self.figure.label,
            "higher_is_better": self.figure.higher_is_better,
            "relative": self.figure.relative,
            "tolerance": self.tolerance,
            "published": self.published,
            "published_interval": list(self.published_interval)
            if self.published_interval
            else None,
            "candidate": self.candidate,
            "candidate_interval": list(self.candidate_interval)
            if self.candidate_interval
            else None,
            "worse_by": self.worse_by,
            "beyond_tolerance": self.beyond_tolerance,
            "intervals_apart": self.apart,
            "regressed": self.regressed,
            "verdict": self.verdict,
        }


@dataclass(frozen=True)
class Acceptance:
    """A person's decision to publish a version despite its regression."""

    accepted_by: str
    accepted_at: str  # ISO timestamp, UTC
    baseline: str | None  # the published version when it was accepted
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "accepted_by": self.accepted_by,
            "accepted_at": self.accepted_at,
            "baseline": self.baseline,
            "note": self.note,
        }


# The states of one comparison.
FIRST = "first_version"  # nothing published to compare with
OFF = "off"  # regression.enabled is false
PASSED = "passed"
HELD = "held"
ACCEPTED = "accepted"  # a regression a person accepted


@dataclass(frozen=True)
class Comparison:
    dataset: str
    version: str
    baseline: str | None  # the published version compared with
    enabled: bool = True
    figures: list[FigureComparison] = field(default_factory=list)
    acceptance: Acceptance | None = None

    @property
    def regressed(self) -> list[FigureComparison]:
        return [f for f in self.figures if f.regressed]

    @property
    def held(self) -> bool:
        return bool(self.regressed) and self.acceptance is None

    @property
    def state(self) -> str:
        if not self.enabled:
            return OFF
        if self.baseline is None:
            return FIRST
        if self.regressed:
            return HELD if self.acceptance is None else ACCEPTED
        return PASSED

    def with_acceptance(self, acceptance: Acceptance | None) -> Comparison:
        return replace(self, acceptance=acceptance)

    def regressed_text(self) -> str:
        """`records.synthetic 24 vs 48 (tolerance 25% of published)`, one per regressed figure."""
        return "; ".join(
            f"{f.figure.metric} {fmt(f.candidate, f.figure)} vs {fmt(f.published, f.figure)} "
            f"(tolerance {f.tolerance_text()})"
            for f in self.regressed
        )

    def worse_text(self) -> str:
        return f"worse than published version {self.baseline}: {self.regressed_text()}"

    def describe(self) -> str:
        s = self.state
        if s == OFF:
            return "the regression comparison is off in the spec (regression.enabled: false)"
        if s == FIRST:
            return (
                f"no published version of {self.dataset} to compare with: "
                "this is the first, nothing can regress"
            )
        if s == PASSED:
            n = sum(f.compared for f in self.figures)
            return (
                f"no figure is clearly worse than published version {self.baseline} ({n} compared)"
            )
        text = self.worse_text()
        if s == ACCEPTED:
            assert self.acceptance is not None
            a = self.acceptance
            return f"accepted by {a.accepted_by} at {a.accepted_at}, although {text}"
        return f"held: regression, {text}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "version": self.version,
            "baseline": self.baseline,
            "state": self.state,
            "held": self.held,
            "description": self.describe(),
            "figures": [f.as_dict() for f in self.figures],
            "acceptance": self.acceptance.as_dict() if self.acceptance else None,
        }


def fmt(value: float | None, figure: Figure | None = None) -> str:
    if value is None:
        return "–"
    if figure is not None and figure.integer:
        return f"{value:.0f}"
    return f"{value:.3f}"


def compare(
    cfg: RegressionSpec,
    dataset: str,
    version: str,
    candidate: dict[str, float],
    baseline: str | None,
    published: dict[str, float] | None,
    acceptance: Acceptance | None = None,
) -> Comparison:
    """Compare a version's report metrics with the published version's (None: nothing
    published). Only the figures whose tolerance is set are compared."""
    if not cfg.enabled or baseline is None or published is None:
        return Comparison(dataset, version, baseline, cfg.enabled, [], acceptance)
    figures = []
    for fig in FIGURES:
        tol = cfg.tolerance(fig.key)
        if tol is None:
            continue
        figures.append(
            FigureComparison(
                figure=fig,
                tolerance=tol,
                published=published.get(fig.metric),
                published_interval=interval(published, fig),
                candidate=candidate.get(fig.metric),
                candidate_interval=interval(candidate, fig),
                use_intervals=cfg.require_separate_intervals,
            )
        )
    return Comparison(dataset, version, baseline, True, figures, acceptance)
