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
"""

from __future__ import annotations

import warnings
import zlib
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
from scipy.spatial.distance import jensenshannon
from scipy.stats import ks_2samp
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


def mmd(x: sp.spmatrix | np.ndarray, y: sp.spmatrix | np.ndarray, gamma: float = 1.0) -> float:
    """Biased MMD (square root of the V-statistic MMD^2) with an RBF kernel of `gamma`."""
    if x.shape[0] == 0 or y.shape[0] == 0:
        return float("nan")

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
    value = (
        kernel(x, x, nx, nx).mean() + kernel(y, y, ny, ny).mean() - 2 * kernel(x, y, nx, ny).mean()
    )
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
