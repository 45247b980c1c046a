"""Real records: loading and validating seed and holdout files (JSONL or CSV).

Every stage passes records around as a Polars frame with the columns of
`RECORD_COLUMNS`: a stable `record_id`, the spec's text field as `text`, its
label field as `label` (null for unlabelled datasets) and every field of the
record as a JSON object in `record`.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from pathlib import Path
from typing import Any

import polars as pl

from synth_pipeline.kinds import RecordError, kind_of
from synth_pipeline.spec import DatasetSpec, DistillationStrategy, SpecError, decode_text

RECORD_SCHEMA = {
    "record_id": pl.String,
    "text": pl.String,
    "label": pl.String,
    "record": pl.String,
    "source_file": pl.String,
    "source_line": pl.Int64,
}
RECORD_COLUMNS = list(RECORD_SCHEMA)

# The candidates stage's frame: the record columns, then how each was generated.
CANDIDATE_SCHEMA = {
    "record_id": pl.String, "text": pl.String, "label": pl.String, "record": pl.String,
    "status": pl.String, "error": pl.String, "strategy": pl.String,
    "requested_label": pl.String, "seed_ids": pl.String, "sample_index": pl.Int64,
    "cache_key": pl.String, "prompt_hash": pl.String, "provider": pl.String,
    "model": pl.String, "params": pl.String, "raw_response": pl.String,
    "from_cache": pl.Boolean, "prompt_tokens": pl.Int64, "completion_tokens": pl.Int64,
}  # fmt: skip


def record_id(prefix: str, record: dict[str, Any]) -> str:
    """A content hash, so the same record keeps its id across versions."""
    blob = json.dumps(record, sort_keys=True, ensure_ascii=False)
    return f"{prefix}-{hashlib.sha256(blob.encode()).hexdigest()[:12]}"


def read_rows(path: Path) -> list[tuple[int, dict[str, Any]]]:
    """(line number, raw object) pairs; line numbers are 1-based as an editor shows them.

    The file must be UTF-8 text: a bad byte or binary data stops with the file, the line
    and what to do, never a bare UnicodeDecodeError."""
    rows: list[tuple[int, dict[str, Any]]] = []
    if path.suffix not in (".jsonl", ".csv"):
        raise SpecError(f"{path}: unsupported file type {path.suffix!r} (use .jsonl or .csv)")
    text = decode_text(path.read_bytes(), str(path), "a data file")
    if path.suffix == ".jsonl":
        # split("\n") rather than splitlines(): JSON strings may hold other line separators.
        for lineno, line in enumerate(text.split("\n"), start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                raise SpecError(f"{path}:{lineno}: malformed JSON: {e.msg}") from e
            if not isinstance(obj, dict):
                raise SpecError(f"{path}:{lineno}: expected a JSON object per line")
            rows.append((lineno, obj))
    else:
        reader = csv.DictReader(io.StringIO(text, newline=""))
        # Line 1 is the header, so the first record is on line 2.
        for lineno, obj in enumerate(reader, start=2):
            if None in obj:
                raise SpecError(f"{path}:{lineno}: more values than header columns")
            rows.append((lineno, dict(obj)))
    return rows


def validate_record(spec: DatasetSpec, obj: dict[str, Any], where: str) -> dict[str, Any]:
    """Check one raw record against the spec (its kind decides how); errors start with
    `where` (file:line)."""
    try:
        return kind_of(spec).validate_record(spec, obj, where)
    except RecordError as e:
        raise SpecError(str(e)) from None


def to_record_row(spec: DatasetSpec, rec: dict[str, Any], rid: str) -> dict[str, Any]:
    kind = kind_of(spec)
    return {
        "record_id": rid,
        "text": kind.text_of(spec, rec),
        "label": kind.label_of(spec, rec),
        "record": json.dumps(rec, ensure_ascii=False, sort_keys=True),
    }


def load_real_records(spec: DatasetSpec, file_name: str, prefix: str) -> pl.DataFrame:
    """Load and validate a seed or holdout file; raise SpecError naming file and line."""
    path = spec.path(file_name)
    if not path.is_file():
        raise SpecError(f"{path}: file not found (dataset {spec.name!r}, {prefix} file)")
    raw = read_rows(path)
    if not raw:
        raise SpecError(f"{path}: the file holds no records; {prefix} data must not be empty")
    rows = []
    for lineno, obj in raw:
        rec = validate_record(spec, obj, f"{path}:{lineno}")
        row = to_record_row(spec, rec, record_id(prefix, rec))
        row["source_file"] = path.name
        row["source_line"] = lineno
        rows.append(row)
    frame = pl.DataFrame(rows, schema=RECORD_SCHEMA)
    # Identical lines would share an id; keep the first so ids stay unique.
    return frame.unique(subset="record_id", keep="first", maintain_order=True)


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# The hash recorded for an input file that does not exist.
MISSING = "<missing>"


def input_files(spec: DatasetSpec) -> list[str]:
    """The files of the dataset folder a version reads: seeds, holdout, a distillation
    strategy's inputs and the kind's own (a preference prompts file)."""
    names = [spec.seeds_file, spec.holdout_file]
    names += [
        s.inputs_file for s in spec.generation.strategies if isinstance(s, DistillationStrategy)
    ]
    names += kind_of(spec).input_files(spec)
    return list(dict.fromkeys(names))


def input_file_hashes(spec: DatasetSpec) -> dict[str, str]:
    """sha256 per input file (MISSING when absent): what a version records it was made from,
    and what the nightly schedule compares to decide whether anything changed."""
    out = {}
    for name in input_files(spec):
        path = spec.path(name)
        out[name] = file_sha256(path) if path.exists() else MISSING
    out.update(kind_of(spec).input_versions(spec))  # upstream datasets' published versions
    return out


def parse_record(row_record: str) -> dict[str, Any]:
    return json.loads(row_record)


def label_counts(frame: pl.DataFrame) -> dict[str, int]:
    """Rows per label, sorted by label; {} for unlabelled frames."""
    if frame.is_empty():
        return {}
    counts = frame.drop_nulls("label").group_by("label").len().sort("label")
    return {str(r["label"]): int(r["len"]) for r in counts.iter_rows(named=True)}
