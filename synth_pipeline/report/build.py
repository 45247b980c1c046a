"""Build the validation report: metrics, headline score, thresholds, HTML, JSON, Markdown.

`build_report` is the public entry point (plain Python; the Dagster asset only calls it).
It writes `out_dir/report.html` (self-contained: inline CSS, plots as base64 PNG) and
`out_dir/metrics.json`, and returns a `ReportResult`.

Headline score (0-100) = (1 - junk share) x weighted mean of four parts, each 0-100:
fidelity 0.3, utility 0.3, diversity 0.2, privacy 0.2 (`report.weights` in the spec); a
part that cannot be computed (utility of an instruction dataset without judge scores) drops
out and the other weights are re-normalised. The junk share is the largest of the content
filters' re-run estimate, the junk they probably missed (their benchmark recall and
precision applied to what they dropped) and the reviewers' rejection rate. How each part
is computed: `synth_pipeline.report.score`. Metric definitions: `synth_pipeline.report.metrics`;
intervals: `synth_pipeline.report.intervals`. All are repeated in the HTML.

The report also shows the data: a seeded random sample of published records and, per
curation drop reason, a few dropped candidates with the filter's score and detail.

The holdout is test data: TSTR/TRTR/augmented models train on synthetic records or seeds
and are only scored on the holdout, and the similarity space is fit without it. The one
model that sees holdout records is the detectability classifier, whose task is telling
holdout from synthetic (cross-validated, out-of-fold scores only).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from jinja2 import Environment, FileSystemLoader, select_autoescape

from synth_pipeline.curation.content import missed_junk_share
from synth_pipeline.kinds import kind_of
from synth_pipeline.paths import SCORECARD_NAME
from synth_pipeline.report import plots
from synth_pipeline.report.analysis import (
    Corpus,
    SetAnalysis,
    analyze,
    answer_fields,
    attribute_values,
    attributes_for,
    judge_scores_for,
    prepare_real,
    string_fields,
)
from synth_pipeline.report.metrics import label_distribution
from synth_pipeline.report.review import review_block, review_metrics, review_payload
from synth_pipeline.report.score import (
    CONTENT,
    JUNK_SHARE,
    PARTS,
    ThresholdResult,
    content_part,
    evaluate_thresholds,
    interval,
    is_undecided,
    score_method,
    score_metrics,
    score_parts,
    undecided_figures,
)
from synth_pipeline.report.text import parse_records
from synth_pipeline.spec import DatasetSpec

TEMPLATES = Path(__file__).parent / "templates"
HTML_NAME = "report.html"
JSON_NAME = "metrics.json"

# Figures compared before/after curation (candidates vs published).
CURATION_KEYS = [
    "records",
    "score.headline",
    "score.content",
    "score.fidelity",
    "score.utility",
    "score.diversity",
    "score.privacy",
    "content.estimated_junk_share",
    "content.junk_share",
    "fidelity.detectability_auc",
    "fidelity.label_js_distance",
    "fidelity.length_ks_mean",
    "fidelity.tfidf_mmd",
    "fidelity.ngram_overlap_2",
    "utility.tstr_accuracy",
    "utility.tstr_macro_f1",
    "utility.tstr_trtr_f1_ratio",
    "utility.judge_score_mean",
    "diversity.distinct_1",
    "diversity.distinct_2",
    "diversity.distinct_3",
    "diversity.compression_ratio",
    "diversity.label_coverage",
    "privacy.near_copy_share",
    "privacy.dcr_median",
    "privacy.holdout_contamination_count",
]

# Figures tracked across versions.
TREND_KEYS = {
    "score.headline": "headline",
    "score.content": "content",
    "score.fidelity": "fidelity",
    "score.utility": "utility",
    "score.diversity": "diversity",
    "score.privacy": "privacy",
    "fidelity.detectability_auc": "detectability AUC",
    "utility.tstr_macro_f1": "TSTR macro-F1",
    "content.junk_share": "junk share",
    "diversity.distinct_2": "distinct-2",
    "privacy.near_copy_share": "near-copy share",
    "records": "records",
}

METHOD = [
    (
        "Headline score",
        "100 × (1 − junk share) × the weighted mean of the fidelity, utility, diversity and "
        "privacy parts. The other parts measure the rows that are there, not whether they are "
        "what was asked for; the junk factor means a version whose rows are 30% junk cannot "
        "score above 70, and one reviewers mostly reject cannot score above 50.",
    ),
    (
        "Junk share",
        "The largest of three estimates: the spec's content filters (degenerate output, prompt "
        "echoes, wrong voice, realism, label disagreement, ...) re-run over the published "
        "records, with a Wilson 95% interval; the junk the filters probably let through, from "
        "their recall and precision against reviewers on the junk benchmark applied to what "
        "they dropped (curation.junk_estimate); and, once reviewers have given verdicts, "
        "1 − the reviewed acceptance rate.",
    ),
    (
        "Intervals",
        "Every utility and fidelity figure carries a bootstrap 95% interval: the rows it was "
        "evaluated on are resampled with replacement (report.bootstrap_resamples times, seeded "
        "from report.random_seed; models are not refit), and the percentile interval is "
        "recentred by the bootstrap bias estimate. A figure whose interval is wider than "
        "report.max_decisive_interval_width is undecided: its score component uses the "
        "interval's unfavourable end, and a threshold on it says so.",
    ),
    (
        "Real reference",
        "The holdout: never shown to the generator, never a training set for "
        "utility models. Seeds are TRTR's training set and the memorisation reference.",
    ),
    (
        "Label JS distance",
        "Jensen-Shannon distance (base 2, 0 = same shares, 1 = disjoint) "
        "between the label shares of the synthetic set and the holdout.",
    ),
    (
        "Length KS",
        "Two-sample Kolmogorov-Smirnov statistic of character lengths per string "
        "field (0 = same distribution, 1 = disjoint).",
    ),
    (
        "Vocabulary / n-gram overlap",
        "Vocabulary Jaccard of the unigram sets; n-gram overlap "
        "= share of the holdout's distinct n-grams (n = 1..3) found in the synthetic texts.",
    ),
    (
        "TF-IDF MMD",
        "Maximum mean discrepancy (biased estimate, square-rooted) between up to "
        "mmd_max_per_side records per side in a word 1-2-gram TF-IDF space (unit rows) with "
        "the RBF kernel k(x, y) = exp(−‖x − y‖²) = exp(2·cos − 2). 0 = same distribution.",
    ),
    (
        "Detectability",
        "Logistic regression on word 1-2-gram TF-IDF of all string fields, "
        "telling holdout (real) from synthetic records; stratified k-fold CV on a balanced "
        "subsample (at most detectability_max_per_side per side); pooled out-of-fold ROC AUC "
        "(the TF-IDF space is fit once on that sample, label-free). "
        "0.5 = indistinguishable, 1.0 = trivially detectable.",
    ),
    (
        "TSTR / TRTR / augmented",
        "The same TF-IDF + logistic regression trained on synthetic "
        "(TSTR), real seeds (TRTR) or both (augmented), tested on the holdout. Macro-F1 averages "
        "over labels present in the holdout. The TSTR/TRTR ratio compares models trained on the "
        "same number of rows: the larger training side is subsampled, stratified by label.",
    ),
    (
        "Distinct-n",
        "Distinct n-grams / all n-grams over the corpus. The vs real ratios use "
        "equal-size samples, since the raw figure falls with corpus size.",
    ),
    (
        "Compression ratio",
        "zlib (level 9) compressed size / raw size of the joined texts; "
        "lower = more repetition (self-similarity).",
    ),
    (
        "Distance to closest record",
        "1 − the highest TF-IDF cosine similarity to any seed. "
        "Near-copy: similarity ≥ near_copy_similarity. The real holdout → seeds distances are "
        "the baseline.",
    ),
    (
        "Holdout contamination",
        "Synthetic records whose normalised text (case-folded words) "
        "equals a holdout record's, or whose TF-IDF cosine to one is ≥ near_copy_similarity.",
    ),
]


@dataclass
class ReportResult:
    metrics: dict[str, float]
    headline_score: float
    html_path: Path
    json_path: Path
    markdown: str
    threshold_results: list[ThresholdResult]
    notes: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        """True when every threshold set in the spec passed."""
        return all(t.passed for t in self.threshold_results)


def _finite(metrics: dict[str, float]) -> dict[str, float]:
    return {
        k: float(v)
        for k, v in metrics.items()
        if v is not None and isinstance(v, int | float) and math.isfinite(v)
    }


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        if not math.isfinite(value):
            return "–"
        if value.is_integer():
            return f"{int(value)}"
        return f"{value:.{digits}f}"
    return str(value)


def _table(title: str, columns: list[str], rows: list[list[Any]], note: str | None = None):
    return {
        "title": title,
        "columns": columns,
        "rows": [[_fmt(c) for c in r] for r in rows],
        "note": note,
    }


def _figure(title: str, fig, caption: str | None = None) -> dict[str, str | None]:
    return {"title": title, "uri": plots.to_data_uri(fig), "caption": caption}


def _candidates_ok(candidates: pl.DataFrame | None) -> tuple[pl.DataFrame | None, str | None]:
    if candidates is None:
        return None, None
    if "status" in candidates.columns:
        ok = candidates.filter(pl.col("status").fill_null("ok") == "ok")
        return ok, f"candidates: {ok.height} of {candidates.height} rows with status 'ok'"
    return candidates, f"candidates: {candidates.height} rows (no status column)"


def build_report(
    spec: DatasetSpec,
    *,
    synthetic: pl.DataFrame,
    seeds: pl.DataFrame,
    holdout: pl.DataFrame,
    candidates: pl.DataFrame | None,
    out_dir: Path,
    version: str,
    history: list[dict] | None = None,
    review: dict[str, Any] | None = None,
    audit: pl.DataFrame | None = None,
) -> ReportResult:
    """Compare synthetic records with the real holdout; write report.html and metrics.json.

    `history` holds earlier versions as `{"version": str, "metrics": {...}}`, oldest first.
    `review` holds the human-review figures (`review.gate.report_review`) once verdicts exist;
    their `review.*` metrics count in the junk share (`score.junk_share`) before scoring.
    `audit` is the version's curation audit (record_id, filter, reason, score, detail, kept):
    the report shows a few dropped candidates per reason.
    """
    if kind_of(spec).has("table"):  # typed columns, not text: the table report
        from synth_pipeline.report.table import build_table_report

        return build_table_report(
            spec,
            synthetic=synthetic,
            seeds=seeds,
            holdout=holdout,
            candidates=candidates,
            out_dir=out_dir,
            version=version,
            history=history,
            review=review,
            audit=audit,
        )
    cfg = spec.report
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    notes: list[str] = []

    syn = Corpus.from_frame("synthetic", synthetic, spec)
    cand_frame, cand_note = _candidates_ok(candidates)
    cand = Corpus.from_frame("candidates", cand_frame, spec) if cand_frame is not None else None
    if cand_note:
        notes.append(cand_note)
    real = prepare_real(
        spec,
        cfg,
        seeds=Corpus.from_frame("seeds", seeds, spec),
        holdout=Corpus.from_frame("holdout", holdout, spec),
        fit_corpora=[syn, cand] if cand is not None else [syn],
    )
    if real.trtr is not None:
        notes.extend(f"TRTR: {n}" for n in real.trtr.notes)

    cand_attrs = attributes_for(cand_frame, None) if cand_frame is not None else None
    reference_attrs = (
        {k: set(v) for k, v in attribute_values(cand_attrs).items()} if cand_attrs else None
    )
    published = analyze(
        spec,
        cfg,
        syn,
        real,
        with_augmented=True,
        judge=judge_scores_for(synthetic, cand_frame),
        attributes=attributes_for(synthetic, cand_frame),
        reference_attributes=reference_attrs,
    )
    notes.extend(published.notes)
    metrics = dict(published.metrics)
    metrics["records.synthetic"] = float(len(syn))
    metrics["records.seeds"] = float(len(real.seeds))
    metrics["records.holdout"] = float(len(real.holdout))
    if audit is not None:  # junk the content filters probably missed (curation.content)
        missed = missed_junk_share(spec, audit, len(syn))
        if missed is not None:
            metrics["content.missed_junk_share"] = missed.share
            metrics["content.missed_junk_share_low"] = missed.low
            metrics["content.missed_junk_share_high"] = missed.high
    metrics.update(review_metrics(review))  # before scoring: verdicts count in the junk share
    metrics.update(score_metrics(metrics, cfg))
    parts = score_parts(metrics, cfg)
    content = content_part(metrics, cfg)
    if content is None:
        notes.append("no junk-share estimate: the headline is not multiplied by a content part")

    before: SetAnalysis | None = None
    cand_parts = None
    if cand is not None:
        before = analyze(
            spec,
            cfg,
            cand,
            real,
            with_augmented=False,
            judge=judge_scores_for(cand_frame, None),
            attributes=cand_attrs,
        )
        notes.extend(before.notes)
        before.metrics.update(score_metrics(before.metrics, cfg))
        cand_parts = {
            **score_parts(before.metrics, cfg),
            CONTENT: content_part(before.metrics, cfg),
        }
        for key in CURATION_KEYS:
            if key in before.metrics:
                metrics[f"curation.candidates.{key}"] = before.metrics[key]
        metrics["curation.candidate_records"] = float(len(cand))
        if len(cand):
            metrics["curation.published_share"] = len(syn) / len(cand)
    strategy_rows = strategy_breakdown(candidates, synthetic)
    for r in strategy_rows:
        metrics[f"curation.published_share.{r['strategy']}"] = r["published_share"]

    history = list(history or [])
    previous = next(
        (h for h in reversed(history) if "score.headline" in (h.get("metrics") or {})), None
    )
    if previous is not None:
        metrics["trend.headline_delta"] = (
            metrics["score.headline"] - previous["metrics"]["score.headline"]
        )

    metrics = _finite(metrics)
    headline = metrics["score.headline"]
    kind = kind_of(spec)
    thresholds = evaluate_thresholds(metrics, cfg, families=kind.families, kind=kind.name)

    shown_parts = {**parts, CONTENT: content}
    main_fig = plots.scorecard(headline, shown_parts, cand_parts)
    main_uri = plots.to_data_uri(main_fig)
    small_uri = plots.to_data_uri(main_fig, dpi=64)
    undecided = undecided_figures(metrics, cfg)
    undecided_decisive = undecided_figures(metrics, cfg, decisive_only=True)

    sections = [
        _content_section(cfg, published, before, metrics),
        _fidelity_section(spec, cfg, real, published, before, metrics),
        _utility_section(spec, cfg, real, published, before, metrics),
        _diversity_section(spec, real, published, before, metrics),
        _privacy_section(cfg, real, published, before, metrics),
        _curation_section(metrics, before, cand_note, strategy_rows),
        _sample_section(spec, cfg, synthetic),
        _dropped_section(spec, cfg, candidates, audit),
        _trend_section(history, version, metrics),
    ]

    methods = score_method(kind.families)
    weights = cfg.weights.as_dict()
    rows = score_rows(parts, cfg, methods)
    rows.append(
        {
            "part": CONTENT,
            "score": None if content is None else 100 * content,
            "weight": None,
            "effective_weight": None,
            "method": methods[CONTENT],
        }
    )
    junk = {
        "share": metrics.get(JUNK_SHARE),
        "interval": interval(metrics, JUNK_SHARE),
        "from_review": bool(metrics.get("content.junk_share_from_review")),
        "estimated": metrics.get("content.estimated_junk_share"),
        "review": metrics.get("review.acceptance_rate"),
        "reviewed": metrics.get("review.reviewed"),
        "before_content": metrics.get("score.before_content"),
    }

    html = (
        report_environment()
        .get_template("report.html.j2")
        .render(
            spec=spec,
            version=version,
            headline=headline,
            main_uri=main_uri,
            score_rows=rows,
            junk=junk,
            undecided=undecided_decisive,
            undecided_others=len(undecided) - len(undecided_decisive),
            thresholds=thresholds,
            passed=all(t.passed for t in thresholds),
            sections=sections,
            review_block=review_block(review),
            notes=notes,
            method=METHOD,
            cfg=cfg,
            counts={
                "synthetic": len(syn),
                "seeds": len(real.seeds),
                "holdout": len(real.holdout),
                "candidates": len(cand) if cand is not None else None,
            },
        )
    )
    html_path = out_dir / HTML_NAME
    html_path.write_text(html, encoding="utf-8")

    json_path = out_dir / JSON_NAME
    payload = {
        "dataset": spec.name,
        "kind": spec.kind,
        "version": version,
        "headline_score": headline,
        "score_parts": {p: (None if v is None else 100 * v) for p, v in shown_parts.items()},
        "weights": weights,
        "passed": all(t.passed for t in thresholds),
        "thresholds": [t.as_dict() for t in thresholds],
        "metrics": dict(sorted(metrics.items())),
        "notes": notes,
        "undecided": undecided,
        "junk_by_reason": published.junk.by_reason if published.junk is not None else {},
        "confusion": _confusions(published, real),
        "attributes": {k: dict(v) for k, v in published.attributes.items()},
        "review": review_payload(review),
    }
    json_path.write_text(json.dumps(payload, indent=2, ensure_ascii=False), encoding="utf-8")
    (out_dir / SCORECARD_NAME).write_bytes(plots.data_uri_bytes(small_uri))

    plot_titles = ["Quality score"] + [
        f["title"] for sec in sections for f in sec.get("figures", [])
    ]
    markdown = _markdown(
        spec, version, headline, shown_parts, thresholds, metrics, small_uri, html_path, plot_titles
    )
    return ReportResult(
        metrics=metrics,
        headline_score=headline,
        html_path=html_path,
        json_path=json_path,
        markdown=markdown,
        threshold_results=thresholds,
        notes=notes,
    )


def score_rows(
    parts: dict[str, float | None], cfg: Any, methods: dict[str, str]
) -> list[dict[str, Any]]:
    """The score table's rows: each weighted part, its weight once the missing parts drop out,
    and how it is computed."""
    weights = cfg.weights.as_dict()
    total_w = sum(weights[p] for p in PARTS if parts.get(p) is not None) or 1.0
    return [
        {
            "part": p,
            "score": None if parts.get(p) is None else 100 * parts[p],
            "weight": weights[p],
            "effective_weight": (weights[p] / total_w) if parts.get(p) is not None else 0.0,
            "method": methods[p],
        }
        for p in PARTS
    ]


def report_environment() -> Environment:
    """The Jinja environment of the report page (autoescaped, with the `fmt` filter)."""
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html", "j2"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["fmt"] = _fmt
    return env


def _confusions(published: SetAnalysis, real) -> dict[str, Any]:
    out = {}
    for name, r in (
        ("tstr", published.tstr),
        ("trtr", real.trtr),
        ("augmented", published.augmented),
    ):
        if r is not None:
            out[name] = {"labels": r.labels, "matrix": r.confusion}
    return out


def _fidelity_section(spec, cfg, real, pub: SetAnalysis, before: SetAnalysis | None, metrics):
    tables, figures = [], []
    rows = []
    keys: list[tuple[str, str, str | None]] = []
    if kind_of(spec).has("labels"):
        keys.append(("label JS distance", "fidelity.label_js_distance", None))
    keys += kind_of(spec).figure_rows()
    for f in string_fields(spec):
        keys.append((f"length KS ({f})", f"fidelity.length_ks.{f}", None))
        keys.append(
            (
                f"mean length ({f}, chars)",
                f"fidelity.mean_length.{f}",
                f"fidelity.real_mean_length.{f}",
            )
        )
    keys += [
        ("vocabulary Jaccard", "fidelity.vocab_jaccard", None),
        ("1-gram overlap (share of real)", "fidelity.ngram_overlap_1", None),
        ("2-gram overlap (share of real)", "fidelity.ngram_overlap_2", None),
        ("3-gram overlap (share of real)", "fidelity.ngram_overlap_3", None),
        ("TF-IDF MMD (RBF)", "fidelity.tfidf_mmd", None),
        ("detectability ROC AUC", "fidelity.detectability_auc", None),
    ]
    for title, key, real_key in keys:
        row = [title, key, _ci(pub.metrics, key, cfg)]
        if before is not None:
            row.append(_ci(before.metrics, key, cfg))
        row.append(metrics.get(real_key) if real_key else None)
        rows.append(row)
    cols = ["figure", "metric", "synthetic"] + (["candidates"] if before is not None else [])
    tables.append(
        _table(
            "Fidelity figures (reference: real holdout)",
            cols + ["real"],
            rows,
            note=INTERVAL_NOTE,
        )
    )

    if kind_of(spec).has("labels"):
        series = {
            "real (holdout)": label_distribution(real.holdout.labels, spec.labels),
            "synthetic": label_distribution(
                [lbl for lbl, c in pub.label_counts.items() for _ in range(c)], spec.labels
            ),
        }
        if before is not None:
            series["candidates"] = label_distribution(
                [lbl for lbl, c in before.label_counts.items() for _ in range(c)], spec.labels
            )
        figures.append(_figure("Label distribution", plots.label_distribution(spec.labels, series)))
    per_field = {}
    for f in string_fields(spec):
        s = {"real (holdout)": real.holdout.lengths(f, spec), "synthetic": pub.lengths.get(f, [])}
        if before is not None:
            s["candidates"] = before.lengths.get(f, [])
        per_field[f] = s
    if per_field and pub.records:
        figures.append(_figure("Length distributions", plots.length_histograms(per_field)))
    curves = {}
    if pub.detect is not None:
        curves["synthetic"] = pub.detect
    if before is not None and before.detect is not None:
        curves["candidates"] = before.detect
    if any(d.auc is not None for d in curves.values()):
        det = pub.detect
        cap = None
        if det is not None and det.auc is not None:
            cap = (
                f"{det.folds}-fold CV on {det.n_per_side} real + {det.n_per_side} synthetic "
                f"records; fold AUCs {', '.join(f'{a:.3f}' for a in det.fold_aucs)}."
            )
        figures.append(_figure("Detectability ROC curve", plots.roc(curves), cap))
    return {
        "id": "fidelity",
        "title": "Fidelity",
        "figures": figures,
        "tables": tables,
        "intro": "How close the synthetic records are to the real holdout.",
    }


def _utility_section(spec, cfg, real, pub: SetAnalysis, before: SetAnalysis | None, metrics):
    tables, figures = [], []
    if kind_of(spec).has("labels"):
        results = {"TRTR": real.trtr, "TSTR": pub.tstr, "augmented": pub.augmented}
        prefixes = {"TRTR": "trtr", "TSTR": "tstr", "augmented": "augmented"}
        rows = []
        for name, r in results.items():
            if r is not None:
                pre = f"utility.{prefixes[name]}"
                rows.append(
                    [
                        name,
                        r.n_train,
                        r.n_test,
                        _ci(pub.metrics, f"{pre}_accuracy", cfg),
                        _ci(pub.metrics, f"{pre}_macro_f1", cfg),
                    ]
                )
        if before is not None and before.tstr is not None:
            r = before.tstr
            rows.append(
                [
                    "TSTR (candidates)",
                    r.n_train,
                    r.n_test,
                    _ci(before.metrics, "utility.tstr_accuracy", cfg),
                    _ci(before.metrics, "utility.tstr_macro_f1", cfg),
                ]
            )
        rows.append(
            [
                "majority class",
                None,
                None,
                _ci(pub.metrics, "utility.majority_accuracy", cfg),
                None,
            ]
        )
        tables.append(
            _table(
                "Classifier trained on …, tested on the real holdout",
                ["model", "train records", "test records", "accuracy", "macro-F1"],
                rows,
                note="TRTR: real seeds; TSTR: synthetic; augmented: seeds + synthetic. "
                + INTERVAL_NOTE,
            )
        )
        eq_rows = []
        for title, key in [
            ("training rows per model", "utility.equal_train_size"),
            ("TSTR macro-F1", "utility.tstr_equal_size_macro_f1"),
            ("TRTR macro-F1", "utility.trtr_equal_size_macro_f1"),
            ("TSTR / TRTR macro-F1 ratio", "utility.tstr_trtr_f1_ratio"),
        ]:
            row = [title, _ci(pub.metrics, key, cfg)]
            if before is not None:
                row.append(_ci(before.metrics, key, cfg))
            eq_rows.append(row)
        tables.append(
            _table(
                "TSTR vs TRTR at the same training size",
                ["figure", "synthetic"] + (["candidates"] if before is not None else []),
                eq_rows,
                note=(
                    f"Synthetic training rows: {_fmt(metrics.get('utility.tstr_train_size'))}; "
                    f"seed training rows: {_fmt(metrics.get('utility.trtr_train_size'))}. The "
                    "larger side is subsampled (stratified by label) so both models learn from "
                    "as many rows; the ratio feeds the utility score and the "
                    "min_tstr_trtr_ratio threshold."
                ),
            )
        )
        present = {k for r in results.values() if r is not None for k in r.per_label_f1}
        label_rows = []
        for lbl in spec.labels:
            label_rows.append(
                [lbl]
                + [
                    (r.per_label_f1.get(lbl) if (r is not None and lbl in present) else None)
                    for r in results.values()
                ]
            )
        tables.append(_table("Per-label F1", ["label", *results], label_rows))
        if pub.tstr is not None:
            figures.append(
                _figure(
                    "TSTR confusion matrix", plots.confusion(pub.tstr, "TSTR confusion (holdout)")
                )
            )
            shown = {k: v for k, v in results.items() if v is not None}
            figures.append(_figure("Per-label F1", plots.per_label_f1(spec.labels, shown)))
        intro = "Does a model trained on the synthetic data work on real data?"
    else:
        rows = []
        for f in answer_fields(spec):
            for stat in ("mean", "median", "p05", "p95", "min", "max"):
                rows.append(
                    [
                        f,
                        stat,
                        metrics.get(f"utility.answer_length_{stat}.{f}"),
                        metrics.get(f"utility.real_answer_length_{stat}.{f}"),
                    ]
                )
            rows.append([f, "empty share", metrics.get(f"utility.empty_answer_share.{f}"), None])
        if rows:
            tables.append(
                _table(
                    "Answer lengths (characters)",
                    ["field", "statistic", "synthetic", "real (holdout)"],
                    rows,
                )
            )
        intro = (
            "Instruction dataset: answer statistics (and judge scores when the records "
            "carry a judge_score) stand in for TSTR."
        )
    judge = {"synthetic": pub.judge_scores}
    if before is not None and before.judge_scores:
        judge["candidates"] = before.judge_scores
    if pub.judge_scores:
        tables.append(
            _table(
                "Judge scores",
                ["figure", "synthetic"],
                [
                    [title, metrics.get(key)]
                    for title, key in (
                        ("mean", "utility.judge_score_mean"),
                        ("median", "utility.judge_score_median"),
                        ("min", "utility.judge_score_min"),
                        ("share of records scored", "utility.judge_scored_share"),
                    )
                ],
            )
        )
        figures.append(_figure("Judge scores", plots.judge_histogram(judge)))
    return {
        "id": "utility",
        "title": "Utility",
        "figures": figures,
        "tables": tables,
        "intro": intro,
    }


def _diversity_section(spec, real, pub: SetAnalysis, before: SetAnalysis | None, metrics):
    tables = []
    rows = []
    for title, key, real_key in [
        ("distinct-1", "diversity.distinct_1", "diversity.real_distinct_1"),
        ("distinct-2", "diversity.distinct_2", "diversity.real_distinct_2"),
        ("distinct-3", "diversity.distinct_3", "diversity.real_distinct_3"),
        (
            "compression ratio (zlib)",
            "diversity.compression_ratio",
            "diversity.real_compression_ratio",
        ),
        ("distinct-2 vs real (equal-size samples)", "diversity.distinct_2_vs_real", None),
        ("compression vs real (equal-size samples)", "diversity.compression_vs_real", None),
        ("label coverage", "diversity.label_coverage", None),
        ("label imbalance (max/min count)", "diversity.label_imbalance", None),
    ]:
        if key not in pub.metrics and (before is None or key not in before.metrics):
            continue
        row = [title, pub.metrics.get(key)]
        if before is not None:
            row.append(before.metrics.get(key))
        row.append(metrics.get(real_key) if real_key else None)
        rows.append(row)
    cols = ["figure", "synthetic"] + (["candidates"] if before is not None else []) + ["real"]
    tables.append(_table("Diversity figures", cols, rows))
    if kind_of(spec).has("labels"):
        hold = {lbl: 0 for lbl in spec.labels}
        for v in real.holdout.labels:
            if v in hold:
                hold[v] += 1
        label_rows = []
        for lbl in spec.labels:
            row = [lbl, pub.label_counts.get(lbl, 0)]
            if before is not None:
                row.append(before.label_counts.get(lbl, 0))
            row.append(hold[lbl])
            label_rows.append(row)
        cols = ["label", "synthetic"] + (["candidates"] if before is not None else [])
        tables.append(_table("Records per label", cols + ["holdout"], label_rows))
    for attr, values in pub.attributes.items():
        cov = metrics.get(f"diversity.attribute_coverage.{attr}")
        note = f"{len(values)} most common values shown"
        if cov is not None:
            note += f"; coverage of the candidates' values: {cov:.0%}"
        tables.append(
            _table(
                f"Attribute {attr!r}",
                ["value", "synthetic records"],
                [[v, c] for v, c in values],
                note=note,
            )
        )
    return {
        "id": "diversity",
        "title": "Diversity",
        "figures": [],
        "tables": tables,
        "intro": "Is the synthetic set varied, and does it cover every label and attribute?",
    }


def _privacy_section(cfg, real, pub: SetAnalysis, before: SetAnalysis | None, metrics):
    tables, figures = [], []
    rows = []
    for title, key in [
        ("near-copies of seeds", "privacy.near_copy_count"),
        ("near-copy share", "privacy.near_copy_share"),
        ("DCR min", "privacy.dcr_min"),
        ("DCR 5th percentile", "privacy.dcr_p05"),
        ("DCR median", "privacy.dcr_median"),
        ("holdout exact matches (normalised)", "privacy.holdout_exact_match_count"),
        (
            "holdout contamination (exact or cosine ≥ threshold)",
            "privacy.holdout_contamination_count",
        ),
    ]:
        row = [title, pub.metrics.get(key)]
        if before is not None:
            row.append(before.metrics.get(key))
        rows.append(row)
    rows.append(
        ["real holdout DCR median (baseline)"]
        + [None] * (1 if before is None else 2)
        + [metrics.get("privacy.real_dcr_median")]
    )
    for r in rows[:-1]:
        r.append(None)
    cols = ["figure", "synthetic"] + (["candidates"] if before is not None else []) + ["real"]
    tables.append(
        _table(f"Memorisation (near-copy: cosine ≥ {cfg.near_copy_similarity:g})", cols, rows)
    )
    if pub.near_copies:
        tables.append(
            _table(
                "Closest near-copies of seeds",
                ["synthetic text", "similarity"],
                [[_short(x["text"]), x["similarity"]] for x in pub.near_copies],
            )
        )
    if pub.contaminated:
        tables.append(
            _table(
                "Records matching the holdout",
                ["synthetic text", "similarity"],
                [[_short(x["text"]), x["similarity"]] for x in pub.contaminated],
            )
        )
    series = {
        "real holdout → seeds": real.real_seed_similarity,
        "synthetic → seeds": pub.seed_similarity,
    }
    if before is not None:
        series["candidates → seeds"] = before.seed_similarity
    if len(pub.seed_similarity):
        figures.append(
            _figure(
                "Distance to closest seed", plots.dcr_histogram(series, cfg.near_copy_similarity)
            )
        )
    return {
        "id": "privacy",
        "title": "Privacy and memorisation",
        "figures": figures,
        "tables": tables,
        "intro": "Does the generator copy its seeds, or leak the holdout?",
    }


INTERVAL_NOTE = (
    "Brackets: bootstrap 95% interval; “undecided”: wider than report.max_decisive_interval_width."
)


def _ci(met: dict[str, float], key: str, cfg) -> str | float | None:
    """A figure with its 95% interval, e.g. "0.942 [0.910, 0.968]", flagged when undecided."""
    value = met.get(key)
    if value is None or interval(met, key) is None:
        return value
    text = _fmt_interval(met, key)
    return text + " undecided" if is_undecided(met, key, cfg) else text


def _content_section(cfg, pub: SetAnalysis, before: SetAnalysis | None, metrics):
    rows = []
    for title, key in [
        ("junk share used by the score and the gate", JUNK_SHARE),
        ("content filters: estimated junk share", "content.estimated_junk_share"),
        ("junk the filters probably missed (share of kept rows)", "content.missed_junk_share"),
        ("content filters: rows flagged", "content.flagged"),
        ("content filters: rows checked", "content.rows_checked"),
        ("reviewers: acceptance rate", "review.acceptance_rate"),
        ("reviewers: records reviewed", "review.reviewed"),
        ("reviewers: acceptance 95% lower bound", "review.acceptance_lower_bound"),
        ("content part (100 × (1 − junk share))", "score.content"),
    ]:
        in_before = before is not None and key in before.metrics
        if key not in pub.metrics and key not in metrics and not in_before:
            continue
        row = [title, _ci(metrics, key, cfg)]
        if before is not None:
            row.append(_ci(before.metrics, key, cfg))
        rows.append(row)
    cols = ["figure", "published"] + (["candidates"] if before is not None else [])
    tables = [
        _table(
            "Junk share",
            cols,
            rows,
            note="Brackets: 95% interval of the share. The junk share is the largest of the "
            "content filters' re-run estimate, the junk they probably missed and the "
            "reviewers' rejection rate.",
        )
    ]
    reasons = sorted(
        set(pub.junk.by_reason if pub.junk else {})
        | set(before.junk.by_reason if before is not None and before.junk else {})
    )
    if reasons:
        reason_rows = []
        for r in reasons:
            row = [r, (pub.junk.by_reason.get(r, 0) if pub.junk else None)]
            if before is not None:
                row.append(before.junk.by_reason.get(r, 0) if before.junk else None)
            reason_rows.append(row)
        tables.append(_table("Rows flagged by reason", ["reason", *cols[1:]], reason_rows))
    method = pub.junk.method if pub.junk is not None else "not computed"
    return {
        "id": "content",
        "title": "Content quality",
        "figures": [],
        "tables": tables,
        "intro": "Is each record what was asked for? Junk (echoed field descriptions, prompt "
        "artifacts, text about the record, the wrong speaker, incoherent text) passes every "
        f"distribution figure; it is counted here ({method}).",
    }


def _record_cells(spec, record: dict[str, Any], fallback: str | None) -> list[str]:
    """One cell per spec field (the record's own value; the row's text when unparsed)."""
    if not record:
        text = fallback if fallback else "–"
        return [text] + ["–"] * (len(spec.fields) - 1)
    out = []
    for f in spec.fields:
        value = record.get(f.name)
        out.append("–" if value is None else _long(str(value)))
    return out


def _sample_section(spec, cfg, synthetic: pl.DataFrame):
    n = min(cfg.sample_rows, synthetic.height)
    if n == 0:
        return {
            "id": "sample",
            "title": "Published records",
            "figures": [],
            "tables": [],
            "intro": "No published records to show.",
        }
    rng = np.random.default_rng(cfg.random_seed)
    idx = np.sort(rng.choice(synthetic.height, size=n, replace=False))
    frame = synthetic[idx.tolist()]
    records = parse_records(frame, spec)
    texts = frame.get_column("text").to_list() if "text" in frame.columns else [None] * n
    ids = frame.get_column("record_id").to_list() if "record_id" in frame.columns else [None] * n
    rows = [
        [i + 1, rid or "–", *_record_cells(spec, rec, text)]
        for i, (rid, rec, text) in enumerate(zip(ids, records, texts, strict=True))
    ]
    table = _table(
        f"{n} of {synthetic.height} published records (random sample, seed {cfg.random_seed})",
        ["#", "record_id", *[f.name for f in spec.fields]],
        rows,
    )
    table["text"] = True
    return {
        "id": "sample",
        "title": "Published records",
        "figures": [],
        "tables": [table],
        "intro": "Read them: the figures above describe these rows.",
    }


def _dropped_section(spec, cfg, candidates: pl.DataFrame | None, audit: pl.DataFrame | None):
    base = {"id": "dropped", "title": "Dropped by curation", "figures": []}
    if audit is None or audit.height == 0 or "reason" not in audit.columns:
        return {**base, "tables": [], "intro": "No curation audit was given: nothing to show."}
    dropped = audit.filter(~pl.col("kept").fill_null(False)) if "kept" in audit.columns else audit
    if dropped.height == 0:
        return {**base, "tables": [], "intro": "Curation dropped no rows."}
    lookup: dict[str, dict[str, Any]] = {}
    if candidates is not None and "record_id" in candidates.columns:
        cols = [
            c
            for c in ("record_id", "text", "record", "error", "raw_response")
            if c in candidates.columns
        ]
        for row in candidates.select(cols).unique("record_id", keep="first").iter_rows(named=True):
            lookup[row["record_id"]] = row
    counts = dropped.group_by("reason").len().sort(["len", "reason"], descending=[True, False])
    rows = []
    for reason, count in counts.iter_rows():
        group = dropped.filter(pl.col("reason") == reason)
        k = min(cfg.dropped_examples_per_reason, group.height)
        if k == 0:
            continue
        group = group.sample(n=k, seed=cfg.random_seed).sort("record_id")
        for r in group.iter_rows(named=True):
            cand = lookup.get(r["record_id"], {})
            record = parse_records(
                pl.DataFrame({"record": [cand.get("record")]}, schema={"record": pl.String}),
                spec,
            )[0]
            if record:
                shown = "\n".join(f"{key}: {_long(str(v))}" for key, v in record.items())
            else:
                raw = cand.get("text") or cand.get("raw_response") or cand.get("error")
                shown = _long(str(raw)) if raw else "(no record)"
            rows.append(
                [
                    f"{reason} ({count})",
                    r.get("filter"),
                    r.get("score"),
                    r.get("detail") or "",
                    shown,
                ]
            )
    table = _table(
        f"Up to {cfg.dropped_examples_per_reason} dropped candidates per reason "
        f"({dropped.height} dropped in all)",
        ["reason (rows)", "filter", "score", "detail", "record"],
        rows,
    )
    table["text"] = True
    return {
        **base,
        "tables": [table],
        "intro": "What curation threw away, and why: check that each reason drops what it says.",
    }


def _long(text: str, n: int = 1200) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def _short(text: str, n: int = 160) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def strategy_breakdown(
    candidates: pl.DataFrame | None, synthetic: pl.DataFrame
) -> list[dict[str, Any]]:
    """Per generation strategy: candidate rows, rows with status ok, rows published."""
    if (
        candidates is None
        or "strategy" not in candidates.columns
        or "record_id" not in candidates.columns
        or "record_id" not in synthetic.columns
    ):
        return []
    published = set(synthetic.get_column("record_id").to_list())
    ok = (
        pl.col("status").fill_null("ok") == "ok" if "status" in candidates.columns else pl.lit(True)
    )
    frame = (
        candidates.with_columns(
            pl.col("strategy").fill_null("(none)"),
            ok.alias("_ok"),
            pl.col("record_id").is_in(list(published)).alias("_published"),
        )
        .group_by("strategy")
        .agg(
            pl.len().alias("candidates"),
            pl.col("_ok").sum().alias("ok"),
            pl.col("_published").sum().alias("published"),
        )
        .sort("strategy")
    )
    rows = frame.to_dicts()
    for r in rows:
        r["published_share"] = r["published"] / r["candidates"] if r["candidates"] else 0.0
    return rows


def _curation_section(
    metrics: dict[str, float],
    before: SetAnalysis | None,
    cand_note: str | None,
    strategy_rows: list[dict[str, Any]],
):
    if before is None:
        return {
            "id": "curation",
            "title": "Effect of curation",
            "figures": [],
            "tables": [],
            "intro": "No candidate frame was given: nothing to compare.",
        }
    rows = []
    for key in CURATION_KEYS:
        a, b = before.metrics.get(key), metrics.get(key)
        if a is None and b is None:
            continue
        delta = (b - a) if (a is not None and b is not None) else None
        rows.append([key, a, b, delta])
    table = _table(
        "Candidates (before curation) vs published synthetic set",
        ["metric", "candidates", "published", "change"],
        rows,
        note=cand_note,
    )
    tables = [table]
    if strategy_rows:
        tables.append(
            _table(
                "By generation strategy",
                ["strategy", "candidates", "status ok", "published", "published share"],
                [
                    [r["strategy"], r["candidates"], r["ok"], r["published"], r["published_share"]]
                    for r in strategy_rows
                ],
            )
        )
    return {
        "id": "curation",
        "title": "Effect of curation",
        "figures": [],
        "tables": tables,
        "intro": "The same figures for the raw candidates and for the curated set.",
    }


def _trend_section(history: list[dict], version: str, metrics: dict[str, float]):
    entries = [(str(h.get("version")), h.get("metrics") or {}) for h in history]
    entries.append((version, metrics))
    rows = [[v] + [m.get(k) for k in TREND_KEYS] for v, m in entries]
    table = _table("Key figures by version (oldest first)", ["version", *TREND_KEYS.values()], rows)
    figures = []
    if len(entries) >= 2:
        scores = {
            lbl: [m.get(k) for _, m in entries]
            for k, lbl in TREND_KEYS.items()
            if k.startswith("score.")
        }
        rates = {
            lbl: [m.get(k) for _, m in entries]
            for k, lbl in TREND_KEYS.items()
            if not k.startswith(("score.", "records"))
        }
        figures.append(_figure("Trend", plots.trend([v for v, _ in entries], scores, rates)))
        intro = "This version next to the earlier ones."
    else:
        intro = "No earlier versions yet: the trend starts with this one."
    return {"id": "trend", "title": "Trend", "figures": figures, "tables": [table], "intro": intro}


def _markdown(
    spec, version, headline, parts, thresholds, metrics, uri, html_path, plot_titles=()
) -> str:
    """The report's summary for the Dagster UI (the asset's `summary` metadata): headline,
    key figures (3 decimals), thresholds, the score plot as a PNG data URI (the
    UI's Markdown renderer allows `data:` images), the other plots by name, and the path."""
    part_txt = ", ".join(
        f"{p} {'n/a' if v is None else f'{100 * v:.0f}'}" for p, v in parts.items()
    )
    lines = [
        f"**Validation report: {spec.name} {version}**",
        "",
        f"Headline score **{headline:.1f} / 100** ({part_txt}; the headline is the weighted "
        "mean of the other parts × the content part, 1 − junk share)",
        "",
    ]
    key = [
        ("junk share (score and gate)", JUNK_SHARE),
        ("detectability AUC (0.5 = indistinguishable)", "fidelity.detectability_auc"),
        ("TSTR macro-F1", "utility.tstr_macro_f1"),
        ("TRTR macro-F1", "utility.trtr_macro_f1"),
        ("TSTR / TRTR macro-F1 (same training size)", "utility.tstr_trtr_f1_ratio"),
        ("judge score mean", "utility.judge_score_mean"),
        ("distinct-2", "diversity.distinct_2"),
        ("distinct-2 vs real", "diversity.distinct_2_vs_real"),
        ("near-copy share", "privacy.near_copy_share"),
        ("holdout contamination", "privacy.holdout_contamination_count"),
        ("synthetic records", "records.synthetic"),
    ]
    lines += ["| figure | value [95% interval] |", "|---|---|"]
    lines += [f"| {t} | {_fmt_interval(metrics, k)} |" for t, k in key if k in metrics]
    if thresholds:
        lines += ["", "| threshold | observed | limit | result |", "|---|---|---|---|"]
        for t in thresholds:
            lines.append(
                f"| {t.name} | {_fmt(t.observed)} | {t.comparison} {_fmt(t.threshold)} | "
                f"{'pass' if t.passed else 'FAIL'}{f' ({t.note})' if t.note else ''} |"
            )
    lines += ["", f"![quality score]({uri})"]
    if len(plot_titles) > 1:
        lines += ["", f"Plots in the full report: {', '.join(plot_titles)}."]
    lines += ["", f"Full report (open in a browser): `{html_path}`"]
    return "\n".join(lines)


def _fmt_interval(met: dict[str, float], key: str) -> str:
    iv = interval(met, key)
    value = _fmt(met.get(key))
    return value if iv is None else f"{value} [{_fmt(iv[0])}, {_fmt(iv[1])}]"


__all__ = ["ReportResult", "build_report"]
