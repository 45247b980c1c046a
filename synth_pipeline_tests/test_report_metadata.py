"""The report from the Dagster UI (issue 13, third item): figures rounded for reading, and a
Markdown summary with the headline figures, the score plot and the report's path."""

from __future__ import annotations

import math
from pathlib import Path
from types import SimpleNamespace

import dagster as dg
import pytest

from synth_pipeline.defs.assets import _report_metadata, pointer_metadata
from synth_pipeline.defs.metadata import figure_value
from synth_pipeline.paths import SCORECARD_NAME
from synth_pipeline.published_pointer import PublishedPointer
from synth_pipeline.report.build import _markdown
from synth_pipeline.stats import significant

PNG = bytes.fromhex("89504e470d0a1a0a")  # a PNG signature is enough for the data URI


@pytest.mark.parametrize(
    ("value", "rounded"),
    [
        (0.123456, 0.123),
        (0.98765, 0.988),
        (1234.5, 1230.0),
        (-0.00045678, -0.000457),
        (42.0, 42.0),
        (0.0, 0.0),
    ],
)
def test_significant_keeps_three_digits(value, rounded):
    assert significant(value) == rounded


def test_figure_value_rounds_floats_only():
    assert figure_value(0.8123456).value == 0.812
    assert math.isnan(figure_value(float("nan")).value)
    assert figure_value(1234567).value == 1234567  # counts stay exact
    assert figure_value(True).value is True
    assert figure_value("x").value == "x"


def test_report_metadata_has_the_summary_first_a_link_and_rounded_figures(tmp_path: Path):
    html = tmp_path / "ds" / "v1" / "report.html"
    result = SimpleNamespace(
        headline_score=61.23456,
        html_path=html,
        json_path=html.with_name("metrics.json"),
        markdown="**Validation report**",
        metrics={"utility.tstr_macro_f1": 0.7654321, "records.synthetic": 16.0},
    )
    meta = _report_metadata(result)
    assert next(iter(meta)) == "summary"
    assert isinstance(meta["summary"], dg.MarkdownMetadataValue)
    assert meta["headline_score"].value == 61.2
    assert meta["utility.tstr_macro_f1"].value == 0.765
    assert meta["records.synthetic"].value == 16.0
    assert meta["report_link"].value == html.resolve().as_uri()
    assert meta["report_link"].value.startswith("file://")


def test_report_markdown_embeds_the_score_plot_names_the_others_and_the_path(tmp_path: Path):
    html = tmp_path / "report.html"
    text = _markdown(
        SimpleNamespace(name="intents"),
        "v1",
        61.2,
        {"fidelity": 0.5, "utility": None},
        [],
        {"utility.tstr_macro_f1": 0.7654321, "records.synthetic": 16.0},
        "data:image/png;base64,AAAA",
        html,
        ["Quality score", "Label distribution", "Detectability ROC curve"],
    )
    assert "**Validation report: intents v1**" in text
    assert "Headline score **61.2 / 100** (fidelity 50, utility n/a" in text
    assert "| TSTR macro-F1 | 0.765 |" in text
    assert "| synthetic records | 16 |" in text
    assert "![quality score](data:image/png;base64,AAAA)" in text
    assert "Plots in the full report: Quality score, Label distribution, Detectability ROC" in text
    assert text.endswith(f"Full report (open in a browser): `{html}`")


def _pointer(report_html: Path | None) -> PublishedPointer:
    return PublishedPointer(
        dataset="intents",
        version="v2",
        published_at="2026-01-02 03:04:05",
        previous="v1",
        rows=16,
        report_html=report_html,
        figures={"score.headline": 61.23456, "content.junk_share": 0.0123456},
    )


def test_published_pointer_summary_shows_figures_the_score_plot_and_the_path(tmp_path: Path):
    html = tmp_path / "report.html"
    html.write_text("<html></html>")
    (tmp_path / SCORECARD_NAME).write_bytes(PNG)
    text = _pointer(html).markdown()
    assert text.startswith("**intents: published version v2** (since 2026-01-02 03:04:05; ")
    assert "before it: v1; 16 records)" in text
    assert "| score.headline | 61.2 |" in text and "| content.junk_share | 0.0123 |" in text
    assert "![quality score](data:image/png;base64,iVBORw0KGgo=)" in text
    assert text.endswith(f"the full report (open in a browser): `{html}`")

    meta = pointer_metadata(_pointer(html))
    assert next(iter(meta)) == "summary" and meta["summary"].value == text
    assert meta["score.headline"].value == 61.2
    assert meta["report_link"].value.startswith("file://")


def test_published_pointer_summary_without_a_report():
    text = _pointer(None).markdown()
    assert text.endswith("_no report found for this version_") and "data:image" not in text


def test_a_built_report_leaves_its_score_plot_beside_it_and_lists_its_plots(tmp_path: Path):
    import polars as pl

    from synth_pipeline.report.build import build_report
    from synth_pipeline_tests.test_report_build import (
        TextDistribution,
        instruction_frame,
        instruction_spec,
    )

    dist = TextDistribution(("grind", "espresso", "milk"))
    r = build_report(
        instruction_spec(),
        synthetic=instruction_frame(dist, 40, seed=3).with_columns(
            pl.Series("judge_score", [4.0, 5.0] * 20)
        ),
        seeds=instruction_frame(dist, 30, seed=1, prefix="seed"),
        holdout=instruction_frame(dist, 30, seed=2, prefix="hold"),
        candidates=None,
        out_dir=tmp_path,
        version="v1",
    )
    png = (tmp_path / SCORECARD_NAME).read_bytes()
    assert png.startswith(PNG) and len(png) < 200_000
    assert "Plots in the full report: Quality score, " in r.markdown
    assert "Length distributions" in r.markdown
    assert r.markdown.endswith(f"Full report (open in a browser): `{r.html_path}`")
