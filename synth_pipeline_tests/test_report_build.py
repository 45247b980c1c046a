"""build_report writes a complete HTML and JSON report for labelled and instruction specs."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from synth_pipeline.report.build import build_report
from synth_pipeline.report.intervals import NO_INTERVAL
from synth_pipeline.report.sample_data import (
    TextDistribution,
    instruction_frame,
    labelled_frame,
)
from synth_pipeline.spec import DatasetSpec, load_spec

LABELS = ["refund", "status", "cancel", "damaged"]
SECTIONS = [
    "summary",
    "content",
    "fidelity",
    "utility",
    "diversity",
    "privacy",
    "curation",
    "sample",
    "dropped",
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
    assert set(data["score_parts"]) == {"fidelity", "utility", "diversity", "privacy", "content"}
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
        # on by default
        "min_tstr_trtr_ratio",
        "max_detectability_auc",
        "max_estimated_junk_share",
        "min_distinct_2_vs_real",
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


def assert_intervals(met: dict[str, float]) -> int:
    """Every utility and fidelity figure has an ordered 95% interval; returns how many."""
    figures = [
        k
        for k in met
        if k.startswith(("utility.", "fidelity."))
        and not k.endswith(("_low", "_high"))
        and not k.startswith(NO_INTERVAL)
    ]
    for k in figures:
        assert f"{k}_low" in met and f"{k}_high" in met, k
        assert met[f"{k}_low"] <= met[k] <= met[f"{k}_high"], (k, met[f"{k}_low"], met[k])
    return len(figures)


def test_every_utility_and_fidelity_figure_has_an_ordered_interval(labelled_report):
    met = labelled_report.metrics
    assert assert_intervals(met) > 20
    for key in (
        "utility.tstr_macro_f1",
        "utility.trtr_macro_f1",
        "utility.tstr_trtr_f1_ratio",
        "fidelity.detectability_auc",
        "fidelity.tfidf_mmd",
        "fidelity.ngram_overlap_2",
        "fidelity.label_js_distance",
    ):
        assert met[f"{key}_high"] > met[f"{key}_low"], key
    # The candidates' figures carry intervals too.
    assert "curation.candidates.fidelity.detectability_auc" in met


def test_tstr_and_trtr_are_compared_at_the_same_training_size(labelled_report):
    met = labelled_report.metrics
    assert met["utility.tstr_train_size"] == 243  # every published record
    assert met["utility.trtr_train_size"] == 120  # every seed
    assert met["utility.equal_train_size"] == 120
    assert met["utility.tstr_trtr_f1_ratio"] == pytest.approx(
        met["utility.tstr_equal_size_macro_f1"] / met["utility.trtr_equal_size_macro_f1"]
    )
    assert any("trained on 120 rows each" in n for n in labelled_report.notes)


def test_junk_share_figures_for_published_and_candidates(labelled_report):
    met = labelled_report.metrics
    for prefix in ("", "curation.candidates."):
        share = met[f"{prefix}content.estimated_junk_share"]
        assert 0 <= share <= 1
    assert (
        met["content.estimated_junk_share_low"]
        <= met["content.estimated_junk_share"]
        <= met["content.estimated_junk_share_high"]
    )
    assert met["content.junk_share"] == met["content.estimated_junk_share"]
    assert met["score.headline"] == pytest.approx(
        met["score.before_content"] * (1 - met["content.junk_share"])
    )
    assert met["score.content"] == pytest.approx(100 * (1 - met["content.junk_share"]))


def test_instruction_report_intervals(tmp_path: Path):
    dist = TextDistribution(("grind", "espresso", "milk"))
    synthetic = instruction_frame(dist, 60, seed=3).with_columns(
        pl.Series("judge_score", [4.0, 5.0, 3.0] * 20)
    )
    r = build_report(
        instruction_spec(),
        synthetic=synthetic,
        seeds=instruction_frame(dist, 40, seed=1, prefix="seed"),
        holdout=instruction_frame(dist, 40, seed=2, prefix="hold"),
        candidates=None,
        out_dir=tmp_path,
        version="v1",
    )
    met = r.metrics
    assert assert_intervals(met) > 10
    assert 1 <= met["utility.judge_score_mean_low"] <= 4.0 <= met["utility.judge_score_mean_high"]
    names = {t.name for t in r.threshold_results}
    assert "min_tstr_trtr_ratio" not in names  # a labelled figure's default: not evaluated
    assert "max_dcr_share" not in names  # nor a table's
    assert "max_estimated_junk_share" in names


def test_report_shows_sampled_and_dropped_rows_escaped(tmp_path: Path):
    dist = TextDistribution(tuple(LABELS))
    synthetic = labelled_frame(dist, 30, seed=3)
    hostile = '<img src=x onerror="alert(1)"> refund & more'
    record = json.dumps({"text": hostile, "label": "refund"})
    dropped = pl.DataFrame(
        {
            "record_id": ["bad-1", "bad-2", "bad-3"],
            "text": [hostile, "short", None],
            "label": ["refund", "status", None],
            "record": [record, json.dumps({"text": "short", "label": "status"}), None],
            "status": ["ok", "ok", "truncated"],
            "raw_response": [None, None, '{"text": "cut off'],
        }
    )
    candidates = pl.concat(
        [synthetic.with_columns(pl.lit("ok").alias("status")), dropped], how="diagonal_relaxed"
    )
    audit = pl.DataFrame(
        {
            "record_id": ["bad-1", "bad-2", "bad-3", synthetic["record_id"][0]],
            "filter": ["prompt_echo", "length_bounds", "schema_valid", "pii"],
            "reason": ["prompt_echo", "too_short", "generation_failed:truncated", "pii_redacted"],
            "score": [0.5, 5.0, None, None],
            "detail": ["shares a run of 5 words", "5 < 15 characters", "", "email"],
            "kept": [False, False, False, True],
        }
    )
    r = build_report(
        labelled_spec(),
        synthetic=synthetic,
        seeds=labelled_frame(dist, 40, seed=1, prefix="seed"),
        holdout=labelled_frame(dist, 40, seed=2, prefix="hold"),
        candidates=candidates,
        out_dir=tmp_path,
        version="v1",
        audit=audit,
    )
    html = r.html_path.read_text()
    sample = html[html.index('id="sample"') : html.index('id="dropped"')]
    assert "12 of 30 published records" in sample
    assert sample.count("<tr>") == 13  # header + 12 rows
    assert "<th>text</th>" in sample and "<th>label</th>" in sample
    dropped_html = html[html.index('id="dropped"') : html.index('id="trend"')]
    for reason in ("prompt_echo (1)", "too_short (1)", "generation_failed:truncated (1)"):
        assert reason in dropped_html, reason
    assert "pii_redacted" not in dropped_html  # kept rows are not drops
    assert "&lt;img src=x onerror=&#34;alert(1)&#34;&gt; refund &amp; more" in dropped_html
    assert "<img src=x" not in html
    assert "cut off" in dropped_html  # a failed generation shows its raw answer


def test_reviewers_rejections_cap_the_headline(tmp_path: Path):
    """Review verdicts given before the report is built count in the junk share."""
    from synth_pipeline.review.figures import ReviewFigures

    dist = TextDistribution(tuple(LABELS))
    figures = ReviewFigures(sample_size=20, reviewed=20, accepted=6)
    review = {
        **figures.as_dict(),
        "state": "failed",
        "required": False,
        "min_acceptance": 0.9,
        "metrics": figures.metrics(),
    }
    r = build_report(
        labelled_spec(),
        synthetic=labelled_frame(dist, 80, seed=3),
        seeds=labelled_frame(dist, 60, seed=1, prefix="seed"),
        holdout=labelled_frame(dist, 60, seed=2, prefix="hold"),
        candidates=None,
        out_dir=tmp_path,
        version="v1",
        review=review,
    )
    met = r.metrics
    assert met["content.junk_share"] == pytest.approx(0.7)  # 14 of 20 rejected
    assert met["content.junk_share_from_review"] == 1.0
    assert met["content.estimated_junk_share"] < 0.7
    assert r.headline_score <= 50
    failed = {t.name for t in r.threshold_results if not t.passed}
    assert "max_estimated_junk_share" in failed
    assert "from reviewers&#39; verdicts" in r.html_path.read_text()
