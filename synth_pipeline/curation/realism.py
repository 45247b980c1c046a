"""Realism: a classifier taught to tell real records from candidates drops what is
confidently unreal.

Real records (the seeds, plus rows reviewers accepted in earlier versions) and candidates
(plus rows reviewers rejected) train a TF-IDF (word 1-2 grams and character 2-4 grams) and
logistic-regression model. Cross-fitting: rows are split into folds and each row is scored
by a model trained on the other folds only, so no row is judged by a model that saw it.
The seeds are scored the same way, which gives the scale: a candidate is dropped
("unrealistic") when its probability of being real falls below the `seed_quantile`
quantile of the seeds' own out-of-fold probabilities, i.e. it looks less real than
almost every real record does to the same kind of model.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from synth_pipeline.curation.base import CurationContext, Verdict, _decisions, keep_all
from synth_pipeline.curation.text import string_content_fields


def record_texts(ctx: CurationContext, frame: pl.DataFrame) -> list[str]:
    """Each row's string content fields joined (field order of the spec)."""
    fields = ctx.fields(frame)
    columns = [c for c in string_content_fields(ctx.spec) if c in fields.columns]
    if not columns:
        return frame["text"].fill_null("").to_list()
    parts = [fields[c].fill_null("").to_list() for c in columns]
    return [" \n ".join(p) for p in zip(*parts, strict=True)]


def _features(max_features: int):
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import FeatureUnion

    return FeatureUnion(
        [
            (
                "words",
                TfidfVectorizer(
                    ngram_range=(1, 2),
                    sublinear_tf=True,
                    max_features=max_features,
                    token_pattern=r"(?u)\b\w+\b|[^\w\s]",
                ),
            ),
            (
                "chars",
                TfidfVectorizer(
                    analyzer="char_wb",
                    ngram_range=(2, 4),
                    sublinear_tf=True,
                    max_features=max_features,
                ),
            ),
        ]
    )


def out_of_fold_real_probability(
    real: list[str], synthetic: list[str], folds: int, seed: int, max_features: int = 50_000
) -> tuple[np.ndarray, np.ndarray]:
    """(P(real) of each real text, P(real) of each synthetic text), each scored by a model
    trained without it."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold

    texts = real + synthetic
    y = np.array([1] * len(real) + [0] * len(synthetic))
    k = max(2, min(folds, len(real), len(synthetic)))
    proba = np.zeros(len(texts))
    splitter = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
    for train, test in splitter.split(texts, y):
        feats = _features(max_features)
        x_train = feats.fit_transform([texts[i] for i in train])
        model = LogisticRegression(C=2.0, class_weight="balanced", max_iter=2000)
        model.fit(x_train, y[train])
        proba[test] = model.predict_proba(feats.transform([texts[i] for i in test]))[:, 1]
    return proba[: len(real)], proba[len(real) :]


def realism_filter(frame: pl.DataFrame, ctx: CurationContext) -> Verdict:
    """Drop ("unrealistic") rows whose cross-fitted probability of being real is below the
    `curation.realism.seed_quantile` quantile of the seeds' own (score: that probability)."""
    n = frame.height
    cfg = ctx.config.realism
    if not cfg.enabled:
        return keep_all(n, "realism.enabled is false")
    accepted = record_texts(ctx, ctx.accepted) if ctx.accepted is not None else []
    rejected = record_texts(ctx, ctx.rejected) if ctx.rejected is not None else []
    real = record_texts(ctx, ctx.seeds) + accepted
    if len(real) < cfg.min_real or n < cfg.min_candidates:
        return keep_all(
            n,
            f"needs {cfg.min_real}+ real records and {cfg.min_candidates}+ rows "
            f"(has {len(real)} and {n})",
        )
    candidates = record_texts(ctx, frame)
    synthetic = candidates + rejected
    p_real, p_syn = out_of_fold_real_probability(real, synthetic, cfg.folds, ctx.config.dedup.seed)
    p_cand = p_syn[:n]
    # Only the seeds' own scores set the bar; accepted rows are real-like, not real.
    bar = float(np.quantile(p_real[: ctx.seeds.height], cfg.seed_quantile))
    drop = p_cand < bar
    detail = [
        f"P(real) {p:.2f} is below {bar:.2f}, the seeds' {cfg.seed_quantile:.0%} quantile"
        for p in p_cand
    ]
    return Verdict(_decisions(n, drop, "unrealistic", p_cand, np.array(detail, dtype=object)))
