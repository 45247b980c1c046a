"""The column declaration of a table: type, privacy role and the public facts the synthesizer
may use without spending privacy budget (bounds, bins, category labels)."""

from __future__ import annotations

import datetime as dt
import re
from typing import Literal, Self

import polars as pl
from pydantic import BaseModel, ConfigDict, Field, model_validator

ColumnType = Literal["categorical", "integer", "number", "boolean", "date", "text"]
Role = Literal["identifier", "quasi_identifier", "sensitive", "plain"]
FakeKind = Literal[
    "numeric_id",
    "code",
    "person_name",
    "email",
    "phone",
    "account_number",
    "street_address",
]

NUMERIC_TYPES: frozenset[str] = frozenset({"integer", "number", "date"})
DISCRETE_TYPES: frozenset[str] = frozenset({"categorical", "boolean"})
IDENTIFIER_TYPES: frozenset[str] = frozenset({"integer", "categorical"})

POLARS_DTYPES: dict[str, pl.DataType] = {
    "categorical": pl.String(),
    "integer": pl.Int64(),
    "number": pl.Float64(),
    "boolean": pl.Boolean(),
    "date": pl.Date(),
    "text": pl.String(),
}

# Name fragments that pick an identifier's fake when `fake` is not given (first match wins).
_FAKE_BY_NAME: tuple[tuple[str, FakeKind], ...] = (
    ("email", "email"),
    ("phone", "phone"),
    ("mobile", "phone"),
    ("address", "street_address"),
    ("street", "street_address"),
    ("iban", "account_number"),
    ("account", "account_number"),
    ("name", "person_name"),
)


class TableColumn(BaseModel):
    """One column of a records table.

    Bounds (`lower`/`upper`) are public knowledge (a form's allowed range, a policy's
    limits): the synthesizer bins inside them and clips to them, so no privacy budget is
    spent learning them. When they are missing, `synthesize` reads them from the data, which
    it refuses to do when a differential-privacy guarantee is asked.
    """

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$", description="The column's name.")
    type: ColumnType = Field(
        description="categorical, integer, number, boolean, date (ISO) or text (free text, "
        "written by the spec's provider, never learned from real rows)."
    )
    role: Role = Field(
        default="plain",
        description="identifier (never copied: replaced by realistic fakes), quasi_identifier "
        "(combinations that re-identify people: shown to the text writer, checked for "
        "unique combinations), sensitive (never shown to any model), or plain.",
    )
    description: str = Field(description="What the column holds, in a few words.")
    lower: float | dt.date | None = Field(
        default=None, description="Public lower bound (integer/number; an ISO date for dates)."
    )
    upper: float | dt.date | None = Field(
        default=None, description="Public upper bound (integer/number; an ISO date for dates)."
    )
    bins: int | None = Field(
        default=None,
        ge=2,
        le=1000,
        description="Bins the synthesizer models a numeric/date column with. Default: one per "
        "value when the bounds span at most 32 values (integers, dates), else 20.",
    )
    values: list[str] | None = Field(
        default=None,
        description="Public category labels (categorical). When missing they are read from the "
        "data, as smartnoise's LabelTransformer does: that reveals which labels occur.",
    )
    fake: FakeKind | None = Field(
        default=None,
        description="Identifiers only: which realistic fake replaces the column. Default: "
        "numeric_id for integers, else guessed from the name (email, phone, address, account, "
        "name), else code.",
    )

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        where = f"column {self.name!r}"
        if self.role == "identifier":
            if self.type not in IDENTIFIER_TYPES:
                raise ValueError(
                    f"{where}: an identifier is replaced by fakes, never modelled; its type "
                    f"must be integer or categorical, not {self.type}"
                )
            if self.type == "integer" and self.fake not in (None, "numeric_id"):
                raise ValueError(f"{where}: an integer identifier can only be faked as numeric_id")
            if self.values is not None:
                raise ValueError(f"{where}: an identifier has no public category labels")
        elif self.fake is not None:
            raise ValueError(f"{where}: `fake` is for identifier columns only")
        if self.type == "text" and self.role == "quasi_identifier":
            raise ValueError(f"{where}: free text is not modelled, so not a quasi-identifier")
        if self.type not in NUMERIC_TYPES:
            for field in ("lower", "upper", "bins"):
                if getattr(self, field) is not None:
                    raise ValueError(f"{where}: `{field}` is for integer, number and date columns")
        if self.values is not None:
            if self.type != "categorical":
                raise ValueError(f"{where}: `values` is for categorical columns")
            if len(set(self.values)) != len(self.values) or not self.values:
                raise ValueError(f"{where}: `values` must be a non-empty list without repeats")
        if (self.lower is None) != (self.upper is None):
            raise ValueError(f"{where}: give both `lower` and `upper`, or neither")
        if self.lower is not None:
            lo, hi = self.numeric_bounds()  # type: ignore[misc]
            if not lo < hi:
                raise ValueError(f"{where}: `lower` must be below `upper`")
        return self

    @property
    def modelled(self) -> bool:
        """Whether the synthesizer learns this column (identifiers are faked, text is left)."""
        return self.role != "identifier" and self.type != "text"

    def numeric_bounds(self) -> tuple[float, float] | None:
        """The public bounds as numbers (dates as day ordinals), or None when not given."""
        if self.lower is None or self.upper is None:
            return None
        return _as_number(self.lower, self), _as_number(self.upper, self)

    def fake_kind(self) -> FakeKind:
        """The fake used for an identifier: the declared one or a default from type and name."""
        if self.fake is not None:
            return self.fake
        if self.type == "integer":
            return "numeric_id"
        for fragment, kind in _FAKE_BY_NAME:
            if re.search(fragment, self.name):
                return kind
        return "code"


def _as_number(value: float | dt.date, column: TableColumn) -> float:
    if column.type == "date":
        if isinstance(value, dt.datetime):
            value = value.date()
        if not isinstance(value, dt.date):
            raise ValueError(f"column {column.name!r}: date bounds must be ISO dates")
        return float(value.toordinal())
    if isinstance(value, dt.date):
        raise ValueError(f"column {column.name!r}: bounds of a {column.type} column are numbers")
    return float(value)


def modelled_columns(columns: list[TableColumn]) -> list[TableColumn]:
    """The columns the synthesizer learns and the metrics compare."""
    return [c for c in columns if c.modelled]
