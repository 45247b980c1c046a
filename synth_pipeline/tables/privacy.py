"""Privacy of a synthetic table: per-row checks (curation filters) and set-level attacks.

Distances are Gower's mixed-type distance in [0, 1]: over the compared columns (every
non-identifier, non-text column), the mean of |a - b| / range for integer/number/date columns
(range of the real data, a difference larger than the range counts 1) and of a 0/1 mismatch
for categorical/boolean columns; a null equals a null and differs from any value.

Column arguments: `columns` is the table's declaration; the quasi-identifier, identifier and
sensitive arguments take names or TableColumns.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from synth_pipeline.tables._values import (
    codes,
    is_numeric,
    labels,
    names,
    numbers,
    percentile_interval,
    target_values,
)
from synth_pipeline.tables.columns import POLARS_DTYPES, TableColumn, modelled_columns

BOOTSTRAP_REPS = 1000
_CHUNK_CELLS = 2_000_000  # rows of a x rows of b per distance block (16 MB of float64)
_NULL = -1e9  # scaled numeric stand-in for null: equal to itself, far from any value


@dataclass
class Score:
    """A set-level figure with its 95% interval and what it was computed from."""

    value: float
    low: float
    high: float
    detail: dict = field(default_factory=dict)


def exact_copies(
    synthetic: pl.DataFrame, real: pl.DataFrame, columns: Sequence[TableColumn]
) -> np.ndarray:
    """Per synthetic row: equal to some real row on every compared column."""
    compared = [c.name for c in modelled_columns(list(columns))]
    if not compared:
        raise ValueError("no compared columns (all identifiers or text)")
    return _rows_in(synthetic, real.unique(subset=compared), compared, columns)


def distance_to_closest(
    a: pl.DataFrame,
    b: pl.DataFrame,
    columns: Sequence[TableColumn],
    *,
    exclude_self: bool = False,
) -> np.ndarray:
    """Per row of `a`, the Gower distance to its nearest row of `b` (ranges from `b`).

    `exclude_self`: `a` and `b` are the same rows; a row's distance to itself is not counted.
    """
    if exclude_self and a.height != b.height:
        raise ValueError("exclude_self needs a and b to be the same rows")
    space = _Gower(columns, b)
    return space.nearest(a, b, exclude_self=exclude_self)


def too_close(
    synthetic: pl.DataFrame,
    train: pl.DataFrame,
    holdout: pl.DataFrame,
    columns: Sequence[TableColumn],
    *,
    quantile: float = 0.05,
) -> tuple[np.ndarray, float]:
    """Per synthetic row: its distance to the nearest train row is strictly below the
    `quantile` of the holdout rows' distances to train, i.e. closer to a training record than
    nearly all unseen real records are. Returns the flags and that threshold (when a twentieth
    of real holdout rows have an exact twin in train, the threshold is 0 and nothing is
    flagged: leave exact copies to `exact_copies`)."""
    distances, threshold = closeness(synthetic, train, holdout, columns, quantile=quantile)
    return distances < threshold, threshold


def closeness(
    synthetic: pl.DataFrame,
    train: pl.DataFrame,
    holdout: pl.DataFrame,
    columns: Sequence[TableColumn],
    *,
    quantile: float = 0.05,
) -> tuple[np.ndarray, float]:
    """`too_close`'s figures: each synthetic row's distance to its nearest train row, and the
    `quantile` of the holdout rows' distances to train, in one distance space (ranges from
    train and holdout)."""
    if not 0 < quantile < 1:
        raise ValueError("quantile must be in (0, 1)")
    space = _Gower(columns, pl.concat([_conform(train, columns), _conform(holdout, columns)]))
    threshold = float(np.quantile(space.nearest(holdout, train), quantile))
    return space.nearest(synthetic, train), threshold


def dcr_share(
    synthetic: pl.DataFrame,
    train: pl.DataFrame,
    holdout: pl.DataFrame,
    columns: Sequence[TableColumn],
    *,
    seed: int,
) -> Score:
    """Share of synthetic rows whose closest real record is in train rather than in holdout,
    train and holdout cut to the same size m (a tie counts one half). 0.5: the generator is
    no closer to what it saw than to what it did not; above: it memorised. Only the train rows
    in the size-m sample can win, so a verbatim copy of train scores 0.5 + 0.5 m / len(train),
    given as `detail["copy_value"]` (1.0 when train is no larger than holdout). Interval: 95%
    percentile bootstrap over synthetic rows."""
    rng = np.random.default_rng(seed)
    m = min(train.height, holdout.height)
    tr = _subsample(train, m, rng)
    ho = _subsample(holdout, m, rng)
    space = _Gower(columns, pl.concat([_conform(train, columns), _conform(holdout, columns)]))
    d_train, d_hold = space.nearest(synthetic, tr), space.nearest(synthetic, ho)
    closer = np.where(d_train < d_hold, 1.0, np.where(d_train == d_hold, 0.5, 0.0))
    reps = np.array(
        [closer[rng.integers(0, closer.size, closer.size)].mean() for _ in range(BOOTSTRAP_REPS)]
    )
    low, high = percentile_interval(reps)
    return Score(
        float(closer.mean()),
        low,
        high,
        {
            "n_synthetic": int(closer.size),
            "n_each_reference": m,
            "copy_value": 0.5 + 0.5 * m / train.height,
            "ties": float((d_train == d_hold).mean()),
            "median_dcr_train": float(np.median(d_train)),
            "median_dcr_holdout": float(np.median(d_hold)),
        },
    )


def reproduced_unique_combinations(
    synthetic: pl.DataFrame,
    real: pl.DataFrame,
    quasi_columns: Sequence[TableColumn | str],
) -> np.ndarray:
    """Per synthetic row: its combination of quasi-identifiers occurs exactly once in the real
    table (so it points at one person) and the synthetic row reproduces it."""
    quasi = [c if isinstance(c, str) else c.name for c in quasi_columns]
    if not quasi:
        raise ValueError("no quasi-identifier columns")
    unique = real.group_by(quasi).len().filter(pl.col("len") == 1).select(quasi)
    return _rows_in(synthetic, unique, quasi, None)


def leaked_identifiers(
    synthetic: pl.DataFrame,
    real: pl.DataFrame,
    identifier_columns: Sequence[TableColumn | str],
) -> np.ndarray:
    """Per synthetic row: one of its identifier values appears in any identifier column of the
    real table (compared as text, so 123 and "123" match)."""
    idents = [c if isinstance(c, str) else c.name for c in identifier_columns]
    flags = np.zeros(synthetic.height, dtype=bool)
    if not idents:
        return flags
    seen = pl.concat([real[c].cast(pl.String).drop_nulls() for c in idents]).unique()
    for c in idents:
        flags |= synthetic[c].cast(pl.String).is_in(seen.implode()).fill_null(False).to_numpy()
    return flags


def membership_inference(
    train: pl.DataFrame,
    holdout: pl.DataFrame,
    synthetic: pl.DataFrame,
    columns: Sequence[TableColumn],
    *,
    seed: int,
) -> Score:
    """A distance attack: score each real row by minus its distance to the closest synthetic
    row, and measure how well that tells training rows (members, a sample the size of the
    holdout) from holdout rows (non-members): ROC AUC, 0.5 = no leak, 1 = every member
    exposed. Interval: 95% percentile bootstrap, members and non-members resampled apart."""
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(seed)
    m = min(train.height, holdout.height)
    members, non_members = _subsample(train, m, rng), _subsample(holdout, m, rng)
    space = _Gower(columns, pl.concat([_conform(train, columns), _conform(holdout, columns)]))
    d_in, d_out = space.nearest(members, synthetic), space.nearest(non_members, synthetic)
    y = np.r_[np.ones(m), np.zeros(m)]
    score = -np.r_[d_in, d_out]
    auc = float(roc_auc_score(y, score))
    reps = np.empty(BOOTSTRAP_REPS)
    for i in range(BOOTSTRAP_REPS):
        a, b = rng.integers(0, m, m), rng.integers(0, m, m)
        reps[i] = roc_auc_score(y, -np.r_[d_in[a], d_out[b]])
    low, high = percentile_interval(reps)
    return Score(
        auc,
        low,
        high,
        {
            "n_members": m,
            "n_non_members": m,
            "median_dcr_members": float(np.median(d_in)),
            "median_dcr_non_members": float(np.median(d_out)),
        },
    )


def attribute_inference(
    train: pl.DataFrame,
    holdout: pl.DataFrame,
    synthetic: pl.DataFrame,
    quasi_columns: Sequence[TableColumn | str],
    sensitive_column: TableColumn | str,
    columns: Sequence[TableColumn],
    *,
    seed: int,
) -> Score:
    """An attacker who knows a person's quasi-identifiers looks up the closest synthetic row
    on them (Gower distance over the quasi-identifiers; a 1-nearest-neighbour model fitted on
    the synthetic table, as Anonymeter's inference attack and SDMetrics' CAP do) and reads its
    sensitive value as the guess.

    `value` (with its interval) is the attack's success on training rows (members, a sample
    the size of the holdout): accuracy for a categorical/boolean sensitive column, R2 for a
    numeric one. Part of that success is what the population lets anyone infer, so the
    privacy figure is `detail["advantage"]`: success on members minus success on holdout rows
    (non-members), with its interval (near 0: the table tells no more about the people it was
    fitted on than about anyone else; a memorised table gives members away). `detail
    ["baseline"]` is guessing the synthetic table's most common value (accuracy) or 0 (R2 of
    the mean). Intervals: 95% percentile bootstrap, members and non-members resampled apart.
    """
    from sklearn.metrics import r2_score

    quasi = names(quasi_columns, columns)
    sensitive = names([sensitive_column], columns)[0]
    if not quasi:
        raise ValueError("no quasi-identifier columns")
    if not sensitive.modelled:
        raise ValueError(f"sensitive column {sensitive.name!r} is not a modelled column")
    classify = not is_numeric(sensitive)
    known = pl.col(sensitive.name).is_not_null()
    train, holdout, synthetic = train.filter(known), holdout.filter(known), synthetic.filter(known)
    if synthetic.height == 0:
        raise ValueError("no synthetic row has a sensitive value")
    rng = np.random.default_rng(seed)
    m = min(train.height, holdout.height)
    members, non_members = _subsample(train, m, rng), _subsample(holdout, m, rng)
    space = _Gower(quasi, pl.concat([_conform(train, quasi), _conform(holdout, quasi)]))
    guesses = target_values(synthetic, sensitive, classify)
    p_in = guesses[space.nearest_with_index(members, synthetic)[1]]
    p_out = guesses[space.nearest_with_index(non_members, synthetic)[1]]
    y_in = target_values(members, sensitive, classify)
    y_out = target_values(non_members, sensitive, classify)

    def success(y: np.ndarray, p: np.ndarray) -> float:
        return float(np.mean(y == p)) if classify else float(r2_score(y, p))

    s_in, s_out = success(y_in, p_in), success(y_out, p_out)
    reps = np.empty((BOOTSTRAP_REPS, 2))
    for i in range(BOOTSTRAP_REPS):
        a, b = rng.integers(0, m, m), rng.integers(0, m, m)
        reps[i] = success(y_in[a], p_in[a]), success(y_out[b], p_out[b])
    low, high = percentile_interval(reps[:, 0])
    out_low, out_high = percentile_interval(reps[:, 1])
    adv_low, adv_high = percentile_interval(reps[:, 0] - reps[:, 1])
    if classify:
        values, counts = np.unique(guesses, return_counts=True)
        baseline = float(np.mean(y_in == values[np.argmax(counts)]))
    else:
        baseline = 0.0
    return Score(
        s_in,
        low,
        high,
        {
            "metric": "accuracy" if classify else "r2",
            "sensitive": sensitive.name,
            "quasi_identifiers": [c.name for c in quasi],
            "members": s_in,
            "non_members": s_out,
            "non_members_low": out_low,
            "non_members_high": out_high,
            "advantage": s_in - s_out,
            "advantage_low": adv_low,
            "advantage_high": adv_high,
            "baseline": baseline,
            "n_members": m,
            "n_non_members": m,
        },
    )


class _Gower:
    """Frames -> scaled numeric and coded categorical arrays for the mixed distance."""

    def __init__(self, columns: Sequence[TableColumn], reference: pl.DataFrame):
        self.numeric = [c for c in modelled_columns(list(columns)) if is_numeric(c)]
        self.discrete = [c for c in modelled_columns(list(columns)) if not is_numeric(c)]
        if not self.numeric and not self.discrete:
            raise ValueError("no compared columns (all identifiers or text)")
        self.lows, self.scales = [], []
        for c in self.numeric:
            x = numbers(reference, c)
            x = x[np.isfinite(x)]
            lo, hi = (float(x.min()), float(x.max())) if x.size else (0.0, 0.0)
            self.lows.append(lo)
            # A constant real column: any difference counts fully.
            self.scales.append(hi - lo if hi > lo else 1e-12)

    def _numeric(self, frame: pl.DataFrame) -> np.ndarray:
        cols = []
        for c, lo, scale in zip(self.numeric, self.lows, self.scales, strict=True):
            x = (numbers(frame, c) - lo) / scale
            cols.append(np.where(np.isnan(x), _NULL, x))
        return np.column_stack(cols) if cols else np.zeros((frame.height, 0))

    def nearest(
        self, a: pl.DataFrame, b: pl.DataFrame, *, exclude_self: bool = False
    ) -> np.ndarray:
        """Per row of a, the distance to the nearest row of b."""
        return self.nearest_with_index(a, b, exclude_self=exclude_self)[0]

    def nearest_with_index(
        self, a: pl.DataFrame, b: pl.DataFrame, *, exclude_self: bool = False
    ) -> tuple[np.ndarray, np.ndarray]:
        """Per row of a, the distance to the nearest row of b and that row's index (the first
        of tied rows)."""
        if b.height == 0:
            raise ValueError("no reference rows to measure distances to")
        an, bn = self._numeric(a), self._numeric(b)
        ac_list, bc_list = [], []
        for c in self.discrete:
            ca, cb = codes([labels(a, c), labels(b, c)])
            ac_list.append(ca)
            bc_list.append(cb)
        ac = np.column_stack(ac_list) if ac_list else np.zeros((a.height, 0), dtype=np.int64)
        bc = np.column_stack(bc_list) if bc_list else np.zeros((b.height, 0), dtype=np.int64)
        k = an.shape[1] + ac.shape[1]
        out = np.empty(a.height)
        index = np.empty(a.height, dtype=np.int64)
        step = max(1, _CHUNK_CELLS // max(1, b.height))
        for start in range(0, a.height, step):
            stop = min(a.height, start + step)
            d = np.zeros((stop - start, b.height))
            for j in range(an.shape[1]):
                d += np.minimum(np.abs(an[start:stop, j, None] - bn[None, :, j]), 1.0)
            for j in range(ac.shape[1]):
                d += ac[start:stop, j, None] != bc[None, :, j]
            if exclude_self:
                rows = np.arange(start, stop)
                d[rows - start, rows] = np.inf
            index[start:stop] = d.argmin(axis=1)
            out[start:stop] = d[np.arange(stop - start), index[start:stop]] / k
        return out, index


def _conform(frame: pl.DataFrame, columns: Sequence[TableColumn]) -> pl.DataFrame:
    """The compared columns with their declared dtypes (so frames concatenate and join)."""
    return frame.select(
        pl.col(c.name).cast(POLARS_DTYPES[c.type]) for c in modelled_columns(list(columns))
    )


def _rows_in(
    frame: pl.DataFrame,
    keys: pl.DataFrame,
    on: list[str],
    columns: Sequence[TableColumn] | None,
) -> np.ndarray:
    """Per row of frame: its values on `on` are a row of `keys` (nulls equal nulls)."""
    left = frame.select(on).with_row_index("__row")
    right = keys.select(on)
    if columns is not None:
        dtypes = {c.name: POLARS_DTYPES[c.type] for c in columns}
        left = left.with_columns(pl.col(n).cast(dtypes[n]) for n in on)
        right = right.with_columns(pl.col(n).cast(dtypes[n]) for n in on)
    else:
        right = right.with_columns(pl.col(n).cast(left.schema[n]) for n in on)
    hit = left.join(right, on=on, how="semi", nulls_equal=True)["__row"].to_numpy()
    flags = np.zeros(frame.height, dtype=bool)
    flags[hit] = True
    return flags


def _subsample(frame: pl.DataFrame, m: int, rng: np.random.Generator) -> pl.DataFrame:
    if frame.height == m:
        return frame
    return frame[np.sort(rng.choice(frame.height, m, replace=False)).tolist()]
