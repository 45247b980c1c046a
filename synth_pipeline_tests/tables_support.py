"""A small people table with known structure for the tables engine's tests.

age and income are strongly correlated (Pearson ~0.9), smoker and diagnosis strongly
associated (Cramér's V > 0.3), region has a few nulls; the rest is noise.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl

from synth_pipeline.tables.columns import TableColumn

REGIONS = ["north", "south", "east", "west"]


def people_columns() -> list[TableColumn]:
    return [
        TableColumn(name="person_id", type="integer", role="identifier", description="row id"),
        TableColumn(name="email", type="categorical", role="identifier", description="address"),
        TableColumn(
            name="age",
            type="integer",
            role="quasi_identifier",
            description="years",
            lower=18,
            upper=90,
        ),
        TableColumn(name="region", type="categorical", role="quasi_identifier", description="r"),
        TableColumn(name="smoker", type="boolean", description="smokes"),
        TableColumn(
            name="income",
            type="number",
            role="sensitive",
            description="thousands",
            lower=0,
            upper=250,
        ),
        TableColumn(
            name="visit",
            type="date",
            description="last visit",
            lower="2024-01-01",
            upper="2024-12-31",
        ),
        TableColumn(name="diagnosis", type="categorical", role="sensitive", description="dx"),
        TableColumn(name="notes", type="text", description="free text"),
    ]


def people(n: int, seed: int, *, id_offset: int = 0) -> pl.DataFrame:
    """n people drawn from one fixed distribution (different seeds: independent samples)."""
    rng = np.random.default_rng(seed)
    age = np.clip(rng.normal(45, 14, n).round(), 18, 90).astype(int)
    region = rng.choice(REGIONS, n, p=[0.4, 0.3, 0.2, 0.1]).astype(object)
    region[rng.random(n) < 0.05] = None
    smoker = rng.random(n) < 0.3
    income = np.clip(10 + 2.0 * age + rng.normal(0, 12, n), 0, 250).round(2)
    visit = [dt.date(2024, 1, 1) + dt.timedelta(days=int(d)) for d in rng.integers(0, 366, n)]
    p_sick = np.where(smoker, 0.75, 0.15)
    sick = rng.random(n) < p_sick
    diagnosis = np.where(sick, np.where(age > 50, "diabetes", "asthma"), "none")
    person_id = 100_000 + id_offset + rng.permutation(n)
    return pl.DataFrame(
        {
            "person_id": person_id,
            "email": [f"p{i + id_offset}@mail.test" for i in range(n)],
            "age": age,
            "region": pl.Series(region.tolist(), dtype=pl.String),
            "smoker": smoker,
            "income": income,
            "visit": pl.Series(visit, dtype=pl.Date),
            "diagnosis": diagnosis,
            "notes": [f"note {i}" for i in range(n)],
        },
        schema_overrides={"person_id": pl.Int64, "age": pl.Int64},
    )
