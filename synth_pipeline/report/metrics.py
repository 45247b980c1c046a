"""Real-vs-synthetic metrics as plain functions of texts, labels and sparse matrices.

Nothing here knows about Dagster, frames or the spec; `analysis.py` feeds these.

Definitions (the HTML report repeats them):

- `label_js_distance`: Jensen-Shannon distance (base 2, so in [0, 1]) between two label
  distributions over the same label list.
- `length_ks`: two-sample Kolmogorov-Smirnov statistic of character lengths.
- `vocab_jaccard`: |V_s ∩ V_r| / |V_s ∪ V_r| of the two unigram vocabularies.
- `ngram_overlap`: share of the real corpus' distinct n-grams found in the synthetic one.
- `distinct_n`: distinct n-grams / all n-grams of a corpus (Li et al., 2016).
- `compression_ratio`: zlib (level 9) compressed bytes / raw bytes of the newline-joined
  texts; lower means more repetition. zlib sees a 32 KB window, so compare corpora of
  equal size (the report does).
- `mmd`: maximum mean discrepancy (biased V-statistic, square-rooted) with the RBF kernel
  k(x, y) = exp(-gamma * ||x - y||^2); on unit-length TF-IDF rows with gamma = 1 that is
  exp(2 cos(x, y) - 2).
- `max_cosine_similarity`: per row of A, the highest cosine similarity to any row of B
  (unit-length sparse rows, chunked sparse products); the distance to the closest record
  (DCR) is 1 - that.
- `detectability`: stratified k-fold CV of logistic regression on TF-IDF telling real (0)
  from synthetic (1) on a balanced sample; pooled out-of-fold ROC AUC. The TF-IDF space
  is fit once on the sample (label-free); only the classifier is cross-validated.
- `evaluate_classifier`: TF-IDF + logistic regression trained on one set, tested on another.
- `bootstrap_intervals`: 95% intervals by resampling the evaluation rows (see its docstring);
  the `*_rows` functions compute a figure for a batch of resamples at once (row-index arrays
  of shape (b, n)), so a few hundred resamples cost a few vectorised passes.
"""

from __future__ import annotations

import warnings
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
from scipy.spatial.distance import jensenshannon
from scipy.stats import bootstrap, ks_2samp, rankdata
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, roc_auc_score, roc_curve
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import Pipeline

from synth_pipeline.report.text import Doc, make_tfidf, ngrams, to_features, tokenize

# --- fidelity ---------------------------------------------------------------------


def label_distribution(values: Iterable[str | None], labels: Sequence[str]) -> np.ndarray:
    """Shares of each label (nulls and unknown labels ignored); zeros when nothing counts."""
    counts = Counter(v for v in values if v is not None)
    vec = np.array([counts.get(lbl, 0) for lbl in labels], dtype=float)
    total = vec.sum()
    return vec / total if total > 0 else vec


def label_js_distance(
    synthetic: Iterable[str | None], real: Iterable[str | None], labels: Sequence[str]
) -> float:
    """Jensen-Shannon distance (base 2) of the label shares; 1.0 when either side is empty."""
    p = label_distribution(synthetic, labels)
    q = label_distribution(real, labels)
    if p.sum() == 0 or q.sum() == 0:
        return 1.0
    return float(jensenshannon(p, q, base=2))


def length_ks(synthetic: Sequence[float], real: Sequence[float]) -> float:
    """KS statistic of two samples (1.0 when either is empty)."""
    if len(synthetic) == 0 or len(real) == 0:
        return 1.0
    return float(ks_2samp(np.asarray(synthetic), np.asarray(real)).statistic)


def ngram_set(texts: Iterable[str], n: int) -> set[tuple[str, ...]]:
    return ngram_set_tokens((tokenize(t) for t in texts), n)


def ngram_set_tokens(token_lists: Iterable[Sequence[str]], n: int) -> set[tuple[str, ...]]:
    out: set[tuple[str, ...]] = set()
    for tokens in token_lists:
        out.update(ngrams(tokens, n))
    return out


def jaccard(a: set, b: set) -> float:
    union = len(a | b)
    return len(a & b) / union if union else 0.0


def vocab_jaccard(synthetic: Iterable[str], real: Iterable[str]) -> float:
    return jaccard(ngram_set(synthetic, 1), ngram_set(real, 1))


def coverage(real_set: set, synthetic_set: set) -> float:
    """Share of `real_set` found in `synthetic_set` (0.0 when `real_set` is empty)."""
    return len(real_set & synthetic_set) / len(real_set) if real_set else 0.0


def ngram_overlap(synthetic: Iterable[str], real: Iterable[str], n: int) -> float:
    """Share of the real corpus' distinct n-grams that also occur in the synthetic corpus."""
    return coverage(ngram_set(real, n), ngram_set(synthetic, n))


def rbf_blocks(
    x: sp.spmatrix | np.ndarray, y: sp.spmatrix | np.ndarray, gamma: float = 1.0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The RBF kernel matrices K(x, x), K(y, y) and K(x, y) (dense)."""

    def sq_norms(m: sp.spmatrix | np.ndarray) -> np.ndarray:
        if sp.issparse(m):
            return np.asarray(m.multiply(m).sum(axis=1)).ravel()
        return np.einsum("ij,ij->i", m, m)

    def kernel(a, b, na, nb) -> np.ndarray:
        dot = a @ b.T
        dot = dot.toarray() if sp.issparse(dot) else np.asarray(dot)
        d2 = np.maximum(na[:, None] + nb[None, :] - 2 * dot, 0.0)
        return np.exp(-gamma * d2)

    nx, ny = sq_norms(x), sq_norms(y)
    return kernel(x, x, nx, nx), kernel(y, y, ny, ny), kernel(x, y, nx, ny)


def mmd(x: sp.spmatrix | np.ndarray, y: sp.spmatrix | np.ndarray, gamma: float = 1.0) -> float:
    """Biased MMD (square root of the V-statistic MMD^2) with an RBF kernel of `gamma`."""
    if x.shape[0] == 0 or y.shape[0] == 0:
        return float("nan")
    kxx, kyy, kxy = rbf_blocks(x, y, gamma)
    return mmd_from_blocks(kxx, kyy, kxy)


def mmd_from_blocks(kxx: np.ndarray, kyy: np.ndarray, kxy: np.ndarray) -> float:
    value = kxx.mean() + kyy.mean() - 2 * kxy.mean()
    return float(np.sqrt(max(value, 0.0)))


def max_cosine_similarity(a: sp.spmatrix, b: sp.spmatrix, chunk: int = 2000) -> np.ndarray:
    """For each row of `a`, the highest dot product with a row of `b` (rows unit-length)."""
    n = a.shape[0]
    out = np.zeros(n, dtype=float)
    if n == 0 or b.shape[0] == 0:
        return out
    a = sp.csr_matrix(a)
    bt = sp.csr_matrix(b).T.tocsc()
    for start in range(0, n, chunk):
        block = a[start : start + chunk] @ bt
        out[start : start + chunk] = block.max(axis=1).toarray().ravel()
    return np.clip(out, 0.0, 1.0)


@dataclass
class Detectability:
    auc: float | None
    n_per_side: int
    folds: int
    fpr: list[float] = field(default_factory=list)
    tpr: list[float] = field(default_factory=list)
    fold_aucs: list[float] = field(default_factory=list)
    note: str | None = None
    # Out-of-fold scores ("synthetic" probability) of the real and synthetic records.
    real_scores: np.ndarray = field(default_factory=lambda: np.zeros(0))
    synthetic_scores: np.ndarray = field(default_factory=lambda: np.zeros(0))


def _logistic(seed: int, *, binary: bool) -> LogisticRegression:
    """L2 logistic regression, C = 4.

    Binary (detector): liblinear in the dual, fast when features outnumber records.
    Multiclass (label classifiers): saga with tol 1e-3, several times faster than lbfgs
    on 10k records with the same predictions.
    """
    if binary:
        return LogisticRegression(
            C=4.0, solver="liblinear", dual=True, max_iter=1000, random_state=seed
        )
    return LogisticRegression(C=4.0, solver="saga", tol=1e-3, max_iter=500, random_state=seed)


def _text_model(max_features: int, seed: int, *, binary: bool) -> Pipeline:
    """TF-IDF (word 1-2-grams, sublinear tf) + logistic regression."""
    return Pipeline([("tfidf", make_tfidf(max_features)), ("lr", _logistic(seed, binary=binary))])


def detectability(
    real: Sequence[Doc],
    synthetic: Sequence[Doc],
    *,
    max_per_side: int = 2000,
    folds: int = 5,
    seed: int = 0,
    max_features: int = 100_000,
) -> Detectability:
    """Cross-validated ROC AUC of a real-vs-synthetic classifier (0.5 = indistinguishable).

    Both sides are subsampled to the same size, min(len(real), len(synthetic),
    max_per_side), so the classes are balanced and the CV stays fast.
    """
    n = min(len(real), len(synthetic), max_per_side)
    if n < 2:
        return Detectability(None, n, 0, note="fewer than 2 records on one side: not computed")
    rng = np.random.default_rng(seed)
    r_idx = rng.choice(len(real), size=n, replace=False)
    s_idx = rng.choice(len(synthetic), size=n, replace=False)
    docs = to_features([real[i] for i in r_idx] + [synthetic[i] for i in s_idx])
    y = np.array([0] * n + [1] * n)
    k = min(folds, n)
    # The TF-IDF space is fit once on the whole balanced sample: it never sees the
    # real/synthetic labels, and fitting it per fold would cost more than the classifier.
    features = make_tfidf(max_features).fit_transform(docs)
    scores = np.zeros(2 * n, dtype=float)
    fold_aucs = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        cv = StratifiedKFold(k, shuffle=True, random_state=seed)
        for train, test in cv.split(np.zeros(len(y)), y):
            model = _logistic(seed, binary=True).fit(features[train], y[train])
            scores[test] = model.predict_proba(features[test])[:, 1]
            fold_aucs.append(float(roc_auc_score(y[test], scores[test])))
    fpr, tpr, _ = roc_curve(y, scores)
    return Detectability(
        auc=float(roc_auc_score(y, scores)),
        n_per_side=n,
        folds=k,
        fpr=fpr.tolist(),
        tpr=tpr.tolist(),
        fold_aucs=fold_aucs,
        real_scores=scores[:n],
        synthetic_scores=scores[n:],
    )


# --- utility ----------------------------------------------------------------------


@dataclass
class ClassifierResult:
    accuracy: float
    macro_f1: float
    per_label_f1: dict[str, float]
    labels: list[str]
    confusion: list[list[int]]
    n_train: int
    n_test: int
    notes: list[str] = field(default_factory=list)
    # The labelled test rows in order, and what the model predicted for each (bootstrap input).
    y_true: list[str] = field(default_factory=list)
    y_pred: list[str] = field(default_factory=list)


def evaluate_classifier(
    train_texts: Sequence[Doc],
    train_labels: Sequence[str | None],
    test_texts: Sequence[Doc],
    test_labels: Sequence[str | None],
    labels: Sequence[str],
    *,
    seed: int = 0,
    max_features: int = 100_000,
) -> ClassifierResult:
    """Train TF-IDF + logistic regression on one set, score it on another.

    Texts may be raw strings or `to_features` lists. Macro-F1 averages over the labels
    present in the test set. A training set with no
    records predicts nothing (all figures 0); one with a single label predicts that label.
    """
    labels = list(labels)
    train = [(t, y) for t, y in zip(train_texts, train_labels, strict=True) if y is not None]
    test = [(t, y) for t, y in zip(test_texts, test_labels, strict=True) if y is not None]
    notes: list[str] = []
    y_true = [y for _, y in test]
    extra = sorted({y for y in y_true} - set(labels))
    all_labels = labels + extra
    if not test:
        return ClassifierResult(
            0.0, 0.0, {}, all_labels, [], len(train), 0, ["no labelled test records"]
        )
    train_classes = sorted({y for _, y in train})
    if not train:
        notes.append("no labelled training records: every figure is 0")
        y_pred: list[str] = ["\x00no prediction"] * len(test)
    elif len(train_classes) == 1:
        notes.append(f"training set holds one label ({train_classes[0]!r}): it is always predicted")
        y_pred = [train_classes[0]] * len(test)
    else:
        model = _text_model(max_features, seed, binary=False)
        with warnings.catch_warnings():
            # An unconverged fit still predicts; the figure stays meaningful.
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(to_features(t for t, _ in train), [y for _, y in train])
        y_pred = list(model.predict(to_features(t for t, _ in test)))
    missing = [lbl for lbl in labels if lbl not in train_classes]
    if train and missing:
        notes.append(f"training set lacks label(s) {missing}: their F1 is 0")
    present = [lbl for lbl in all_labels if lbl in set(y_true)]
    per_label = f1_score(y_true, y_pred, labels=present, average=None, zero_division=0)
    cm = confusion_matrix(y_true, y_pred, labels=all_labels)
    return ClassifierResult(
        accuracy=float(accuracy_score(y_true, y_pred)),
        macro_f1=float(np.mean(per_label)) if len(present) else 0.0,
        per_label_f1={lbl: float(v) for lbl, v in zip(present, per_label, strict=True)},
        labels=all_labels,
        confusion=cm.tolist(),
        n_train=len(train),
        n_test=len(test),
        notes=notes,
        y_true=list(y_true),
        y_pred=[str(v) for v in y_pred],
    )


# --- diversity --------------------------------------------------------------------


def distinct_n(texts: Iterable[str], n: int) -> float:
    """Distinct n-grams / total n-grams over the corpus (0.0 when it has no n-grams)."""
    return distinct_n_tokens((tokenize(t) for t in texts), n)


def distinct_n_tokens(token_lists: Iterable[Sequence[str]], n: int) -> float:
    seen: set[tuple[str, ...]] = set()
    total = 0
    for tokens in token_lists:
        total += max(0, len(tokens) - n + 1)
        seen.update(ngrams(tokens, n))
    return len(seen) / total if total else 0.0


def compression_ratio(texts: Iterable[str]) -> float:
    """zlib-compressed size / raw size of the newline-joined texts (0.0 when empty)."""
    raw = "\n".join(texts).encode("utf-8")
    if not raw:
        return 0.0
    return len(zlib.compress(raw, 9)) / len(raw)


def label_coverage(values: Iterable[str | None], labels: Sequence[str]) -> float:
    """Share of the spec's labels with at least one record."""
    if not labels:
        return 0.0
    present = {v for v in values if v is not None}
    return sum(1 for lbl in labels if lbl in present) / len(labels)


def length_summary(lengths: Sequence[float]) -> dict[str, float]:
    if len(lengths) == 0:
        return {}
    arr = np.asarray(lengths, dtype=float)
    return {
        "mean": float(arr.mean()),
        "median": float(np.median(arr)),
        "p05": float(np.percentile(arr, 5)),
        "p95": float(np.percentile(arr, 95)),
        "min": float(arr.min()),
        "max": float(arr.max()),
    }


# --- bootstrap intervals ------------------------------------------------------------


def bootstrap_intervals(
    statistic: Callable[..., np.ndarray],
    sizes: Sequence[int],
    observed: Sequence[float],
    *,
    resamples: int,
    seed: int,
    confidence: float = 0.95,
    bounds: tuple[float, float] | None | Sequence[tuple[float, float] | None] = (0.0, 1.0),
    batch: int = 100,
) -> list[tuple[float, float] | None]:
    """Bootstrap intervals of one or more figures computed from independent samples of rows.

    `statistic(*idx)` gets one int array of shape (b, n_k) per sample: b resamples of that
    sample's row indices, drawn with replacement (scipy's `bootstrap` draws them, b at a
    time); it returns the figures of every resample, shape (m, b) for m figures (or (b,)).
    `observed` holds the m figures on the rows as they are.

    The interval is the percentile interval of the resampled figures, moved by the
    bootstrap estimate of the bias (mean of the resamples - observed): a resample repeats
    some rows and misses others, which shifts set-based figures (n-gram coverage, MMD, KS)
    while leaving their spread usable. It is clipped to `bounds` (one range for all figures
    or one per figure) and always contains the observed figure. None for a figure that is
    not finite, a sample with fewer than two rows, or resamples that mostly give no finite
    value.
    """
    observed_arr = np.atleast_1d(np.asarray(observed, dtype=float))
    none: list[tuple[float, float] | None] = [None] * len(observed_arr)
    if bounds is None or not isinstance(bounds[0], tuple | type(None)):
        bounds = [bounds] * len(observed_arr)  # type: ignore[list-item]
    if resamples < 2 or not sizes or any(n < 2 for n in sizes):
        return none

    def stat(*idx: np.ndarray, axis: int = -1) -> np.ndarray:
        return np.asarray(statistic(*idx), dtype=float)

    res = bootstrap(
        tuple(np.arange(n) for n in sizes),
        stat,
        n_resamples=resamples,
        batch=batch,
        vectorized=True,
        paired=False,
        method="percentile",
        confidence_level=confidence,
        rng=np.random.default_rng(seed),
    )
    dist = np.atleast_2d(res.bootstrap_distribution)
    alpha = (1 - confidence) / 2
    out = []
    for value, row, limits in zip(observed_arr, dist, bounds, strict=True):
        row = row[np.isfinite(row)]
        if not np.isfinite(value) or row.size < max(2, resamples // 2):
            out.append(None)
            continue
        low, high = np.quantile(row, [alpha, 1 - alpha]) - (row.mean() - value)
        if limits is not None:
            low, high = np.clip([low, high], *limits)
        out.append((float(min(low, value)), float(max(high, value))))
    return out


def row_counts(codes: np.ndarray, k: int) -> np.ndarray:
    """Counts of each code 0..k-1 per row of a (b, n) code array."""
    b = codes.shape[0]
    flat = (codes + (np.arange(b) * k)[:, None]).ravel()
    return np.bincount(flat, minlength=b * k).reshape(b, k)


def codes_of(values: Sequence[str | None], labels: Sequence[str]) -> np.ndarray:
    """Index of each value in `labels`; len(labels) for anything else (None included)."""
    index = {lbl: i for i, lbl in enumerate(labels)}
    return np.array([index.get(v, len(labels)) for v in values], dtype=np.int64)


def classification_rows(
    t: np.ndarray, p: np.ndarray, n_labels: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Accuracy (b,), macro-F1 (b,) and per-label F1 (b, n_labels) of b resampled test sets.

    `t`, `p`: true and predicted label codes (b, n), 0..n_labels-1 for the evaluated labels
    and n_labels for any other prediction. Macro-F1 averages over the labels present in each
    resample's true labels, as `evaluate_classifier` does over the test set.
    """
    k = n_labels + 1
    b = t.shape[0]
    flat = (t * k + p + (np.arange(b) * k * k)[:, None]).ravel()
    cm = np.bincount(flat, minlength=b * k * k).reshape(b, k, k).astype(float)
    tp = np.einsum("bii->bi", cm)[:, :n_labels]
    support = cm.sum(axis=2)[:, :n_labels]
    predicted = cm.sum(axis=1)[:, :n_labels]
    denom = support + predicted
    f1 = np.divide(2 * tp, denom, out=np.zeros_like(tp), where=denom > 0)
    present = support > 0
    n_present = present.sum(axis=1)
    macro = np.divide((f1 * present).sum(axis=1), n_present, out=np.zeros(b), where=n_present > 0)
    accuracy = np.einsum("bii->b", cm) / t.shape[1]
    return accuracy, macro, f1


def auc_rows(pos: np.ndarray, neg: np.ndarray) -> np.ndarray:
    """ROC AUC per row of positive (b, n1) and negative (b, n0) scores (ties count half)."""
    n1, n0 = pos.shape[1], neg.shape[1]
    ranks = rankdata(np.concatenate([pos, neg], axis=1), axis=1)
    return (ranks[:, :n1].sum(axis=1) - n1 * (n1 + 1) / 2) / (n1 * n0)


def ks_rows(a: np.ndarray, b: np.ndarray, n_values: int) -> np.ndarray:
    """KS statistic per row of two resampled samples given as codes of sorted values.

    `a` (r, n) and `b` (r, m) hold indices into the sorted distinct values of both samples,
    so the ECDFs are cumulative counts and the statistic their largest gap.
    """
    fa = np.cumsum(row_counts(a, n_values), axis=1) / a.shape[1]
    fb = np.cumsum(row_counts(b, n_values), axis=1) / b.shape[1]
    return np.abs(fa - fb).max(axis=1)


def js_rows(p_counts: np.ndarray, q_counts: np.ndarray) -> np.ndarray:
    """Jensen-Shannon distance (base 2) per row of two count arrays (b, k)."""
    return jensenshannon(p_counts, q_counts, axis=1, base=2)


def mmd_rows(
    kxx: np.ndarray, kyy: np.ndarray, kxy: np.ndarray, ix: np.ndarray, iy: np.ndarray
) -> np.ndarray:
    """Biased MMD per resample: the kernel means weighted by how often each row was drawn."""
    wx = row_counts(ix, kxx.shape[0]) / ix.shape[1]
    wy = row_counts(iy, kyy.shape[0]) / iy.shape[1]
    value = (
        np.einsum("bi,bi->b", wx @ kxx, wx)
        + np.einsum("bj,bj->b", wy @ kyy, wy)
        - 2 * np.einsum("bi,bi->b", wx @ kxy, wy)
    )
    return np.sqrt(np.maximum(value, 0.0))


def presence_rows(incidence: sp.csr_matrix, idx: np.ndarray) -> np.ndarray:
    """Which columns (n-grams) occur in each resample: (b, columns) booleans.

    `incidence` is a (rows, columns) 0/1 matrix of one corpus; `idx` (b, n) its resampled rows.
    """
    weights = row_counts(idx, incidence.shape[0]).astype(np.float32)
    return np.asarray((incidence.T @ weights.T).T) > 0
