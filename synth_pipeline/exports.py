"""Exports of a dataset version: OpenAI chat JSONL, plain JSONL, Parquet and a Hugging Face folder.

Only a version that passed every publication gate exports (`gates.publish_refusal`);
`force=True` overrides that, and the Hugging Face card then says so at its top.

Every export is laid out for a trainer: a `train` split holds the version's synthetic
records (plus the real seeds when the spec's `export.include_seeds_in_train` is set) and a
`test` split holds the version's real holdout, never synthetic. Every row carries its
provenance: `origin` (real | synthetic), `version`, and for synthetic rows the generation
`strategy` and `model` (from `candidates`; empty for real rows).

- `jsonl` and `parquet`: one file, both splits, told apart by a `split` column.
- `openai-chat`: a training file: the train split only, never the holdout.
- `trl-dpo` (preference data): a training file in TRL's preference format, one JSON object of
  exactly `prompt`, `chosen` and `rejected` a line, the train split only.
- `hf`: the Hub's plain-data layout, written without the `datasets` library:
  `data/train-00000-of-00001.parquet`, `data/test-00000-of-00001.parquet` and a `README.md`
  dataset card whose YAML front matter declares `configs` (so `load_dataset(folder)` finds
  both splits) and `dataset_info` (features, with the label as a `ClassLabel` in the spec's
  label order, and split sizes), and whose body says which rows are real and holds the
  provenance. The label column of the Parquet files holds the class index, as the Hub's own
  files do, and their schema metadata carries the same features.

Where an export may be written, and how (no overwriting without `overwrite`, no links, never
the warehouse, the Dagster instance or a dataset folder, temporary name then rename, the
user's umask), is `synth_pipeline.export_paths`.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl
import yaml

from synth_pipeline.export_paths import ExportError, ExportPathError, write_file, write_folder
from synth_pipeline.field_types import HF_ARROW_TYPES
from synth_pipeline.gates import publish_refusal
from synth_pipeline.kinds import kind_of
from synth_pipeline.lineage import check_summary, session, version_checks, version_info
from synth_pipeline.paths import PROJECT_ROOT
from synth_pipeline.pipeline import DATASET_TABLE
from synth_pipeline.spec import DatasetSpec
from synth_pipeline.warehouse import Warehouse, validate_version

if TYPE_CHECKING:
    import pyarrow as pa

FORMATS = ("openai-chat", "trl-dpo", "jsonl", "parquet", "hf")
# Training files: the train split alone, never the holdout.
TRAINING_FORMATS = ("openai-chat", "trl-dpo")
# What an openai-chat line does with the system prompt repeated on every line: the full one
# (task and labels), none, or a short one (the labels alone; the task's first sentence for a
# dataset without labels).
SYSTEM_PROMPTS = ("keep", "drop", "short")
DEFAULT_LICENSE = "cc-by-4.0"
HF_DATA_FILE = "data/train-00000-of-00001.parquet"  # the train split
HF_TEST_FILE = "data/test-00000-of-00001.parquet"  # the real holdout
HF_SPLIT_FILES = {"train": HF_DATA_FILE, "test": HF_TEST_FILE}
SPLITS = ("train", "test")
# Per-row provenance, after the spec's fields; `split` precedes them in jsonl and parquet.
PROVENANCE_COLUMNS = ("origin", "version", "strategy", "model")

_SUFFIXES = {
    "openai-chat": ".chat.jsonl",
    "trl-dpo": ".dpo.jsonl",
    "jsonl": ".jsonl",
    "parquet": ".parquet",
    "hf": "",
}


class ExportRefused(ExportError):
    """The version did not pass every gate; the message names the failed checks."""


@dataclass
class ExportResult:
    dataset: str
    version: str
    format: str
    path: Path  # the file written, or the folder for `hf`
    rows: int  # train rows: what a trainer trains on (synthetic, plus seeds if configured)
    forced: bool = False
    refusal: str | None = None  # why the gates refuse the version (set when forced)
    files: list[Path] = field(default_factory=list)
    test_rows: int = 0  # real holdout rows written as the test split (none for openai-chat)
    seed_rows: int = 0  # real seed rows in the train split (export.include_seeds_in_train)


def default_exports_dir() -> Path:
    """Where the `exports` asset writes: `<root>/<dataset>/<version>/`; SYNTH_EXPORTS_DIR."""
    return Path(os.environ.get("SYNTH_EXPORTS_DIR") or PROJECT_ROOT / "data" / "exports")


def resolve_version(wh: Warehouse, dataset: str, version: str | None) -> str:
    """`None` or "latest" mean the published version."""
    if version in (None, "", "latest"):
        published = wh.published_version(dataset)
        if not published:
            raise ExportError(f"{dataset} has no published version; pass a version explicitly")
        return published
    version = validate_version(version)
    known = existing_versions(wh, dataset)
    if version not in known:
        shown = ", ".join(known[:5]) + (f" and {len(known) - 5} more" if len(known) > 5 else "")
        raise ExportError(
            f"no such version {version!r} of {dataset}; "
            + (f"its versions, newest first: {shown}" if known else f"{dataset} has no versions")
        )
    return version


def existing_versions(wh: Warehouse, dataset: str) -> list[str]:
    """The dataset's versions, newest first: those recorded in `versions` or holding records."""
    rows = wh.rows(
        "SELECT version, max(created_at) AS created FROM ("
        " SELECT version, created_at FROM versions WHERE dataset = ?"
        " UNION ALL SELECT DISTINCT version, NULL FROM dataset_records WHERE dataset = ?"
        ") GROUP BY version ORDER BY created DESC NULLS LAST, version DESC",
        [dataset, dataset],
    )
    return [r[0] for r in rows]


def license_of(spec: DatasetSpec) -> str:
    """The card's license: the spec's `export.license` (cc-by-4.0 unless set)."""
    return spec.export.license or DEFAULT_LICENSE


# --- records ------------------------------------------------------------------------------


def record_frame(
    wh: Warehouse, spec: DatasetSpec, version: str, table: str = DATASET_TABLE
) -> pl.DataFrame:
    """The version's records (or its `seeds` or `holdout`) as typed columns: record_id, then
    the spec's fields in order."""
    stored = wh.stage(table, spec.name, version)
    kind = kind_of(spec)
    rows = []
    for r in stored.iter_rows(named=True):
        rec = json.loads(r["record"]) if r["record"] else {}
        if kind.flat_records and spec.text_field not in rec and r["text"] is not None:
            rec[spec.text_field] = r["text"]
        if spec.label_field and spec.label_field not in rec and r["label"] is not None:
            rec[spec.label_field] = r["label"]
        rows.append({"record_id": r["record_id"], **kind.export_row(spec, rec)})
    schema = {"record_id": pl.String(), **kind.export_schema(spec)}
    return pl.DataFrame(rows, schema=schema)


@dataclass
class Splits:
    """What every export is made of: `train` and `test` frames with the same columns
    (record_id, the spec's fields, PROVENANCE_COLUMNS)."""

    train: pl.DataFrame
    test: pl.DataFrame
    synthetic_rows: int
    seed_rows: int

    def frame(self, split: str) -> pl.DataFrame:
        return self.train if split == "train" else self.test

    def flat(self) -> pl.DataFrame:
        """Both splits in one frame, with a `split` column before the provenance columns."""
        frames = [
            self.frame(s).with_columns(pl.lit(s).alias("split")).select(_flat_columns(self.train))
            for s in SPLITS
        ]
        return pl.concat(frames, how="vertical")


def _flat_columns(frame: pl.DataFrame) -> list[str]:
    data = [c for c in frame.columns if c not in PROVENANCE_COLUMNS]
    return [*data, "split", *PROVENANCE_COLUMNS]


def _with_provenance(
    frame: pl.DataFrame, origin: str, version: str, generated: pl.DataFrame | None = None
) -> pl.DataFrame:
    if generated is None:
        generated = pl.DataFrame(
            schema={"record_id": pl.String(), "strategy": pl.String(), "model": pl.String()}
        )
    return (
        frame.join(generated, on="record_id", how="left", maintain_order="left")
        .with_columns(pl.lit(origin).alias("origin"), pl.lit(version).alias("version"))
        .select(*frame.columns, *PROVENANCE_COLUMNS)
    )


def split_frames(wh: Warehouse, spec: DatasetSpec, version: str) -> Splits:
    """The version's `train` split (its synthetic records, then the real seeds when
    `export.include_seeds_in_train`) and `test` split (its real holdout), with provenance."""
    records = record_frame(wh, spec, version)
    generated = wh.rows(
        # One row per record: its successful generation first, then the earliest sample.
        "SELECT record_id,"
        " first(strategy ORDER BY status = 'ok' DESC, sample_index NULLS LAST),"
        " first(model ORDER BY status = 'ok' DESC, sample_index NULLS LAST) FROM candidates "
        "WHERE dataset = ? AND version = ? GROUP BY record_id",
        [spec.name, version],
    )
    by_id = pl.DataFrame(
        generated,
        schema={"record_id": pl.String(), "strategy": pl.String(), "model": pl.String()},
        orient="row",
    )
    train = [_with_provenance(records, "synthetic", version, by_id)]
    real_ids = [  # the real holdout rows an eval version (`purpose: eval`) keeps
        r[0]
        for r in wh.rows(
            f"SELECT record_id FROM {DATASET_TABLE} WHERE dataset = ? AND version = ? "
            "AND origin = 'real'",
            [spec.name, version],
        )
    ]
    if real_ids:
        train[0] = train[0].with_columns(
            pl.when(pl.col("record_id").is_in(real_ids))
            .then(pl.lit("real"))
            .otherwise(pl.col("origin"))
            .alias("origin")
        )
    if spec.purpose == "eval":
        # An eval set is evaluated on, never trained on: all of it (real holdout rows and
        # synthetic edge cases, each with its origin) is the test split.
        return Splits(
            train=train[0].clear(),
            test=train[0],
            synthetic_rows=records.height - len(real_ids),
            seed_rows=0,
        )
    seeds = 0
    if spec.export.include_seeds_in_train:
        seed_frame = record_frame(wh, spec, version, "seeds")
        seeds = seed_frame.height
        train.append(_with_provenance(seed_frame, "real", version))
    test = _with_provenance(record_frame(wh, spec, version, "holdout"), "real", version)
    return Splits(
        train=pl.concat(train, how="vertical"),
        test=test,
        synthetic_rows=records.height,
        seed_rows=seeds,
    )


def system_prompt(spec: DatasetSpec, mode: str = "keep") -> str | None:
    """The system message of a chat line: `keep` the full prompt, `drop` none (None), `short`
    the labels alone (labelled data) or the task's first sentence."""
    if mode not in SYSTEM_PROMPTS:
        raise ExportError(f"unknown system prompt mode {mode!r}; use {', '.join(SYSTEM_PROMPTS)}")
    if mode == "drop":
        return None
    return kind_of(spec).system_prompt(spec, mode)


def chat_turns(spec: DatasetSpec) -> tuple[str, list[str]]:
    """(user field, assistant fields), as the kind maps its records to a conversation."""
    return kind_of(spec).chat_turns(spec)


def chat_example(spec: DatasetSpec, record: dict[str, Any], system: str = "keep") -> dict[str, Any]:
    """One chat line; `system` is a SYSTEM_PROMPTS mode (`drop`: no system message)."""
    own = kind_of(spec).chat_line(spec, record, None if system == "drop" else system)
    if own is not None:  # the record is a conversation already
        return own
    user, answer_fields = chat_turns(spec)
    if len(answer_fields) == 1:
        answer = record.get(answer_fields[0])
        assistant = answer if isinstance(answer, str) else json.dumps(answer, ensure_ascii=False)
    else:
        assistant = json.dumps(
            {k: record.get(k) for k in answer_fields}, ensure_ascii=False, sort_keys=False
        )
    prompt = system_prompt(spec, system)
    return {
        "messages": [
            *([{"role": "system", "content": prompt}] if prompt is not None else []),
            {"role": "user", "content": str(record.get(user, ""))},
            {"role": "assistant", "content": "" if assistant is None else str(assistant)},
        ]
    }


# --- writing ------------------------------------------------------------------------------


def _lines_writer(objects: list[dict[str, Any]]):
    def write(tmp: Path) -> None:
        with tmp.open("w", encoding="utf-8") as fh:
            for obj in objects:
                fh.write(json.dumps(obj, ensure_ascii=False) + "\n")

    return write


def _target(out: Path, spec: DatasetSpec, version: str, fmt: str) -> Path:
    """A file path as given, or `<dir>/<dataset>-<version><suffix>` for an existing folder
    (a real one: a link is refused later, never followed)."""
    if fmt == "hf":
        return out
    if out.is_dir() and not out.is_symlink():
        return out / f"{spec.name}-{version}{_SUFFIXES[fmt]}"
    return out


def export_version(
    wh: Warehouse,
    spec: DatasetSpec,
    version: str | None,
    fmt: str,
    out: Path | str,
    force: bool = False,
    overwrite: bool = False,
    system_prompt: str = "keep",
) -> ExportResult:
    """Write one version in `fmt` to `out` (a file; a folder for `hf`): its `train` split
    (synthetic records, plus the seeds with `export.include_seeds_in_train`) and its `test`
    split (the real holdout), except `openai-chat`, a training file of the train split alone.

    `system_prompt` (openai-chat only): `keep` the full system message on every line, `drop`
    it, or a `short` one (SYSTEM_PROMPTS).

    Raises ExportRefused, naming the failed checks, unless the version passed every gate or
    `force` is set. `version` None or "latest" is the published version. An existing target
    is refused unless `overwrite`; the other rules are `export_paths`' (ExportPathError).
    """
    if fmt not in FORMATS:
        raise ExportError(f"unknown export format {fmt!r}; use one of {', '.join(FORMATS)}")
    kind = kind_of(spec)
    if fmt not in kind.export_formats:
        raise ExportError(
            f"{fmt} does not fit {kind.name} records; use one of {', '.join(kind.export_formats)}"
        )
    if system_prompt not in SYSTEM_PROMPTS:
        raise ExportError(
            f"unknown system prompt mode {system_prompt!r}; use one of {', '.join(SYSTEM_PROMPTS)}"
        )
    if system_prompt != "keep" and fmt != "openai-chat":
        raise ExportError(f"the system prompt option applies to openai-chat only, not {fmt}")
    dataset = spec.name
    version = resolve_version(wh, dataset, version)
    refusal = publish_refusal(wh, dataset, version, spec)
    if refusal and not force:
        raise ExportRefused(
            f"refusing to export: {refusal} (--force / force=True exports it anyway)"
        )
    splits = split_frames(wh, spec, version)
    if splits.synthetic_rows == 0:
        raise ExportError(f"version {version} of {dataset} has no dataset records to export")
    path = _target(Path(out), spec, version, fmt)
    files: list[Path]
    test_rows = 0 if fmt in TRAINING_FORMATS else splits.test.height
    if fmt == "hf":
        files = _write_hf(
            wh,
            spec,
            version,
            splits,
            path,
            forced=bool(force and refusal),
            refusal=refusal,
            overwrite=overwrite,
        )
        path = files[-1].parent  # the card sits at the top of the folder
    else:
        if fmt == "openai-chat":  # a training file: never the holdout
            lines = [
                chat_example(spec, r, system_prompt) for r in splits.train.iter_rows(named=True)
            ]
            write = _lines_writer(lines)
        elif fmt == "trl-dpo":
            columns = [c for c in ("prompt", "chosen", "rejected") if c in splits.train.columns]
            write = _lines_writer(splits.train.select(columns).to_dicts())
        elif fmt == "jsonl":
            write = _lines_writer(splits.flat().to_dicts())
        else:
            write = splits.flat().write_parquet
        path = write_file(path, write, overwrite=overwrite, warehouse=wh.path)
        files = [path]
    return ExportResult(
        dataset=dataset,
        version=version,
        format=fmt,
        path=path,
        rows=splits.train.height,
        forced=bool(force and refusal),
        refusal=refusal,
        files=files,
        test_rows=test_rows,
        seed_rows=splits.seed_rows,
    )


def export_all(
    wh: Warehouse,
    spec: DatasetSpec,
    version: str | None,
    out_dir: Path | str,
    force: bool = False,
    formats: tuple[str, ...] | None = None,
    overwrite: bool = False,
) -> list[ExportResult]:
    """Every format of the kind (`DatasetKind.export_formats`, unless FORMATS names some)
    into one folder: `<dataset>-<version>.chat.jsonl|.jsonl|.parquet`, `hf/`."""
    formats = formats or kind_of(spec).export_formats
    out_dir = Path(out_dir)
    version = resolve_version(wh, spec.name, version)
    results = []
    for fmt in formats:
        name = "hf" if fmt == "hf" else f"{spec.name}-{version}{_SUFFIXES[fmt]}"
        results.append(
            export_version(wh, spec, version, fmt, out_dir / name, force=force, overwrite=overwrite)
        )
    return results


def export_published(
    wh: Warehouse, spec: DatasetSpec, version: str, root: Path | str | None = None
) -> list[ExportResult]:
    """What the `exports` asset writes: every format of a published version, into
    `<root>/<dataset>/<version>/` (root: SYNTH_EXPORTS_DIR or data/exports)."""
    if not wh.was_published(spec.name, version):
        raise ExportRefused(
            f"version {version} of {spec.name} was never published; only published versions "
            "are exported automatically (use `synth export --version` to export it by hand)"
        )
    out = Path(root) if root is not None else default_exports_dir()
    # The folder is this version's own: a re-run (or the completion of an interrupted one)
    # replaces its files; the other rules (links, protected paths) still hold.
    return export_all(wh, spec, version, out / spec.name / version, overwrite=True)


# --- the Hugging Face folder ------------------------------------------------------------


def provenance(wh: Warehouse, spec: DatasetSpec, version: str) -> dict[str, Any]:
    """What the card states: the version row, curation, gates and report figures."""
    dataset = spec.name
    key = [dataset, version]
    with session(wh) as s:
        info = version_info(s, dataset, version) or {}
        audit = s.rows(
            "SELECT kept, reason, count(*) FROM curation_audit WHERE dataset = ? AND version = ? "
            "GROUP BY ALL ORDER BY 3 DESC, 2",
            key,
        )
        metrics = s.rows(
            "SELECT metric, value FROM report_metrics WHERE dataset = ? AND version = ? "
            "ORDER BY metric",
            key,
        )
        candidates = s.rows(
            "SELECT count(*), count(*) FILTER (WHERE status = 'ok') FROM candidates "
            "WHERE dataset = ? AND version = ?",
            key,
        )[0]
        gates = check_summary(version_checks(s, dataset, version))
        published = s.rows("SELECT version FROM published WHERE dataset = ?", [dataset])
    return {
        "dataset": dataset,
        "version": version,
        "spec_hash": info.get("spec_hash") or spec.spec_hash(),
        "provider": info.get("provider"),
        "model": info.get("model"),
        "code_version": info.get("code_version"),
        "created_at": str(info["created_at"])[:19] if info.get("created_at") else None,
        "status": info.get("status"),
        "seed_files_sha256": info.get("seed_files_sha256") or {},
        "candidates": int(candidates[0]),
        "candidates_ok": int(candidates[1]),
        "filters": list(spec.curation.filters),
        "dropped_by_reason": {str(r): int(n) for kept, r, n in audit if not kept},
        "modified_by_reason": {str(r): int(n) for kept, r, n in audit if kept},
        "gates": gates,
        "metrics": {m: v for m, v in metrics},
        "published_version": published[0][0] if published else None,
    }


def _size_category(n: int) -> str:
    for limit, name in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K")):
        if n < limit:
            return name
    return "100K<n<1M" if n < 1_000_000 else "n>1M"


def hf_features(spec: DatasetSpec) -> list[dict[str, Any]]:
    """The card's `dataset_info.features`: the label as a `ClassLabel` in the spec's label
    order (names keyed by quoted indices, as the Hub writes them), then the provenance."""
    out: list[dict[str, Any]] = [{"name": "record_id", "dtype": "string"}]
    out += kind_of(spec).hf_columns(spec)
    return out + [{"name": c, "dtype": "string"} for c in PROVENANCE_COLUMNS]


def _arrow_features(spec: DatasetSpec) -> dict[str, Any]:
    """The same features in the `datasets` library's own form, for the Parquet metadata."""
    return {feat["name"]: _arrow_feature(feat) for feat in hf_features(spec)}


def _arrow_feature(feat: dict[str, Any]) -> Any:
    """One card feature (a Value, a ClassLabel, or a `list` of named sub-features) in the
    `datasets` library's own form."""
    if "list" in feat:
        return [{sub["name"]: _arrow_feature(sub) for sub in feat["list"]}]
    dtype = feat["dtype"]
    if isinstance(dtype, dict):
        return {"names": list(dtype["class_label"]["names"].values()), "_type": "ClassLabel"}
    return {"dtype": dtype, "_type": "Value"}


def _arrow_type(feat: dict[str, Any]) -> pa.DataType:
    import pyarrow as pa

    if "list" in feat:
        return pa.list_(pa.struct([(sub["name"], _arrow_type(sub)) for sub in feat["list"]]))
    dtype = feat["dtype"]
    return getattr(pa, "int64" if isinstance(dtype, dict) else HF_ARROW_TYPES[dtype])()


def hf_table(spec: DatasetSpec, frame: pl.DataFrame) -> pa.Table:
    """One split as the Arrow table the `hf` folder stores: the label as its class index,
    exact column types, and the features in the schema metadata (key `huggingface`)."""
    import pyarrow as pa

    if kind_of(spec).has("labels") and spec.label_field:
        label = spec.label_field
        unknown = sorted(set(frame[label].drop_nulls().to_list()) - set(spec.labels))
        if unknown:
            raise ExportError(
                f"labels {unknown} of {spec.name} are not in the spec's labels {spec.labels}; "
                "a ClassLabel cannot hold them"
            )
        frame = frame.with_columns(
            pl.col(label).replace_strict(
                spec.labels, list(range(len(spec.labels))), return_dtype=pl.Int64
            )
        )
    fields = [pa.field(feat["name"], _arrow_type(feat)) for feat in hf_features(spec)]
    meta = {"huggingface": json.dumps({"info": {"features": _arrow_features(spec)}})}
    table = frame.select([f.name for f in fields]).to_arrow()
    return table.cast(pa.schema(fields)).replace_schema_metadata(meta)


def _shown_dtype(feat: dict[str, Any]) -> str:
    """A feature's type as the card's table shows it."""
    if "list" in feat:
        return (
            "list of {" + ", ".join(f"{s['name']}: {_shown_dtype(s)}" for s in feat["list"]) + "}"
        )
    dtype = feat["dtype"]
    if isinstance(dtype, dict):  # a ClassLabel: its index and name per label
        names = dtype["class_label"]["names"]
        return "ClassLabel (" + ", ".join(f"{i} {lab}" for i, lab in names.items()) + ")"
    return str(dtype)


def card_metadata(
    spec: DatasetSpec, splits: Splits, data_bytes: int, prov: dict[str, Any], forced: bool
) -> dict[str, Any]:
    """The card's YAML front matter: the Hub's `configs` and `dataset_info` keys."""
    tags = ["synthetic", "synth-pipeline"]
    if forced:
        tags.append("forced-export-failed-gates")
    present = [s for s in SPLITS if s == "train" or splits.test.height]
    sizes = {s: int(splits.frame(s).estimated_size()) for s in present}
    return {
        "license": license_of(spec),
        "pretty_name": f"{spec.name} {prov['version']}",
        "task_categories": [kind_of(spec).hf_task],
        "size_categories": [_size_category(sum(splits.frame(s).height for s in present))],
        "tags": tags,
        "configs": [
            {
                "config_name": "default",
                "data_files": [{"split": s, "path": HF_SPLIT_FILES[s]} for s in present],
            }
        ],
        "dataset_info": {
            "features": hf_features(spec),
            "splits": [
                {"name": s, "num_bytes": sizes[s], "num_examples": splits.frame(s).height}
                for s in present
            ],
            "download_size": data_bytes,
            "dataset_size": sum(sizes.values()),
        },
        "synth_pipeline": {
            "dataset": spec.name,
            "version": prov["version"],
            "spec_hash": prov["spec_hash"],
            "provider": prov["provider"],
            "model": prov["model"],
            "forced_export": forced,
            "train_synthetic_rows": splits.synthetic_rows,
            "train_real_seed_rows": splits.seed_rows,
            "test_real_holdout_rows": splits.test.height,
        },
    }


def _md(value: Any) -> str:
    s = "" if value is None else str(value)
    return s.replace("|", "\\|").replace("\n", " ")


def _table(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_md(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


_PROVENANCE_DOC = {
    "origin": "`real` (a seed or holdout record from the dataset's real files) or "
    "`synthetic` (generated)",
    "version": "the dataset version this row was exported from",
    "strategy": "generation strategy of a synthetic row; empty for real rows",
    "model": "model that generated a synthetic row; empty for real rows",
}


def _splits_text(splits: Splits) -> str:
    seeds = (
        f", then **{splits.seed_rows} real seed records** (`origin: real`, the examples shown "
        "to the generator; `export.include_seeds_in_train`)"
        if splits.seed_rows
        else ""
    )
    train = (
        f"- **`train`** ({splits.train.height} rows, `{HF_DATA_FILE}`): "
        f"**{splits.synthetic_rows} synthetic records** (`origin: synthetic`){seeds}."
    )
    if splits.test.height:
        test = (
            f"- **`test`** ({splits.test.height} rows, `{HF_TEST_FILE}`): the **real holdout**, "
            "every row `origin: real`, never synthetic and never shown to the generator. "
            "Evaluate on it; do not train on it."
        )
    else:
        test = "- **`test`**: none; this version recorded no real holdout."
    return "## Splits\n\n" + train + "\n" + test


def render_card(
    spec: DatasetSpec,
    splits: Splits,
    data_bytes: int,
    prov: dict[str, Any],
    forced: bool = False,
    refusal: str | None = None,
) -> str:
    meta = card_metadata(spec, splits, data_bytes, prov, forced)
    front = yaml.safe_dump(meta, sort_keys=False, allow_unicode=True)
    name, version = spec.name, prov["version"]
    out = [f"---\n{front}---", f"# {name} — version {version}"]
    if forced:
        out.append(
            "> [!WARNING]\n"
            "> **FORCED EXPORT: this version did NOT pass every publication gate.**\n"
            f"> {_md(refusal)}\n"
            "> It was exported with `force=True`; do not treat it as a validated dataset."
        )
    published = prov["published_version"]
    out.append(
        f"Synthetic {spec.kind} data generated by synth_pipeline, with a real test split. "
        f"{' '.join(spec.task.split())}\n\n"
        + (
            "This is the dataset's **published** version."
            if published == version
            else f"The dataset's published version is {published or 'none'}."
        )
    )
    out.append(_splits_text(splits))
    # Structure
    field_rows = [["record_id", "string", "content hash identifying the record's origin"]]
    docs = kind_of(spec).column_docs(spec)
    for feat, (name, doc) in zip(hf_features(spec)[1 : 1 + len(docs)], docs, strict=True):
        field_rows.append([name, _shown_dtype(feat), doc])
    field_rows += [[c, "string", _PROVENANCE_DOC[c]] for c in PROVENANCE_COLUMNS]
    structure = [
        "## Dataset structure",
        _table(["field", "type", "description"], field_rows),
    ]
    if kind_of(spec).has("labels") and spec.label_field:
        label = spec.label_field
        counts = {
            s: dict(splits.frame(s).group_by(label).len().iter_rows())
            if splits.frame(s).height
            else {}
            for s in SPLITS
        }
        structure.append(
            _table(
                ["label", "train", "test"],
                [
                    [lab, counts["train"].get(lab, 0), counts["test"].get(lab, 0)]
                    for lab in spec.labels
                ],
            )
        )
    out.append("\n\n".join(structure))
    # Provenance
    prov_rows = [
        ["dataset", name],
        ["version", version],
        ["spec hash", prov["spec_hash"]],
        ["provider", prov["provider"]],
        ["model", prov["model"]],
        ["code version", prov["code_version"]],
        ["created", prov["created_at"]],
        ["exported", _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")],
        [
            "candidates generated (ok / requested)",
            f"{prov['candidates_ok']} / {prov['candidates']}",
        ],
        ["forced export", "**YES: gates not passed**" if forced else "no"],
    ]
    seed_rows = [[f, h] for f, h in sorted(prov["seed_files_sha256"].items())]
    out.append(
        "## Provenance\n\n"
        + _table(["", ""], prov_rows)
        + "\n\n### Real data files (sha256)\n\n"
        + (_table(["file", "sha256"], seed_rows) if seed_rows else "_not recorded_")
    )
    # Curation
    reasons = sorted({*prov["dropped_by_reason"], *prov["modified_by_reason"]})
    curation = [
        "## Curation",
        "Filters, in the order they ran: " + ", ".join(f"`{f}`" for f in prov["filters"]) + ".",
        _table(
            ["reason", "dropped", "kept but changed"],
            [
                [r, prov["dropped_by_reason"].get(r, 0), prov["modified_by_reason"].get(r, 0)]
                for r in reasons
            ],
        )
        if reasons
        else "No candidate was dropped or changed.",
    ]
    out.append("\n\n".join(curation))
    # Gates
    gate_rows = [
        [
            g["check_name"],
            g["asset"],
            "passed" if g["passed"] else "**FAILED**",
            g["expectations"],
            ", ".join(g["failed"]),
        ]
        for g in prov["gates"]
    ]
    out.append(
        "## Gates\n\n"
        + (
            _table(["check", "asset", "result", "expectations", "failed"], gate_rows)
            if gate_rows
            else "_no check was evaluated_"
        )
    )
    # Report
    metric_rows = [[m, f"{v:.4g}" if v is not None else ""] for m, v in prov["metrics"].items()]
    out.append(
        "## Validation report (real vs synthetic)\n\n"
        + (_table(["metric", "value"], metric_rows) if metric_rows else "_no report figures_")
    )
    files = ", ".join(
        f'"{s}": "{HF_SPLIT_FILES[s]}"' for s in SPLITS if s == "train" or splits.test.height
    )
    out.append(
        f"## License\n\n{license_of(spec)}\n\n"
        "## Loading\n\n```python\nfrom datasets import load_dataset\n\n"
        'ds = load_dataset("path/to/this/folder")  # train and test; or:\n'
        f'ds = load_dataset("parquet", data_files={{{files}}})\n'
        'real_train = ds["train"].filter(lambda row: row["origin"] == "real")\n```'
    )
    return "\n\n".join(out) + "\n"


def _write_hf(
    wh: Warehouse,
    spec: DatasetSpec,
    version: str,
    splits: Splits,
    folder: Path,
    forced: bool,
    refusal: str | None,
    overwrite: bool = False,
) -> list[Path]:
    """The split files, then the card that states their sizes. Other `train-*` or `test-*`
    shards in an existing folder would be loaded with the splits: the export refuses (never
    deletes) them."""
    import pyarrow.parquet as pq

    prov = provenance(wh, spec, version)
    tables = {s: hf_table(spec, splits.frame(s)) for s in SPLITS}
    written: dict[str, int] = {}

    def write_split(split: str):
        def write(tmp: Path) -> None:
            pq.write_table(tables[split], tmp)
            written[split] = tmp.stat().st_size

        return write

    def write_card(tmp: Path) -> None:
        text = render_card(spec, splits, sum(written.values()), prov, forced, refusal)
        tmp.write_text(text, encoding="utf-8")

    files = [
        (HF_SPLIT_FILES[s], write_split(s)) for s in SPLITS if s == "train" or tables[s].num_rows
    ]
    data = Path(HF_DATA_FILE).parent
    return write_folder(
        folder,
        [*files, ("README.md", write_card)],
        overwrite=overwrite,
        warehouse=wh.path,
        keep_out=[str(data / "train-*"), str(data / "test-*")],
    )


def read_card_metadata(card: Path) -> dict[str, Any]:
    """The YAML front matter of a dataset card."""
    text = card.read_text(encoding="utf-8")
    if not text.startswith("---\n"):
        raise ExportError(f"{card}: no YAML front matter")
    return yaml.safe_load(text[4 : text.index("\n---", 4)])


__all__ = [
    "DEFAULT_LICENSE",
    "FORMATS",
    "HF_DATA_FILE",
    "HF_SPLIT_FILES",
    "HF_TEST_FILE",
    "PROVENANCE_COLUMNS",
    "SPLITS",
    "SYSTEM_PROMPTS",
    "ExportError",
    "ExportPathError",
    "ExportRefused",
    "ExportResult",
    "Splits",
    "chat_example",
    "default_exports_dir",
    "export_all",
    "export_published",
    "existing_versions",
    "export_version",
    "hf_features",
    "license_of",
    "provenance",
    "read_card_metadata",
    "record_frame",
    "render_card",
    "resolve_version",
    "split_frames",
]
