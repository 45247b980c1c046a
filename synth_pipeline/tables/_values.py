"""Column values as numpy arrays, shared by the metrics, the privacy checks and the plots."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import numpy as np
import polars as pl

from synth_pipeline.tables.columns import NUMERIC_TYPES, TableColumn

NULL_LABEL = "<null>"
_EPOCH_ORDINAL = dt.date(1970, 1, 1).toordinal()


def is_numeric(column: TableColumn) -> bool:
    """Compared as numbers: integer, number and date (as days)."""
    return column.type in NUMERIC_TYPES


def numbers(frame: pl.DataFrame, column: TableColumn) -> np.ndarray:
    """Float values, dates as day ordinals, NaN for nulls."""
    series = frame[column.name]
    if column.type == "date":
        series = series.cast(pl.Date).cast(pl.Int64) + _EPOCH_ORDINAL
    return series.cast(pl.Float64).fill_null(np.nan).to_numpy()


def labels(frame: pl.DataFrame, column: TableColumn) -> np.ndarray:
    """String labels (booleans as 'true'/'false'), NULL_LABEL for nulls."""
    series = frame[column.name]
    if series.dtype == pl.Boolean:
        series = series.cast(pl.String).str.to_lowercase()
    return series.cast(pl.String).fill_null(NULL_LABEL).to_numpy().astype(object)


def codes(arrays: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Integer codes of label arrays over one shared vocabulary."""
    vocab, inverse = np.unique(np.concatenate(arrays).astype(str), return_inverse=True)
    del vocab
    out, start = [], 0
    for a in arrays:
        out.append(inverse[start : start + len(a)].astype(np.int64))
        start += len(a)
    return out


def names(columns: Sequence[TableColumn | str], table: Sequence[TableColumn]) -> list[TableColumn]:
    """Resolve column names (or columns) against the table's declaration."""
    by_name = {c.name: c for c in table}
    out = []
    for c in columns:
        name = c if isinstance(c, str) else c.name
        if name not in by_name:
            raise ValueError(f"unknown column {name!r}")
        out.append(by_name[name])
    return out


class FeatureEncoder:
    """Columns -> a float matrix for scikit-learn's HistGradientBoosting: numbers as they are,
    categories as codes learnt on the fitting frame (unknown -> missing), with the mask of
    categorical features. Why not one-hot: HGB splits natively on categories."""

    MAX_CATEGORIES = 250  # HGB's limit is 255 bins; more labels are used as ordinal codes

    def __init__(self, columns: Sequence[TableColumn]):
        self.columns = list(columns)
        self.vocab: dict[str, dict[str, int]] = {}

    def fit(self, frame: pl.DataFrame) -> FeatureEncoder:
        for c in self.columns:
            if not is_numeric(c):
                present = sorted(set(labels(frame, c).tolist()) - {NULL_LABEL})
                self.vocab[c.name] = {v: i for i, v in enumerate(present)}
        return self

    def transform(self, frame: pl.DataFrame) -> np.ndarray:
        cols = []
        for c in self.columns:
            if is_numeric(c):
                cols.append(numbers(frame, c))
            else:
                vocab = self.vocab[c.name]
                cols.append(np.array([vocab.get(v, np.nan) for v in labels(frame, c)], dtype=float))
        return np.column_stack(cols) if cols else np.zeros((frame.height, 0))

    @property
    def categorical_mask(self) -> np.ndarray:
        return np.array(
            [
                not is_numeric(c) and len(self.vocab[c.name]) <= self.MAX_CATEGORIES
                for c in self.columns
            ],
            dtype=bool,
        )


def percentile_interval(samples: np.ndarray) -> tuple[float, float]:
    """The 95% percentile interval of bootstrap replicates (NaNs ignored)."""
    finite = samples[np.isfinite(samples)]
    if finite.size == 0:
        return float("nan"), float("nan")
    low, high = np.percentile(finite, [2.5, 97.5])
    return float(low), float(high)


def target_values(frame: pl.DataFrame, column: TableColumn, classify: bool) -> np.ndarray:
    return labels(frame, column).astype(str) if classify else numbers(frame, column)


def fit_predict(
    train: pl.DataFrame,
    test: pl.DataFrame,
    features: list[TableColumn],
    target: TableColumn,
    classify: bool,
    seed: int,
) -> np.ndarray:
    """Predictions for `test` of a model fitted on `train` (a constant when train has one
    class or no feature)."""
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    y = target_values(train, target, classify)
    if (classify and len(np.unique(y)) < 2) or not features:
        if classify:
            values, counts = np.unique(y, return_counts=True)
            return np.full(test.height, values[np.argmax(counts)], dtype=object).astype(str)
        return np.full(test.height, float(np.nanmean(y)))
    from threadpoolctl import threadpool_limits

    encoder = FeatureEncoder(features).fit(train)
    model_cls = HistGradientBoostingClassifier if classify else HistGradientBoostingRegressor
    model = model_cls(categorical_features=encoder.categorical_mask, random_state=seed)
    # One OpenMP thread: on a busy 2-core machine HGB's threads spin-wait on each other
    # (measured 67 s against 0.5 s for the same 500-row fit); these tables are small.
    with threadpool_limits(1, user_api="openmp"):
        model.fit(encoder.transform(train), y)
        return model.predict(encoder.transform(test))
