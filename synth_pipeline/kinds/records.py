"""`kind: records`: privacy stand-ins for a sensitive table.

A record is one row of typed columns (`records.columns`: categorical, integer, number,
boolean, date, free text), each with a privacy role: `identifier` (never copied: replaced by
realistic fakes), `quasi_identifier` (the combinations that re-identify people),
`sensitive`, or plain. Seeds are the real table; the holdout is real rows kept out of
training. Candidates come from a local tabular synthesizer trained on the seeds
(`synth_pipeline.tables.synthesizer`: MST, with an optional differential-privacy epsilon
recorded in the version's lineage); nothing is sent to any endpoint, except that free-text
columns are then written by the spec's provider from the synthetic row's quasi-identifier and
plain columns alone (never an identifier, never a sensitive value, never a real row).

Curation drops copies of real rows, rows closer to a real row than real rows are to each
other, reproduced unique quasi-identifier combinations and real identifier values
(`curation/privacy.py`); the quality suite bounds each of these at zero; the report compares
columns and pairs, trains on synthetic and tests on real, and attacks membership and
attributes (`report/table.py`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from typing import TYPE_CHECKING, Any, ClassVar

import polars as pl
from pydantic import BaseModel, ConfigDict, Field, create_model, model_validator

from synth_pipeline.kinds.base import DatasetKind, RecordError
from synth_pipeline.tables.columns import POLARS_DTYPES, TableColumn

if TYPE_CHECKING:
    from synth_pipeline.spec import DatasetSpec

# The spec field type a column's values have in a record (JSON): dates as ISO strings.
FIELD_TYPE = {
    "categorical": "string",
    "integer": "integer",
    "number": "number",
    "boolean": "boolean",
    "date": "string",
    "text": "string",
}
STRATEGY = "synthesizer"
TEXT_FILL = "text_fill"
WITH_TEXT = "synthesizer+text"  # rows whose free text was asked for (written or not)


class RecordsOptions(BaseModel):
    """The `records:` section of a records dataset's spec."""

    model_config = ConfigDict(extra="forbid")

    columns: list[TableColumn] = Field(
        min_length=2, description="The table's columns: type, privacy role, public bounds."
    )
    rows: int = Field(
        default=1000, ge=1, le=1_000_000, description="Synthetic rows generated per version."
    )
    epsilon: float | None = Field(
        default=1.0,
        gt=0,
        description="Differential-privacy budget of the synthesizer (recorded in the "
        "version's lineage); null: no guarantee asked (the synthesizer still never copies "
        "rows on purpose, and curation drops those that match).",
    )
    target: str | None = Field(
        default=None,
        description="The column the report's efficacy test predicts (train on synthetic, "
        "test on the real holdout, next to train on real).",
    )
    too_close_quantile: float = Field(
        default=0.05,
        gt=0,
        lt=0.5,
        description="A synthetic row whose distance to its closest seed row is below this "
        "quantile of the holdout rows' own distances to the seeds is dropped (too_close).",
    )
    seed: int = Field(default=0, description="Shifts the synthesizer's random seed.")

    @model_validator(mode="after")
    def _check(self) -> RecordsOptions:
        names = [c.name for c in self.columns]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"records.columns: repeated column names {dupes}")
        if not any(c.modelled for c in self.columns):
            raise ValueError("records.columns: no column for the synthesizer to learn")
        if self.target is not None:
            target = next((c for c in self.columns if c.name == self.target), None)
            if target is None or not target.modelled:
                raise ValueError(
                    f"records.target {self.target!r} must name a column that is neither an "
                    "identifier nor free text"
                )
        return self


def _record_text(columns: list[TableColumn], record: dict[str, Any]) -> str:
    """A row as one line `name: value | ...` (the `text` column: dedup, review, samples)."""
    return " | ".join(f"{c.name}: {record.get(c.name)}" for c in columns)


def _parse_value(column: TableColumn, value: Any, where: str) -> Any:
    """VALUE (a JSON value or a CSV cell) as the column's type; RecordError when it is not."""
    what = f"{where}: column {column.name!r}"
    t = column.type
    try:
        if t in ("categorical", "text"):
            if isinstance(value, bool) or not isinstance(value, str | int | float):
                raise ValueError(f"{value!r} is not text")
            return str(value)
        if t == "integer":
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise ValueError(f"{value!r} is not an integer")
            return int(value)
        if t == "number":
            if isinstance(value, bool):
                raise ValueError(f"{value!r} is not a number")
            return float(value)
        if t == "boolean":
            if isinstance(value, bool):
                return value
            if isinstance(value, str) and value.strip().lower() in ("true", "false"):
                return value.strip().lower() == "true"
            raise ValueError(f"{value!r} is not true or false")
        if t == "date":
            return dt.date.fromisoformat(str(value)).isoformat()
    except (TypeError, ValueError) as e:
        raise RecordError(f"{what} must be a {t}: {e}") from e
    raise AssertionError(t)


class Records(DatasetKind):
    name: ClassVar[str] = "records"
    summary: ClassVar[str] = "one row of a sensitive table, with typed columns and privacy roles"
    options_model: ClassVar[type[BaseModel] | None] = RecordsOptions
    families: ClassVar[frozenset[str]] = frozenset({"table"})
    hf_task: ClassVar[str] = "tabular-classification"
    export_formats: ClassVar[tuple[str, ...]] = ("jsonl", "parquet", "hf")
    extra_filters: ClassVar[tuple[str, ...]] = (
        "real_copy",
        "too_close",
        "unique_combination",
        "identifier_leak",
    )

    # --- the spec ---------------------------------------------------------------------

    def spec_defaults(self, data: dict[str, Any]) -> dict[str, Any]:
        """The columns are declared once, under `records:`; the spec's fields, text field,
        size and curation list follow from them."""
        data = super().spec_defaults(data)
        opts = data.get("kind_options")
        if not isinstance(opts, dict) or not isinstance(opts.get("columns"), list):
            return data
        cols = [c for c in opts["columns"] if isinstance(c, dict)]
        data.setdefault(
            "fields",
            [
                {
                    "name": c.get("name"),
                    "type": FIELD_TYPE.get(c.get("type"), "string"),
                    "description": c.get("description", ""),
                }
                for c in cols
            ],
        )
        text = next((c.get("name") for c in cols if c.get("type") == "text"), None)
        data.setdefault("text_field", text or (cols[0].get("name") if cols else "row"))
        data.setdefault("generation", {})
        if isinstance(data["generation"], dict):
            data["generation"] = {
                "total_records": opts.get("rows", RecordsOptions.model_fields["rows"].default),
                **data["generation"],
            }
        data.setdefault("curation", {})
        if isinstance(data["curation"], dict):
            # The kind's privacy filters run after these (`extra_filters`).
            data["curation"] = {"filters": ["schema_valid", "exact_duplicate"], **data["curation"]}
        data.setdefault("quality", {"min_yield": 10})
        return data

    def spec_problems(self, spec: DatasetSpec) -> list[str]:
        opts = self.table_options(spec)
        problems = []
        declared = [c.name for c in opts.columns]
        if [f.name for f in spec.fields] != declared:
            problems.append(
                "a records dataset's fields come from records.columns: leave `fields` out"
            )
        if spec.label_field or spec.labels:
            problems.append("label_field and labels apply only to labelled dataset kinds")
        if spec.generation.total_records != opts.rows:
            problems.append("a records dataset is sized by records.rows, not generation")
        return problems

    def table_options(self, spec: DatasetSpec) -> RecordsOptions:
        options = self.options(spec)
        assert isinstance(options, RecordsOptions)
        return options

    def columns(self, spec: DatasetSpec) -> list[TableColumn]:
        return self.table_options(spec).columns

    def size_setting(self, spec: DatasetSpec) -> tuple[str, str]:
        return "records.rows", f"{self.target_total(spec):,}"

    def target_total(self, spec: DatasetSpec) -> int:
        return self.table_options(spec).rows

    # --- records ----------------------------------------------------------------------

    def validate_record(self, spec: DatasetSpec, obj: dict[str, Any], where: str) -> dict[str, Any]:
        columns = self.columns(spec)
        expected = {c.name for c in columns}
        unknown = set(obj) - expected
        if unknown:
            raise RecordError(
                f"{where}: unknown column(s) {sorted(unknown)}; records.columns names "
                f"{sorted(expected)}"
            )
        out: dict[str, Any] = {}
        for c in columns:
            value = obj.get(c.name)
            if value is None or value == "":
                raise RecordError(f"{where}: column {c.name!r} is missing or empty")
            out[c.name] = _parse_value(c, value, where)
        return out

    def text_of(self, spec: DatasetSpec, record: dict[str, Any]) -> str:
        return _record_text(self.columns(spec), record)

    def record_problem(self, spec: DatasetSpec, record: dict[str, Any]) -> str | None:
        try:
            self.validate_record(spec, record, "row")
        except RecordError as e:
            return str(e).removeprefix("row: ")
        return None

    def restatement_pairs(self, fields: list[str]) -> list[tuple[str, str]]:
        return []

    def holdout_problems(
        self,
        spec: DatasetSpec,
        labels: list[str | None],
        where: str,
        minimum_total: int,
        minimum_per_label: int,
    ) -> list[str]:
        # The privacy baselines (distance to closest record, membership) compare the holdout
        # with the seeds: a few dozen rows make them noise.
        return super().holdout_problems(spec, labels, where, max(minimum_total, 50), 0)

    # --- generation -------------------------------------------------------------------

    def plan_requests(self, spec: DatasetSpec, seeds: Any) -> list[Any] | None:
        return []  # the rows come from the local synthesizer (`local_candidates`)

    def local_candidates(
        self, spec: DatasetSpec, seeds: pl.DataFrame, version: str, log: Any = None
    ) -> tuple[pl.DataFrame, dict[str, Any]] | None:
        """The synthesizer's rows as candidates, text columns still empty. The fakes avoid
        the holdout's identifiers too (the synthesizer never learns from the holdout)."""
        from synth_pipeline.records import CANDIDATE_SCHEMA, load_real_records
        from synth_pipeline.records import record_id as make_id
        from synth_pipeline.tables.synthesizer import synthesize

        opts = self.table_options(spec)
        real = table_frame(spec, seeds)
        holdout = table_frame(spec, load_real_records(spec, spec.holdout_file, "holdout"))
        seed = _version_seed(spec, version)
        result = synthesize(
            real,
            opts.columns,
            opts.rows,
            epsilon=opts.epsilon,
            seed=seed,
            progress=log,
            avoid=holdout,
        )
        rows = []
        params = json.dumps({"epsilon": result.epsilon, "seed": seed}, sort_keys=True)
        for i, raw in enumerate(result.frame.iter_rows(named=True)):
            record = {c.name: _json_value(raw.get(c.name)) for c in opts.columns}
            rows.append(
                {
                    "record_id": make_id("syn", {**record, "_row": i}),
                    "text": _record_text(opts.columns, record),
                    "label": None,
                    "record": json.dumps(record, ensure_ascii=False),
                    "status": "ok",
                    "strategy": STRATEGY,
                    "sample_index": i,
                    "provider": "local",
                    "model": "mst",
                    "params": params,
                    "from_cache": False,
                    "prompt_tokens": 0,
                    "completion_tokens": 0,
                }
            )
        frame = pl.DataFrame(rows, schema=CANDIDATE_SCHEMA)
        figures = {
            "synthesizer": "mst",
            "epsilon": result.epsilon,
            "synthesizer_seed": seed,
            "fit_seconds": round(result.fit_seconds, 2),
            "sample_seconds": round(result.sample_seconds, 2),
            "synthesizer_notes": result.notes,
        }
        return frame, figures

    def response_model(self, spec: DatasetSpec, name: str | None) -> type[BaseModel] | None:
        if name != TEXT_FILL:
            return None
        fields: dict[str, Any] = {
            c.name: (str, Field(description=c.description))
            for c in self.columns(spec)
            if c.type == "text"
        }
        return create_model("TextColumns", **fields)

    def text_prompt_values(self, spec: DatasetSpec, record: dict[str, Any]) -> dict[str, Any]:
        """What a free-text request may show of a synthetic row: its quasi-identifier and
        plain columns; never an identifier (a fake, but it would tie the text to a person's
        stand-in) nor a sensitive value."""
        return {
            c.name: record.get(c.name)
            for c in self.columns(spec)
            if c.modelled and c.role in ("quasi_identifier", "plain")
        }

    def follow_up(self, spec: DatasetSpec, frame: pl.DataFrame) -> list[Any]:
        """After the synthesizer's rows, one request per row to write its free-text columns;
        nothing when the table has none or they are written."""
        from synth_pipeline.generation.planner import GenerationRequest

        columns = self.columns(spec)
        texts = [c for c in columns if c.type == "text"]
        if not texts or not frame.height or set(frame["strategy"].to_list()) != {STRATEGY}:
            return []
        system = (
            f"You write the free-text columns of one row of a table. The table: "
            f"{' '.join(spec.task.split())} Answer in JSON with the keys "
            + ", ".join(f"{c.name} ({' '.join(c.description.split())})" for c in texts)
            + "."
        )
        out = []
        for row in frame.filter(pl.col("status") == "ok").iter_rows(named=True):
            shown = self.text_prompt_values(spec, json.loads(row["record"]))
            facts = "\n".join(f"- {k}: {v}" for k, v in shown.items())
            messages = [
                {"role": "system", "content": system},
                {"role": "user", "content": f"The row's other columns:\n{facts}"},
            ]
            out.append(
                GenerationRequest(
                    strategy=TEXT_FILL,
                    label=None,
                    seed_ids=(),
                    messages=tuple(tuple(sorted(m.items())) for m in messages),
                    sample_index=int(row["sample_index"]),
                    attributes=(("row", row["record_id"]),),
                    response=TEXT_FILL,
                )
            )
        return out

    def assemble(
        self,
        spec: DatasetSpec,
        frame: pl.DataFrame,
        requests: list[Any],
        outcomes: list[Any],
        answered: pl.DataFrame,
    ) -> pl.DataFrame:
        """The rows with their free text written; a row whose request failed keeps it empty
        (the schema filter drops it with the reason)."""
        texts = {c.name for c in self.columns(spec) if c.type == "text"}
        written: dict[str, dict[str, Any]] = {}
        for request, row in zip(requests, answered.iter_rows(named=True), strict=True):
            if row["status"] == "ok" and row["record"]:
                answer = json.loads(row["record"])
                written[request.attribute_dict["row"]] = {
                    k: v for k, v in answer.items() if k in texts
                }
        columns = self.columns(spec)
        records, text_col = [], []
        for rid, raw in zip(frame["record_id"], frame["record"], strict=True):
            record = {**json.loads(raw), **written.get(rid, {})}
            records.append(json.dumps(record, ensure_ascii=False))
            text_col.append(_record_text(columns, record))
        # The requests' usage is in the ledger; the rows are marked as asked once, so a
        # failed request is not asked again in another round.
        return frame.with_columns(
            pl.Series("record", records, pl.String),
            pl.Series("text", text_col, pl.String),
            pl.lit(WITH_TEXT).alias("strategy"),
        )

    # --- curation and quality -----------------------------------------------------------

    def flag_bounds(self, spec: DatasetSpec) -> dict[str, float]:
        # Curation drops these rows; the blocking suite proves none got through.
        return {
            "real_copy": 0.0,
            "too_close": 0.0,
            "unique_combination": 0.0,
            "identifier_leak": 0.0,
        }

    def row_flags(
        self, spec: DatasetSpec, records: list[dict[str, Any]], real: dict[str, Any]
    ) -> dict[str, list[float]]:
        from synth_pipeline.curation.privacy import privacy_flags

        seeds, holdout = real.get("seeds"), real.get("holdout")
        if seeds is None or holdout is None:  # nothing real to compare with: flag all
            return {f: [1.0] * len(records) for f in self.flag_bounds(spec)}
        frame = pl.DataFrame(
            {"record": [json.dumps(r, ensure_ascii=False) for r in records]},
            schema={"record": pl.String},
        )
        return privacy_flags(spec, frame, seeds, holdout)

    # --- exports and the newcomer's scaffold -------------------------------------------

    def export_schema(self, spec: DatasetSpec) -> dict[str, Any]:
        return {
            c.name: (pl.String() if c.type == "date" else POLARS_DTYPES[c.type])
            for c in self.columns(spec)
        }

    def column_docs(self, spec: DatasetSpec) -> list[tuple[str, str]]:
        return [
            (c.name, f"{' '.join(c.description.split())} ({c.type}, {c.role.replace('_', ' ')})")
            for c in self.columns(spec)
        ]

    def scaffold(self, name: str, todo: str) -> dict[str, Any]:
        return {
            "name": name,
            "kind": "records",
            "task": f"{todo} What the table holds and who its rows are.",
            "seeds_file": "seeds.jsonl",  # or the table as .csv
            "holdout_file": "holdout.jsonl",
            "records": {
                "rows": 1000,
                "epsilon": 1.0,
                "target": "income",
                "columns": [
                    {
                        "name": "customer_id",
                        "type": "integer",
                        "role": "identifier",
                        "description": "The customer's account number.",
                    },
                    {
                        "name": "age",
                        "type": "integer",
                        "role": "quasi_identifier",
                        "description": "Age in years.",
                        "lower": 18,
                        "upper": 90,
                    },
                    {
                        "name": "region",
                        "type": "categorical",
                        "role": "quasi_identifier",
                        "description": "Where the customer lives.",
                    },
                    {
                        "name": "income",
                        "type": "number",
                        "role": "sensitive",
                        "description": "Yearly income in dollars.",
                        "lower": 0,
                        "upper": 300000,
                    },
                ],
            },
        }

    def record_example(self, spec: DatasetSpec, placeholders: dict[str, Any]) -> dict[str, Any]:
        examples = {"date": "2024-01-31", "categorical": "...", "text": "..."}
        return {
            c.name: examples.get(c.type, placeholders.get(FIELD_TYPE[c.type]))
            for c in self.columns(spec)
        }

    def seeds_wanted(self, spec: DatasetSpec, per_group: int) -> str:
        return "the real table (hundreds of rows or more; the holdout a few hundred)"


def _json_value(value: Any) -> Any:
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def _version_seed(spec: DatasetSpec, version: str) -> int:
    """The synthesizer's seed: fixed per version (a resumed run draws the same rows, so its
    free-text requests hit the cache) and different between versions."""
    opts = KIND.table_options(spec)
    digest = hashlib.sha256(f"{spec.name}/{version}/{opts.seed}".encode()).digest()
    return int.from_bytes(digest[:4], "big")


def table_frame(spec: DatasetSpec, frame: pl.DataFrame) -> pl.DataFrame:
    """The `record` column of a warehouse frame as a typed table of the spec's columns
    (dates as dates); rows whose record does not parse hold nulls."""
    columns = KIND.columns(spec)
    parsed = [json.loads(r) if r else {} for r in frame["record"].to_list()]
    data: dict[str, pl.Series] = {}
    for c in columns:
        values = [p.get(c.name) for p in parsed]
        if c.type == "date":
            series = pl.Series(c.name, values, pl.String).str.to_date(strict=False)
        else:
            series = pl.Series(c.name, values, POLARS_DTYPES[c.type], strict=False)
        data[c.name] = series
    return pl.DataFrame(data, schema={c.name: POLARS_DTYPES[c.type] for c in columns})


KIND = Records()
