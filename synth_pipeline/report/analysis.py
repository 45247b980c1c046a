"""Compute every report figure for one record set (published synthetic or raw candidates).

The real side is fixed per report: the holdout is the reference distribution and the
test set (never trained on, except as the "real" class of the detectability CV, which is
what that metric measures); the seeds are the training set of TRTR and the reference of
memorisation (distance to the closest seed).

One TF-IDF space (hashed word 1-2-grams, sublinear tf, unit-length rows) serves the MMD,
distance-to-closest-record and contamination figures. Its IDF is fit on the seeds and the
synthetic/candidate texts; holdout texts are only transformed into it (hashing keeps
their unseen n-grams, so they are treated like fitted texts).

Every utility and fidelity figure gets a bootstrap 95% interval (`intervals`). The
TSTR/TRTR ratio compares models trained on the same number of rows: the larger training
side is subsampled (stratified by label, seeded) to the smaller one's size. The content
figures (`content.*`) re-run the spec's content filters over the set
(`synth_pipeline.curation.content.estimate_junk_share`).
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import polars as pl
import scipy.sparse as sp
from sklearn.pipeline import Pipeline

from synth_pipeline.curation.content import JunkEstimate, estimate_junk_share
from synth_pipeline.kinds import kind_of
from synth_pipeline.report import intervals as ci
from synth_pipeline.report import metrics as m
from synth_pipeline.report.config import ReportSpec
from synth_pipeline.report.text import (
    content_texts,
    field_values,
    make_similarity_space,
    parse_records,
    to_features,
    tokenize,
    word_features,
)
from synth_pipeline.spec import DatasetSpec

RECORD_COLUMNS = ("record_id", "text", "label", "record")
ATTRIBUTES_COLUMN = "attributes"
JUDGE_COLUMN = "judge_score"
TOP_VALUES = 15  # attribute values listed per attribute in the HTML


def string_fields(spec: DatasetSpec) -> list[str]:
    """The spec's string fields except the label: lengths and content come from these."""
    return [f.name for f in spec.fields if f.type == "string" and f.name != spec.label_field]


def answer_fields(spec: DatasetSpec) -> list[str]:
    """For instruction datasets: string fields other than the text field (the answers)."""
    return [f for f in string_fields(spec) if f != spec.text_field]


@dataclass
class Corpus:
    """One record frame, parsed once."""

    name: str
    frame: pl.DataFrame
    texts: list[str]
    labels: list[str | None]
    records: list[dict[str, Any]]
    content: list[str]

    @classmethod
    def from_frame(cls, name: str, frame: pl.DataFrame, spec: DatasetSpec) -> Corpus:
        texts = [t or "" for t in frame.get_column("text").to_list()] if frame.height else []
        labels = (
            frame.get_column("label").to_list()
            if "label" in frame.columns
            else [None] * frame.height
        )
        records = parse_records(frame, spec)
        content = content_texts(records, string_fields(spec), texts)
        return cls(name, frame, texts, labels, records, content)

    def __len__(self) -> int:
        return len(self.texts)

    @cached_property
    def tokens(self) -> list[list[str]]:
        return [tokenize(t) for t in self.texts]

    @cached_property
    def features(self) -> list[list[str]]:
        """TF-IDF features (words + bigrams) of the text field, analysed once."""
        return [word_features(t) for t in self.tokens]

    @cached_property
    def content_features(self) -> list[list[str]]:
        """TF-IDF features of all string content fields joined (the detector's input)."""
        if self.content == self.texts:
            return self.features
        return to_features(self.content)

    def ngram_set(self, n: int) -> set[tuple[str, ...]]:
        cache = self.__dict__.setdefault("_ngram_sets", {})
        if n not in cache:
            cache[n] = m.ngram_set_tokens(self.tokens, n)
        return cache[n]

    def lengths(self, field_name: str, spec: DatasetSpec) -> list[int]:
        if field_name == spec.text_field:
            return [len(t) for t in self.texts]
        return [len(v) for v in field_values(self.records, field_name)]


@dataclass
class RealSide:
    """Everything computed once from seeds and holdout."""

    holdout: Corpus
    seeds: Corpus
    space: Pipeline
    x_holdout: sp.csr_matrix
    x_seeds: sp.csr_matrix
    holdout_normalized: dict[str, int]
    trtr: m.ClassifierResult | None
    real_seed_similarity: np.ndarray  # holdout -> closest seed: the real-to-real baseline
    real_diversity: dict[str, float]
    trtr_intervals: dict[str, float] = field(default_factory=dict)
    trtr_by_size: dict[int, m.ClassifierResult] = field(default_factory=dict)


@dataclass
class SetAnalysis:
    """Figures of one record set, plus what the plots need."""

    name: str
    records: int
    metrics: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    label_counts: dict[str, int] = field(default_factory=dict)
    lengths: dict[str, list[int]] = field(default_factory=dict)
    detect: m.Detectability | None = None
    tstr: m.ClassifierResult | None = None
    augmented: m.ClassifierResult | None = None
    tstr_equal: m.ClassifierResult | None = None  # TSTR and TRTR trained on as many rows
    trtr_equal: m.ClassifierResult | None = None
    junk: JunkEstimate | None = None
    seed_similarity: np.ndarray = field(default_factory=lambda: np.zeros(0))
    near_copies: list[dict[str, Any]] = field(default_factory=list)
    contaminated: list[dict[str, Any]] = field(default_factory=list)
    attributes: dict[str, list[tuple[str, int]]] = field(default_factory=dict)
    judge_scores: list[float] = field(default_factory=list)


def prepare_real(
    spec: DatasetSpec,
    cfg: ReportSpec,
    *,
    seeds: Corpus,
    holdout: Corpus,
    fit_corpora: list[Corpus],
) -> RealSide:
    space = make_similarity_space()
    corpus = seeds.features + [f for c in fit_corpora for f in c.features]
    if not any(corpus):
        corpus = [*corpus, ["empty"]]  # an IDF fit needs one term
    space.fit(corpus)
    x_holdout = space.transform(holdout.features)
    x_seeds = space.transform(seeds.features)
    normalized: dict[str, int] = {}
    for i, tokens in enumerate(holdout.tokens):
        normalized.setdefault(" ".join(tokens), i)  # == normalize_text(text)
    trtr = None
    if kind_of(spec).has("labels"):
        trtr = m.evaluate_classifier(
            seeds.features,
            seeds.labels,
            holdout.features,
            holdout.labels,
            spec.labels,
            seed=cfg.random_seed,
            max_features=cfg.max_tfidf_features,
        )
    trtr_intervals: dict[str, float] = {}
    if trtr is not None:
        _classifier_metrics(trtr_intervals, "trtr", trtr)
        ci.classifier(trtr_intervals, "trtr", trtr, cfg)
    real_div = {f"distinct_{n}": m.distinct_n_tokens(holdout.tokens, n) for n in (1, 2, 3)}
    real_div["compression_ratio"] = m.compression_ratio(holdout.texts)
    return RealSide(
        holdout=holdout,
        seeds=seeds,
        space=space,
        x_holdout=x_holdout,
        x_seeds=x_seeds,
        holdout_normalized=normalized,
        trtr=trtr,
        real_seed_similarity=m.max_cosine_similarity(x_holdout, x_seeds),
        real_diversity=real_div,
        trtr_intervals=trtr_intervals,
    )


def _labelled_subsample(labels: list[str | None], n: int, seed: int) -> list[int]:
    """`n` row indices among the labelled rows, stratified by label (seeded)."""
    rows = [i for i, v in enumerate(labels) if v is not None]
    if n >= len(rows):
        return rows
    from sklearn.utils import resample

    try:
        picked = resample(
            rows, replace=False, n_samples=n, random_state=seed, stratify=[labels[i] for i in rows]
        )
    except ValueError:  # too few rows of some label to stratify
        picked = resample(rows, replace=False, n_samples=n, random_state=seed)
    return sorted(int(i) for i in picked)


def _fit_on(
    spec: DatasetSpec, cfg: ReportSpec, train: Corpus, rows: list[int], test: Corpus
) -> m.ClassifierResult:
    return m.evaluate_classifier(
        [train.features[i] for i in rows],
        [train.labels[i] for i in rows],
        test.features,
        test.labels,
        spec.labels,
        seed=cfg.random_seed,
        max_features=cfg.max_tfidf_features,
    )


def _trtr_at(spec: DatasetSpec, cfg: ReportSpec, real: RealSide, n: int) -> m.ClassifierResult:
    """TRTR trained on `n` seeds (all of them when there are no more), cached per size."""
    assert real.trtr is not None
    if n >= real.trtr.n_train:
        return real.trtr
    if n not in real.trtr_by_size:
        rows = _labelled_subsample(real.seeds.labels, n, cfg.random_seed)
        real.trtr_by_size[n] = _fit_on(spec, cfg, real.seeds, rows, real.holdout)
    return real.trtr_by_size[n]


def _sample(n_total: int, n: int, rng: np.random.Generator) -> np.ndarray:
    if n >= n_total:
        return np.arange(n_total)
    return np.sort(rng.choice(n_total, size=n, replace=False))


def _fidelity(spec: DatasetSpec, cfg: ReportSpec, s: Corpus, real: RealSide, out: SetAnalysis):
    met = out.metrics
    h = real.holdout
    if kind_of(spec).has("labels"):
        met["fidelity.label_js_distance"] = m.label_js_distance(s.labels, h.labels, spec.labels)
        ci.label_js(met, s.labels, h.labels, spec.labels, cfg)
        unknown = sorted({v for v in s.labels if v is not None} - set(spec.labels))
        if unknown:
            out.notes.append(f"{s.name}: labels outside the spec ignored: {unknown}")
    ks_values = []
    for f in string_fields(spec):
        syn_len = s.lengths(f, spec)
        real_len = h.lengths(f, spec)
        out.lengths[f] = syn_len
        ks = m.length_ks(syn_len, real_len)
        ks_values.append(ks)
        met[f"fidelity.length_ks.{f}"] = ks
        if syn_len:
            met[f"fidelity.mean_length.{f}"] = float(np.mean(syn_len))
        if real_len:
            met[f"fidelity.real_mean_length.{f}"] = float(np.mean(real_len))
    if ks_values:
        met["fidelity.length_ks_mean"] = float(np.mean(ks_values))
    # The kind's own figures (exchanges per conversation, a preference set's length bias).
    met.update(kind_of(spec).figures(spec, s.texts, s.records, h.texts))
    ci.lengths(met, out.lengths, {f: h.lengths(f, spec) for f in out.lengths}, cfg)
    met["fidelity.vocab_jaccard"] = m.jaccard(s.ngram_set(1), h.ngram_set(1))
    for n in (1, 2, 3):
        met[f"fidelity.ngram_overlap_{n}"] = m.coverage(h.ngram_set(n), s.ngram_set(n))
    ci.ngram_overlap(met, s.tokens, h.tokens, cfg)

    rng = np.random.default_rng(cfg.random_seed)
    xs = real.space.transform(s.features)
    si = _sample(len(s), cfg.mmd_max_per_side, rng)
    hi = _sample(len(h), cfg.mmd_max_per_side, rng)
    if len(si) and len(hi):
        blocks = m.rbf_blocks(xs[si], real.x_holdout[hi], gamma=1.0)
        value = m.mmd_from_blocks(*blocks)
        if np.isfinite(value):
            met["fidelity.tfidf_mmd"] = value
            ci.mmd(met, "fidelity.tfidf_mmd", blocks, cfg)

    det = m.detectability(
        h.content_features,
        s.content_features,
        max_per_side=cfg.detectability_max_per_side,
        folds=cfg.cv_folds,
        seed=cfg.random_seed,
        max_features=cfg.max_tfidf_features,
    )
    out.detect = det
    if det.auc is not None:
        met["fidelity.detectability_auc"] = det.auc
        ci.detectability(met, det, cfg)
        met["fidelity.detectability_records_per_side"] = float(det.n_per_side)
        if det.n_per_side < min(len(s), len(h)):
            out.notes.append(
                f"{s.name}: detectability CV used a balanced subsample of "
                f"{det.n_per_side} records per side"
            )
    else:
        out.notes.append(f"{s.name}: detectability {det.note}")
    return xs


def _utility(
    spec: DatasetSpec,
    cfg: ReportSpec,
    s: Corpus,
    real: RealSide,
    out: SetAnalysis,
    *,
    with_augmented: bool,
    judge: list[float],
):
    met = out.metrics
    h = real.holdout
    if kind_of(spec).has("labels"):
        kw = {"seed": cfg.random_seed, "max_features": cfg.max_tfidf_features}
        tstr = m.evaluate_classifier(s.features, s.labels, h.features, h.labels, spec.labels, **kw)
        out.tstr = tstr
        _classifier_metrics(met, "tstr", tstr)
        ci.classifier(met, "tstr", tstr, cfg)
        out.notes.extend(f"{s.name} TSTR: {n}" for n in tstr.notes)
        trtr = real.trtr
        assert trtr is not None
        met.update(real.trtr_intervals)
        _equal_size_ratio(spec, cfg, s, real, out)
        counts = Counter(v for v in h.labels if v is not None)
        if counts:
            met["utility.majority_accuracy"] = max(counts.values()) / sum(counts.values())
            ci.majority(met, h.labels, cfg)
        if with_augmented:
            aug = m.evaluate_classifier(
                real.seeds.features + s.features,
                real.seeds.labels + s.labels,
                h.features,
                h.labels,
                spec.labels,
                **kw,
            )
            out.augmented = aug
            _classifier_metrics(met, "augmented", aug)
            ci.classifier(met, "augmented", aug, cfg)
    else:
        fields = answer_fields(spec)
        if not fields:
            out.notes.append("instruction dataset without an answer field: no answer statistics")
        for f in fields:
            summary = m.length_summary(s.lengths(f, spec))
            for key, value in summary.items():
                met[f"utility.answer_length_{key}.{f}"] = value
            ci.summary(
                met, {f"utility.answer_length_{k}.{f}": k for k in summary}, s.lengths(f, spec), cfg
            )
            for key, value in m.length_summary(h.lengths(f, spec)).items():
                met[f"utility.real_answer_length_{key}.{f}"] = value
            empty = [not v.strip() for v in field_values(s.records, f)]
            met[f"utility.empty_answer_share.{f}"] = sum(empty) / len(s) if len(s) else 0.0
            ci.share(met, f"utility.empty_answer_share.{f}", empty, cfg)
    if judge:
        arr = np.asarray(judge, dtype=float)
        met["utility.judge_score_mean"] = float(arr.mean())
        met["utility.judge_score_median"] = float(np.median(arr))
        met["utility.judge_score_min"] = float(arr.min())
        met["utility.judge_scored_share"] = len(judge) / len(s) if len(s) else 0.0
        ci.summary(
            met,
            {f"utility.judge_score_{k}": k for k in ("mean", "median", "min")},
            judge,
            cfg,
            bounds=(cfg.judge_score_min, cfg.judge_score_max),
        )
        out.judge_scores = list(map(float, judge))


def _equal_size_ratio(
    spec: DatasetSpec, cfg: ReportSpec, s: Corpus, real: RealSide, out: SetAnalysis
) -> None:
    """TSTR / TRTR macro-F1 with both models trained on the same number of labelled rows."""
    met = out.metrics
    tstr, trtr = out.tstr, real.trtr
    assert tstr is not None and trtr is not None
    size = min(tstr.n_train, trtr.n_train)
    met["utility.tstr_train_size"] = float(tstr.n_train)
    met["utility.trtr_train_size"] = float(trtr.n_train)
    met["utility.equal_train_size"] = float(size)
    if size == 0:
        return
    if tstr.n_train > size:
        rows = _labelled_subsample(s.labels, size, cfg.random_seed)
        tstr_eq = _fit_on(spec, cfg, s, rows, real.holdout)
    else:
        tstr_eq = tstr
    trtr_eq = _trtr_at(spec, cfg, real, size)
    out.tstr_equal, out.trtr_equal = tstr_eq, trtr_eq
    met["utility.tstr_equal_size_macro_f1"] = tstr_eq.macro_f1
    met["utility.trtr_equal_size_macro_f1"] = trtr_eq.macro_f1
    ci.classifier(met, "tstr_equal_size", tstr_eq, cfg)  # macro-F1 only: the others unset
    ci.classifier(met, "trtr_equal_size", trtr_eq, cfg)
    if trtr_eq.macro_f1 > 0:
        met["utility.tstr_trtr_f1_ratio"] = tstr_eq.macro_f1 / trtr_eq.macro_f1
        ci.f1_ratio(met, "utility.tstr_trtr_f1_ratio", tstr_eq, trtr_eq, cfg)
    if size < max(tstr.n_train, trtr.n_train):
        side = "synthetic" if tstr.n_train > size else "seed"
        out.notes.append(
            f"{s.name}: TSTR/TRTR ratio compares models trained on {size} rows each "
            f"(the {side} rows subsampled, stratified by label)"
        )


def _content(
    spec: DatasetSpec, cfg: ReportSpec, s: Corpus, real: RealSide, out: SetAnalysis
) -> None:
    """Junk share by content: the spec's content filters re-run over the set's records (a
    seeded random sample of `report.junk_sample_rows` when the set is larger)."""
    frame = s.frame
    if "record_id" not in frame.columns:
        frame = frame.with_row_index("record_id").with_columns(pl.col("record_id").cast(pl.String))
    if frame.height > cfg.junk_sample_rows:
        frame = frame.sample(n=cfg.junk_sample_rows, seed=cfg.random_seed)
        out.notes.append(
            f"{s.name}: junk share estimated on a random sample of {cfg.junk_sample_rows} of "
            f"{s.frame.height} records (report.junk_sample_rows)"
        )
    cols = [c for c in RECORD_COLUMNS if c in frame.columns]
    est = estimate_junk_share(
        spec, frame.select(cols), real.seeds.frame.select(cols), real.holdout.frame.select(cols)
    )
    out.junk = est
    met = out.metrics
    met["content.estimated_junk_share"] = est.share
    # min/max: 1 - (Wilson high of the clean share) can land a rounding error above 0.
    met["content.estimated_junk_share_low"] = min(est.low, est.share)
    met["content.estimated_junk_share_high"] = max(est.high, est.share)
    met["content.flagged"] = float(est.flagged)
    met["content.rows_checked"] = float(est.rows)
    for reason, count in est.by_reason.items():
        met[f"content.flagged.{reason}"] = float(count)


def _classifier_metrics(met: dict[str, float], prefix: str, r: m.ClassifierResult) -> None:
    met[f"utility.{prefix}_accuracy"] = r.accuracy
    met[f"utility.{prefix}_macro_f1"] = r.macro_f1
    for lbl, v in r.per_label_f1.items():
        met[f"utility.{prefix}_f1.{lbl}"] = v


def _diversity(
    spec: DatasetSpec,
    cfg: ReportSpec,
    s: Corpus,
    real: RealSide,
    out: SetAnalysis,
    attributes: list[Any] | None,
    reference_attributes: dict[str, set[str]] | None,
):
    met = out.metrics
    for n in (1, 2, 3):
        met[f"diversity.distinct_{n}"] = m.distinct_n_tokens(s.tokens, n)
        met[f"diversity.real_distinct_{n}"] = real.real_diversity[f"distinct_{n}"]
    met["diversity.compression_ratio"] = m.compression_ratio(s.texts)
    met["diversity.real_compression_ratio"] = real.real_diversity["compression_ratio"]
    # Distinct-n and compression depend on corpus size: compare equal-size samples.
    h = real.holdout
    n = min(len(s), len(h))
    if n:
        rng = np.random.default_rng(cfg.random_seed)
        s_idx, h_idx = _sample(len(s), n, rng), _sample(len(h), n, rng)
        real_d2 = m.distinct_n_tokens([h.tokens[i] for i in h_idx], 2)
        real_cr = m.compression_ratio([h.texts[i] for i in h_idx])
        if real_d2 > 0:
            syn_d2 = m.distinct_n_tokens([s.tokens[i] for i in s_idx], 2)
            met["diversity.distinct_2_vs_real"] = syn_d2 / real_d2
        if real_cr > 0:
            syn_cr = m.compression_ratio([s.texts[i] for i in s_idx])
            met["diversity.compression_vs_real"] = syn_cr / real_cr
    if kind_of(spec).has("labels"):
        counts = Counter(v for v in s.labels if v is not None)
        out.label_counts = {lbl: counts.get(lbl, 0) for lbl in spec.labels}
        met["diversity.label_coverage"] = m.label_coverage(s.labels, spec.labels)
        for lbl in spec.labels:
            met[f"diversity.label_count.{lbl}"] = float(counts.get(lbl, 0))
        present = [c for c in out.label_counts.values() if c > 0]
        if present:
            met["diversity.label_imbalance"] = max(present) / min(present)
        missing = [lbl for lbl, c in out.label_counts.items() if c == 0]
        if missing:
            out.notes.append(f"{s.name}: no records for label(s) {missing}")
    if attributes is not None:
        values = attribute_values(attributes)
        for attr, counter in sorted(values.items()):
            out.attributes[attr] = counter.most_common(TOP_VALUES)
            met[f"diversity.attribute_values.{attr}"] = float(len(counter))
            if reference_attributes and reference_attributes.get(attr):
                ref = reference_attributes[attr]
                met[f"diversity.attribute_coverage.{attr}"] = len(set(counter) & ref) / len(ref)


def attribute_values(raw: list[Any]) -> dict[str, Counter]:
    """Value counts per attribute of an `attributes` column (JSON objects or dicts)."""
    out: dict[str, Counter] = {}
    for item in raw:
        obj = item
        if isinstance(item, str):
            try:
                obj = json.loads(item)
            except ValueError:
                continue
        if not isinstance(obj, dict):
            continue
        for key, value in obj.items():
            values = value if isinstance(value, list) else [value]
            for v in values:
                out.setdefault(str(key), Counter())[str(v)] += 1
    return out


def _privacy(cfg: ReportSpec, s: Corpus, xs: sp.csr_matrix, real: RealSide, out: SetAnalysis):
    met = out.metrics
    thr = cfg.near_copy_similarity
    sim = m.max_cosine_similarity(xs, real.x_seeds)
    out.seed_similarity = sim
    if len(s):
        dcr = 1.0 - sim
        met["privacy.dcr_min"] = float(dcr.min())
        met["privacy.dcr_p05"] = float(np.percentile(dcr, 5))
        met["privacy.dcr_median"] = float(np.median(dcr))
        near = sim >= thr
        met["privacy.near_copy_count"] = float(near.sum())
        met["privacy.near_copy_share"] = float(near.mean())
        for i in np.argsort(-sim)[: min(10, int(near.sum()))]:
            out.near_copies.append({"text": s.texts[i], "similarity": float(sim[i])})
    if len(real.real_seed_similarity):
        met["privacy.real_dcr_median"] = float(np.median(1.0 - real.real_seed_similarity))

    # Holdout contamination: exact match after normalisation, or cosine >= threshold.
    h_sim = m.max_cosine_similarity(xs, real.x_holdout)
    # " ".join(tokens) is `normalize_text`, reusing the cached tokens.
    exact = np.array([" ".join(t) in real.holdout_normalized for t in s.tokens], dtype=bool)
    contaminated = exact | (h_sim >= thr)
    met["privacy.holdout_exact_match_count"] = float(exact.sum())
    met["privacy.holdout_contamination_count"] = float(contaminated.sum())
    met["privacy.holdout_contamination_share"] = float(contaminated.mean()) if len(s) else 0.0
    for i in np.flatnonzero(contaminated)[:10]:
        out.contaminated.append(
            {"text": s.texts[i], "similarity": float(max(h_sim[i], 1.0 if exact[i] else 0.0))}
        )


def judge_scores_for(frame: pl.DataFrame, candidates: pl.DataFrame | None) -> list[float]:
    """`judge_score` of each record: its own column, else joined from candidates by id."""
    col = None
    if JUDGE_COLUMN in frame.columns:
        col = frame.get_column(JUDGE_COLUMN)
    elif (
        candidates is not None
        and JUDGE_COLUMN in candidates.columns
        and "record_id" in candidates.columns
        and "record_id" in frame.columns
    ):
        lookup = candidates.select("record_id", JUDGE_COLUMN).unique("record_id", keep="first")
        col = frame.select("record_id").join(lookup, on="record_id", how="left")[JUDGE_COLUMN]
    if col is None:
        return []
    values = col.cast(pl.Float64, strict=False).drop_nulls().drop_nans().to_list()
    return [float(v) for v in values]


def attributes_for(frame: pl.DataFrame, candidates: pl.DataFrame | None) -> list[Any] | None:
    """The `attributes` column of a frame, else joined from candidates by record id."""
    if ATTRIBUTES_COLUMN in frame.columns:
        return frame.get_column(ATTRIBUTES_COLUMN).to_list()
    if (
        candidates is not None
        and ATTRIBUTES_COLUMN in candidates.columns
        and "record_id" in candidates.columns
        and "record_id" in frame.columns
    ):
        lookup = candidates.select("record_id", ATTRIBUTES_COLUMN).unique("record_id", keep="first")
        joined = frame.select("record_id").join(lookup, on="record_id", how="left")
        return joined.get_column(ATTRIBUTES_COLUMN).to_list()
    return None


def analyze(
    spec: DatasetSpec,
    cfg: ReportSpec,
    s: Corpus,
    real: RealSide,
    *,
    with_augmented: bool,
    judge: list[float],
    attributes: list[Any] | None,
    reference_attributes: dict[str, set[str]] | None = None,
) -> SetAnalysis:
    out = SetAnalysis(name=s.name, records=len(s))
    out.metrics["records"] = float(len(s))
    if len(s) == 0:
        out.notes.append(f"{s.name}: the set is empty; its figures are not computed")
        return out
    _content(spec, cfg, s, real, out)
    xs = _fidelity(spec, cfg, s, real, out)
    _utility(spec, cfg, s, real, out, with_augmented=with_augmented, judge=judge)
    _diversity(spec, cfg, s, real, out, attributes, reference_attributes)
    _privacy(cfg, s, xs, real, out)
    return out
