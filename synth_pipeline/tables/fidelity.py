"""Fidelity of a synthetic table, with SDMetrics' QualityReport definitions (0.32) so the
figures compare with what people quote, plus train-synthetic-test-real efficacy.

Column shapes: KS complement (1 - Kolmogorov-Smirnov D) for integer/number/date columns, TV
complement (1 - total variation distance of the label shares) for categorical/boolean; nulls
dropped, as SDMetrics does. Pair trends: correlation similarity 1 - |r_real - r_syn| / 2
(Pearson) for two numeric columns, contingency similarity (1 - total variation of the joint
shares, nulls kept as a label) otherwise, a numeric column of a mixed pair cut into the 10 bins
`np.histogram_bin_edges` draws on the real column. Like SDMetrics 0.32's report, the pairs that
count towards the score are those associated in the real data (|r| > 0.5, Cramér's V > 0.3);
`all_pairs=True` scores every pair. One deliberate difference: SDMetrics bins the synthetic
column with edges drawn on the synthetic column; here both use the real column's edges.
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Sequence

import numpy as np
import polars as pl

from synth_pipeline.tables._values import (
    fit_predict,
    is_numeric,
    labels,
    numbers,
    percentile_interval,
    target_values,
)
from synth_pipeline.tables.columns import TableColumn, modelled_columns

REAL_CORRELATION_THRESHOLD = 0.5  # sdmetrics.reports.utils.DEFAULT_REAL_CORRELATION_THRESHOLD
REAL_ASSOCIATION_THRESHOLD = 0.3  # sdmetrics.reports.utils.DEFAULT_REAL_ASSOCIATION_THRESHOLD
PAIR_BINS = 10
BOOTSTRAP_REPS = 1000


def column_shapes(
    real: pl.DataFrame, synthetic: pl.DataFrame, columns: Sequence[TableColumn]
) -> dict[str, float]:
    """Per modelled column, how alike the two distributions are (1 = identical, 0 = disjoint)."""
    from scipy.stats import ks_2samp

    out: dict[str, float] = {}
    for c in modelled_columns(list(columns)):
        if is_numeric(c):
            r, s = _finite(numbers(real, c)), _finite(numbers(synthetic, c))
            if not (r.size and s.size):
                out[c.name] = np.nan
                continue
            with warnings.catch_warnings():  # "exact calculation unsuccessful": asymptotic p
                warnings.simplefilter("ignore", RuntimeWarning)
                out[c.name] = float(1 - ks_2samp(r, s).statistic)
        else:
            r, s = _present(labels(real, c)), _present(labels(synthetic, c))
            out[c.name] = 1 - _total_variation(r, s) if r.size and s.size else np.nan
    return out


def pair_trends(
    real: pl.DataFrame,
    synthetic: pl.DataFrame,
    columns: Sequence[TableColumn],
    *,
    all_pairs: bool = False,
) -> dict[tuple[str, str], float]:
    """Per pair of modelled columns, how alike their joint behaviour is (1 = identical).

    By default only the pairs associated in the real data, as SDMetrics' report counts them.
    """
    out: dict[tuple[str, str], float] = {}
    for a, b in itertools.combinations(modelled_columns(list(columns)), 2):
        score, association = _pair(real, synthetic, a, b)
        both_numeric = is_numeric(a) and is_numeric(b)
        threshold = REAL_CORRELATION_THRESHOLD if both_numeric else REAL_ASSOCIATION_THRESHOLD
        if all_pairs or association > threshold:
            out[(a.name, b.name)] = score
    return out


def quality_score(shapes: dict[str, float], trends: dict[tuple[str, str], float]) -> float:
    """Mean of the two property means (a property without a score is left out, as SDMetrics
    does when no pair is associated enough to count)."""
    means = [_nanmean(list(shapes.values())), _nanmean(list(trends.values()))]
    return _nanmean(means)


def ml_efficacy(
    train: pl.DataFrame,
    synthetic: pl.DataFrame,
    holdout: pl.DataFrame,
    target: str,
    columns: Sequence[TableColumn],
    *,
    seed: int,
) -> dict:
    """Train on synthetic, test on real holdout (TSTR), next to train on real train (TRTR).

    HistGradientBoosting on the other modelled columns (categories split natively). The metric
    is macro F1 for a categorical/boolean target, R2 for a numeric one. Intervals: 95%
    percentile bootstrap over holdout rows, the same resamples for TSTR, TRTR and their gap.
    """
    from sklearn.metrics import f1_score, r2_score

    by_name = {c.name: c for c in columns}
    if target not in by_name:
        raise ValueError(f"unknown target {target!r}")
    tcol = by_name[target]
    if not tcol.modelled:
        raise ValueError(f"target {target!r} is not a modelled column")
    features = [c for c in modelled_columns(list(columns)) if c.name != target]
    classify = not is_numeric(tcol)
    holdout = holdout.filter(pl.col(target).is_not_null())
    y_test = target_values(holdout, tcol, classify)

    def predict(frame: pl.DataFrame) -> np.ndarray:
        frame = frame.filter(pl.col(target).is_not_null())
        return fit_predict(frame, holdout, features, tcol, classify, seed)

    pred_syn, pred_real = predict(synthetic), predict(train)
    if classify:
        classes = np.unique(y_test)
        tstr = float(f1_score(y_test, pred_syn, average="macro", labels=classes, zero_division=0))
        trtr = float(f1_score(y_test, pred_real, average="macro", labels=classes, zero_division=0))
        name = "f1_macro"
        reps_syn = _bootstrap_macro_f1(y_test, pred_syn, classes, seed)
        reps_real = _bootstrap_macro_f1(y_test, pred_real, classes, seed)
    else:
        tstr, trtr = float(r2_score(y_test, pred_syn)), float(r2_score(y_test, pred_real))
        name = "r2"
        reps_syn = _bootstrap_r2(y_test, pred_syn, seed)
        reps_real = _bootstrap_r2(y_test, pred_real, seed)
    tstr_low, tstr_high = percentile_interval(reps_syn)
    trtr_low, trtr_high = percentile_interval(reps_real)
    gap_low, gap_high = percentile_interval(reps_real - reps_syn)
    return {
        "metric": name,
        "target": target,
        "tstr": tstr,
        "tstr_low": tstr_low,
        "tstr_high": tstr_high,
        "trtr": trtr,
        "trtr_low": trtr_low,
        "trtr_high": trtr_high,
        "gap": trtr - tstr,
        "gap_low": gap_low,
        "gap_high": gap_high,
        "n_holdout": int(len(y_test)),
    }


def _bootstrap_weights(n: int, seed: int) -> np.ndarray:
    """BOOTSTRAP_REPS x n resampling counts (row i drawn w times); the same for a given seed,
    so TSTR and TRTR are resampled alike and their gap is paired."""
    rng = np.random.default_rng(seed)
    return rng.multinomial(n, np.full(n, 1 / n), size=BOOTSTRAP_REPS).astype(float)


def _bootstrap_macro_f1(y: np.ndarray, p: np.ndarray, classes: np.ndarray, seed: int) -> np.ndarray:
    """Macro F1 (sklearn's, zero_division=0) of every bootstrap resample, from weighted
    confusion counts: thousands of f1_score calls would take seconds."""
    w = _bootstrap_weights(len(y), seed)
    yk = (y[:, None] == classes[None, :]).astype(float)
    pk = (p[:, None] == classes[None, :]).astype(float)
    tp = w @ (yk * pk)
    fp = w @ ((1 - yk) * pk)
    fn = w @ (yk * (1 - pk))
    denominator = 2 * tp + fp + fn
    f1 = np.divide(2 * tp, denominator, out=np.zeros_like(tp), where=denominator > 0)
    return f1.mean(axis=1)


def _bootstrap_r2(y: np.ndarray, p: np.ndarray, seed: int) -> np.ndarray:
    """R2 of every bootstrap resample from weighted sums."""
    w = _bootstrap_weights(len(y), seed)
    n = w.sum(axis=1)
    ss_res = w @ (y - p) ** 2
    ss_tot = w @ y**2 - (w @ y) ** 2 / n
    return 1 - np.divide(ss_res, ss_tot, out=np.full_like(ss_res, np.nan), where=ss_tot > 0)


def association_matrix(frame: pl.DataFrame, columns: Sequence[TableColumn]) -> np.ndarray:
    """Pearson r for numeric pairs, Cramér's V otherwise (numerics cut into 10 bins drawn on
    this frame); 1 on the diagonal. Used by the heatmaps."""
    cols = modelled_columns(list(columns))
    m = np.eye(len(cols))
    for (i, a), (j, b) in itertools.combinations(enumerate(cols), 2):
        if is_numeric(a) and is_numeric(b):
            m[i, j] = m[j, i] = _pearson(numbers(frame, a), numbers(frame, b))
        else:
            m[i, j] = m[j, i] = _cramers_v(_discrete(frame, a, frame), _discrete(frame, b, frame))
    return m


def _pair(
    real: pl.DataFrame, synthetic: pl.DataFrame, a: TableColumn, b: TableColumn
) -> tuple[float, float]:
    """(score, real association) of one pair."""
    if is_numeric(a) and is_numeric(b):
        r_real = _pearson(numbers(real, a), numbers(real, b))
        r_syn = _pearson(numbers(synthetic, a), numbers(synthetic, b))
        return float(1 - abs(r_real - r_syn) / 2), abs(r_real)
    ra, rb = _discrete(real, a, real), _discrete(real, b, real)
    sa, sb = _discrete(synthetic, a, real), _discrete(synthetic, b, real)
    joint_real = np.char.add(np.char.add(ra.astype(str), "\x1f"), rb.astype(str))
    joint_syn = np.char.add(np.char.add(sa.astype(str), "\x1f"), sb.astype(str))
    return 1 - _total_variation(joint_real, joint_syn), _cramers_v(ra, rb)


def _discrete(frame: pl.DataFrame, column: TableColumn, real: pl.DataFrame) -> np.ndarray:
    """Labels as they are; numbers cut into PAIR_BINS bins drawn on the real column."""
    if not is_numeric(column):
        return labels(frame, column)
    ref = _finite(numbers(real, column))
    x = numbers(frame, column)
    if ref.size == 0:
        return np.where(np.isnan(x), "nan", "x").astype(object)
    edges = np.histogram_bin_edges(ref, bins=PAIR_BINS)
    edges[0], edges[-1] = -np.inf, np.inf
    binned = np.digitize(x, edges).astype(object)
    binned[np.isnan(x)] = "nan"
    return binned.astype(str).astype(object)


def _total_variation(a: np.ndarray, b: np.ndarray) -> float:
    va, ca = np.unique(a.astype(str), return_counts=True)
    vb, cb = np.unique(b.astype(str), return_counts=True)
    pa = dict(zip(va.tolist(), (ca / ca.sum()).tolist(), strict=True))
    pb = dict(zip(vb.tolist(), (cb / cb.sum()).tolist(), strict=True))
    return 0.5 * sum(abs(pa.get(k, 0.0) - pb.get(k, 0.0)) for k in pa.keys() | pb.keys())


def _cramers_v(a: np.ndarray, b: np.ndarray) -> float:
    from scipy.stats.contingency import association, crosstab

    table = crosstab(a.astype(str), b.astype(str)).count
    if table.sum() == 0 or min(table.shape) < 2:
        return float("nan")
    return float(association(table, method="cramer"))


def _pearson(x: np.ndarray, y: np.ndarray) -> float:
    ok = ~(np.isnan(x) | np.isnan(y))
    x, y = x[ok], y[ok]
    if x.size < 2 or np.std(x) == 0 or np.std(y) == 0:
        return float("nan")
    return float(np.corrcoef(x, y)[0, 1])


def _finite(x: np.ndarray) -> np.ndarray:
    return x[np.isfinite(x)]


def _present(x: np.ndarray) -> np.ndarray:
    from synth_pipeline.tables._values import NULL_LABEL

    return x[x != NULL_LABEL]


def _nanmean(values: list[float]) -> float:
    finite = [v for v in values if v is not None and np.isfinite(v)]
    return float(np.mean(finite)) if finite else float("nan")
