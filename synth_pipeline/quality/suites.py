"""Expectation suites built from the spec, run with Great Expectations 1.24.

GE validates pandas frames here (its SQL datasource fails against DuckDB, and it rejects
polars frames). Checks GE has no expectation for (holdout contamination, unredacted PII,
near-duplicates) are computed as flag columns with the curation detectors, then asserted
with ordinary GE expectations, so every gate is a real GE result.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from synth_pipeline.curation import dedup
from synth_pipeline.curation.filters import contamination, norm_hash, pii_scan
from synth_pipeline.curation.text import normalized, shingles_from_tokens, tokens
from synth_pipeline.eval_config import ORIGIN_REAL, ORIGINS
from synth_pipeline.kinds import kind_of

if TYPE_CHECKING:
    from synth_pipeline.spec import DatasetSpec

_RECORD_COLS = {"record_id": pl.String, "text": pl.String, "label": pl.String, "record": pl.String}


@dataclass
class ExpectationOutcome:
    """One expectation's result. `name` is a stable id; observed/expected are JSON-ready."""

    name: str
    passed: bool
    observed: Any
    expected: Any
    details: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def _flag_columns(
    spec: DatasetSpec, frame: pl.DataFrame, context: dict[str, Any], norm: pl.Series
) -> tuple[pl.DataFrame, str | None]:
    """holdout_contaminated, has_pii and near_duplicate flags computed by curation code."""
    holdout = context.get("holdout")
    extra = context.get("extra_eval") or []
    evals = [("holdout", holdout)] if holdout is not None else []
    evals += [(f"eval[{i}]", f) for i, f in enumerate(extra)]
    evals = [(n, f) for n, f in evals if f is not None and f.height > 0]
    n = frame.height
    note = None if evals else "not checked: no holdout or eval frames in context"
    if n == 0:
        schema = {
            "holdout_contaminated": pl.Boolean,
            "has_pii": pl.Boolean,
            "near_duplicate": pl.Float64,
        }
        return pl.DataFrame(schema=schema), note
    d = spec.curation.dedup
    params = dedup.MinHashParams(num_perm=d.num_perm, seed=d.seed, shingle_size=d.shingle_size)
    rows, hashes = tokens(frame["text"], d.seed)
    sh = shingles_from_tokens(rows, hashes, n, d.shingle_size)
    if evals:
        contaminated = contamination(
            spec, frame, evals, sh=sh, norm=norm, text_tokens=(rows, hashes)
        )["reason"].is_not_null()
    else:
        contaminated = pl.Series([False] * n, dtype=pl.Boolean)
    pii = [bool(f) for f in pii_scan(spec, frame, list(spec.curation.pii.types))]
    pairs = dedup.similar_pairs(frame["text"], d.near_duplicate_threshold, params, sh=sh, norm=norm)
    near, _, _ = dedup.greedy_duplicates(pairs, n)
    flags = pl.DataFrame(
        {
            "holdout_contaminated": contaminated,
            "has_pii": pl.Series(pii, dtype=pl.Boolean),
            "near_duplicate": near.astype(np.float64),
        }
    )
    return flags, note


def _eval_columns(
    frame: pl.DataFrame, context: dict[str, Any], flags: pl.DataFrame
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The columns an eval version's expectations assert on (`origin`, with "(missing)" for
    a row without one; `origin_real` 1.0/0.0; `real_not_in_holdout`), and `flags` with real
    rows no longer counted as holdout contamination: they are the holdout."""
    raw = frame["origin"] if "origin" in frame.columns else pl.Series([None] * frame.height)
    origin = raw.cast(pl.String).fill_null("(missing)")
    is_real = origin == ORIGIN_REAL
    holdout = context.get("holdout")
    holdout_ids = holdout["record_id"] if holdout is not None and holdout.height else []
    in_holdout = frame["record_id"].is_in(pl.Series(holdout_ids, dtype=pl.String).implode())
    columns = pl.DataFrame(
        {
            "origin": origin,
            "origin_real": is_real.cast(pl.Float64),
            "real_not_in_holdout": (is_real & ~in_holdout.fill_null(False)).cast(pl.Boolean),
        }
    )
    if flags.height:
        flags = flags.with_columns(pl.col("holdout_contaminated") & ~pl.lit(is_real))
    return columns, flags


def _outcome_from(result: Any, name: str, expected: Any, stage: str) -> ExpectationOutcome:
    res = dict(result.result or {})
    exc = (result.exception_info or {}) if hasattr(result, "exception_info") else {}
    raised = bool(exc.get("raised_exception")) if isinstance(exc, dict) else False
    if "observed_value" in res:
        observed = res["observed_value"]
    elif "unexpected_count" in res:
        observed = {
            "unexpected_count": res.get("unexpected_count"),
            "unexpected_percent": res.get("unexpected_percent"),
            "element_count": res.get("element_count"),
            "sample": list(res.get("partial_unexpected_list") or [])[:5],
        }
    else:
        observed = None
    kind = result.expectation_config.type
    details = f"{stage}: {kind}"
    if raised:
        details += f" raised: {exc.get('exception_message')}"
    return ExpectationOutcome(
        name=name,
        passed=bool(result.success) and not raised,
        observed=_jsonable(observed),
        expected=_jsonable(expected),
        details=details,
    )


def run_suite(
    spec: DatasetSpec, frame: pl.DataFrame, stage: str, context: dict[str, Any] | None = None
) -> list[ExpectationOutcome]:
    """Validate a record frame against the suite the spec implies.

    `stage` names the validated asset (e.g. "filtered"); `context` may hold "holdout"
    (a record frame) and "extra_eval" (a list of record frames) for the contamination
    expectation; without them that expectation passes with observed None and a
    "not checked" note. Thresholds: spec.quality (min_yield, min/max length) and
    spec.curation.gates (length mostly, label share tolerance, near-duplicate rate).
    """
    import great_expectations as gx
    import great_expectations.expectations as gxe
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = context or {}
    gates = spec.curation.gates
    q = spec.quality
    missing = [c for c in _RECORD_COLS if c not in frame.columns]
    frame = frame.with_columns([pl.lit(None, _RECORD_COLS[c]).alias(c) for c in missing])
    norm = norm_hash(frame).alias("normalized_text_hash")
    kind = kind_of(spec)
    text = kind.has("text")  # the text family: contamination, PII, near-duplicates, lengths
    flags, contamination_note = (
        _flag_columns(spec, frame, context, norm) if text else (pl.DataFrame(), None)
    )
    eval_rows = spec.purpose == "eval" and stage == "dataset"
    if eval_rows:
        origin, flags = _eval_columns(frame, context, flags)
        flags = pl.concat([flags, origin], how="horizontal")
    # The kind's own per-row flags with a bound on their share (a preference pair's chosen
    # answer longer than its rejected one: length bias).
    bounds = kind.flag_bounds(spec)
    if bounds:
        rows = [json.loads(r) if r else {} for r in frame["record"].to_list()]
        own = kind.row_flags(spec, rows, context)
        flags = pl.concat(
            [
                flags,
                pl.DataFrame({f: own[f] for f in bounds}, schema=dict.fromkeys(bounds, pl.Float64)),
            ],
            how="horizontal",
        )
    table = pl.concat(
        [
            frame.select(
                "record_id",
                "text",
                "label",
                # A 64-bit hash of the normalised text: GE fingerprints every batch, and
                # hashing a second long string column costs more than the check itself.
                norm,
            ),
            flags,
        ],
        how="horizontal",
    )

    specs: list[tuple[str, Any, Any]] = [
        (
            "row_count_at_least_min_yield",
            gxe.ExpectTableRowCountToBeBetween(min_value=q.min_yield),
            {"min_value": q.min_yield},
        ),
        ("record_id_not_null", gxe.ExpectColumnValuesToNotBeNull(column="record_id"), "no nulls"),
        ("record_id_unique", gxe.ExpectColumnValuesToBeUnique(column="record_id"), "unique"),
        ("text_not_null", gxe.ExpectColumnValuesToNotBeNull(column="text"), "no nulls"),
        (
            "normalized_text_unique",
            gxe.ExpectColumnValuesToBeUnique(column="normalized_text_hash"),
            "unique after lower-casing and collapsing whitespace",
        ),
    ]
    if text:
        specs += [
            (
                "text_length_within_bounds",
                gxe.ExpectColumnValueLengthsToBeBetween(
                    column="text",
                    min_value=q.min_length,
                    max_value=q.max_length,
                    mostly=gates.length_mostly,
                ),
                {
                    "min_value": q.min_length,
                    "max_value": q.max_length,
                    "mostly": gates.length_mostly,
                },
            ),
            (
                "no_holdout_contamination",
                gxe.ExpectColumnValuesToBeInSet(column="holdout_contaminated", value_set=[False]),
                {"contaminated_rows": 0},
            ),
            (
                "no_unredacted_pii",
                gxe.ExpectColumnValuesToBeInSet(column="has_pii", value_set=[False]),
                {"rows_with_pii": 0},
            ),
            (
                "near_duplicate_rate_below_limit",
                gxe.ExpectColumnMeanToBeBetween(
                    column="near_duplicate", min_value=0.0, max_value=gates.max_near_duplicate_rate
                ),
                {"max_rate": gates.max_near_duplicate_rate},
            ),
        ]
    if kind.has("labels"):
        specs += [
            ("label_not_null", gxe.ExpectColumnValuesToNotBeNull(column="label"), "no nulls"),
            (
                "labels_in_set",
                gxe.ExpectColumnValuesToBeInSet(column="label", value_set=list(spec.labels)),
                {"value_set": list(spec.labels)},
            ),
        ]

    for flag, bound in bounds.items():
        specs.append(
            (
                f"{flag}_share_within_bound",
                gxe.ExpectColumnMeanToBeBetween(column=flag, min_value=0.0, max_value=bound),
                {"max_share": bound},
            )
        )
    if eval_rows:
        specs += [
            (
                "origin_is_real_or_synthetic",
                gxe.ExpectColumnValuesToBeInSet(column="origin", value_set=list(ORIGINS)),
                {"value_set": list(ORIGINS)},
            ),
            (
                "real_rows_are_holdout_records",
                gxe.ExpectColumnValuesToBeInSet(column="real_not_in_holdout", value_set=[False]),
                {"real_rows_not_in_holdout": 0},
            ),
            (
                "real_share_at_least_min",
                gxe.ExpectColumnMeanToBeBetween(
                    column="origin_real", min_value=spec.eval.min_real_share, max_value=1.0
                ),
                {"min_real_share": spec.eval.min_real_share},
            ),
        ]

    gx_context = gx.get_context(mode="ephemeral")
    gx_context.variables.progress_bars = ProgressBarsConfig(
        globally=False, metric_calculations=False
    )
    source = gx_context.data_sources.add_pandas(f"{spec.name}_{stage}")

    def validate(
        asset_name: str, pdf: Any, items: list[tuple[str, Any, Any]]
    ) -> list[ExpectationOutcome]:
        asset = source.add_dataframe_asset(asset_name)
        batch = asset.add_batch_definition_whole_dataframe("all").get_batch(
            batch_parameters={"dataframe": pdf}
        )
        suite = gx.ExpectationSuite(name=f"{spec.name}.{stage}.{asset_name}")
        for name, exp, _ in items:
            exp.meta = {"name": name}
            suite.add_expectation(exp)
        results = batch.validate(suite, result_format="SUMMARY").results
        by_name = {r.expectation_config.meta["name"]: r for r in results}
        return [_outcome_from(by_name[name], name, expected, stage) for name, _, expected in items]

    outcomes = validate("records", table.to_pandas(), specs)
    flag_columns = {
        "no_holdout_contamination": "holdout_contaminated",
        "no_unredacted_pii": "has_pii",
        "real_rows_are_holdout_records": "real_not_in_holdout",
    }
    for o in outcomes:
        if o.name == "normalized_text_unique" and isinstance(o.observed, dict):
            repeated = (
                frame.select(normalized(pl.col("text")).alias("t"))
                .filter(pl.col("t").is_duplicated())
                .get_column("t")
                .unique(maintain_order=True)
            )
            o.observed["sample"] = repeated.head(5).to_list()
        if o.name == "real_share_at_least_min":
            real = int(table["origin_real"].sum()) if table.height else 0
            share = real / table.height if table.height else 0.0
            o.passed = o.passed and table.height > 0  # an empty eval set holds nothing real
            o.observed = {
                "real_share": round(share, 4),
                "real_rows": real,
                "synthetic_rows": table.height - real,
                "rows": table.height,
            }
            o.details = (
                f"{stage}: {real} of {table.height} rows are real holdout rows (share "
                f"{share:.4f}); an eval version needs at least {spec.eval.min_real_share}"
            )
        column = flag_columns.get(o.name)
        if column is None:
            continue
        hits = table.filter(pl.col(column))
        o.observed = {
            "unexpected_count": hits.height,
            "element_count": table.height,
            "record_ids": hits["record_id"].head(10).to_list(),
        }
        if o.name == "no_holdout_contamination" and contamination_note:
            o.observed, o.details = None, f"{stage}: {contamination_note}"

    if kind_of(spec).has("labels"):
        k = len(spec.labels)
        target = 1.0 / k
        lo, hi = (
            target * (1 - gates.label_share_tolerance),
            target * (1 + gates.label_share_tolerance),
        )
        counts = dict(frame.group_by("label").len().iter_rows()) if frame.height else {}
        total = max(frame.height, 1)
        shares = pl.DataFrame(
            {
                "label": list(spec.labels),
                "share": [counts.get(lab, 0) / total for lab in spec.labels],
            }
        )
        (share_outcome,) = validate(
            "label_shares",
            shares.to_pandas(),
            [
                (
                    "label_share_within_tolerance",
                    gxe.ExpectColumnValuesToBeBetween(column="share", min_value=lo, max_value=hi),
                    {"target_share": target, "min_share": lo, "max_share": hi},
                )
            ],
        )
        share_outcome.observed = _jsonable(dict(shares.iter_rows()))
        outcomes.append(share_outcome)
    return outcomes
