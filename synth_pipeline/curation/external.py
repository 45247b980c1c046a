"""Curate records a user brings: a dataset's curation chain over any JSONL or CSV file.

Records from another generator, an earlier export or a hand-written file go through the
same chain as a version's candidates (the dataset's spec, seeds and holdout), and the kept
and dropped rows are written to a folder. No version is made and the warehouse is not
touched. A record that does not fit the spec's fields is dropped as `schema_invalid` with
the field at fault; a line that is not a record at all (malformed JSON, a CSV row with
more values than columns) stops the run with the file and line.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from synth_pipeline.field_types import parse_csv_value
from synth_pipeline.records import load_real_records, read_rows, record_id

if TYPE_CHECKING:
    from collections.abc import Callable

    from synth_pipeline.curation.pipeline import CurationResult
    from synth_pipeline.spec import DatasetSpec

_FRAME_SCHEMA = {
    "record_id": pl.String,
    "text": pl.String,
    "label": pl.String,
    "record": pl.String,
    "source_line": pl.Int64,
}


@dataclass
class ExternalCuration:
    records: pl.DataFrame  # every input record, with record_id and source_line
    result: CurationResult

    @property
    def kept_ids(self) -> set[str]:
        return set(self.result.kept["record_id"].to_list())


def _csv_value(value: Any, type_: str) -> Any:
    """CSV cells are strings: read numbers and booleans as the spec types them."""
    if not isinstance(value, str) or type_ == "string" or value == "":
        return value
    try:
        return parse_csv_value(value, type_)
    except ValueError:
        return value  # left as is: the schema filter names the field


def read_external_records(spec: DatasetSpec, path: Path) -> pl.DataFrame:
    """The file's records as record columns; ids are content hashes (`x-...`)."""
    rows = []
    seen: dict[str, int] = {}
    types = {f.name: f.type for f in spec.fields}
    for lineno, obj in read_rows(path):
        if path.suffix == ".csv":
            obj = {k: _csv_value(v, types.get(k, "string")) for k, v in obj.items()}
        rid = record_id("x", obj)
        if rid in seen:  # the same record twice keeps one id per line
            rid = f"{rid}-{lineno}"
        seen[rid] = lineno
        text = obj.get(spec.text_field)
        label = obj.get(spec.label_field) if spec.label_field else None
        rows.append(
            {
                "record_id": rid,
                "text": None if text is None else str(text),
                "label": None if label is None else str(label),
                "record": json.dumps(obj, ensure_ascii=False, sort_keys=True),
                "source_line": lineno,
            }
        )
    return pl.DataFrame(rows, schema=_FRAME_SCHEMA)


def curate_records(
    spec: DatasetSpec,
    records: pl.DataFrame,
    progress: Callable[[str], None] | None = None,
) -> ExternalCuration:
    """Run the spec's curation chain over `records` against its own seeds and holdout."""
    from synth_pipeline.curation.pipeline import run_curation

    seeds = load_real_records(spec, spec.seeds_file, "seed")
    holdout = load_real_records(spec, spec.holdout_file, "holdout")
    result = run_curation(spec, records.drop("source_line"), seeds, holdout, progress=progress)
    return ExternalCuration(records, result)


def write_curation(curation: ExternalCuration, out_dir: Path) -> dict[str, Path]:
    """`kept.jsonl` (the records as given), `dropped.jsonl` (record, reason, filter, score,
    detail, source line) and `summary.json` (counts per reason and per filter)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    records = curation.records
    kept_ids = curation.kept_ids
    # Kept rows may have been rewritten (PII redaction): write the curated record.
    curated = dict(
        zip(curation.result.kept["record_id"], curation.result.kept["record"], strict=True)
    )
    audit = curation.result.audit.filter(~pl.col("kept"))
    dropped = audit.join(records, on="record_id", how="left").sort("source_line")
    paths = {
        "kept": out_dir / "kept.jsonl",
        "dropped": out_dir / "dropped.jsonl",
        "summary": out_dir / "summary.json",
    }
    with paths["kept"].open("w", encoding="utf-8") as fh:
        for rid in records["record_id"]:
            if rid in kept_ids:
                fh.write(curated[rid] + "\n")
    with paths["dropped"].open("w", encoding="utf-8") as fh:
        for row in dropped.iter_rows(named=True):
            out = {
                "line": row["source_line"],
                "reason": row["reason"],
                "filter": row["filter"],
                "score": row["score"],
                "detail": row["detail"],
                "record": json.loads(row["record"]) if row["record"] else None,
            }
            fh.write(json.dumps(out, ensure_ascii=False) + "\n")
    summary = {
        "records": records.height,
        "kept": len(kept_ids),
        "dropped": dropped.height,
        "dropped_by_reason": {
            r: int(c) for r, c in dropped.group_by("reason").len().sort("reason").iter_rows()
        },
        "per_filter": curation.result.per_filter,
    }
    paths["summary"].write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return paths
