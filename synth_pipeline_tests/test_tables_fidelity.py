"""Fidelity scores (SDMetrics' definitions), train-synthetic-test-real efficacy and the
comparison figures."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from matplotlib.figure import Figure

from synth_pipeline.tables import fidelity, plots
from synth_pipeline.tables.columns import modelled_columns
from synth_pipeline_tests.tables_support import people, people_columns

COLUMNS = people_columns()
MODELLED = [c.name for c in modelled_columns(COLUMNS)]


@pytest.fixture(scope="module")
def train() -> pl.DataFrame:
    return people(500, seed=1)


@pytest.fixture(scope="module")
def holdout() -> pl.DataFrame:
    return people(300, seed=2)


@pytest.fixture(scope="module")
def shuffled(train) -> pl.DataFrame:
    """Every column permuted on its own: the same marginals, no relations left."""
    rng = np.random.default_rng(0)
    return train.select(pl.col(c).gather(rng.permutation(train.height)) for c in train.columns)


def test_identical_frames_score_one(train):
    shapes = fidelity.column_shapes(train, train, COLUMNS)
    assert sorted(shapes) == sorted(MODELLED)  # identifiers and text skipped
    assert all(v == pytest.approx(1.0) for v in shapes.values())
    trends = fidelity.pair_trends(train, train, COLUMNS, all_pairs=True)
    assert len(trends) == len(MODELLED) * (len(MODELLED) - 1) // 2
    assert all(v == pytest.approx(1.0) for v in trends.values())
    assert fidelity.quality_score(shapes, trends) == pytest.approx(1.0)


def test_only_pairs_associated_in_real_data_count_by_default(train):
    trends = fidelity.pair_trends(train, train, COLUMNS)
    # age-income (Pearson ~0.9) and smoker-diagnosis (Cramér's V > 0.3) are associated;
    # visit is noise and pairs with nothing.
    assert ("age", "income") in trends and ("smoker", "diagnosis") in trends
    assert not any("visit" in pair for pair in trends)


def test_shuffled_columns_keep_shapes_and_lose_trends(train, shuffled):
    shapes = fidelity.column_shapes(train, shuffled, COLUMNS)
    assert all(v == pytest.approx(1.0) for v in shapes.values())
    trends = fidelity.pair_trends(train, shuffled, COLUMNS)
    # Correlation ~0.9 against ~0: similarity 1 - 0.9 / 2.
    assert trends[("age", "income")] < 0.6
    assert trends[("smoker", "diagnosis")] < 0.85
    assert np.mean(list(trends.values())) < 0.8
    assert fidelity.quality_score(shapes, trends) < 0.9


def test_a_shifted_column_loses_its_shape(train):
    shifted = train.with_columns(pl.col("income") + 60, pl.lit("none").alias("diagnosis"))
    shapes = fidelity.column_shapes(train, shifted, COLUMNS)
    assert shapes["income"] < 0.3
    assert shapes["diagnosis"] == pytest.approx((train["diagnosis"] == "none").mean())
    assert shapes["age"] == pytest.approx(1.0)


def test_quality_score_is_the_mean_of_the_two_means():
    shapes = {"a": 1.0, "b": 0.5}
    trends = {("a", "b"): 0.25, ("a", "c"): 0.75}
    assert fidelity.quality_score(shapes, trends) == pytest.approx((0.75 + 0.5) / 2)
    assert fidelity.quality_score(shapes, {}) == pytest.approx(0.75)  # no pair counts


def test_ml_efficacy_classifier(train, holdout, shuffled):
    same = fidelity.ml_efficacy(train, train, holdout, "diagnosis", COLUMNS, seed=0)
    assert same["metric"] == "f1_macro"
    assert same["tstr"] == pytest.approx(same["trtr"])
    assert same["tstr_low"] <= same["tstr"] <= same["tstr_high"]
    assert same["trtr"] > 0.5
    noise = fidelity.ml_efficacy(train, shuffled, holdout, "diagnosis", COLUMNS, seed=0)
    assert noise["tstr"] < noise["trtr"] - 0.15
    assert noise["gap_low"] > 0


def test_ml_efficacy_regressor(train, holdout, shuffled):
    same = fidelity.ml_efficacy(train, train, holdout, "income", COLUMNS, seed=0)
    assert same["metric"] == "r2"
    assert same["tstr"] == pytest.approx(same["trtr"])
    assert same["trtr"] > 0.6
    noise = fidelity.ml_efficacy(train, shuffled, holdout, "income", COLUMNS, seed=0)
    assert noise["tstr"] < 0.2
    assert noise["n_holdout"] == holdout.height
    with pytest.raises(ValueError, match="not a modelled"):
        fidelity.ml_efficacy(train, train, holdout, "notes", COLUMNS, seed=0)


def test_column_distributions_has_a_panel_per_modelled_column(train, shuffled):
    fig = plots.column_distributions(train, shuffled.with_columns(pl.col("age") + 5), COLUMNS)
    assert isinstance(fig, Figure)
    titles = [ax.get_title(loc="left") for ax in fig.axes]
    assert [t.split()[0] for t in titles] == MODELLED
    assert "shape 1.00" in titles[MODELLED.index("region")]
    assert "shape 1.00" not in titles[MODELLED.index("age")]
    fig.savefig(__import__("io").BytesIO(), format="png")  # renders


def test_pair_trend_heatmaps_show_real_synthetic_and_difference(train, shuffled):
    fig = plots.pair_trend_heatmaps(train, shuffled, COLUMNS)
    panels = [ax for ax in fig.axes if ax.get_title()]
    assert [ax.get_title() for ax in panels] == ["real", "synthetic", "|real − synthetic|"]
    # Lower triangle annotated: one number per pair in each panel.
    pairs = len(MODELLED) * (len(MODELLED) - 1) // 2
    assert all(len(ax.texts) == pairs for ax in panels)
    age_income = next(
        float(t.get_text().replace("−", "-"))
        for t in panels[0].texts
        if t.get_position() == (MODELLED.index("age"), MODELLED.index("income"))
    )
    assert age_income > 0.8
    fig.savefig(__import__("io").BytesIO(), format="png")


def test_bootstrap_replicates_match_scikit_learn_on_the_same_resample():
    from sklearn.metrics import f1_score, r2_score

    rng = np.random.default_rng(3)
    y = rng.choice(["a", "b", "c"], 200)
    p = np.where(rng.random(200) < 0.6, y, rng.choice(["a", "b", "d"], 200))
    classes = np.unique(y)
    weights = fidelity._bootstrap_weights(200, seed=5)[0].astype(int)
    idx = np.repeat(np.arange(200), weights)
    expected = f1_score(y[idx], p[idx], average="macro", labels=classes, zero_division=0)
    assert fidelity._bootstrap_macro_f1(y, p, classes, seed=5)[0] == pytest.approx(expected)
    yn, pn = rng.normal(size=200), rng.normal(size=200)
    assert fidelity._bootstrap_r2(yn, yn + 0.5 * pn, seed=5)[0] == pytest.approx(
        r2_score(yn[idx], (yn + 0.5 * pn)[idx])
    )
