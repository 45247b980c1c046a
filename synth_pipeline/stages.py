"""One function per pipeline stage: read from the warehouse, compute, write, return figures.

These know nothing of Dagster; `defs/` wraps each in an asset or a check. Every
write of a stage swaps only its version's rows, in one transaction, and happens
only after the stage's work succeeded, so a failed stage leaves tables as they were.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from synth_pipeline import __version__
from synth_pipeline.eval_config import ORIGIN_REAL, ORIGIN_SYNTHETIC
from synth_pipeline.gates import (
    AWAITING_REVIEW,
    DATASET_SUITE,
    FILTERED_SUITE,
    REPORT_THRESHOLDS,
    GateRefused,
    ensure_checks_pass,
    ensure_publishable,
    publish_refusal,
    store_check,
)
from synth_pipeline.generation.engine import Progress
from synth_pipeline.generation.providers import resolve_provider
from synth_pipeline.generation.run import generate_version
from synth_pipeline.kinds import kind_of
from synth_pipeline.pipeline import DATASET_TABLE, stage_table
from synth_pipeline.progress import emit
from synth_pipeline.records import (
    RECORD_COLUMNS,
    input_file_hashes,
    label_counts,
    load_real_records,
)
from synth_pipeline.spec import (
    SPEC_FILE,
    DatasetSpec,
    DistillationStrategy,
    SpecError,
    missing_templates,
)
from synth_pipeline.warehouse import Warehouse

Log = Callable[[str], None]


class StageError(RuntimeError):
    pass


@dataclass
class StageOutput:
    frame: pl.DataFrame
    figures: dict[str, Any] = field(default_factory=dict)


@dataclass
class CheckOutput:
    check_name: str
    passed: bool
    outcomes: list[Any]
    figures: dict[str, Any] = field(default_factory=dict)


def _require(frame: pl.DataFrame, what: str, dataset: str, version: str) -> pl.DataFrame:
    if frame.is_empty():
        raise StageError(
            f"{dataset}/{what} has no rows for version {version}: materialize it first"
        )
    return frame


# --- real data -------------------------------------------------------------------


def check_inputs(spec: DatasetSpec) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Everything a version's generation needs from its folder, checked before the first
    write: the spec's files (prompt templates, distillation inputs), the seed and holdout
    files, enough seeds per label, and a plan within the sanity limit. Raises SpecError
    naming the file, line or field; returns (seeds, holdout)."""
    from synth_pipeline.generation.planner import check_plan_size, check_seeds, load_inputs

    missing = missing_templates(spec)
    if missing:
        raise SpecError("; ".join(missing))
    check_plan_size(spec)
    seeds = load_real_records(spec, spec.seeds_file, "seed")
    holdout = load_real_records(spec, spec.holdout_file, "holdout")
    check_holdout_disjoint(spec, seeds, holdout)
    check_seeds(spec, seeds)
    for s in spec.generation.strategies:
        if isinstance(s, DistillationStrategy):
            load_inputs(spec, s.inputs_file)
    return seeds, holdout


def _normalized(text: str) -> str:
    return " ".join(str(text).split()).casefold()


def check_holdout_disjoint(spec: DatasetSpec, seeds: pl.DataFrame, holdout: pl.DataFrame) -> None:
    """Refuse holdout records whose text field repeats a seed's (ignoring case and spacing):
    the report judges the synthetic data on the holdout, and a holdout the generator has seen
    makes every figure of it meaningless (TRTR 1.0 on a holdout equal to the seeds)."""
    seed_lines: dict[str, int] = {}
    for text, line in seeds.select("text", "source_line").iter_rows():
        seed_lines.setdefault(_normalized(text), line)
    overlap = [
        (line, seed_lines[key], text)
        for text, line in holdout.select("text", "source_line").iter_rows()
        if (key := _normalized(text)) in seed_lines
    ]
    if not overlap:
        return
    shown = "; ".join(
        f"{spec.holdout_file}:{h} = {spec.seeds_file}:{s} ({text[:40]!r})"
        for h, s, text in overlap[:3]
    )
    more = f"; and {len(overlap) - 3} more" if len(overlap) > 3 else ""
    raise SpecError(
        f"{spec.path(spec.holdout_file)}: {len(overlap)} of {holdout.height} holdout records "
        f"repeat a seed record (field {spec.text_field!r}, ignoring case and spacing): "
        f"{shown}{more}. The holdout must be disjoint from the seeds, or the report compares "
        "the synthetic data with what it was generated from. Keep each real example in one "
        "of the two files only"
    )


def check_version_start(
    spec: DatasetSpec, wh: Warehouse, version: str | None = None
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """What an input stage checks before anything of the version is written (even the
    stage's own bookkeeping): its inputs (`check_inputs`), a warehouse that reads back
    whole (`Warehouse.verify`) and, for VERSION, a plan its budget can finish. Returns
    (seeds, holdout)."""
    inputs = check_inputs(spec)
    wh.verify()
    if version is not None:
        from synth_pipeline.generation.run import budget_refusal

        problem = budget_refusal(spec, wh, version, inputs[0])
        if problem:
            where = spec.path(SPEC_FILE) if spec.folder is not None else spec.name
            raise SpecError(f"{where}: {problem}")
    return inputs


Inputs = tuple[pl.DataFrame, pl.DataFrame]


def load_seeds(
    spec: DatasetSpec, wh: Warehouse, version: str, checked: Inputs | None = None
) -> StageOutput:
    """CHECKED: what `check_version_start` returned, when the caller ran it already."""
    frame, _ = checked or check_version_start(spec, wh, version)  # bad input: no write
    provider = resolve_provider(spec.provider)
    wh.replace_version("seeds", spec.name, version, frame)
    wh.record_version(
        spec.name,
        version,
        spec_hash=spec.spec_hash(),
        provider=provider.kind,
        model=provider.model,
        seed_files_sha256=json.dumps(input_file_hashes(spec)),
        code_version=__version__,
        status="running",
    )
    return StageOutput(
        frame,
        {"rows": frame.height, "per_label": label_counts(frame), "file": spec.seeds_file},
    )


def load_holdout(
    spec: DatasetSpec, wh: Warehouse, version: str, checked: Inputs | None = None
) -> StageOutput:
    # It may run before seeds: the same refusals.
    _, frame = checked or check_version_start(spec, wh, version)
    wh.replace_version("holdout", spec.name, version, frame)
    return StageOutput(
        frame,
        {"rows": frame.height, "per_label": label_counts(frame), "file": spec.holdout_file},
    )


# --- generation -------------------------------------------------------------------


def generate_candidates(
    spec: DatasetSpec,
    wh: Warehouse,
    version: str,
    progress: Callable[[Progress], None] | None = None,
    log: Log | None = None,
) -> StageOutput:
    """Generate the version's candidates with the spec's strategies; one row per answered
    request. A budget stop keeps every generated row and marks the version budget_stopped;
    the figures (usage per strategy, failures by reason, attribute coverage) become metadata
    and the usage ledger lands in the `usage_ledger` table."""
    seeds = _require(wh.stage("seeds", spec.name, version), "seeds", spec.name, version)

    def report(p: Progress) -> None:
        emit("candidates", p)
        if progress:
            progress(p)

    result = generate_version(spec, wh, version, seeds, progress=report, log=log)
    frame, top_up_figures = _top_up(
        spec, wh, version, seeds, result.frame, budget_stopped=result.run.budget_stopped, log=log
    )
    wh.replace_version("candidates", spec.name, version, frame)
    if result.run.budget_stopped:
        wh.set_version_status(spec.name, version, "budget_stopped")
    else:  # a raised budget let a stopped version finish
        wh.execute(
            "UPDATE versions SET status = 'running' WHERE dataset = ? AND version = ? "
            "AND status = 'budget_stopped'",
            [spec.name, version],
        )
    return StageOutput(frame, {**result.figures, **top_up_figures})


def _top_up(
    spec: DatasetSpec,
    wh: Warehouse,
    version: str,
    seeds: pl.DataFrame,
    candidates: pl.DataFrame,
    *,
    budget_stopped: bool,
    log: Log | None = None,
) -> tuple[pl.DataFrame, dict[str, Any]]:
    """Generation's second round for a kind with per-label quotas: curate the candidates as
    `filtered` will, and ask once more for `generation.top_up_factor` times each label's
    shortfall. The candidates gain the new rows; `filtered` only curates."""
    if not kind_of(spec).tops_up or spec.generation.top_up_factor <= 0 or budget_stopped:
        return candidates, {}
    from synth_pipeline.curation.pipeline import label_shortfall, run_curation
    from synth_pipeline.generation.top_up import generate_top_up

    holdout = wh.stage("holdout", spec.name, version)
    reviewed = reviewed_rows(wh, spec.name, version)
    kept = run_curation(spec, candidates, seeds, holdout, reviewed=reviewed).kept
    shortfall = label_shortfall(spec, kept)
    if not any(shortfall.values()):
        return candidates, {}
    if log:
        log(f"labels short of their quota after curation: {shortfall}; topping up")
    top = generate_top_up(spec, wh, version, seeds, shortfall, spec.generation.top_up_factor)
    if top.frame.height:
        candidates = pl.concat([candidates, top.frame], how="diagonal_relaxed")
        candidates = candidates.unique("record_id", keep="first", maintain_order=True)
    return candidates, {
        "shortfall_before_top_up": shortfall,
        "top_up_requested": top.requested,
        "top_up_calls": top.run.calls if top.run else 0,
    }


# --- curation and gates -----------------------------------------------------------


def reviewed_rows(wh: Warehouse, dataset: str, version: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(accepted, rejected) rows of every other version's review, as record frames."""
    rows = wh.query(
        "SELECT v.verdict, d.record_id, d.text, d.label, d.record FROM review_verdicts v "
        "JOIN dataset_records d ON d.dataset = v.dataset AND d.version = v.version "
        "AND d.record_id = v.record_id WHERE v.dataset = ? AND v.version <> ?",
        [dataset, version],
    )
    if rows.is_empty():
        empty = pl.DataFrame(schema={c: pl.String for c in RECORD_COLUMNS[:4]})
        return empty, empty
    frames = [rows.filter(pl.col("verdict") == v).drop("verdict") for v in ("accept", "reject")]
    return frames[0], frames[1]


def curate(spec: DatasetSpec, wh: Warehouse, version: str, log: Log | None = None) -> StageOutput:
    from synth_pipeline.curation.pipeline import label_shortfall, run_curation

    candidates = _require(
        wh.stage("candidates", spec.name, version), "candidates", spec.name, version
    )
    seeds = wh.stage("seeds", spec.name, version)
    holdout = wh.stage("holdout", spec.name, version)
    reviewed = reviewed_rows(wh, spec.name, version)
    result = run_curation(spec, candidates, seeds, holdout, progress=log, reviewed=reviewed)
    shortfall = label_shortfall(spec, result.kept)
    kept = result.kept.select(RECORD_COLUMNS[:4])
    audit = result.audit
    counts = dict(result.counts)
    judge_figures: dict[str, Any] = {}
    judge_cfg = spec.curation.llm_judge
    if judge_cfg.enabled:
        from synth_pipeline.curation.llm_judge import run_llm_judge

        if log:
            log(f"LLM judge: scoring {kept.height} rows")
        judged = run_llm_judge(spec, judge_cfg, kept, wh)
        kept = judged.kept
        audit = pl.concat([audit, judged.audit.select(audit.columns)], how="vertical_relaxed")
        for reason in ("judge_below_threshold", "judge_failed"):
            n = judged.audit.filter(pl.col("reason") == reason).height
            if n:
                counts[reason] = n
        judge_figures = {
            "judge_pass_rate": round(judged.pass_rate, 4),
            "judge_calls": judged.calls,
            "judge_cache_hits": judged.cache_hits,
        }
    wh.replace_versions({"filtered": kept, "curation_audit": audit}, spec.name, version)
    return StageOutput(
        kept,
        {
            "candidates": candidates.height,
            "kept": kept.height,
            "dropped": candidates.height - kept.height,
            "dropped_by_reason": counts,
            "per_filter": result.per_filter,
            "per_label": label_counts(kept),
            "label_shortfall": shortfall,
            **judge_figures,
        },
    )


def _version_status(wh: Warehouse, dataset: str, version: str) -> str | None:
    return wh.version_status(dataset, version)


def _check_output(check_name: str, outcomes: list[Any], **figures: Any) -> CheckOutput:
    failed = [o.name for o in outcomes if not o.passed]
    return CheckOutput(
        check_name, not failed, outcomes, {"evaluated": len(outcomes), "failed": failed, **figures}
    )


def run_quality_suite(spec: DatasetSpec, wh: Warehouse, version: str, stage: str) -> CheckOutput:
    from synth_pipeline.quality import run_suite

    check_name = {"filtered": FILTERED_SUITE, "dataset": DATASET_SUITE}[stage]
    table = stage_table(stage)
    frame = wh.stage(table, spec.name, version)
    context = {
        "seeds": wh.stage("seeds", spec.name, version),
        "holdout": wh.stage("holdout", spec.name, version),
    }
    outcomes = list(run_suite(spec, frame, stage, context))
    if stage == "filtered" and spec.curation.llm_judge.enabled:
        outcomes.append(_judge_pass_rate(spec, wh, version))
    passed = store_check(
        wh,
        spec.name,
        version,
        check_name,
        stage,
        outcomes,
        spec_hash=spec.spec_hash(),
        checked_rows=frame,
    )
    if not passed:
        wh.set_version_status(spec.name, version, "failed")
    return _check_output(check_name, outcomes, rows=frame.height)


def _judge_pass_rate(spec: DatasetSpec, wh: Warehouse, version: str) -> Any:
    from synth_pipeline.quality import ExpectationOutcome

    cfg = spec.curation.llm_judge
    (judged, passed) = wh.rows(
        "SELECT count(*), count(*) FILTER (WHERE kept) FROM curation_audit "
        "WHERE dataset = ? AND version = ? AND filter = 'llm_judge'",
        [spec.name, version],
    )[0]
    rate = passed / judged if judged else 0.0
    return ExpectationOutcome(
        name="judge_pass_rate_at_least_threshold",
        passed=judged > 0 and rate >= cfg.min_pass_rate,
        observed={"judged": judged, "passed": passed, "pass_rate": round(rate, 4)},
        expected={"min_pass_rate": cfg.min_pass_rate, "score_threshold": cfg.threshold},
        details="share of judged rows scoring at least the rubric threshold",
    )


def judge_scores(wh: Warehouse, dataset: str, version: str) -> pl.DataFrame:
    return wh.query(
        "SELECT record_id, score AS judge_score FROM curation_audit "
        "WHERE dataset = ? AND version = ? AND filter = 'llm_judge' AND score IS NOT NULL",
        [dataset, version],
    )


def build_dataset(spec: DatasetSpec, wh: Warehouse, version: str) -> StageOutput:
    filtered = wh.stage("filtered", spec.name, version)
    failed = [c for c in wh.failed_checks(spec.name, version) if c == FILTERED_SUITE]
    if failed:
        raise StageError(f"{spec.name}/filtered failed {failed} for version {version}")
    frame = filtered.select(RECORD_COLUMNS[:4]).with_columns(
        pl.lit(ORIGIN_SYNTHETIC, pl.String).alias("origin")
    )
    figures: dict[str, Any] = {}
    if spec.purpose == "eval":
        # An eval set is never synthetic-only: the version's real holdout rows sit next to
        # its synthetic edge cases; the dataset suite's `real_share_at_least_min` gates it.
        real = wh.stage("holdout", spec.name, version).select(RECORD_COLUMNS[:4])
        real = real.with_columns(pl.lit(ORIGIN_REAL, pl.String).alias("origin"))
        real = real.filter(~pl.col("record_id").is_in(frame["record_id"].implode()))
        synthetic = frame.height
        frame = pl.concat([frame, real], how="vertical_relaxed")
        figures = {
            "real_rows": real.height,
            "synthetic_rows": synthetic,
            "real_share": round(real.height / frame.height, 4) if frame.height else 0.0,
        }
    wh.replace_version(DATASET_TABLE, spec.name, version, frame)
    return StageOutput(frame, {"rows": frame.height, "per_label": label_counts(frame), **figures})


# --- report and publication -------------------------------------------------------


def synthetic_rows(frame: pl.DataFrame) -> pl.DataFrame:
    """A version's dataset rows without the real rows an eval version keeps, and without
    the `origin` column: what the report judges against the real data."""
    if "origin" not in frame.columns:
        return frame
    return frame.filter(pl.col("origin").is_null() | (pl.col("origin") != ORIGIN_REAL)).drop(
        "origin"
    )


def report_history(wh: Warehouse, dataset: str, version: str) -> list[dict[str, Any]]:
    """Metrics of earlier versions of the dataset, oldest first."""
    rows = wh.rows(
        "SELECT version, metric, value FROM report_metrics WHERE dataset = ? AND version < ? "
        "ORDER BY version",
        [dataset, version],
    )
    history: dict[str, dict[str, float]] = {}
    for v, metric, value in rows:
        history.setdefault(v, {})[metric] = value
    return [{"version": v, "metrics": m} for v, m in history.items()]


def build_validation_report(
    spec: DatasetSpec, wh: Warehouse, version: str, reports_root: Path
) -> tuple[Any, CheckOutput]:
    from synth_pipeline.report.build import build_report
    from synth_pipeline.review.gate import report_review

    checked = _require(wh.stage(DATASET_TABLE, spec.name, version), "dataset", spec.name, version)
    synthetic = synthetic_rows(checked)
    scores = judge_scores(wh, spec.name, version)
    if scores.height:
        synthetic = synthetic.join(scores, on="record_id", how="left")
    result = build_report(
        spec,
        synthetic=synthetic,
        seeds=wh.stage("seeds", spec.name, version),
        holdout=wh.stage("holdout", spec.name, version),
        candidates=wh.stage("candidates", spec.name, version),
        out_dir=reports_root / spec.name / version,
        version=version,
        history=report_history(wh, spec.name, version),
        review=report_review(spec, wh, version),
        audit=wh.stage("curation_audit", spec.name, version),
    )
    metrics = pl.DataFrame(
        {
            "metric": list(result.metrics),
            "value": [float(v) for v in result.metrics.values()],
        },
        schema={"metric": pl.String, "value": pl.Float64},
    )
    wh.replace_version("report_metrics", spec.name, version, metrics)
    from synth_pipeline.quality import ExpectationOutcome

    outcomes = [
        ExpectationOutcome(
            name=t.name,
            passed=bool(t.passed),
            observed=t.observed,
            expected=t.threshold,
            details=f"{t.name}: observed {t.observed}, threshold {t.threshold}"
            + (f"; {t.note}" if t.note else ""),
        )
        for t in result.threshold_results
    ]
    passed = store_check(
        wh,
        spec.name,
        version,
        REPORT_THRESHOLDS,
        "validation_report",
        outcomes,
        spec_hash=spec.spec_hash(),
        checked_rows=checked,
    )
    if not passed:
        wh.set_version_status(spec.name, version, "failed")
    return result, _check_output(REPORT_THRESHOLDS, outcomes)


def stored_check(spec: DatasetSpec, wh: Warehouse, version: str, check_name: str) -> CheckOutput:
    """The latest stored evaluation of a check that an asset computed and recorded itself."""
    rows = wh.rows(
        "SELECT expectation, passed, observed, expected, details FROM check_results "
        "WHERE dataset = ? AND version = ? AND check_name = ? AND checked_at = ("
        "  SELECT max(checked_at) FROM check_results"
        "  WHERE dataset = ? AND version = ? AND check_name = ?)",
        [spec.name, version, check_name] * 2,
    )
    if not rows:
        raise StageError(f"{check_name} has not been evaluated for {spec.name} version {version}")
    from synth_pipeline.quality import ExpectationOutcome

    outcomes = [
        ExpectationOutcome(name, bool(p), json.loads(obs), json.loads(exp), det)
        for name, p, obs, exp, det in rows
    ]
    return _check_output(check_name, outcomes)


def publish(spec: DatasetSpec, wh: Warehouse, version: str) -> StageOutput:
    """Move the published pointer to this version once every gate passed.

    With human review required, a version whose other gates passed is held instead: its
    status becomes `awaiting_review` and the figures say `published: False`; `synth review`
    runs this step again once the verdicts pass the review gate.
    """
    from synth_pipeline.review.gate import ReviewState, apply_review_gate, review_required
    from synth_pipeline.review.session import ReviewSession
    from synth_pipeline.review.verdicts import has_verdicts

    if wh.was_published(spec.name, version):
        # A publication a crash cut short (the pointer moved, the orchestrator never heard):
        # finishing it records it again without moving the pointer, which may have moved on.
        frame = wh.stage(DATASET_TABLE, spec.name, version)
        current = wh.published_version(spec.name)
        return StageOutput(
            frame,
            {"rows": frame.height, "version": version, "completed_publication": True,
             "current_published": current or "none"},
        )  # fmt: skip
    ensure_checks_pass(wh, spec.name, version, spec)  # RegressionHeld: held, not failed
    required = review_required(spec, wh, version)
    review: dict[str, Any] = {}
    if required or has_verdicts(wh, spec.name, version):
        decision = apply_review_gate(ReviewSession.open(spec, wh, version))
        review = decision.metadata()
        if required and decision.state is ReviewState.FAILED:
            raise GateRefused(publish_refusal(wh, spec.name, version, spec) or decision.describe())
        if required and decision.state is ReviewState.AWAITING:
            wh.set_version_status(spec.name, version, AWAITING_REVIEW)
            frame = wh.stage(DATASET_TABLE, spec.name, version)
            return StageOutput(
                frame, {"published": False, "rows": frame.height, "version": version, **review}
            )
    ensure_publishable(wh, spec.name, version, spec)
    wh.verify()  # never move the pointer in a warehouse that cannot be read back
    previous = wh.published_version(spec.name)
    wh.publish(spec.name, version)
    frame = wh.stage(DATASET_TABLE, spec.name, version)
    return StageOutput(
        frame,
        {
            "rows": frame.height,
            "version": version,
            "previous_published": previous or "none",
            **review,
        },
    )
