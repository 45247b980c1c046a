"""Per-row privacy checks and set-level attacks, on planted rows and on independent samples
of the same distribution (which leak nothing about the training rows)."""

from __future__ import annotations

import time

import numpy as np
import polars as pl
import pytest

from synth_pipeline.tables import privacy
from synth_pipeline_tests.tables_support import people, people_columns

COLUMNS = people_columns()


@pytest.fixture(scope="module")
def train() -> pl.DataFrame:
    return people(400, seed=1)


@pytest.fixture(scope="module")
def holdout() -> pl.DataFrame:
    return people(200, seed=2, id_offset=5_000)


@pytest.fixture(scope="module")
def independent() -> pl.DataFrame:
    """Rows from the same distribution that never saw `train`, with their own identifiers."""
    return people(400, seed=3, id_offset=10_000)


def _plant(frame: pl.DataFrame, at: int, row: pl.DataFrame, **overrides) -> pl.DataFrame:
    """frame with row `at` replaced by `row` (identifiers and text kept from frame)."""
    keep = ("person_id", "email", "notes")
    new = row.with_columns(frame[at].select(keep)).select(frame.columns)
    new = new.with_columns(**{k: pl.lit(v, dtype=new[k].dtype) for k, v in overrides.items()})
    return pl.concat([frame[:at], new, frame[at + 1 :]])


def test_exact_copies_flag_planted_rows_only(train, independent):
    with_null = int(np.flatnonzero(train["region"].is_null().to_numpy())[0])
    synthetic = _plant(independent, 10, train[5])
    synthetic = _plant(synthetic, 20, train[with_null])  # a null equals a null
    flags = privacy.exact_copies(synthetic, train, COLUMNS)
    assert np.flatnonzero(flags).tolist() == [10, 20]
    nudged = _plant(independent, 10, train[5], income=train["income"][5] + 0.01)
    assert not privacy.exact_copies(nudged, train, COLUMNS).any()


def test_distance_to_closest(train, independent):
    synthetic = _plant(independent, 10, train[5])
    d = privacy.distance_to_closest(synthetic, train, COLUMNS)
    assert d.shape == (synthetic.height,)
    assert d[10] == 0.0
    assert (np.delete(d, 10) > 0).all() and (d <= 1).all()
    assert (privacy.distance_to_closest(train, train, COLUMNS) == 0).all()
    self_excluded = privacy.distance_to_closest(train, train, COLUMNS, exclude_self=True)
    assert (self_excluded > 0).all()
    # One column of six differs completely: distance 1/6.
    far = train[:1].with_columns(diagnosis=pl.lit("unseen"))
    assert privacy.distance_to_closest(far, train[:1], COLUMNS)[0] == pytest.approx(1 / 6)


def test_distances_scale_to_a_few_thousand_rows():
    a, b = people(3000, seed=4), people(3000, seed=5)
    start = time.perf_counter()
    d = privacy.distance_to_closest(a, b, COLUMNS)
    assert time.perf_counter() - start < 10  # measured about 1 s on the 2-core machine
    assert d.shape == (3000,) and (d > 0).all()


def test_too_close_flags_a_near_copy(train, holdout, independent):
    synthetic = _plant(independent, 7, train[3], income=train["income"][3] + 0.01)
    flags, threshold = privacy.too_close(synthetic, train, holdout, COLUMNS)
    assert threshold > 0
    assert flags[7]
    assert flags.mean() < 0.15  # about the quantile's share of unseen rows


def test_reproduced_unique_combinations(train, independent):
    quasi = ["age", "region"]
    counts = train.group_by(quasi).len()
    unique = counts.filter(pl.col("len") == 1).drop_nulls()[0]
    shared = counts.filter(pl.col("len") > 2).drop_nulls()[0]
    synthetic = _plant(independent, 0, independent[0], age=unique["age"][0])
    synthetic = synthetic.with_columns(
        region=pl.when(pl.int_range(pl.len()) == 0)
        .then(pl.lit(unique["region"][0]))
        .when(pl.int_range(pl.len()) == 1)
        .then(pl.lit(shared["region"][0]))
        .otherwise(pl.col("region")),
        age=pl.when(pl.int_range(pl.len()) == 1)
        .then(pl.lit(shared["age"][0]))
        .otherwise(pl.col("age")),
    )
    flags = privacy.reproduced_unique_combinations(synthetic, train, quasi)
    assert flags[0]
    assert not flags[1]  # the combination is shared by several real people


def test_leaked_identifiers(train, independent):
    assert not privacy.leaked_identifiers(independent, train, ["person_id", "email"]).any()
    synthetic = independent.with_columns(
        email=pl.when(pl.int_range(pl.len()) == 3)
        .then(pl.lit(train["email"][9]))
        .when(pl.int_range(pl.len()) == 4)
        .then(pl.lit(str(train["person_id"][0])))  # a real id in another identifier column
        .otherwise(pl.col("email"))
    )
    flags = privacy.leaked_identifiers(synthetic, train, ["person_id", "email"])
    assert np.flatnonzero(flags).tolist() == [3, 4]


def test_dcr_share(train, holdout, independent):
    fair = privacy.dcr_share(independent, train, holdout, COLUMNS, seed=0)
    assert fair.low < 0.5 < fair.high
    assert 0.4 < fair.value < 0.6
    # Train as large as holdout: every copied row wins.
    copied = privacy.dcr_share(train[:200], train[:200], holdout, COLUMNS, seed=0)
    assert copied.value == 1.0
    # Train twice the holdout: only the copies of the sampled half can win.
    copied = privacy.dcr_share(train, train, holdout, COLUMNS, seed=0)
    assert copied.detail["n_each_reference"] == 200
    assert copied.detail["copy_value"] == 0.75
    assert copied.low < 0.75 < copied.high and copied.low > 0.6


def test_membership_inference(train, holdout, independent):
    leak = privacy.membership_inference(train, holdout, train, COLUMNS, seed=0)
    assert leak.value > 0.9 and leak.low > 0.85
    none = privacy.membership_inference(train, holdout, independent, COLUMNS, seed=0)
    assert none.low < 0.5 < none.high
    assert abs(none.value - 0.5) < 0.1


def test_attribute_inference_categorical(train, holdout, independent):
    quasi = ["age", "region", "income"]
    leak = privacy.attribute_inference(train, holdout, train, quasi, "diagnosis", COLUMNS, seed=0)
    assert leak.detail["metric"] == "accuracy"
    assert leak.value > 0.95  # every member finds itself
    assert leak.detail["advantage_low"] > 0.2
    fair = privacy.attribute_inference(
        train, holdout, independent, quasi, "diagnosis", COLUMNS, seed=0
    )
    assert fair.detail["advantage_low"] < 0 < fair.detail["advantage_high"]
    assert fair.low <= fair.value <= fair.high


def test_attribute_inference_numeric(train, holdout, independent):
    quasi = ["age", "region", "smoker", "visit"]
    leak = privacy.attribute_inference(train, holdout, train, quasi, "income", COLUMNS, seed=0)
    assert leak.detail["metric"] == "r2"
    assert leak.value > 0.95
    assert leak.detail["advantage_low"] > 0
    fair = privacy.attribute_inference(
        train, holdout, independent, quasi, "income", COLUMNS, seed=0
    )
    assert fair.detail["advantage_low"] < 0 < fair.detail["advantage_high"]
    assert fair.value > 0.3  # age predicts income in the population: not a leak
