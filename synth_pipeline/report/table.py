"""The validation report of a records version: a sensitive table's synthetic stand-in against
the real holdout.

Fidelity per column (KS / total-variation complement) and per pair (correlation and
contingency similarity), ML efficacy for `records.target` (train on synthetic, test on the
real holdout, next to train on real), and privacy: exact copies, the distance to the closest
record against the holdout's baseline (DCR share), a membership-inference and an
attribute-inference attack, each with a 95% interval. The figures that count and gate are
the `table` family of `metric_registry`; the page and metrics.json have the same shape as
the text kinds' report (`build.py`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from synth_pipeline.kinds import kind_of
from synth_pipeline.report import plots
from synth_pipeline.report.build import (
    HTML_NAME,
    JSON_NAME,
    SCORECARD_NAME,
    ReportResult,
    _dropped_section,
    _figure,
    _finite,
    _fmt_interval,
    _markdown,
    _table,
    _trend_section,
    report_environment,
    score_rows,
)
from synth_pipeline.report.review import review_block, review_metrics, review_payload
from synth_pipeline.report.score import (
    CONTENT,
    evaluate_thresholds,
    score_method,
    score_metrics,
    score_parts,
)
from synth_pipeline.tables import fidelity, privacy
from synth_pipeline.tables import plots as table_plots

if TYPE_CHECKING:
    from synth_pipeline.spec import DatasetSpec

METHOD = [
    (
        "Headline score",
        "100 × the weighted mean of the fidelity, utility and privacy parts (a table has no "
        "lexical diversity part).",
    ),
    (
        "Column shapes",
        "Per column, 1 − the Kolmogorov-Smirnov statistic (integer, number, date) or 1 − the "
        "total-variation distance of the category shares (categorical, boolean), synthetic "
        "against the real holdout; identifiers and free text are not compared.",
    ),
    (
        "Pair trends",
        "Per pair of columns, 1 − |Pearson r real − r synthetic| ÷ 2 for two numeric columns, "
        "else 1 − the total-variation distance of the joint shares (numbers binned): the "
        "definitions of SDMetrics' quality report.",
    ),
    (
        "Efficacy",
        "A gradient-boosted model trained on the synthetic table (TSTR) and one trained on as "
        "many real seed rows (TRTR) predict `records.target` on the real holdout; the ratio "
        "TSTR ÷ TRTR is the utility part.",
    ),
    (
        "DCR share",
        "Distance to the closest record: a Gower distance over the modelled columns. The share "
        "of synthetic rows whose nearest real row is a seed rather than one of as many holdout "
        "rows; 0.5 means the generator is as close to rows it never saw as to rows it learned.",
    ),
    (
        "Membership inference",
        "An attacker scores each real row by its distance to the closest synthetic row and "
        "tells seed rows (members) from holdout rows (non-members): ROC AUC, 0.5 = chance.",
    ),
    (
        "Attribute inference",
        "An attacker who knows a person's quasi-identifiers trains on the synthetic table to "
        "guess their sensitive value: its score on seed rows (members) next to holdout rows "
        "(non-members); a gap means the stand-in leaks its training rows.",
    ),
]


def _put(metrics: dict[str, float], key: str, score: Any) -> None:
    metrics[key] = float(score.value)
    metrics[f"{key}_low"] = float(score.low)
    metrics[f"{key}_high"] = float(score.high)


def table_metrics(
    spec: DatasetSpec, synthetic: pl.DataFrame, seeds: pl.DataFrame, holdout: pl.DataFrame
) -> tuple[dict[str, float], dict[str, Any]]:
    """(figures, details for the page) of typed tables of the spec's columns."""
    kind: Any = kind_of(spec)
    opts = kind.table_options(spec)
    columns = opts.columns
    seed = spec.report.random_seed
    metrics: dict[str, float] = {}
    details: dict[str, Any] = {}

    shapes = {
        k: v for k, v in fidelity.column_shapes(holdout, synthetic, columns).items() if v == v
    }
    # Every pair counts in our figure; SDMetrics' quality score counts only the pairs
    # associated in the real data (`table_quality`, comparable with its report).
    trends = fidelity.pair_trends(holdout, synthetic, columns, all_pairs=True)
    details["shapes"], details["trends"] = shapes, trends
    for name, value in shapes.items():
        metrics[f"fidelity.column_shape.{name}"] = value
    if shapes:
        metrics["fidelity.column_shapes"] = sum(shapes.values()) / len(shapes)
    if trends:
        metrics["fidelity.pair_trends"] = sum(trends.values()) / len(trends)
    if shapes:
        strong = fidelity.pair_trends(holdout, synthetic, columns)
        metrics["fidelity.table_quality"] = fidelity.quality_score(shapes, strong)

    if opts.target is not None and synthetic.height:
        eff = fidelity.ml_efficacy(seeds, synthetic, holdout, opts.target, columns, seed=seed)
        details["efficacy"] = eff
        for key in ("tstr", "trtr"):
            for suffix in ("", "_low", "_high"):
                if f"{key}{suffix}" in eff:
                    metrics[f"utility.efficacy_{key}{suffix}"] = float(eff[f"{key}{suffix}"])
        if eff.get("trtr"):
            metrics["utility.efficacy_ratio"] = max(0.0, eff["tstr"]) / eff["trtr"]

    real = pl.concat([seeds, holdout], how="vertical_relaxed")
    metrics["privacy.exact_copies"] = float(privacy.exact_copies(synthetic, real, columns).sum())
    if synthetic.height:
        _put(
            metrics,
            "privacy.dcr_share",
            privacy.dcr_share(synthetic, seeds, holdout, columns, seed=seed),
        )
        mia = privacy.membership_inference(seeds, holdout, synthetic, columns, seed=seed)
        _put(metrics, "privacy.membership_auc", mia)
        quasi = [c.name for c in columns if c.role == "quasi_identifier"]
        sensitive = [c for c in columns if c.role == "sensitive" and c.modelled]
        attacks = {}
        if quasi:
            for c in sensitive:
                attack = privacy.attribute_inference(
                    seeds, holdout, synthetic, quasi, c.name, columns, seed=seed
                )
                # The privacy figure: success on members minus on non-members.
                key = f"privacy.attribute_advantage.{c.name}"
                d = attack.detail
                metrics[key] = float(d["advantage"])
                metrics[f"{key}_low"] = float(d["advantage_low"])
                metrics[f"{key}_high"] = float(d["advantage_high"])
                attacks[c.name] = attack
        details["attacks"] = attacks
        details["mia"] = mia
    return metrics, details


def build_table_report(
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
    """Compare a records version with the real holdout; write report.html and metrics.json."""
    from synth_pipeline.kinds.records import table_frame

    cfg = spec.report
    kind: Any = kind_of(spec)
    columns = kind.columns(spec)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    notes: list[str] = []
    syn_t, seed_t, hold_t = (table_frame(spec, f) for f in (synthetic, seeds, holdout))
    metrics, details = table_metrics(spec, syn_t, seed_t, hold_t)
    metrics["records.synthetic"] = float(syn_t.height)
    metrics["records.seeds"] = float(seed_t.height)
    metrics["records.holdout"] = float(hold_t.height)
    if candidates is not None and candidates.height:
        metrics["curation.candidate_records"] = float(candidates.height)
        metrics["curation.published_share"] = syn_t.height / candidates.height
    metrics.update(review_metrics(review))
    metrics.update(score_metrics(metrics, cfg))
    history = list(history or [])
    previous = next(
        (h for h in reversed(history) if "score.headline" in (h.get("metrics") or {})), None
    )
    if previous is not None:
        metrics["trend.headline_delta"] = (
            metrics["score.headline"] - previous["metrics"]["score.headline"]
        )
    metrics = _finite(metrics)
    parts = score_parts(metrics, cfg, kind.families)
    headline = metrics["score.headline"]
    thresholds = evaluate_thresholds(metrics, cfg, families=kind.families, kind=kind.name)

    main_fig = plots.scorecard(headline, parts, None)
    main_uri = plots.to_data_uri(main_fig)
    small_uri = plots.to_data_uri(main_fig, dpi=64)

    sections = [
        _fidelity_section(columns, details, metrics, seed_t, syn_t, hold_t),
        _utility_section(spec, details, metrics),
        _privacy_section(details, metrics),
        _sample_section(columns, synthetic, cfg.sample_rows, cfg.random_seed),
        _dropped_section(spec, cfg, candidates, audit),
        _trend_section(history, version, metrics),
    ]
    methods = score_method(kind.families)
    weights = cfg.weights.as_dict()
    rows = score_rows(parts, cfg, methods)
    no_junk = dict.fromkeys(
        ("share", "interval", "from_review", "estimated", "review", "reviewed", "before_content")
    )
    html = (
        report_environment()
        .get_template("report.html.j2")
        .render(
            spec=spec,
            version=version,
            headline=headline,
            main_uri=main_uri,
            score_rows=rows,
            junk=no_junk,
            undecided=[],
            undecided_others=0,
            thresholds=thresholds,
            passed=all(t.passed for t in thresholds),
            sections=sections,
            review_block=review_block(review),
            notes=notes,
            method=METHOD,
            cfg=cfg,
            counts={
                "synthetic": syn_t.height,
                "seeds": seed_t.height,
                "holdout": hold_t.height,
                "candidates": candidates.height if candidates is not None else None,
            },
        )
    )
    html_path = out_dir / HTML_NAME
    html_path.write_text(html, encoding="utf-8")
    shown_parts = {**parts, CONTENT: None}
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
        "review": review_payload(review),
    }
    json_path = out_dir / JSON_NAME
    json_path.write_text(json.dumps(payload, indent=2, ensure_ascii=False), encoding="utf-8")
    (out_dir / SCORECARD_NAME).write_bytes(plots.data_uri_bytes(small_uri))
    plot_titles = ["Quality score"] + [f["title"] for s in sections for f in s.get("figures", [])]
    markdown = _markdown(
        spec, version, headline, parts, thresholds, metrics, small_uri, html_path, plot_titles
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


def _fidelity_section(columns, details, metrics, seeds, synthetic, holdout):
    shapes = details["shapes"]
    rows = [[name, value] for name, value in sorted(shapes.items(), key=lambda kv: kv[1])]
    trends = sorted(details["trends"].items(), key=lambda kv: kv[1])[:10]
    figures = [
        _figure(
            "Columns: real holdout vs synthetic",
            table_plots.column_distributions(holdout, synthetic, columns),
            "One panel per modelled column; the title gives its shape score.",
        ),
        _figure(
            "Pair trends: real | synthetic | difference",
            table_plots.pair_trend_heatmaps(holdout, synthetic, columns),
            "Association of every pair of columns (Pearson r for numbers, Cramér's V "
            "otherwise) in the real holdout and the synthetic table.",
        ),
    ]
    tables = [
        _table(
            "Summary",
            ["figure", "value"],
            [
                ["mean column shape", metrics.get("fidelity.column_shapes")],
                ["mean pair trend", metrics.get("fidelity.pair_trends")],
                [
                    "quality (SDMetrics' definition: shapes and the real data's associated pairs)",
                    metrics.get("fidelity.table_quality"),
                ],
            ],
        ),
        _table("Column shapes (worst first)", ["column", "shape similarity"], rows),
        _table(
            "Pair trends (worst ten)",
            ["pair", "trend similarity"],
            [[f"{a} × {b}", v] for (a, b), v in trends],
        ),
    ]
    return {
        "id": "fidelity",
        "title": "Fidelity",
        "figures": figures,
        "tables": tables,
        "intro": "Does each column, and each pair of columns, look like the real table?",
    }


def _utility_section(spec, details, metrics):
    eff = details.get("efficacy")
    kind: Any = kind_of(spec)
    target = kind.table_options(spec).target
    if eff is None:
        return {
            "id": "utility",
            "title": "Efficacy",
            "figures": [],
            "tables": [],
            "intro": "No `records.target` in the spec: no efficacy test.",
        }
    rows = [
        [
            f"train on synthetic (TSTR), {eff.get('metric')}",
            _fmt_interval(metrics, "utility.efficacy_tstr"),
        ],
        [
            f"train on real (TRTR), {eff.get('metric')}",
            _fmt_interval(metrics, "utility.efficacy_trtr"),
        ],
        ["TSTR ÷ TRTR", metrics.get("utility.efficacy_ratio")],
    ]
    return {
        "id": "utility",
        "title": "Efficacy",
        "figures": [],
        "tables": [_table(f"Predicting {target} on the real holdout", ["figure", "value"], rows)],
        "intro": "Does a model trained on the stand-in predict real rows as well as one trained "
        "on the real table?",
    }


def _privacy_section(details, metrics):
    rows = [
        ["synthetic rows equal to a real row", metrics.get("privacy.exact_copies")],
        [
            "DCR share (nearest real row is a seed; 0.5 = no memorisation)",
            _fmt_interval(metrics, "privacy.dcr_share"),
        ],
        [
            "membership-inference AUC (0.5 = chance)",
            _fmt_interval(metrics, "privacy.membership_auc"),
        ],
    ]
    attack_rows = []
    for name, attack in details.get("attacks", {}).items():
        d = attack.detail or {}
        attack_rows.append(
            [
                name,
                d.get("metric", ""),
                d.get("members"),
                d.get("non_members"),
                _fmt_interval(metrics, f"privacy.attribute_advantage.{name}"),
                d.get("baseline"),
            ]
        )
    tables = [_table("Privacy figures", ["figure", "value [95% interval]"], rows)]
    if attack_rows:
        tables.append(
            _table(
                "Attribute inference from the quasi-identifiers",
                [
                    "sensitive column",
                    "score",
                    "members (seed rows)",
                    "non-members (holdout)",
                    "advantage [95% interval]",
                    "guessing the most common value",
                ],
                attack_rows,
            )
        )
    return {
        "id": "privacy",
        "title": "Privacy",
        "figures": [],
        "tables": tables,
        "intro": "Could someone holding the stand-in learn whether a person was in the real "
        "table, or learn their sensitive values?",
    }


def _sample_section(columns, synthetic: pl.DataFrame, n: int, seed: int):
    rows = []
    if synthetic.height and n:
        sample = synthetic.sample(min(n, synthetic.height), seed=seed)
        for raw in sample["record"].to_list():
            rec = json.loads(raw)
            rows.append([rec.get(c.name) for c in columns])
    return {
        "id": "sample",
        "title": "Sample rows",
        "figures": [],
        "tables": [_table("Published rows (random sample)", [c.name for c in columns], rows)],
        "intro": "A few rows of the stand-in as a user receives them.",
    }
