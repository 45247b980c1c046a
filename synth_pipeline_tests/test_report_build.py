"""build_report writes a complete HTML and JSON report for labelled and instruction specs."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from synth_pipeline.report.build import build_report
from synth_pipeline.report.sample_data import (
    TextDistribution,
    instruction_frame,
    labelled_frame,
)
from synth_pipeline.spec import DatasetSpec, load_spec

LABELS = ["refund", "status", "cancel", "damaged"]
SECTIONS = [
    "summary",
    "fidelity",
    "utility",
    "diversity",
    "privacy",
    "curation",
    "trend",
    "notes",
    "method",
]


def labelled_spec(**report) -> DatasetSpec:
    return DatasetSpec.model_validate(
        {
            "name": "support_test",
            "kind": "classification",
            "task": "classify support messages",
            "fields": [
                {"name": "text", "description": "the message"},
                {"name": "label", "description": "the intent"},
            ],
            "text_field": "text",
            "label_field": "label",
            "labels": LABELS,
            "generation": {"records_per_label": 50},
            "quality": {"min_yield": 10},
            "report": report,
        }
    )


def instruction_spec(**report) -> DatasetSpec:
    return DatasetSpec.model_validate(
        {
            "name": "qa_test",
            "kind": "instruction",
            "task": "answer coffee questions",
            "fields": [
                {"name": "question", "description": "the question"},
                {"name": "answer", "description": "the answer"},
            ],
            "text_field": "question",
            "generation": {"total_records": 100},
            "quality": {"min_yield": 10},
            "report": report,
        }
    )


@pytest.fixture(scope="module")
def labelled_report(tmp_path_factory):
    dist = TextDistribution(tuple(LABELS))
    seeds = labelled_frame(dist, 120, seed=1, prefix="seed")
    holdout = labelled_frame(dist, 200, seed=2, prefix="hold")
    good = labelled_frame(dist, 240, seed=3)
    # Two exact seed copies and one holdout copy among the published records.
    leaks = pl.concat([seeds.head(2), holdout.head(1)]).with_columns(
        pl.col("record_id").str.replace("^", "leak-")
    )
    synthetic = pl.concat([good, leaks])
    bad = labelled_frame(TextDistribution(tuple(LABELS), vocab_tag="q"), 60, seed=4, prefix="bad")
    tones = ["polite", "blunt", "casual"]
    candidates = (
        pl.concat(
            [
                synthetic.with_columns(pl.lit("ok").alias("status")),
                bad.with_columns(pl.lit("ok").alias("status")),
                bad.head(20).with_columns(pl.lit("rejected").alias("status")),
            ]
        )
        .with_row_index("i")
        .with_columns(
            pl.when(pl.col("i") < 150)
            .then(pl.lit("seed_variation"))
            .otherwise(pl.lit("attributes"))
            .alias("strategy"),
            pl.format(
                '{{"tone": "{}"}}',
                pl.col("i").mod(3).replace_strict(list(range(3)), tones, return_dtype=pl.String),
            ).alias("attributes"),
            (3.0 + pl.col("i").mod(3)).alias("judge_score"),
        )
        .drop("i")
    )
    spec = labelled_spec(
        min_headline_score=10,
        max_near_copy_share=0.001,
        max_holdout_contamination=5,
        min_tstr_macro_f1=0.5,
    )
    out = tmp_path_factory.mktemp("labelled")
    history = [
        {"version": "v1", "metrics": {"score.headline": 55.0, "utility.tstr_macro_f1": 0.6}},
        {"version": "v2", "metrics": {"score.headline": 70.0, "fidelity.detectability_auc": 0.7}},
    ]
    result = build_report(
        spec,
        synthetic=synthetic,
        seeds=seeds,
        holdout=holdout,
        candidates=candidates,
        out_dir=out,
        version="v3",
        history=history,
    )
    return result


def test_labelled_report_files_and_sections(labelled_report):
    r = labelled_report
    assert r.html_path.name == "report.html" and r.html_path.is_file()
    assert r.json_path.name == "metrics.json" and r.json_path.is_file()
    html = r.html_path.read_text()
    for section in SECTIONS:
        assert f'id="{section}"' in html, section
    assert html.count('src="data:image/png;base64,') >= 8  # score, labels, lengths, ROC, ...
    assert "<script" not in html and "http://" not in html and "https://" not in html
    data = json.loads(r.json_path.read_text())
    assert data["version"] == "v3"
    assert data["headline_score"] == pytest.approx(r.headline_score)
    assert data["metrics"] == pytest.approx(r.metrics)
    assert set(data["score_parts"]) == {"fidelity", "utility", "diversity", "privacy"}
    assert data["confusion"]["tstr"]["labels"] == LABELS


def test_labelled_report_metrics(labelled_report):
    met = labelled_report.metrics
    for key in [
        "fidelity.label_js_distance",
        "fidelity.length_ks.text",
        "fidelity.vocab_jaccard",
        "fidelity.ngram_overlap_1",
        "fidelity.ngram_overlap_3",
        "fidelity.tfidf_mmd",
        "fidelity.detectability_auc",
        "utility.tstr_accuracy",
        "utility.tstr_macro_f1",
        "utility.trtr_macro_f1",
        "utility.augmented_macro_f1",
        "utility.tstr_f1.refund",
        "diversity.distinct_1",
        "diversity.distinct_2",
        "diversity.distinct_3",
        "diversity.compression_ratio",
        "diversity.label_coverage",
        "diversity.attribute_values.tone",
        "diversity.attribute_coverage.tone",
        "privacy.dcr_median",
        "privacy.near_copy_share",
        "privacy.holdout_contamination_count",
        "curation.candidates.fidelity.detectability_auc",
        "curation.candidates.score.headline",
        "score.headline",
        "score.fidelity",
        "score.utility",
        "score.diversity",
        "score.privacy",
        "trend.headline_delta",
        "utility.judge_score_mean",
    ]:
        assert key in met, key
    assert all(isinstance(v, float) for v in met.values())
    assert met["privacy.near_copy_count"] == 2
    assert met["privacy.holdout_exact_match_count"] == 1
    assert met["privacy.holdout_contamination_count"] == 1
    assert met["curation.candidate_records"] == 243 + 60  # rejected rows excluded
    # The off-distribution candidates make the raw set easier to detect than the curated one.
    assert met["curation.candidates.fidelity.detectability_auc"] > met["fidelity.detectability_auc"]
    assert met["trend.headline_delta"] == pytest.approx(met["score.headline"] - 70.0)
    assert 0 <= labelled_report.headline_score <= 100
    assert met["diversity.attribute_coverage.tone"] == 1.0
    # Rows 0-149 are published synthetic records; the rest mixes published and dropped.
    assert met["curation.published_share.seed_variation"] == 1.0
    assert 0 < met["curation.published_share.attributes"] < 1


def test_labelled_report_thresholds_and_markdown(labelled_report):
    results = {t.name: t for t in labelled_report.threshold_results}
    assert set(results) == {
        "min_headline_score",
        "max_near_copy_share",
        "max_holdout_contamination",
        "min_tstr_macro_f1",
    }
    assert results["min_headline_score"].passed
    assert not results["max_near_copy_share"].passed  # two seed copies
    assert results["max_holdout_contamination"].observed == 1
    assert not labelled_report.passed
    md = labelled_report.markdown
    assert "![quality score](data:image/png;base64," in md
    assert "max_near_copy_share" in md and "FAIL" in md


def test_instruction_report(tmp_path: Path):
    dist = TextDistribution(("grind", "espresso", "milk"))
    seeds = instruction_frame(dist, 60, seed=1, prefix="seed")
    holdout = instruction_frame(dist, 80, seed=2, prefix="hold")
    synthetic = instruction_frame(dist, 120, seed=3).with_columns(
        pl.Series("judge_score", [4.0, 5.0, 3.0] * 40)
    )
    spec = instruction_spec(min_tstr_macro_f1=0.9, min_headline_score=1)
    r = build_report(
        spec,
        synthetic=synthetic,
        seeds=seeds,
        holdout=holdout,
        candidates=None,
        out_dir=tmp_path,
        version="v1",
    )
    html = r.html_path.read_text()
    for section in SECTIONS:
        assert f'id="{section}"' in html, section
    met = r.metrics
    assert "utility.tstr_accuracy" not in met and "fidelity.label_js_distance" not in met
    for key in [
        "utility.answer_length_mean.answer",
        "utility.real_answer_length_mean.answer",
        "fidelity.length_ks.question",
        "fidelity.length_ks.answer",
        "fidelity.detectability_auc",
        "diversity.distinct_2",
        "privacy.dcr_median",
    ]:
        assert key in met, key
    assert met["utility.judge_score_mean"] == pytest.approx(4.0)
    assert met["utility.judge_scored_share"] == 1.0
    assert met["score.utility"] == pytest.approx(75.0)  # (4 - 1) / (5 - 1)
    results = {t.name: t for t in r.threshold_results}
    assert results["min_tstr_macro_f1"].passed
    assert "not applicable" in results["min_tstr_macro_f1"].note
    assert "No earlier versions" in html
    assert json.loads(r.json_path.read_text())["kind"] == "instruction"


def test_missing_labels_single_class_and_empty(tmp_path: Path):
    dist = TextDistribution(tuple(LABELS))
    seeds = labelled_frame(dist, 80, seed=1, prefix="seed")
    holdout = labelled_frame(dist, 80, seed=2, prefix="hold")
    single = labelled_frame(dist, 40, seed=3, label_probs=[1, 0, 0, 0])
    r = build_report(
        labelled_spec(),
        synthetic=single,
        seeds=seeds,
        holdout=holdout,
        candidates=None,
        out_dir=tmp_path / "single",
        version="v1",
    )
    assert r.metrics["diversity.label_coverage"] == 0.25
    assert r.metrics["utility.tstr_f1.status"] == 0.0
    assert r.metrics["utility.tstr_accuracy"] < 0.5
    assert any("one label" in n for n in r.notes)
    assert any("no records for label" in n for n in r.notes)

    two = labelled_frame(dist, 40, seed=4, label_probs=[0.5, 0.5, 0, 0])
    r = build_report(
        labelled_spec(),
        synthetic=two,
        seeds=seeds,
        holdout=holdout,
        candidates=None,
        out_dir=tmp_path / "two",
        version="v1",
    )
    assert r.metrics["utility.tstr_f1.cancel"] == 0.0
    assert any("lacks label" in n for n in r.notes)

    empty = single.head(0)
    r = build_report(
        labelled_spec(min_headline_score=50),
        synthetic=empty,
        seeds=seeds,
        holdout=holdout,
        candidates=empty,
        out_dir=tmp_path / "empty",
        version="v1",
    )
    assert r.html_path.is_file()
    assert r.metrics["records.synthetic"] == 0
    assert not r.passed


def test_shipped_specs_still_load():
    data = Path(__file__).resolve().parents[1] / "data"
    for folder in ("support_intents", "coffee_qa"):
        if (data / folder / "spec.yaml").is_file():
            spec = load_spec(data / folder)
            assert spec.report.near_copy_similarity == 0.9
            assert spec.report.min_headline_score is None
