"""One version's review: its sample, its verdicts and its figures, read from the warehouse."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from synth_pipeline.review.figures import ReviewFigures
from synth_pipeline.review.sampling import SampleRow, review_sample
from synth_pipeline.review.verdicts import StoredVerdict, Verdict, VerdictError, record_verdicts
from synth_pipeline.review.verdicts import load_verdicts as _load_verdicts
from synth_pipeline.spec import DatasetSpec
from synth_pipeline.warehouse import Warehouse, validate_version


class ReviewError(RuntimeError):
    """The version cannot be reviewed (unknown, or without records)."""


@dataclass
class ReviewSession:
    spec: DatasetSpec
    wh: Warehouse
    version: str
    rows: list[SampleRow]

    @classmethod
    def open(cls, spec: DatasetSpec, wh: Warehouse, version: str) -> ReviewSession:
        validate_version(version)
        cfg = spec.review
        rows = review_sample(wh, spec.name, version, cfg.sample_size, cfg.seed)
        if not rows:
            raise ReviewError(
                f"version {version} of {spec.name} has no quality-checked records to review "
                f"in {wh.path}; materialize it first"
            )
        return cls(spec, wh, version, rows)

    @property
    def dataset(self) -> str:
        return self.spec.name

    @property
    def sample_ids(self) -> list[str]:
        return [r.record_id for r in self.rows]

    def row(self, position: int) -> SampleRow | None:
        return self.rows[position - 1] if 1 <= position <= len(self.rows) else None

    def verdicts(self) -> dict[str, StoredVerdict]:
        """Verdicts on the sample (others, from an earlier sample size or seed, do not count)."""
        ids = set(self.sample_ids)
        found = _load_verdicts(self.wh, self.dataset, self.version)
        return {k: v for k, v in found.items() if k in ids}

    def record(self, verdicts: Iterable[Verdict], reviewer: str | None) -> int:
        items = list(verdicts)
        ids = set(self.sample_ids)
        outside = [v.record_id for v in items if v.record_id not in ids]
        if outside:
            raise VerdictError(f"not in the review sample of version {self.version}: {outside}")
        return record_verdicts(self.wh, self.dataset, self.version, items, reviewer)

    def figures(self, verdicts: dict[str, StoredVerdict] | None = None) -> ReviewFigures:
        found = self.verdicts() if verdicts is None else verdicts
        return ReviewFigures(
            sample_size=len(self.rows),
            reviewed=len(found),
            accepted=sum(v.verdict == "accept" for v in found.values()),
        )

    def next_unreviewed(self, after: int = 0, verdicts: dict | None = None) -> int | None:
        """The first position after `after` without a verdict, wrapping round; None if done."""
        found = self.verdicts() if verdicts is None else verdicts
        n = len(self.rows)
        for step in range(1, n + 1):
            pos = (after + step - 1) % n + 1
            if self.rows[pos - 1].record_id not in found:
                return pos
        return None
