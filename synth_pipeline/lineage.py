"""Lineage: where one record came from and what happened to it, and what a version is made of.

Row level: a record of a version's dataset -> its candidate (strategy, attributes, prompt
hash, provider, model, params, raw response) -> the seed records shown to the generator ->
every curation decision about it -> the checks of its version -> publication.

Version level: the stage graph with each stage's row count, the per-reason drop counts,
the gates and the publication state.

Both read the warehouse only, through SQL a person can run too: the `record_lineage` view
joins dataset_records -> candidates -> curation_audit (one row per audit decision).
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from synth_pipeline import pipeline
from synth_pipeline.gates import REGRESSION, publish_refusal
from synth_pipeline.warehouse import Warehouse, json_value


class LineageError(LookupError):
    pass


# The asset graph of one dataset version: (stage, warehouse table, upstream stages), as
# `synth_pipeline.pipeline` declares it (the assets' deps come from the same place).
STAGE_GRAPH: tuple[tuple[str, str, tuple[str, ...]], ...] = pipeline.GRAPH

RECORD_LINEAGE_VIEW = "record_lineage"

RECORD_LINEAGE_SQL = f"""
CREATE OR REPLACE VIEW {RECORD_LINEAGE_VIEW} AS
SELECT
    d.dataset, d.version, d.record_id, d.text, d.label, d.record,
    c.record_id IS NOT NULL AS has_candidate,
    c.status AS generation_status, c.error AS generation_error,
    c.strategy, c.requested_label, c.seed_ids, c.sample_index, c.cache_key,
    c.prompt_hash, c.provider, c.model, c.params, c.raw_response, c.from_cache,
    c.prompt_tokens, c.completion_tokens,
    c.text AS generated_text, c.record AS generated_record,
    a.filter AS audit_filter, a.reason AS audit_reason, a.score AS audit_score,
    a.detail AS audit_detail, a.kept AS audit_kept
FROM dataset_records d
LEFT JOIN candidates c
    ON c.dataset = d.dataset AND c.version = d.version AND c.record_id = d.record_id
LEFT JOIN curation_audit a
    ON a.dataset = d.dataset AND a.version = d.version AND a.record_id = d.record_id
"""

_CANDIDATE_FIELDS = (
    "generation_status",
    "generation_error",
    "strategy",
    "requested_label",
    "seed_ids",
    "sample_index",
    "cache_key",
    "prompt_hash",
    "provider",
    "model",
    "params",
    "raw_response",
    "from_cache",
    "prompt_tokens",
    "completion_tokens",
    "generated_text",
    "generated_record",
)


@dataclass
class RecordLineage:
    dataset: str
    version: str
    record_id: str
    in_dataset: bool  # False: a candidate curation dropped (the audit says why)
    origin: str  # "generated", "seed" or "unknown"
    text: str | None
    label: str | None
    record: dict[str, Any] | None
    strategy: str | None = None
    attributes: dict[str, Any] | None = None
    prompt_hash: str | None = None
    cache_key: str | None = None
    provider: str | None = None
    model: str | None = None
    params: dict[str, Any] | None = None
    raw_response: str | None = None
    generation: dict[str, Any] = field(default_factory=dict)
    seeds: list[dict[str, Any]] = field(default_factory=list)
    missing_seed_ids: list[str] = field(default_factory=list)
    decisions: list[dict[str, Any]] = field(default_factory=list)
    checks: list[dict[str, Any]] = field(default_factory=list)
    version_info: dict[str, Any] | None = None
    publication: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return _jsonable(dataclasses.asdict(self))


@dataclass
class StageCount:
    stage: str
    table: str
    rows: int
    upstream: tuple[str, ...]
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass
class VersionLineage:
    dataset: str
    version: str
    version_info: dict[str, Any] | None
    stages: list[StageCount]
    dropped_by_reason: dict[str, int]
    modified_by_reason: dict[str, int]  # kept rows a filter changed (e.g. PII redaction)
    checks: list[dict[str, Any]]
    publication: dict[str, Any]
    # The regression gate: its latest comparison and who accepted a regression, and when.
    regression: dict[str, Any] | None = None

    def stage(self, name: str) -> StageCount:
        return next(s for s in self.stages if s.stage == name)

    def to_dict(self) -> dict[str, Any]:
        return _jsonable(dataclasses.asdict(self))


# --- helpers ------------------------------------------------------------------------------


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, _dt.datetime | _dt.date):
        return value.isoformat()
    return value


def ensure_lineage_view(wh: Warehouse) -> None:
    """Create (or refresh) the `record_lineage` view; queryable from any DuckDB client."""
    wh.execute(RECORD_LINEAGE_SQL)


class Session:
    """One connection for a lineage's many small queries (each open costs tens of ms)."""

    def __init__(self, conn: Any):
        self.conn = conn

    def dicts(self, sql: str, params: list[Any]) -> list[dict[str, Any]]:
        return self.conn.sql(sql, params=params).pl().to_dicts()

    def rows(self, sql: str, params: list[Any]) -> list[tuple]:
        return self.conn.execute(sql, params).fetchall()

    def count(self, table: str, dataset: str, version: str) -> int:
        return self.rows(
            f"SELECT count(*) FROM {table} WHERE dataset = ? AND version = ?", [dataset, version]
        )[0][0]


@contextmanager
def session(wh: Warehouse) -> Iterator[Session]:
    """One read-write connection wrapped for small queries; closed on exit."""
    with wh.connect() as conn:
        yield Session(conn)


def _version_info(s: Session, dataset: str, version: str) -> dict[str, Any] | None:
    rows = s.dicts("SELECT * FROM versions WHERE dataset = ? AND version = ?", [dataset, version])
    if not rows:
        return None
    info = rows[0]
    info["seed_files_sha256"] = json_value(info.get("seed_files_sha256"))
    return info


def _version_checks(s: Session, dataset: str, version: str) -> list[dict[str, Any]]:
    rows = s.dicts(
        "SELECT check_name, asset, expectation, passed, observed, expected, details, checked_at "
        "FROM check_results WHERE dataset = ? AND version = ? ORDER BY checked_at, rowid",
        [dataset, version],
    )
    for r in rows:
        r["observed"], r["expected"] = json_value(r["observed"]), json_value(r["expected"])
    return rows


def version_info(source: Warehouse | Session, dataset: str, version: str) -> dict[str, Any] | None:
    """The version's row of the `versions` table (seed file hashes parsed), or None."""
    if isinstance(source, Session):
        return _version_info(source, dataset, version)
    with session(source) as s:
        return _version_info(s, dataset, version)


def version_checks(source: Warehouse | Session, dataset: str, version: str) -> list[dict[str, Any]]:
    """Every stored expectation outcome of the version, oldest first."""
    if isinstance(source, Session):
        return _version_checks(source, dataset, version)
    with session(source) as s:
        return _version_checks(s, dataset, version)


def check_summary(checks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per check: passed only if no evaluation of it ever failed (the gate's rule).

    The regression check holds rather than fails, and only its latest evaluation counts
    (`gates.REGRESSION`): its row describes that one, `held` when it holds the version."""
    out: dict[str, dict[str, Any]] = {}
    latest: dict[str, Any] = {}
    for c in checks:
        s = out.setdefault(
            c["check_name"],
            {
                "check_name": c["check_name"],
                "asset": c["asset"],
                "passed": True,
                "expectations": 0,
                "failed": [],
            },
        )
        if c["check_name"] == REGRESSION and latest.get(REGRESSION) != c.get("checked_at"):
            latest[REGRESSION] = c.get("checked_at")  # a newer evaluation: start over
            s.update(passed=True, expectations=0, failed=[])
        s["expectations"] += 1
        if not c["passed"]:
            s["passed"] = False
            if c["expectation"] not in s["failed"]:
                s["failed"].append(c["expectation"])
        if c["check_name"] == REGRESSION:
            s["held"] = not s["passed"]
    return list(out.values())


def _publication(s: Session, dataset: str, version: str) -> dict[str, Any]:
    current = s.rows("SELECT version FROM published WHERE dataset = ?", [dataset])
    ever = s.rows(
        "SELECT count(*) FROM publish_history WHERE dataset = ? AND version = ?",
        [dataset, version],
    )[0][0]
    current_version = current[0][0] if current else None
    return {
        "published": current_version == version,
        "ever_published": bool(ever),
        "current_published_version": current_version,
        "refusal": None,  # filled by `publication` once the session's connection is closed
    }


def publication(wh: Warehouse, dataset: str, version: str) -> dict[str, Any]:
    """Published now, ever, the current pointer, and why the gates refuse it (or None)."""
    with session(wh) as s:
        pub = _publication(s, dataset, version)
    pub["refusal"] = publish_refusal(wh, dataset, version)
    return pub


def _attributes(candidate: dict[str, Any], params: Any) -> dict[str, Any] | None:
    """Attribute values of an `attributes`-strategy request, wherever the row keeps them."""
    raw = json_value(candidate.get("attributes"))
    if isinstance(raw, dict) and raw:
        return raw
    if isinstance(params, dict) and isinstance(params.get("attributes"), dict):
        return params["attributes"] or None
    return None


def _has_column(s: Session, table: str, column: str) -> bool:
    return bool(
        s.rows(
            "SELECT count(*) FROM information_schema.columns WHERE table_name = ? "
            "AND column_name = ?",
            [table, column],
        )[0][0]
    )


# --- row level ----------------------------------------------------------------------------


def record_lineage(wh: Warehouse, dataset: str, version: str, record_id: str) -> RecordLineage:
    """Everything known about one record of a version, from its seeds to its publication.

    A record curation dropped is found too (`in_dataset=False`); its decisions say why.
    """
    with session(wh) as s:
        s.conn.execute(RECORD_LINEAGE_SQL)
        lineage = _record_lineage(s, dataset, version, record_id)
    lineage.publication["refusal"] = publish_refusal(wh, dataset, version)
    return lineage


def _record_lineage(s: Session, dataset: str, version: str, record_id: str) -> RecordLineage:
    key = [dataset, version, record_id]
    rows = s.dicts(
        f"SELECT * FROM {RECORD_LINEAGE_VIEW} WHERE dataset = ? AND version = ? AND record_id = ?",
        key,
    )
    in_dataset = bool(rows)
    candidate: dict[str, Any] | None
    if in_dataset:
        first = rows[0]
        candidate = {k: first[k] for k in _CANDIDATE_FIELDS} if first["has_candidate"] else None
        text, label, record = first["text"], first["label"], json_value(first["record"])
    else:
        found = s.dicts(
            "SELECT status AS generation_status, error AS generation_error, strategy, "
            "requested_label, seed_ids, sample_index, cache_key, prompt_hash, provider, model, "
            "params, raw_response, from_cache, prompt_tokens, completion_tokens, "
            "text AS generated_text, record AS generated_record "
            "FROM candidates WHERE dataset = ? AND version = ? AND record_id = ? "
            "ORDER BY rowid LIMIT 1",
            key,
        )
        if not found:
            raise LineageError(
                f"record {record_id!r} is neither in the dataset nor among the candidates of "
                f"{dataset} version {version}"
            )
        candidate = found[0]
        text, label = candidate["generated_text"], candidate["requested_label"]
        record = json_value(candidate["generated_record"])

    if candidate is not None and _has_column(s, "candidates", "attributes"):
        extra = s.rows(
            "SELECT attributes FROM candidates WHERE dataset = ? AND version = ? "
            "AND record_id = ? LIMIT 1",
            key,
        )
        candidate["attributes"] = extra[0][0] if extra else None

    lineage = RecordLineage(
        dataset=dataset,
        version=version,
        record_id=record_id,
        in_dataset=in_dataset,
        origin="unknown",
        text=text,
        label=label,
        record=record if isinstance(record, dict) else None,
    )
    if candidate is not None:
        params = json_value(candidate["params"])
        lineage.origin = "generated"
        lineage.strategy = candidate["strategy"]
        lineage.params = params if isinstance(params, dict) else None
        lineage.attributes = _attributes(candidate, params)
        lineage.prompt_hash = candidate["prompt_hash"]
        lineage.cache_key = candidate["cache_key"]
        lineage.provider = candidate["provider"]
        lineage.model = candidate["model"]
        lineage.raw_response = candidate["raw_response"]
        lineage.generation = {
            "status": candidate["generation_status"],
            "error": candidate["generation_error"],
            "requested_label": candidate["requested_label"],
            "sample_index": candidate["sample_index"],
            "from_cache": candidate["from_cache"],
            "prompt_tokens": candidate["prompt_tokens"],
            "completion_tokens": candidate["completion_tokens"],
        }
        ids = json_value(candidate["seed_ids"])
        seed_ids = [str(i) for i in ids] if isinstance(ids, list) else []
    else:
        seed_ids = [record_id]  # a real record carried into the dataset as it was

    if seed_ids:
        seeds = s.dicts(
            "SELECT record_id, text, label, record, source_file, source_line FROM seeds "
            "WHERE dataset = ? AND version = ? AND list_contains(?, record_id) ORDER BY rowid",
            [dataset, version, seed_ids],
        )
        by_id = {r["record_id"]: {**r, "record": json_value(r["record"])} for r in seeds}
        lineage.seeds = [by_id[i] for i in seed_ids if i in by_id]
        if candidate is not None:
            lineage.missing_seed_ids = [i for i in seed_ids if i not in by_id]
        elif lineage.seeds:
            lineage.origin = "seed"

    if in_dataset:
        decisions = [
            {
                "filter": r["audit_filter"],
                "reason": r["audit_reason"],
                "score": r["audit_score"],
                "detail": r["audit_detail"],
                "kept": r["audit_kept"],
            }
            for r in rows
            if r["audit_filter"] is not None or r["audit_reason"] is not None
        ]
        # Repeated candidate rows (identical requests share an id) repeat the audit rows.
        lineage.decisions = list({json.dumps(d, sort_keys=True): d for d in decisions}.values())
    else:
        lineage.decisions = s.dicts(
            "SELECT DISTINCT filter, reason, score, detail, kept FROM curation_audit "
            "WHERE dataset = ? AND version = ? AND record_id = ? ORDER BY ALL",
            key,
        )
    lineage.checks = _version_checks(s, dataset, version)
    lineage.version_info = _version_info(s, dataset, version)
    lineage.publication = _publication(s, dataset, version)
    return lineage


# --- version level ------------------------------------------------------------------------


def version_lineage(wh: Warehouse, dataset: str, version: str) -> VersionLineage:
    """The version's asset graph with each stage's row count, drops, gates and publication."""
    with session(wh) as s:
        lineage = _version_lineage(s, dataset, version)
    if lineage is None:
        raise LineageError(f"no version {version!r} of {dataset!r} in {wh.path}")
    lineage.publication["refusal"] = publish_refusal(wh, dataset, version)
    lineage.regression = regression_summary(wh, dataset, version)
    return lineage


def regression_summary(wh: Warehouse, dataset: str, version: str) -> dict[str, Any] | None:
    """The regression gate's latest comparison and the latest acceptance, or None."""
    from synth_pipeline.regression.gate import latest_acceptance, stored_comparison

    c = stored_comparison(wh, dataset, version)
    a = latest_acceptance(wh, dataset, version)
    if c is None and a is None:
        return None
    return {
        "state": c.state if c else None,
        "compared_with": c.baseline if c else None,
        "regressed": [f.figure.metric for f in c.regressed] if c else [],
        "description": c.describe() if c else None,
        "accepted_by": a.accepted_by if a else None,
        "accepted_at": a.accepted_at if a else None,
        "accepted_note": a.note if a else None,
    }


def _regression_line(reg: dict[str, Any]) -> str:
    line = f"regression gate: {reg['description'] or reg['state']}"
    if reg["accepted_by"] and "accepted by" not in line:
        line += f"; accepted by {reg['accepted_by']} at {reg['accepted_at']}"
        if reg["accepted_note"]:
            line += f" ({reg['accepted_note']})"
    return line


def _version_lineage(s: Session, dataset: str, version: str) -> VersionLineage | None:
    key = [dataset, version]
    counts = {t: s.count(t, dataset, version) for t in pipeline.VERSIONED_STAGE_TABLES}
    info = _version_info(s, dataset, version)
    if info is None and not any(counts.values()):
        return None
    ok = s.rows(
        "SELECT count(*) FILTER (WHERE status = 'ok'), count(*) FILTER (WHERE status <> 'ok' "
        "OR status IS NULL) FROM candidates WHERE dataset = ? AND version = ?",
        key,
    )[0]
    failures = dict(
        s.rows(
            "SELECT coalesce(error, status, 'unknown'), count(*) FROM candidates "
            "WHERE dataset = ? AND version = ? AND (status <> 'ok' OR status IS NULL) "
            "GROUP BY 1 ORDER BY 2 DESC, 1",
            key,
        )
    )
    audit = s.rows(
        "SELECT kept, reason, count(*) FROM curation_audit WHERE dataset = ? AND version = ? "
        "GROUP BY ALL ORDER BY 3 DESC, 2",
        key,
    )
    dropped = {str(reason): int(n) for kept, reason, n in audit if not kept}
    modified = {str(reason): int(n) for kept, reason, n in audit if kept}
    pub = _publication(s, dataset, version)
    details: dict[str, dict[str, Any]] = {
        "candidates": {"ok": int(ok[0]), "failed": int(ok[1]), "failures_by_reason": failures},
        "filtered": {"dropped": sum(dropped.values()), "modified": sum(modified.values())},
        "validation_report": {"metrics": counts["report_metrics"]},
        "published": {"published": pub["published"], "ever_published": pub["ever_published"]},
    }
    stages = []
    for stage, table, upstream in STAGE_GRAPH:
        if stage == "published":
            rows = counts[pipeline.DATASET_TABLE] if pub["ever_published"] else 0
        else:
            rows = counts[table]
        stages.append(StageCount(stage, table, rows, upstream, details.get(stage, {})))
    return VersionLineage(
        dataset=dataset,
        version=version,
        version_info=info,
        stages=stages,
        dropped_by_reason=dropped,
        modified_by_reason=modified,
        checks=check_summary(_version_checks(s, dataset, version)),
        publication=pub,
    )


# --- rendering for the CLI ----------------------------------------------------------------


def _short(value: Any, n: int = 100) -> str:
    s = "" if value is None else str(value)
    s = s.replace("\n", " ")
    return s if len(s) <= n else s[: n - 1] + "…"


def render_record_lineage(lin: RecordLineage) -> Any:
    """A rich renderable: the record, its generation, seeds, decisions, gates, publication."""
    from rich.console import Group
    from rich.table import Table

    head = Table(title=f"{lin.dataset} {lin.version} record {lin.record_id}", show_header=False)
    head.add_column("field", style="bold")
    head.add_column("value")
    state = "in the dataset" if lin.in_dataset else "[red]dropped by curation[/]"
    head.add_row("state", f"{state} ({lin.origin})")
    head.add_row("label", _short(lin.label))
    head.add_row("text", _short(lin.text, 300))
    for name in ("strategy", "prompt_hash", "cache_key", "provider", "model"):
        head.add_row(name, _short(getattr(lin, name)))
    if lin.attributes:
        head.add_row("attributes", json.dumps(lin.attributes, ensure_ascii=False))
    if lin.params:
        head.add_row("params", json.dumps(lin.params, sort_keys=True))
    for k, v in lin.generation.items():
        head.add_row(k, _short(v))
    head.add_row("raw response", _short(lin.raw_response, 300))
    parts: list[Any] = [head]

    seeds = Table(title="seed records shown to the generator")
    for col in ("record_id", "label", "text", "source"):
        seeds.add_column(col)
    for s in lin.seeds:
        src = f"{s.get('source_file')}:{s.get('source_line')}"
        seeds.add_row(s["record_id"], _short(s.get("label")), _short(s.get("text"), 80), src)
    for sid in lin.missing_seed_ids:
        seeds.add_row(sid, "", "[yellow](not among this version's seeds)[/]", "")
    parts.append(seeds)

    decisions = Table(title="curation decisions")
    for col in ("filter", "reason", "kept", "score", "detail"):
        decisions.add_column(col)
    for d in lin.decisions:
        decisions.add_row(
            _short(d["filter"]),
            _short(d["reason"]),
            "yes" if d["kept"] else "[red]no[/]",
            _short(d["score"]),
            _short(d["detail"], 60),
        )
    if not lin.decisions:
        decisions.add_row("", "(none: every filter passed it unchanged)", "", "", "")
    parts.append(decisions)
    parts.append(_checks_table(check_summary(lin.checks)))
    parts.append(_publication_line(lin.publication))
    return Group(*parts)


def _checks_table(summary: list[dict[str, Any]]) -> Any:
    from rich.table import Table

    t = Table(title="gates")
    for col in ("check", "asset", "result", "expectations", "failed"):
        t.add_column(col)
    for c in summary:
        t.add_row(
            c["check_name"],
            c["asset"] or "",
            "[green]passed[/]"
            if c["passed"]
            else ("[yellow]held[/]" if c.get("held") else "[bold red]FAILED[/]"),
            str(c["expectations"]),
            ", ".join(c["failed"]),
        )
    if not summary:
        t.add_row("(no check evaluated yet)", "", "", "", "")
    return t


def _publication_line(pub: dict[str, Any]) -> str:
    if pub["published"]:
        return "[bold green]published[/] (the dataset's current published version)"
    if pub["ever_published"]:
        return (
            "[yellow]previously published[/]; the published version is now "
            f"{pub['current_published_version']}"
        )
    return f"[yellow]not published[/]: {pub['refusal'] or 'publishable, not yet published'}"


def render_version_lineage(lin: VersionLineage) -> Any:
    from rich.console import Group
    from rich.table import Table

    graph = Table(title=f"{lin.dataset} version {lin.version}: asset lineage")
    for col in ("asset", "table", "rows", "upstream", "detail"):
        graph.add_column(col)
    for s in lin.stages:
        detail = ", ".join(
            f"{k}={json.dumps(v) if isinstance(v, dict) else v}" for k, v in s.detail.items()
        )
        graph.add_row(
            f"{lin.dataset}/{s.stage}",
            s.table,
            str(s.rows),
            ", ".join(s.upstream),
            _short(detail, 80),
        )
    parts: list[Any] = [graph]
    if lin.version_info:
        info = lin.version_info
        parts.append(
            f"spec {info.get('spec_hash')} | {info.get('provider')} {info.get('model')} | "
            f"code {info.get('code_version')} | created {str(info.get('created_at'))[:19]} | "
            f"status {info.get('status')}"
        )
    drops = Table(title="curation: rows per reason")
    for col in ("reason", "dropped", "kept but changed"):
        drops.add_column(col)
    for reason in sorted({*lin.dropped_by_reason, *lin.modified_by_reason}):
        drops.add_row(
            reason,
            str(lin.dropped_by_reason.get(reason, "")),
            str(lin.modified_by_reason.get(reason, "")),
        )
    parts += [drops, _checks_table(lin.checks)]
    if lin.regression:
        parts.append(_regression_line(lin.regression))
    parts.append(_publication_line(lin.publication))
    return Group(*parts)


__all__ = [
    "RECORD_LINEAGE_SQL",
    "RECORD_LINEAGE_VIEW",
    "STAGE_GRAPH",
    "LineageError",
    "RecordLineage",
    "Session",
    "StageCount",
    "VersionLineage",
    "check_summary",
    "ensure_lineage_view",
    "publication",
    "record_lineage",
    "regression_summary",
    "render_record_lineage",
    "render_version_lineage",
    "session",
    "version_checks",
    "version_info",
    "version_lineage",
]
