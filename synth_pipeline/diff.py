"""What changed between two versions of a dataset: records, label balance and report metrics.

Record ids are content hashes of generation requests (or of real records), so the same text
generated from a different prompt gets a new id. Records are therefore matched by their
normalized text (case- and whitespace-insensitive, as exact-duplicate curation compares),
and the id-level comparison is reported next to it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import polars as pl

from synth_pipeline.curation.text import normalized
from synth_pipeline.warehouse import Warehouse


class DiffError(LookupError):
    pass


@dataclass
class VersionDiff:
    dataset: str
    v1: str
    v2: str
    rows_v1: int
    rows_v2: int
    added: pl.DataFrame  # v2 records whose text v1 lacks: record_id, text, label
    removed: pl.DataFrame  # v1 records whose text v2 lacks
    kept: pl.DataFrame  # matched by text: record_id_v1, record_id_v2, text, label_v1, label_v2
    ids: dict[str, int]  # by record id: shared, only_v1, only_v2
    labels: list[dict[str, Any]]  # label, v1, v2, delta, share_v1, share_v2, share_delta
    metrics: list[dict[str, Any]]  # metric, v1, v2, delta (v2 - v1; None if one side lacks it)
    notes: list[str] = field(default_factory=list)
    # The regression gate's figures side by side (`synth_pipeline.regression`): the gate's own
    # comparison when one version was compared with the other, else the same rule applied now.
    regression: dict[str, Any] | None = None

    @property
    def counts(self) -> dict[str, int]:
        relabelled = (
            self.kept.filter(pl.col("label_v1").ne_missing(pl.col("label_v2"))).height
            if self.kept.height
            else 0
        )
        same_id = (
            self.kept.filter(pl.col("record_id_v1") == pl.col("record_id_v2")).height
            if self.kept.height
            else 0
        )
        return {
            "rows_v1": self.rows_v1,
            "rows_v2": self.rows_v2,
            "added": self.added.height,
            "removed": self.removed.height,
            "kept": self.kept.height,
            "kept_same_id": same_id,
            "kept_new_id": self.kept.height - same_id,
            "relabelled": relabelled,
        }

    def to_dict(self, max_records: int | None = 50) -> dict[str, Any]:
        def recs(frame: pl.DataFrame) -> list[dict[str, Any]]:
            return (frame if max_records is None else frame.head(max_records)).to_dicts()

        return {
            "dataset": self.dataset,
            "v1": self.v1,
            "v2": self.v2,
            "counts": self.counts,
            "ids": self.ids,
            "labels": self.labels,
            "metrics": self.metrics,
            "added": recs(self.added),
            "removed": recs(self.removed),
            "kept": recs(self.kept),
            "same_version": self.v1 == self.v2,
            "notes": self.notes,
            "regression": self.regression,
        }


def _records(wh: Warehouse, dataset: str, version: str) -> pl.DataFrame:
    frame = wh.query(
        "SELECT record_id, text, label FROM dataset_records WHERE dataset = ? AND version = ? "
        "ORDER BY rowid",
        [dataset, version],
    )
    return frame.with_columns(normalized(pl.col("text").fill_null("")).alias("_norm"))


def _exists(wh: Warehouse, dataset: str, version: str) -> bool:
    return bool(
        wh.rows(
            "SELECT (SELECT count(*) FROM versions WHERE dataset = ? AND version = ?) "
            "+ (SELECT count(*) FROM dataset_records WHERE dataset = ? AND version = ?)",
            [dataset, version, dataset, version],
        )[0][0]
    )


def _label_changes(a: pl.DataFrame, b: pl.DataFrame) -> list[dict[str, Any]]:
    def counts(frame: pl.DataFrame) -> dict[str | None, int]:
        return dict(frame.group_by("label").len().iter_rows()) if frame.height else {}

    ca, cb = counts(a), counts(b)
    if set(ca) | set(cb) <= {None}:
        return []  # an unlabelled dataset
    out = []
    for label in sorted(set(ca) | set(cb), key=lambda x: (x is None, str(x))):
        n1, n2 = int(ca.get(label, 0)), int(cb.get(label, 0))
        s1 = n1 / a.height if a.height else 0.0
        s2 = n2 / b.height if b.height else 0.0
        out.append(
            {
                "label": label,
                "v1": n1,
                "v2": n2,
                "delta": n2 - n1,
                "share_v1": round(s1, 4),
                "share_v2": round(s2, 4),
                "share_delta": round(s2 - s1, 4),
            }
        )
    return out


def _metric_deltas(wh: Warehouse, dataset: str, v1: str, v2: str) -> list[dict[str, Any]]:
    rows = wh.rows(
        "SELECT metric, max(value) FILTER (WHERE version = ?), "
        "max(value) FILTER (WHERE version = ?) FROM report_metrics "
        "WHERE dataset = ? AND version IN (?, ?) GROUP BY metric ORDER BY metric",
        [v1, v2, dataset, v1, v2],
    )
    return [
        {
            "metric": m,
            "v1": a,
            "v2": b,
            "delta": (b - a) if a is not None and b is not None else None,
        }
        for m, a, b in rows
    ]


def diff_versions(wh: Warehouse, dataset: str, v1: str, v2: str) -> VersionDiff:
    """Records added, removed and kept from v1 to v2, label shifts and metric deltas.

    v1 == v2 is not an error (exit code 0 in the CLI): the diff is all zeros and its first
    note says that both sides are the same version."""
    for v in (v1, v2):
        if not _exists(wh, dataset, v):
            raise DiffError(f"no version {v!r} of {dataset!r} in {wh.path}")
    a, b = _records(wh, dataset, v1), _records(wh, dataset, v2)
    cols = ["record_id", "text", "label"]
    added = b.join(a.select("_norm").unique(), on="_norm", how="anti").select(cols)
    removed = a.join(b.select("_norm").unique(), on="_norm", how="anti").select(cols)
    first_a = a.unique(subset="_norm", keep="first", maintain_order=True)
    kept = b.join(first_a, on="_norm", how="inner", suffix="_v1").select(
        pl.col("record_id_v1"),
        pl.col("record_id").alias("record_id_v2"),
        pl.col("text"),
        pl.col("label_v1"),
        pl.col("label").alias("label_v2"),
    )
    ids_a, ids_b = set(a["record_id"].to_list()), set(b["record_id"].to_list())
    notes = []
    if v1 == v2:  # a valid question with an obvious answer: say so, and still show the version
        notes.append(
            f"both sides are the same version ({v1}): nothing can differ; "
            f"pass two different versions of {dataset} to compare them"
        )
    for v, frame in ((v1, a), (v2, b)):
        dupes = frame.height - frame["_norm"].n_unique() if frame.height else 0
        if dupes:
            notes.append(f"{v} holds {dupes} record(s) whose normalized text repeats another's")
    return VersionDiff(
        dataset=dataset,
        v1=v1,
        v2=v2,
        rows_v1=a.height,
        rows_v2=b.height,
        added=added,
        removed=removed,
        kept=kept,
        ids={
            "shared": len(ids_a & ids_b),
            "only_v1": len(ids_a - ids_b),
            "only_v2": len(ids_b - ids_a),
        },
        labels=_label_changes(a, b),
        metrics=_metric_deltas(wh, dataset, v1, v2),
        notes=notes,
        regression=_regression(wh, dataset, v1, v2),
    )


def _regression(wh: Warehouse, dataset: str, v1: str, v2: str) -> dict[str, Any] | None:
    """How the regression gate sees v2 against v1: its stored comparison when it compared
    the two (either way round), else the rule applied now with the spec's tolerances."""
    from synth_pipeline.regression.compare import compare
    from synth_pipeline.regression.gate import report_metrics, stored_comparison

    for version, other in ((v2, v1), (v1, v2)):
        c = stored_comparison(wh, dataset, version)
        if c is not None and c.baseline == other:
            return {"source": "the regression check", **c.as_dict()}
    m1, m2 = report_metrics(wh, dataset, v1), report_metrics(wh, dataset, v2)
    if not m1 or not m2:
        return None
    c = compare(_regression_config(dataset), dataset, v2, m2, v1, m1)
    return {"source": f"the regression rule, {v1} taken as the published side", **c.as_dict()}


def _regression_config(dataset: str) -> Any:
    from synth_pipeline.paths import data_dir
    from synth_pipeline.regression.config import RegressionSpec
    from synth_pipeline.spec import SpecError, load_spec

    try:
        return load_spec(data_dir() / dataset).regression
    except (SpecError, OSError):
        return RegressionSpec()  # the documented defaults


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:+.4g}" if v else "0"
    return str(v)


def render_diff(d: VersionDiff, sample: int = 5) -> Any:
    """A rich renderable for the CLI: counts, labels, metrics and a sample of each side."""
    from rich.console import Group
    from rich.table import Table

    c = d.counts
    parts: list[Any] = [
        f"[bold]{d.dataset}[/] {d.v1} -> {d.v2}: {c['rows_v1']} -> {c['rows_v2']} records; "
        f"[green]+{c['added']} added[/], [red]-{c['removed']} removed[/], {c['kept']} kept "
        f"({c['kept_same_id']} same id, {c['kept_new_id']} new id, {c['relabelled']} relabelled)"
        f"; by id: {d.ids['shared']} shared, {d.ids['only_v1']} only in {d.v1}, "
        f"{d.ids['only_v2']} only in {d.v2}",
        *d.notes,
    ]
    if d.v1 == d.v2:  # the first thing to read: why everything is zero
        parts.insert(0, f"[bold yellow]{d.notes[0]}[/]")
        parts.remove(d.notes[0])
    if d.labels:
        t = Table(title="labels")
        for col in ("label", d.v1, d.v2, "delta", "share delta"):
            t.add_column(col, justify="left" if col == "label" else "right")
        for r in d.labels:
            t.add_row(
                str(r["label"]),
                str(r["v1"]),
                str(r["v2"]),
                f"{r['delta']:+d}",
                f"{r['share_delta']:+.1%}",
            )
        parts.append(t)
    if d.metrics:
        t = Table(title="report metrics")
        for col in ("metric", d.v1, d.v2, "delta"):
            t.add_column(col, justify="left" if col == "metric" else "right")
        for r in d.metrics:
            v1 = "-" if r["v1"] is None else f"{r['v1']:.4g}"
            v2 = "-" if r["v2"] is None else f"{r['v2']:.4g}"
            t.add_row(r["metric"], v1, v2, _fmt(r["delta"]))
        parts.append(t)
    if d.regression:
        r = d.regression
        parts.append(
            f"[bold]regression gate[/], {r['version']} against {r['baseline']} "
            f"({r['source']}): {r['description']}"
        )
        parts.append(_regression_table(r))
    for title, frame, style in (("added", d.added, "green"), ("removed", d.removed, "red")):
        if frame.height:
            t = Table(title=f"{title} (first {min(sample, frame.height)} of {frame.height})")
            for col in ("record_id", "label", "text"):
                t.add_column(col, style=style if col == "text" else None)
            for r in frame.head(sample).iter_rows(named=True):
                text = (r["text"] or "").replace("\n", " ")
                t.add_row(r["record_id"], str(r["label"] or ""), text[:100])
            parts.append(t)
    return Group(*parts)


def _regression_table(reg: dict[str, Any]) -> Any:
    from rich.table import Table

    t = Table(title=f"{reg['version']} against {reg['baseline']}: {reg['state']}")
    for col in ("figure", str(reg["baseline"]), str(reg["version"]), "tolerance", "verdict"):
        t.add_column(col, justify="left" if col in ("figure", "verdict") else "right")
    for f in reg["figures"]:
        verdict = f"[bold red]{f['verdict']}[/]" if f["regressed"] else f["verdict"]
        t.add_row(
            f"{f['label']} ({f['metric']})",
            _value(f["published"], f["published_interval"]),
            _value(f["candidate"], f["candidate_interval"]),
            f"{f['tolerance']:.0%} relative" if f["relative"] else f"{f['tolerance']:g}",
            verdict,
        )
    if not reg["figures"]:
        t.add_row(reg["description"], "", "", "", "")
    return t


def _value(v: float | None, interval: list[float] | None) -> str:
    if v is None:
        return "-"
    text = f"{v:.4g}"
    return text + (f" [{interval[0]:.4g}, {interval[1]:.4g}]" if interval else "")


__all__ = ["DiffError", "VersionDiff", "diff_versions", "render_diff"]
