"""The spec's field types and what each is in every system a record passes through, declared
once: one table per target system, keyed by the spec's type name.

Readers: `spec.FieldSpec` (the allowed names), the generator's pydantic schemas and the schema
filter's strict validator (`PYTHON_TYPES`), record validation of seed files and of generated
records (`matches`, `parse_csv_value`), the exports (`POLARS_TYPES`, `HF_DTYPES`,
`HF_ARROW_TYPES`) and `synth init`'s record example (`PLACEHOLDERS`). Plain data: no spec,
curation or report import, so `spec.py` can read it.
"""

from __future__ import annotations

from typing import Any, Literal, get_args

import polars as pl

FieldType = Literal["string", "integer", "number", "boolean"]
FIELD_TYPES: tuple[str, ...] = get_args(FieldType)

# The Python type a value of the field has (pydantic schemas: generation, strict validation).
PYTHON_TYPES: dict[str, type] = {"string": str, "integer": int, "number": float, "boolean": bool}

# The Python types a JSON value of the field may have: an integer is a number too. A bool is
# an int to Python, so `matches` refuses it for every type but boolean.
ACCEPTED_PYTHON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
}

# Polars column types (the exported frames).
POLARS_TYPES: dict[str, pl.DataType] = {
    "string": pl.String(),
    "integer": pl.Int64(),
    "number": pl.Float64(),
    "boolean": pl.Boolean(),
}

# Hugging Face `datasets` Value dtypes (the dataset card's features).
HF_DTYPES: dict[str, str] = {
    "string": "string",
    "integer": "int64",
    "number": "float64",
    "boolean": "bool",
}

# A Hugging Face Value dtype -> the pyarrow type factory's name (the `hf` folder's Parquet).
# A ClassLabel is stored as int64.
HF_ARROW_TYPES: dict[str, str] = {
    "string": "string",
    "int64": "int64",
    "float64": "float64",
    "bool": "bool_",
}

# A placeholder value per type, for a record's example shape.
PLACEHOLDERS: dict[str, Any] = {"string": "...", "integer": 0, "number": 0.0, "boolean": False}


def matches(value: Any, type_: str) -> bool:
    """Whether a JSON value is of the field type (no coercion: "5" is no integer, true is no
    number)."""
    return isinstance(value, ACCEPTED_PYTHON_TYPES[type_]) and (
        type_ == "boolean" or not isinstance(value, bool)
    )


def parse_csv_value(value: str, type_: str) -> Any:
    """A CSV cell (always text) as the field type; ValueError when it is not one."""
    if type_ == "integer":
        return int(value)
    if type_ == "number":
        return float(value)
    if type_ == "boolean":
        if value.lower() not in {"true", "false"}:
            raise ValueError(f"{value!r} is not true or false")
        return value.lower() == "true"
    return value


__all__ = [
    "ACCEPTED_PYTHON_TYPES",
    "FIELD_TYPES",
    "HF_ARROW_TYPES",
    "HF_DTYPES",
    "PLACEHOLDERS",
    "POLARS_TYPES",
    "PYTHON_TYPES",
    "FieldType",
    "matches",
    "parse_csv_value",
]
