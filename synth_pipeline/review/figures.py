"""Review figures: how many sampled records were reviewed and accepted, and how sure we are."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

# Metric names in the report, metrics.json, report_metrics and the Dagster metadata.
METRIC_REVIEWED = "review.reviewed"
METRIC_ACCEPTANCE_RATE = "review.acceptance_rate"
METRIC_LOWER_BOUND = "review.acceptance_lower_bound"


def wilson_lower_bound(accepted: int, reviewed: int, confidence: float = 0.95) -> float:
    """Lower end of the two-sided Wilson score interval of accepted / reviewed (0 when none).

    Wilson rather than the normal approximation: it stays inside [0, 1] and is honest for
    small samples and rates near 1, which is exactly where review samples live. The interval
    itself is the project's one implementation, `synth_pipeline.stats.wilson_interval`.
    """
    if reviewed <= 0:
        return 0.0
    if not 0 <= accepted <= reviewed:
        raise ValueError(f"accepted ({accepted}) must lie between 0 and reviewed ({reviewed})")
    from synth_pipeline.stats import wilson_interval  # scipy: imported when first needed

    return wilson_interval(accepted, reviewed, confidence)[0]


@dataclass(frozen=True)
class ReviewFigures:
    """Counts over the version's review sample; verdicts on other records do not count."""

    sample_size: int
    reviewed: int
    accepted: int

    @property
    def rejected(self) -> int:
        return self.reviewed - self.accepted

    @property
    def remaining(self) -> int:
        return self.sample_size - self.reviewed

    @property
    def acceptance_rate(self) -> float | None:
        return self.accepted / self.reviewed if self.reviewed else None

    @property
    def lower_bound(self) -> float:
        return wilson_lower_bound(self.accepted, self.reviewed)

    def metrics(self) -> dict[str, float]:
        """The report's `review.*` metrics; empty before the first verdict."""
        if not self.reviewed:
            return {}
        return {
            METRIC_REVIEWED: float(self.reviewed),
            METRIC_ACCEPTANCE_RATE: float(self.acceptance_rate or 0.0),
            METRIC_LOWER_BOUND: self.lower_bound,
        }

    def as_dict(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "rejected": self.rejected,
            "remaining": self.remaining,
            "acceptance_rate": self.acceptance_rate,
            "acceptance_lower_bound": self.lower_bound,
        }
