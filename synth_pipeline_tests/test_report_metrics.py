"""Report metrics against hand-computed values, plus real-vs-synthetic sanity cases."""

from __future__ import annotations

import math
import zlib

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.stats import ks_2samp
from sklearn.metrics import accuracy_score, f1_score, roc_auc_score

from synth_pipeline.report import metrics as m
from synth_pipeline.report.analysis import attribute_values
from synth_pipeline.report.config import ReportSpec
from synth_pipeline.report.intervals import ngram_incidence
from synth_pipeline.report.sample_data import TextDistribution, labelled_frame
from synth_pipeline.report.score import (
    THRESHOLDS,
    evaluate_thresholds,
    headline,
    is_undecided,
    junk_share,
    review_junk_share,
    score_metrics,
    score_parts,
    undecided_figures,
)
from synth_pipeline.report.text import normalize_text, tokenize

TEXT = frozenset({"text"})
LABELLED = frozenset({"text", "labels"})
TABLE = frozenset({"table"})

# --- fidelity -----------------------------------------------------------------------


def test_label_js_distance_hand_computed():
    # p = (0.5, 0.5), q = (1, 0), m = (0.75, 0.25)
    # KL(p||m) = 0.5*log2(0.5/0.75) + 0.5*log2(0.5/0.25) = 0.2075187...
    # KL(q||m) = log2(1/0.75) = 0.4150375...
    # JS distance = sqrt(0.5 * (0.2075187 + 0.4150375)) = 0.5579230...
    d = m.label_js_distance(["a", "b"], ["a", "a"], ["a", "b"])
    assert d == pytest.approx(0.557923, abs=1e-6)
    assert m.label_js_distance(["a", "b", None], ["b", "a"], ["a", "b"]) == pytest.approx(0)
    assert m.label_js_distance(["a"], ["b"], ["a", "b"]) == pytest.approx(1.0)
    assert m.label_js_distance([], ["b"], ["a", "b"]) == 1.0


def test_length_ks_hand_computed():
    # ECDFs of {1,2,3} and {2,3,4} differ by at most 1/3 (at x = 1, 2 and 3).
    assert m.length_ks([1, 2, 3], [2, 3, 4]) == pytest.approx(1 / 3)
    assert m.length_ks([1, 2], [3, 4]) == pytest.approx(1.0)
    assert m.length_ks([5, 6], [6, 5]) == pytest.approx(0.0)
    assert m.length_ks([], [1]) == 1.0


def test_vocab_and_ngram_overlap_hand_computed():
    real, syn = ["a b c"], ["A b d"]  # case-folded: {a, b, d}
    assert m.vocab_jaccard(syn, real) == pytest.approx(2 / 4)
    assert m.ngram_overlap(syn, real, 1) == pytest.approx(2 / 3)  # a, b of a, b, c
    assert m.ngram_overlap(syn, real, 2) == pytest.approx(1 / 2)  # "a b" of "a b", "b c"
    assert m.ngram_overlap(syn, real, 3) == pytest.approx(0.0)
    assert m.ngram_overlap(syn, [""], 1) == 0.0


def test_mmd_hand_computed():
    x, y = np.array([[0.0, 0.0]]), np.array([[1.0, 0.0]])
    # MMD^2 = k(x,x) + k(y,y) - 2 k(x,y) = 2 - 2 exp(-1)
    assert m.mmd(x, y, gamma=1.0) == pytest.approx(math.sqrt(2 - 2 * math.exp(-1)))
    assert m.mmd(sp.csr_matrix(x), sp.csr_matrix(y)) == pytest.approx(
        math.sqrt(2 - 2 * math.exp(-1))
    )
    same = np.array([[1.0, 0.0], [0.0, 1.0]])
    assert m.mmd(same, same[::-1]) == pytest.approx(0.0, abs=1e-7)
    assert math.isnan(m.mmd(np.zeros((0, 2)), same))


def test_max_cosine_similarity_chunks():
    a = sp.csr_matrix(np.array([[1.0, 0.0], [0.6, 0.8], [0.0, 1.0]]))
    b = sp.csr_matrix(np.array([[0.0, 1.0], [0.8, 0.6]]))
    # row 0: max(0, 0.8) = 0.8; row 1: max(0.8, 0.48 + 0.48) = 0.96; row 2: max(1, 0.6) = 1
    expected = [0.8, 0.96, 1.0]
    assert m.max_cosine_similarity(a, b, chunk=1) == pytest.approx(expected)
    assert m.max_cosine_similarity(a, b) == pytest.approx(expected)
    assert m.max_cosine_similarity(a, sp.csr_matrix((0, 2))).tolist() == [0, 0, 0]


def test_detectability_needs_two_per_side():
    det = m.detectability(["a"], ["b", "c"])
    assert det.auc is None and "fewer than 2" in det.note


# --- diversity ----------------------------------------------------------------------


def test_distinct_n_hand_computed():
    texts = ["a b a b"]
    assert m.distinct_n(texts, 1) == pytest.approx(2 / 4)
    assert m.distinct_n(texts, 2) == pytest.approx(2 / 3)  # ab, ba, ab
    assert m.distinct_n(texts, 3) == pytest.approx(2 / 2)  # aba, bab
    # n-grams never span records: "x" alone has no bigram
    assert m.distinct_n(["x", "x y"], 2) == pytest.approx(1.0)
    assert m.distinct_n([], 1) == 0.0


def test_compression_ratio():
    texts = ["the same line"] * 50
    raw = "\n".join(texts).encode()
    assert m.compression_ratio(texts) == pytest.approx(len(zlib.compress(raw, 9)) / len(raw))
    rng = np.random.default_rng(0)
    varied = [" ".join(f"w{rng.integers(10_000)}" for _ in range(3)) for _ in range(50)]
    assert m.compression_ratio(varied) > m.compression_ratio(texts)
    assert m.compression_ratio([]) == 0.0


def test_label_coverage_and_attributes():
    assert m.label_coverage(["a", "a", "b", None], ["a", "b", "c", "d"]) == 0.5
    counts = attribute_values(
        ['{"tone": "polite", "topics": ["x", "y"]}', {"tone": "blunt"}, "not json", None]
    )
    assert counts["tone"] == {"polite": 1, "blunt": 1}
    assert counts["topics"] == {"x": 1, "y": 1}


def test_text_normalisation():
    assert tokenize("Hello, WORLD! It's") == ["hello", "world", "it", "s"]
    assert normalize_text("  Hello,\n  world!! ") == normalize_text("hello world")


# --- utility edge cases -------------------------------------------------------------


def test_classifier_single_class_and_missing_labels():
    test_x, test_y = ["a x", "b y", "c z"], ["A", "B", "C"]
    one = m.evaluate_classifier(["a x", "a x x"], ["A", "A"], test_x, test_y, ["A", "B", "C"])
    assert one.accuracy == pytest.approx(1 / 3)
    assert one.per_label_f1["A"] == pytest.approx(0.5)  # P = 1/3, R = 1
    assert one.macro_f1 == pytest.approx(0.5 / 3)
    assert any("one label" in n for n in one.notes)
    assert np.asarray(one.confusion).shape == (3, 3)

    two = m.evaluate_classifier(["a x", "b y"], ["A", "B"], test_x, test_y, ["A", "B", "C"])
    assert two.per_label_f1["C"] == 0.0
    assert any("lacks label" in n and "'C'" in n for n in two.notes)

    none = m.evaluate_classifier([], [], test_x, test_y, ["A", "B", "C"])
    assert none.accuracy == 0.0 and none.macro_f1 == 0.0
    assert any("no labelled training" in n for n in none.notes)


# --- score and thresholds -----------------------------------------------------------


def test_score_parts_and_headline_hand_computed():
    cfg = ReportSpec()
    metrics = {
        "fidelity.detectability_auc": 0.75,  # -> 0.5
        "fidelity.length_ks_mean": 0.2,  # -> 0.8
        "fidelity.label_js_distance": 0.1,  # -> 0.9
        "utility.tstr_macro_f1": 0.6,
        "utility.trtr_macro_f1": 0.8,  # -> 0.75
        "diversity.distinct_2_vs_real": 1.2,  # -> 1 (clipped)
        "diversity.compression_vs_real": 0.9,
        "diversity.label_coverage": 0.5,  # -> mean 0.8
        "privacy.near_copy_share": 0.05,
        "privacy.holdout_contamination_share": 0.05,  # -> 0.9
    }
    parts = score_parts(metrics, cfg)
    assert parts["fidelity"] == pytest.approx((0.5 + 0.8 + 0.9) / 3)
    assert parts["utility"] == pytest.approx(0.75)
    assert parts["diversity"] == pytest.approx(0.8)
    assert parts["privacy"] == pytest.approx(0.9)
    expected = 100 * (0.3 * (2.2 / 3) + 0.3 * 0.75 + 0.2 * 0.8 + 0.2 * 0.9)
    assert headline(parts, cfg) == pytest.approx(expected)

    # An instruction dataset without judge scores: utility drops out, weights re-normalise.
    parts["utility"] = None
    expected = 100 * (0.3 * (2.2 / 3) + 0.2 * 0.8 + 0.2 * 0.9) / 0.7
    assert headline(parts, cfg) == pytest.approx(expected)


def test_judge_score_utility():
    cfg = ReportSpec(judge_score_min=1, judge_score_max=5)
    assert score_parts({"utility.judge_score_mean": 4.0}, cfg)["utility"] == pytest.approx(0.75)


def test_thresholds():
    cfg = ReportSpec(
        min_headline_score=50,
        max_detectability_auc=0.7,
        min_tstr_macro_f1=0.5,
        max_near_copy_share=0.1,
        min_tstr_trtr_ratio=None,
        max_estimated_junk_share=None,
        min_distinct_2_vs_real=None,
    )
    metrics = {"score.headline": 60.0, "fidelity.detectability_auc": 0.9}
    results = {
        r.name: r for r in evaluate_thresholds(metrics, cfg, families=TEXT, kind="instruction")
    }
    assert set(results) == {
        "min_headline_score",
        "max_detectability_auc",
        "min_tstr_macro_f1",
        "max_near_copy_share",
    }
    assert results["min_headline_score"].passed
    assert not results["max_detectability_auc"].passed
    assert results["min_tstr_macro_f1"].passed  # not applicable to instruction data
    assert "not applicable" in results["min_tstr_macro_f1"].note
    assert not results["max_near_copy_share"].passed  # missing figure fails
    off = {name: None for name in THRESHOLDS}
    assert evaluate_thresholds(metrics, ReportSpec(**off), families=LABELLED) == []


def test_default_thresholds_are_on_and_evaluated():
    cfg = ReportSpec()
    assert cfg.min_tstr_trtr_ratio == 0.8
    assert cfg.max_detectability_auc == 0.99
    assert cfg.max_estimated_junk_share == 0.15
    assert cfg.min_distinct_2_vs_real == 0.5
    for name in (
        "min_tstr_trtr_ratio",
        "max_detectability_auc",
        "max_estimated_junk_share",
        "min_distinct_2_vs_real",
    ):
        assert ReportSpec.model_fields[name].description, name
    good = {
        "utility.tstr_trtr_f1_ratio": 0.95,
        "fidelity.detectability_auc": 0.9,
        "content.junk_share": 0.02,
        "diversity.distinct_2_vs_real": 0.8,
    }
    results = {r.name: r for r in evaluate_thresholds(good, cfg, families=LABELLED)}
    assert set(results) == {
        "min_tstr_trtr_ratio",
        "max_detectability_auc",
        "max_estimated_junk_share",
        "min_distinct_2_vs_real",
    }
    assert all(r.passed for r in results.values())
    bad = {
        "utility.tstr_trtr_f1_ratio": 0.7,
        "fidelity.detectability_auc": 0.995,
        "content.junk_share": 0.3,
        "diversity.distinct_2_vs_real": 0.4,
    }
    assert not any(r.passed for r in evaluate_thresholds(bad, cfg, families=LABELLED))
    # The ratio is labelled-only: its default is not evaluated for instruction records, and
    # passes with a note where the spec sets it; every default can be switched off.
    no_ratio = {k: v for k, v in bad.items() if k != "utility.tstr_trtr_f1_ratio"}
    inst = {r.name for r in evaluate_thresholds(no_ratio, cfg, families=TEXT)}
    assert "min_tstr_trtr_ratio" not in inst and len(inst) == 3
    set_ratio = ReportSpec(min_tstr_trtr_ratio=0.8)
    inst = {
        r.name: r
        for r in evaluate_thresholds(no_ratio, set_ratio, families=TEXT, kind="instruction")
    }
    assert inst["min_tstr_trtr_ratio"].passed
    assert "not applicable" in inst["min_tstr_trtr_ratio"].note
    off = cfg.model_copy(update={"max_estimated_junk_share": None})
    names = [r.name for r in evaluate_thresholds(bad, off, families=LABELLED)]
    assert "max_estimated_junk_share" not in names and len(names) == 3


# --- junk share and headline ----------------------------------------------------------

ALL_ONE = {
    "fidelity.detectability_auc": 0.5,
    "fidelity.length_ks_mean": 0.0,
    "utility.tstr_macro_f1": 0.9,
    "utility.trtr_macro_f1": 0.9,
    "utility.tstr_trtr_f1_ratio": 1.0,
    "diversity.distinct_2_vs_real": 1.0,
    "privacy.near_copy_share": 0.0,
}


def test_headline_is_multiplied_by_one_minus_the_junk_share():
    cfg = ReportSpec()
    assert score_metrics(ALL_ONE, cfg)["score.headline"] == pytest.approx(100.0)
    junky = {**ALL_ONE, "content.estimated_junk_share": 0.3}
    scored = score_metrics(junky, cfg)
    assert scored["content.junk_share"] == pytest.approx(0.3)
    assert scored["score.content"] == pytest.approx(70.0)
    assert scored["score.before_content"] == pytest.approx(100.0)
    assert scored["score.headline"] == pytest.approx(70.0)
    more = score_metrics({**ALL_ONE, "content.estimated_junk_share": 0.45}, cfg)
    assert more["score.headline"] < 70


def test_review_rejections_count_when_larger():
    cfg = ReportSpec()
    metrics = {**ALL_ONE, "content.estimated_junk_share": 0.05}
    assert review_junk_share(metrics) is None
    reviewed = {**metrics, "review.reviewed": 40.0, "review.acceptance_rate": 0.4}
    assert review_junk_share(reviewed) == pytest.approx(0.6)
    js = junk_share(reviewed)
    assert js["content.junk_share"] == pytest.approx(0.6)
    assert js["content.junk_share_from_review"] == 1.0
    assert js["content.junk_share_low"] <= 0.6 <= js["content.junk_share_high"]
    assert score_metrics(reviewed, cfg)["score.headline"] <= 50  # mostly rejected
    # The filters' estimate wins when it is the larger one.
    kind = {**metrics, "review.reviewed": 40.0, "review.acceptance_rate": 0.99}
    assert junk_share(kind)["content.junk_share"] == pytest.approx(0.05)
    assert junk_share(kind)["content.junk_share_from_review"] == 0.0
    # No verdicts yet: the review figures do not count.
    assert junk_share({**metrics, "review.reviewed": 0.0, "review.acceptance_rate": 0.0})[
        "content.junk_share"
    ] == pytest.approx(0.05)


def test_undecided_figure_scores_at_its_unfavourable_end_and_is_noted():
    cfg = ReportSpec()  # max_decisive_interval_width 0.3
    wide = {
        **ALL_ONE,
        "utility.tstr_trtr_f1_ratio_low": 0.55,
        "utility.tstr_trtr_f1_ratio_high": 1.3,
    }
    assert is_undecided(wide, "utility.tstr_trtr_f1_ratio", cfg)
    assert score_parts(wide, cfg)["utility"] == pytest.approx(0.55)
    assert score_metrics(wide, cfg)["score.headline"] < 100
    narrow = {
        **ALL_ONE,
        "utility.tstr_trtr_f1_ratio_low": 0.9,
        "utility.tstr_trtr_f1_ratio_high": 1.1,
    }
    assert not is_undecided(narrow, "utility.tstr_trtr_f1_ratio", cfg)
    assert score_parts(narrow, cfg)["utility"] == pytest.approx(1.0)
    # Lower is better for AUC: the high end counts.
    auc = {**ALL_ONE, "fidelity.detectability_auc_low": 0.4, "fidelity.detectability_auc_high": 0.8}
    assert score_parts(auc, cfg)["fidelity"] == pytest.approx((2 * (1 - 0.8) + 1) / 2)

    results = {r.name: r for r in evaluate_thresholds(wide, cfg, families=LABELLED)}
    ratio = results["min_tstr_trtr_ratio"]
    assert ratio.passed  # the observed figure decides ...
    assert "undecided" in ratio.note and "reaches across the limit" in ratio.note  # ... noted
    results = {r.name: r for r in evaluate_thresholds(narrow, cfg, families=LABELLED)}
    assert results["min_tstr_trtr_ratio"].note is None
    assert undecided_figures(wide, cfg) == ["utility.tstr_trtr_f1_ratio"]
    assert undecided_figures(wide, cfg.model_copy(update={"max_decisive_interval_width": 1})) == []


# --- bootstrap ----------------------------------------------------------------------


def test_vectorised_figures_match_the_reference_implementations():
    rng = np.random.default_rng(0)
    labels = ["a", "b", "c"]
    t, p = rng.choice(labels, 60), rng.choice([*labels, "zz"], 60)
    acc, macro, f1 = m.classification_rows(
        m.codes_of(t, labels)[None], m.codes_of(p, labels)[None], 3
    )
    present = [lbl for lbl in labels if lbl in set(t)]
    assert acc[0] == pytest.approx(accuracy_score(t, p))
    assert macro[0] == pytest.approx(f1_score(t, p, labels=present, average="macro"))
    assert f1[0] == pytest.approx(f1_score(t, p, labels=labels, average=None, zero_division=0))

    pos, neg = rng.random(30), np.round(rng.random(40) * 0.8, 1)  # ties included
    expected = roc_auc_score([1] * 30 + [0] * 40, np.r_[pos, neg])
    assert m.auc_rows(pos[None], neg[None])[0] == pytest.approx(expected)

    a, b = rng.integers(0, 50, 100), rng.integers(10, 60, 80)
    values = np.unique(np.r_[a, b])
    ks = m.ks_rows(np.searchsorted(values, a)[None], np.searchsorted(values, b)[None], len(values))
    assert ks[0] == pytest.approx(ks_2samp(a, b).statistic)

    syn = [tokenize(x) for x in ["a b c d", "b c d e", "x y", "a"]]
    real = [tokenize(x) for x in ["a b c", "c d e f", "y z"]]
    inc = ngram_incidence(syn, real)
    for n in (1, 2, 3):
        s_inc, r_inc = inc[n]
        ps, pr = np.asarray(s_inc.sum(0)).ravel() > 0, np.asarray(r_inc.sum(0)).ravel() > 0
        expected = m.coverage(m.ngram_set_tokens(real, n), m.ngram_set_tokens(syn, n))
        assert (ps & pr).sum() / pr.sum() == pytest.approx(expected)


def test_bootstrap_intervals_are_seeded_ordered_and_shrink_with_rows():
    rng = np.random.default_rng(1)

    def interval_of(values: np.ndarray, seed: int = 0):
        return m.bootstrap_intervals(
            lambda i: values[i].mean(axis=1),
            [len(values)],
            [values.mean()],
            resamples=300,
            seed=seed,
        )[0]

    small, large = rng.random(30), rng.random(3000)
    lo, hi = interval_of(small)
    assert lo <= small.mean() <= hi
    assert interval_of(small) == (lo, hi)  # same seed, same interval
    assert interval_of(small, seed=1) != (lo, hi)
    lo_l, hi_l = interval_of(large)
    assert hi_l - lo_l < (hi - lo) / 5
    # Roughly the normal-theory interval of a mean.
    half = 1.96 * small.std(ddof=1) / np.sqrt(len(small))
    assert hi - lo == pytest.approx(2 * half, rel=0.3)
    # Too few rows: no interval.
    assert interval_of(np.array([0.5])) is None


# --- sanity cases -------------------------------------------------------------------

LABELS = ("refund", "status", "cancel", "damaged")


def test_same_distribution_is_indistinguishable_and_useful():
    dist = TextDistribution(LABELS)
    real = labelled_frame(dist, 400, seed=1, prefix="real")
    seeds = labelled_frame(dist, 300, seed=2, prefix="seed")
    syn = labelled_frame(dist, 300, seed=3)
    det = m.detectability(real["text"].to_list(), syn["text"].to_list())
    assert det.auc == pytest.approx(0.5, abs=0.1)
    tstr = m.evaluate_classifier(
        syn["text"].to_list(),
        syn["label"].to_list(),
        real["text"].to_list(),
        real["label"].to_list(),
        LABELS,
    )
    trtr = m.evaluate_classifier(
        seeds["text"].to_list(),
        seeds["label"].to_list(),
        real["text"].to_list(),
        real["label"].to_list(),
        LABELS,
    )
    assert trtr.macro_f1 > 0.8
    assert tstr.macro_f1 == pytest.approx(trtr.macro_f1, abs=0.05)
    assert m.label_js_distance(syn["label"], real["label"], LABELS) < 0.1


def test_wrong_distribution_is_detectable_and_useless():
    real = labelled_frame(TextDistribution(LABELS), 400, seed=1, prefix="real")
    # Disjoint vocabulary and skewed labels: nothing a real-data model could use.
    wrong = TextDistribution(LABELS, vocab_tag="q")
    syn = labelled_frame(wrong, 300, seed=3, label_probs=[0.7, 0.1, 0.1, 0.1])
    det = m.detectability(real["text"].to_list(), syn["text"].to_list())
    assert det.auc > 0.95
    tstr = m.evaluate_classifier(
        syn["text"].to_list(),
        syn["label"].to_list(),
        real["text"].to_list(),
        real["label"].to_list(),
        LABELS,
    )
    assert tstr.accuracy < 0.4  # chance is 0.25 for four balanced labels
    assert tstr.macro_f1 < 0.3
    assert m.ngram_overlap(syn["text"].to_list(), real["text"].to_list(), 1) == 0.0


def test_a_kind_picks_the_figures_that_score_and_gate_it():
    """The registry's families decide: a records version is scored and gated on table figures
    alone, a text version never sees the table thresholds' defaults, and a table threshold a
    text spec sets passes with a note instead of failing on a figure that cannot exist."""
    cfg = ReportSpec()
    table = {
        "fidelity.column_shapes": 0.9,
        "fidelity.pair_trends": 0.8,
        "utility.efficacy_ratio": 0.95,
        "privacy.dcr_share": 0.6,  # -> 0.8
        "privacy.membership_auc": 0.5,  # -> 1.0
        "privacy.exact_copies": 0.0,
        "score.headline": 80.0,
    }
    parts = score_parts(table, cfg, TABLE)
    assert parts["fidelity"] == pytest.approx(0.85)
    assert parts["utility"] == pytest.approx(0.95)
    assert parts["privacy"] == pytest.approx(0.9)
    assert parts["diversity"] is None
    gated = {r.name: r for r in evaluate_thresholds(table, cfg, families=TABLE, kind="records")}
    assert set(gated) == {
        "max_exact_copies",
        "max_dcr_share",
        "max_membership_auc",
        "min_column_shapes",
    }
    assert not gated["max_dcr_share"].passed  # 0.6 > 0.55
    assert gated["max_exact_copies"].passed and gated["min_column_shapes"].passed

    text = {r.name for r in evaluate_thresholds({}, cfg, families=LABELLED)}
    assert not text & {"max_exact_copies", "max_dcr_share", "min_column_shapes"}
    set_here = ReportSpec(max_dcr_share=0.5)
    noted = {
        r.name: r for r in evaluate_thresholds({}, set_here, families=TEXT, kind="instruction")
    }
    assert noted["max_dcr_share"].passed
    assert noted["max_dcr_share"].note == "not applicable to instruction records"
