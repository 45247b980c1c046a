"""The tables engine's synthesizer and column declarations, on a 300-row people table.

MST fits dominate the time (jax compiles per model shape): the module fits four times."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest
from pydantic import ValidationError

from synth_pipeline.tables import fidelity
from synth_pipeline.tables.columns import POLARS_DTYPES, TableColumn
from synth_pipeline.tables.synthesizer import SynthesisResult, synthesize
from synth_pipeline_tests.tables_support import people, people_columns

N = 250


@pytest.fixture(scope="module")
def real() -> pl.DataFrame:
    return people(300, seed=0)


@pytest.fixture(scope="module")
def columns() -> list[TableColumn]:
    return people_columns()


@pytest.fixture(scope="module")
def fitted(real, columns) -> tuple[SynthesisResult, list[str]]:
    messages: list[str] = []
    result = synthesize(real, columns, N, epsilon=None, seed=7, progress=messages.append)
    return result, messages


@pytest.fixture(scope="module")
def private(real, columns) -> SynthesisResult:
    return synthesize(real, columns, N, epsilon=1.0, seed=7)


def test_frame_has_the_declared_shape_and_dtypes(fitted, columns):
    frame = fitted[0].frame
    assert frame.height == N
    assert frame.columns == [c.name for c in columns]
    assert frame.schema == pl.Schema({c.name: POLARS_DTYPES[c.type] for c in columns})


def test_values_stay_inside_public_bounds_and_precision(fitted, real):
    frame = fitted[0].frame
    assert frame["age"].min() >= 18 and frame["age"].max() <= 90
    income = frame["income"].to_numpy()
    assert income.min() >= 0 and income.max() <= 250
    assert np.allclose(income, income.round(2))  # the real column has 2 decimals
    assert not np.allclose(income, income.round(0))  # not collapsed to bin midpoints
    assert frame["visit"].min() >= dt.date(2024, 1, 1)
    assert frame["visit"].max() <= dt.date(2024, 12, 31)
    assert set(frame["diagnosis"].unique()) <= set(real["diagnosis"].unique())
    assert frame["smoker"].null_count() == 0


def test_nulls_are_reproduced_where_the_real_column_has_them(fitted, real):
    frame = fitted[0].frame
    real_share = real["region"].null_count() / real.height
    assert real_share > 0.02
    assert 0.2 * real_share < frame["region"].null_count() / N < 3 * real_share
    assert frame["age"].null_count() == 0


def test_identifiers_are_fresh_unique_and_realistic(fitted, real):
    frame = fitted[0].frame
    ids = frame["person_id"]
    assert ids.n_unique() == N
    assert not ids.is_in(real["person_id"].implode()).any()
    assert ids.cast(pl.String).str.len_chars().unique().to_list() == [6]  # same digits as real
    emails = frame["email"]
    assert emails.n_unique() == N
    assert not emails.is_in(real["email"].implode()).any()
    assert emails.str.contains(r"^[^@\s]+@example\.(com|net|org)$").all()


def test_text_columns_are_left_for_later(fitted):
    result = fitted[0]
    assert result.frame["notes"].null_count() == N
    assert any("notes" in note for note in result.notes)


def test_rows_are_shuffled(fitted):
    # MST's sampler emits rows grouped by its first column; a shuffled frame has many runs.
    frame = fitted[0].frame
    for name in ("age", "region", "smoker", "diagnosis", "income"):
        values = frame[name].cast(pl.String).fill_null("")
        runs = int((values != values.shift(1)).sum())
        assert runs > N / 4, name


def test_structure_is_learnt(fitted, real, columns):
    frame = fitted[0].frame
    shapes = fidelity.column_shapes(real, frame, columns)
    assert min(shapes.values()) > 0.8
    trends = fidelity.pair_trends(real, frame, columns)
    assert trends[("age", "income")] > 0.85
    assert trends[("smoker", "diagnosis")] > 0.85


def test_two_children_of_one_parent_are_not_rank_locked():
    # mbi 1.1.0's default sampler (randomized rounding) gives each child column by the row's
    # rank inside its parent's group, so siblings come out locked together: measured a mean
    # within-parent Cramér's V of 0.79 against 0.13 in the real table.
    from scipy.stats.contingency import association, crosstab

    rng = np.random.default_rng(0)
    n = 600
    p = rng.integers(0, 3, n)
    a = np.where(rng.random(n) < 0.6, p, rng.integers(0, 4, n))
    b = np.where(rng.random(n) < 0.6, p, rng.integers(0, 4, n))
    real = pl.DataFrame({"p": p.astype(str), "a": a.astype(str), "b": b.astype(str)})
    columns = [TableColumn(name=x, type="categorical", description=x) for x in "pab"]

    def within_parent_association(frame: pl.DataFrame) -> float:
        return float(
            np.mean(
                [
                    association(crosstab(g["a"].to_numpy(), g["b"].to_numpy()).count)
                    for _, g in frame.group_by("p")
                ]
            )
        )

    frame = synthesize(real, columns, n, epsilon=None, seed=0).frame
    assert within_parent_association(real) < 0.2
    assert within_parent_association(frame) < 0.3


def test_no_guarantee_is_reported_as_none(fitted):
    result, messages = fitted
    assert result.epsilon is None
    assert any("no privacy guarantee" in note for note in result.notes)
    assert messages[0] == "fitting the synthesizer on 300 rows in a child process"
    assert messages[1].startswith("fitting MST on 300 rows x 6 columns")
    assert messages[-1] == f"sampling {N:,} rows"
    assert result.fit_seconds > 0 and result.sample_seconds > 0


def test_same_seed_gives_the_same_frame_without_a_guarantee(fitted, real, columns):
    again = synthesize(real, columns, N, epsilon=None, seed=7)
    assert again.frame.equals(fitted[0].frame)
    other = synthesize(real, columns, N, epsilon=None, seed=8)
    assert not other.frame.equals(fitted[0].frame)
    assert not other.frame["person_id"].equals(fitted[0].frame["person_id"])


def test_a_guarantee_is_recorded_with_its_scope(private, real):
    assert private.epsilon == 1.0
    assert any("differential privacy" in note for note in private.notes)
    # Labels read from the data are outside the guarantee and said so.
    assert any("labels of region" in note for note in private.notes)
    assert private.frame.height == N
    assert not private.frame["person_id"].is_in(real["person_id"].implode()).any()


def test_a_guarantee_needs_public_bounds(real, columns):
    unbounded = [
        c.model_copy(update={"lower": None, "upper": None}) if c.name == "income" else c
        for c in columns
    ]
    with pytest.raises(ValueError, match="income.*public bounds"):
        synthesize(real, unbounded, 10, epsilon=1.0, seed=0)


def test_values_outside_bounds_and_missing_columns_are_reported(real, columns):
    narrow = [
        c.model_copy(update={"lower": 30.0, "upper": 60.0}) if c.name == "age" else c
        for c in columns
    ]
    from synth_pipeline.tables.synthesizer import _Codec

    codec = _Codec.fit(real["age"], narrow[2], derive_bounds=False)
    assert codec.clipped(real["age"]) == int(((real["age"] < 30) | (real["age"] > 60)).sum()) > 0
    with pytest.raises(ValueError, match="missing"):
        synthesize(real.drop("income"), columns, 10, epsilon=None, seed=0)


def test_column_declarations_are_validated():
    def col(**kw) -> TableColumn:
        return TableColumn(**{"name": "x", "type": "integer", "description": "d", **kw})

    with pytest.raises(ValidationError, match="identifier"):
        col(type="text", role="identifier")
    with pytest.raises(ValidationError, match="identifier"):
        col(type="number", role="identifier")
    with pytest.raises(ValidationError, match="both"):
        col(lower=1)
    with pytest.raises(ValidationError, match="below"):
        col(lower=5, upper=5)
    with pytest.raises(ValidationError, match="identifier columns only"):
        col(fake="email")
    with pytest.raises(ValidationError, match="numeric_id"):
        col(role="identifier", fake="email")
    with pytest.raises(ValidationError, match="integer, number and date"):
        col(type="categorical", bins=5)
    with pytest.raises(ValidationError):
        col(name="Bad Name")
    with pytest.raises(ValidationError):
        col(unknown_field=1)
    with pytest.raises(ValidationError, match="ISO dates"):
        col(type="date", lower=1, upper=2)
    visit = col(type="date", lower="2024-01-01", upper="2024-12-31")
    assert visit.numeric_bounds() == (
        dt.date(2024, 1, 1).toordinal(),
        dt.date(2024, 12, 31).toordinal(),
    )
    assert col(role="identifier").fake_kind() == "numeric_id"
    ident = {"type": "categorical", "role": "identifier"}
    assert col(name="contact_email", **ident).fake_kind() == "email"
    assert col(name="full_name", **ident).fake_kind() == "person_name"
    assert col(name="ticket", **ident).fake_kind() == "code"
    assert not col(role="identifier").modelled
    assert not col(type="text").modelled


def test_code_identifiers_keep_their_shape_without_a_model():
    real = pl.DataFrame({"ticket": [f"CUST-{i:06d}" for i in range(2000)], "notes": "x"})
    columns = [
        TableColumn(name="ticket", type="categorical", role="identifier", description="t"),
        TableColumn(name="notes", type="text", description="n"),
    ]
    result = synthesize(real, columns, 500, epsilon=1.0, seed=3)
    tickets = result.frame["ticket"]
    assert tickets.str.contains(r"^CUST-\d{6}$").all()  # the shared prefix stays
    assert tickets.n_unique() == 500
    assert not tickets.is_in(real["ticket"].implode()).any()
    assert synthesize(real, columns, 500, epsilon=1.0, seed=3).frame.equals(result.frame)
    empty = synthesize(real, columns, 0, epsilon=None, seed=3).frame
    assert empty.height == 0 and empty.columns == ["ticket", "notes"]
