"""What a dataset's published pointer names right now: version, time, report and figures.

Plain warehouse reads, no Dagster: `defs/` turns this into the metadata of the
`<dataset>/current_published` asset each time a version is published.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from pathlib import Path

from synth_pipeline.paths import SCORECARD_NAME
from synth_pipeline.pipeline import DATASET_TABLE
from synth_pipeline.stats import significant
from synth_pipeline.warehouse import Warehouse

MAX_EMBEDDED_PNG = 200_000  # bytes; a larger file is named, not embedded

# The figures a person looks at first, in the order shown.
HEADLINE_FIGURES = (
    "score.headline",
    "content.junk_share",
    "utility.tstr_macro_f1",
    "fidelity.detectability_auc",
    "diversity.distinct_2_vs_real",
    "privacy.near_copy_share",
    "records.synthetic",
)


@dataclass
class PublishedPointer:
    dataset: str
    version: str
    published_at: str
    previous: str | None
    rows: int
    report_html: Path | None
    figures: dict[str, float] = field(default_factory=dict)

    def markdown(self) -> str:
        """The asset page's summary: version, headline figures (3 significant digits), the
        score plot (a PNG data URI, which the Dagster UI's Markdown shows), the report's path."""
        lines = [
            f"**{self.dataset}: published version {self.version}** (since {self.published_at}; "
            f"before it: {self.previous or 'none'}; {self.rows} records)",
            "",
        ]
        if self.figures:
            lines += ["| figure | value |", "|---|---|"]
            lines += [f"| {k} | {significant(v):g} |" for k, v in self.figures.items()]
        if self.report_html is None:
            return "\n".join([*lines, "", "_no report found for this version_"])
        scorecard = self.report_html.parent / SCORECARD_NAME
        if scorecard.is_file() and scorecard.stat().st_size <= MAX_EMBEDDED_PNG:
            uri = "data:image/png;base64," + base64.b64encode(scorecard.read_bytes()).decode()
            lines += ["", f"![quality score]({uri})"]
        lines += [
            "",
            f"Plots and every figure: the full report (open in a browser): `{self.report_html}`",
        ]
        return "\n".join(lines)


def current_published(wh: Warehouse, dataset: str, reports_root: Path) -> PublishedPointer | None:
    """The dataset's published version as the warehouse holds it, or None before the first."""
    found = wh.rows("SELECT version, published_at FROM published WHERE dataset = ?", [dataset])
    if not found:
        return None
    version, published_at = found[0]
    earlier = wh.rows(
        "SELECT version FROM publish_history WHERE dataset = ? AND version <> ? "
        "ORDER BY published_at DESC LIMIT 1",
        [dataset, version],
    )
    metrics = wh.rows(
        "SELECT metric, arg_max(value, created_at) FROM report_metrics "
        "WHERE dataset = ? AND version = ? GROUP BY metric",
        [dataset, version],
    )
    values = {m: v for m, v in metrics if v is not None}
    report = reports_root / dataset / version / "report.html"
    return PublishedPointer(
        dataset=dataset,
        version=version,
        published_at=str(published_at)[:19] if published_at else "",
        previous=earlier[0][0] if earlier else None,
        rows=wh.count(DATASET_TABLE, dataset, version),
        report_html=report if report.exists() else None,
        figures={k: float(values[k]) for k in HEADLINE_FIGURES if k in values},
    )
