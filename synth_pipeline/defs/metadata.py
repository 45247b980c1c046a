"""Turn a stage's figures and frames into metadata a person can read in the Dagster UI."""

from __future__ import annotations

from typing import Any

import dagster as dg
import polars as pl

from synth_pipeline.stats import significant

_TYPE_NAMES = {pl.String: "string", pl.Int64: "integer", pl.Float64: "float", pl.Boolean: "boolean"}


def markdown_table(frame: pl.DataFrame, max_rows: int = 10, max_chars: int = 80) -> str:
    if frame.is_empty():
        return "_no rows_"
    head = frame.head(max_rows)
    cols = head.columns

    def cell(v: Any) -> str:
        s = "" if v is None else str(v)
        s = s.replace("|", "\\|").replace("\n", " ")
        return s if len(s) <= max_chars else s[: max_chars - 1] + "…"

    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in head.iter_rows()]
    return "\n".join(lines)


def column_schema(frame: pl.DataFrame) -> dg.TableSchema:
    return dg.TableSchema(
        columns=[
            dg.TableColumn(name=n, type=_TYPE_NAMES.get(t, str(t))) for n, t in frame.schema.items()
        ]
    )


def figure_value(v: Any) -> Any:
    """A figure as typed metadata; floats rounded to 3 significant digits for reading (the
    exact values stay in the warehouse and metrics.json)."""
    if isinstance(v, bool):
        return dg.MetadataValue.bool(v)
    if isinstance(v, int):
        return dg.MetadataValue.int(v)
    if isinstance(v, float):
        return dg.MetadataValue.float(significant(v))
    if isinstance(v, dict | list):
        return dg.MetadataValue.json(v)
    return dg.MetadataValue.text(str(v))


def stage_metadata(
    frame: pl.DataFrame, figures: dict[str, Any], preview_columns: list[str] | None = None
) -> dict[str, Any]:
    meta: dict[str, Any] = {k: figure_value(v) for k, v in figures.items()}
    meta["dagster/row_count"] = dg.MetadataValue.int(frame.height)
    meta["dagster/column_schema"] = column_schema(frame)
    cols = [c for c in (preview_columns or frame.columns) if c in frame.columns]
    meta["preview"] = dg.MetadataValue.md(markdown_table(frame.select(cols)))
    return meta
