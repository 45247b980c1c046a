"""Bootstrap 95% intervals of the utility and fidelity figures (`<metric>_low`, `<metric>_high`).

Every interval resamples the rows its figure was evaluated on, with replacement,
`report.bootstrap_resamples` times, from a generator seeded with `report.random_seed`:

- classifier figures (TSTR, TRTR, augmented, the TSTR/TRTR ratio, majority accuracy): the
  labelled holdout rows they were tested on; the ratio resamples the same rows for both
  models (paired). The models are not refit: the interval covers the test sample's noise.
- two-sample figures (label JS distance, length KS, mean length, vocabulary Jaccard, n-gram
  overlap): the synthetic records and the holdout records, independently.
- detectability AUC: the out-of-fold scores of the real and of the synthetic records.
- TF-IDF MMD: the subsampled records of each side (the kernel matrices are reused).
- instruction answers and judge scores: the synthetic records.

The figures of a whole batch of resamples are computed at once from row-index arrays
(`metrics.*_rows`), so a few hundred resamples stay cheap. Counts and facts of the whole set
(records, training sizes, label counts, shares of records scored) carry no interval.
How an interval is formed from the resamples: `metrics.bootstrap_intervals`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import scipy.sparse as sp

from synth_pipeline.report import metrics as m
from synth_pipeline.report.config import ReportSpec

# Utility and fidelity figures without an interval: counts and sizes, the real side's own
# reference figures, and the share of records a judge scored (a fact of the set).
NO_INTERVAL = (
    "fidelity.detectability_records_per_side",
    "fidelity.real_",
    "utility.real_",
    "utility.tstr_train_size",
    "utility.trtr_train_size",
    "utility.equal_train_size",
    "utility.judge_scored_share",
)

Bounds = tuple[float, float] | None
UNIT: Bounds = (0.0, 1.0)
POSITIVE: Bounds = (0.0, float("inf"))


def put(
    met: dict[str, float],
    keys: Sequence[str],
    statistic: Callable[..., np.ndarray],
    sizes: Sequence[int],
    cfg: ReportSpec,
    bounds: Bounds | Sequence[Bounds] = UNIT,
) -> None:
    """Bootstrap `statistic` (one row per key, in `keys` order) and store `<key>_low` and
    `<key>_high` for every key the metrics hold."""
    if cfg.bootstrap_resamples <= 0 or not any(k in met for k in keys):
        return
    observed = [met.get(k, float("nan")) for k in keys]
    intervals = m.bootstrap_intervals(
        statistic,
        sizes,
        observed,
        resamples=cfg.bootstrap_resamples,
        seed=cfg.random_seed,
        bounds=bounds,
    )
    for key, iv in zip(keys, intervals, strict=True):
        if iv is not None:
            met[f"{key}_low"], met[f"{key}_high"] = iv


# --- utility ------------------------------------------------------------------------


def _codes(r: m.ClassifierResult) -> tuple[np.ndarray, np.ndarray, int]:
    return m.codes_of(r.y_true, r.labels), m.codes_of(r.y_pred, r.labels), len(r.labels)


def classifier(met: dict[str, float], prefix: str, r: m.ClassifierResult, cfg: ReportSpec):
    """Accuracy, macro-F1 and per-label F1 of one classifier, over its test rows."""
    if len(r.y_true) < 2:
        return
    t, p, n_labels = _codes(r)
    label_keys = [f"utility.{prefix}_f1.{lbl}" for lbl in r.labels]

    def stat(i: np.ndarray) -> np.ndarray:
        acc, macro, f1 = m.classification_rows(t[i], p[i], n_labels)
        return np.vstack([acc, macro, f1.T])

    keys = [f"utility.{prefix}_accuracy", f"utility.{prefix}_macro_f1", *label_keys]
    put(met, keys, stat, [len(t)], cfg)


def f1_ratio(
    met: dict[str, float],
    key: str,
    num: m.ClassifierResult,
    den: m.ClassifierResult,
    cfg: ReportSpec,
):
    """Macro-F1 of `num` / macro-F1 of `den` over the same resampled test rows (paired)."""
    if len(num.y_true) < 2 or num.y_true != den.y_true:
        return
    tn, pn, kn = _codes(num)
    td, pd, kd = _codes(den)

    def stat(i: np.ndarray) -> np.ndarray:
        _, a, _ = m.classification_rows(tn[i], pn[i], kn)
        _, b, _ = m.classification_rows(td[i], pd[i], kd)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(b > 0, a / np.where(b > 0, b, 1.0), np.nan)

    put(met, [key], stat, [len(tn)], cfg, bounds=POSITIVE)


def majority(met: dict[str, float], labels: Sequence[str | None], cfg: ReportSpec):
    """Accuracy of always predicting the holdout's most common label."""
    present = [v for v in labels if v is not None]
    if len(present) < 2:
        return
    values = sorted(set(present))
    codes = m.codes_of(present, values)

    def stat(i: np.ndarray) -> np.ndarray:
        return m.row_counts(codes[i], len(values)).max(axis=1) / i.shape[1]

    put(met, ["utility.majority_accuracy"], stat, [len(codes)], cfg)


def summary(
    met: dict[str, float],
    keys: dict[str, str],
    values: Sequence[float],
    cfg: ReportSpec,
    bounds: Bounds = POSITIVE,
):
    """Summary statistics of one sample of values; `keys` maps metric -> statistic name
    (mean, median, p05, p95, min, max, empty_share)."""
    arr = np.asarray(values, dtype=float)
    if arr.size < 2:
        return
    fns: dict[str, Callable[[np.ndarray], np.ndarray]] = {
        "mean": lambda x: x.mean(axis=1),
        "median": lambda x: np.median(x, axis=1),
        "p05": lambda x: np.percentile(x, 5, axis=1),
        "p95": lambda x: np.percentile(x, 95, axis=1),
        "min": lambda x: x.min(axis=1),
        "max": lambda x: x.max(axis=1),
    }
    names = list(keys)

    def stat(i: np.ndarray) -> np.ndarray:
        x = arr[i]
        return np.vstack([fns[keys[k]](x) for k in names])

    put(met, names, stat, [arr.size], cfg, bounds=bounds)


def share(met: dict[str, float], key: str, flags: Sequence[bool], cfg: ReportSpec):
    arr = np.asarray(flags, dtype=float)
    if arr.size < 2:
        return
    put(met, [key], lambda i: arr[i].mean(axis=1), [arr.size], cfg)


# --- fidelity -----------------------------------------------------------------------


def label_js(
    met: dict[str, float],
    synthetic: Sequence[str | None],
    real: Sequence[str | None],
    labels: Sequence[str],
    cfg: ReportSpec,
):
    s, r = m.codes_of(synthetic, labels), m.codes_of(real, labels)
    k = len(labels) + 1  # the last code (unknown or missing) is ignored, as in the figure

    def stat(i: np.ndarray, j: np.ndarray) -> np.ndarray:
        p = m.row_counts(s[i], k)[:, :-1].astype(float)
        q = m.row_counts(r[j], k)[:, :-1].astype(float)
        empty = (p.sum(axis=1) == 0) | (q.sum(axis=1) == 0)
        p[empty] = q[empty] = 1.0  # placeholder rows, overwritten below
        out = m.js_rows(p, q)
        out[empty] = 1.0
        return out

    put(met, ["fidelity.label_js_distance"], stat, [len(s), len(r)], cfg)


def lengths(
    met: dict[str, float],
    synthetic: dict[str, Sequence[int]],
    real: dict[str, Sequence[int]],
    cfg: ReportSpec,
):
    """KS statistic and mean length per field, and the mean KS, over both sets' rows."""
    fields = [f for f in synthetic if len(synthetic[f]) and len(real.get(f, []))]
    if not fields:
        return
    prepared = []
    for f in fields:
        a, b = np.asarray(synthetic[f]), np.asarray(real[f])
        values = np.unique(np.concatenate([a, b]))
        prepared.append(
            (np.searchsorted(values, a), np.searchsorted(values, b), len(values), a.astype(float))
        )
    keys = [f"fidelity.length_ks.{f}" for f in fields]
    keys += ["fidelity.length_ks_mean"] + [f"fidelity.mean_length.{f}" for f in fields]

    def stat(i: np.ndarray, j: np.ndarray) -> np.ndarray:
        ks = [m.ks_rows(ca[i], cb[j], k) for ca, cb, k, _ in prepared]
        means = [a[i].mean(axis=1) for _, _, _, a in prepared]
        return np.vstack([*ks, np.mean(ks, axis=0), *means])

    sizes = [len(synthetic[fields[0]]), len(real[fields[0]])]
    bounds = [UNIT] * (len(fields) + 1) + [POSITIVE] * len(fields)
    put(met, keys, stat, sizes, cfg, bounds=bounds)


def ngram_incidence(
    a_tokens: Sequence[Sequence[str]], b_tokens: Sequence[Sequence[str]], n_max: int = 3
) -> dict[int, tuple[sp.csr_matrix, sp.csr_matrix]]:
    """For n = 1..n_max, 0/1 matrices (records x distinct n-grams) of two corpora, shared columns.

    Tokens become integer ids once; an n-gram's id combines the (n-1)-gram's id with the next
    token's, renumbered by `np.unique` at each step, so ids stay below (tokens)^2.
    """
    lists = [*a_tokens, *b_tokens]
    lengths = np.fromiter(map(len, lists), dtype=np.int64, count=len(lists))
    vocab: dict[str, int] = {}
    flat = np.fromiter(
        (vocab.setdefault(tok, len(vocab)) for toks in lists for tok in toks),
        dtype=np.int64,
        count=int(lengths.sum()),
    )
    rows = np.repeat(np.arange(len(lists)), lengths)
    n_a = len(a_tokens)
    out = {}
    gram = flat  # gram[i]: id of the n-gram starting at token i (valid within one record)
    for n in range(1, n_max + 1):
        if n > 1:
            _, gram = np.unique(gram[:-1] * len(vocab) + flat[n - 1 :], return_inverse=True)
        valid = rows[: len(gram)] == rows[n - 1 : n - 1 + len(gram)]
        cols, col = np.unique(gram[valid], return_inverse=True)
        mat = sp.csr_matrix(
            (np.ones(int(valid.sum()), dtype=np.float32), (rows[: len(gram)][valid], col)),
            shape=(len(lists), len(cols)),
        )
        mat.sum_duplicates()
        mat.data[:] = 1.0
        out[n] = (mat[:n_a], mat[n_a:])
    return out


def ngram_overlap(
    met: dict[str, float],
    synthetic_tokens: Sequence[Sequence[str]],
    real_tokens: Sequence[Sequence[str]],
    cfg: ReportSpec,
):
    """Vocabulary Jaccard and the share of real n-grams (n = 1..3) found in the synthetic set."""
    keys = ["fidelity.vocab_jaccard"] + [f"fidelity.ngram_overlap_{n}" for n in (1, 2, 3)]
    if cfg.bootstrap_resamples <= 0 or not any(k in met for k in keys):
        return
    if len(synthetic_tokens) < 2 or len(real_tokens) < 2:
        return
    inc = ngram_incidence(synthetic_tokens, real_tokens)
    # Coverage only needs the real set's n-grams: keep those columns.
    restricted = {}
    for n, (a, b) in inc.items():
        cols = np.unique(b.indices)
        restricted[n] = (a[:, cols].tocsr(), b[:, cols].tocsr())

    def stat(i: np.ndarray, j: np.ndarray) -> np.ndarray:
        a1, b1 = inc[1]
        pa, pb = m.presence_rows(a1, i), m.presence_rows(b1, j)
        union = (pa | pb).sum(axis=1)
        rows = [np.divide((pa & pb).sum(axis=1), union, out=np.zeros(len(i)), where=union > 0)]
        for n in (1, 2, 3):
            a, b = restricted[n]
            pa, pb = m.presence_rows(a, i), m.presence_rows(b, j)
            real_n = pb.sum(axis=1)
            both = (pa & pb).sum(axis=1)
            rows.append(np.divide(both, real_n, out=np.zeros(len(i)), where=real_n > 0))
        return np.vstack(rows)

    put(met, keys, stat, [len(synthetic_tokens), len(real_tokens)], cfg)


def mmd(
    met: dict[str, float],
    key: str,
    blocks: tuple[np.ndarray, np.ndarray, np.ndarray],
    cfg: ReportSpec,
):
    kxx, kyy, kxy = blocks

    def stat(i: np.ndarray, j: np.ndarray) -> np.ndarray:
        return m.mmd_rows(kxx, kyy, kxy, i, j)

    put(met, [key], stat, [kxx.shape[0], kyy.shape[0]], cfg, bounds=POSITIVE)


def detectability(met: dict[str, float], det: m.Detectability, cfg: ReportSpec):
    real, syn = det.real_scores, det.synthetic_scores

    def stat(i: np.ndarray, j: np.ndarray) -> np.ndarray:
        return m.auc_rows(syn[j], real[i])

    put(met, ["fidelity.detectability_auc"], stat, [len(real), len(syn)], cfg)
