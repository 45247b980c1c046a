"""The protocol every dataset kind implements, and the behaviour most kinds share.

A kind owns every decision that depends on what a record is: its spec checks and the size of
its plan, how a raw record is validated and mapped to the warehouse columns (`text`, `label`,
`record`), which curation filters and quality expectations apply, which report figures it
has, and how it exports. Code elsewhere asks `kind_of(spec)` instead of testing the kind's
name; a new kind is one module here (plus its templates, tests and docs).

This module and the package's `__init__` import no Dagster, curation, generation or report
code: `spec.py` reads them. A kind's own module is imported on first use (`get_kind`), after
the spec, so it may build on generation code (the preference kind plans its own requests).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel

from synth_pipeline.field_types import HF_DTYPES, POLARS_TYPES, matches, parse_csv_value

if TYPE_CHECKING:
    from synth_pipeline.spec import DatasetSpec


class RecordError(ValueError):
    """A raw record does not fit the spec; the message starts with where it came from."""


class DatasetKind:
    """Base class of the kinds; the defaults describe a flat record of the spec's fields."""

    name: ClassVar[str]
    summary: ClassVar[str]  # one line: what a record is
    # The spec section named after the kind (e.g. `chat:`), validated by this model; None
    # when the kind has no options of its own.
    options_model: ClassVar[type[BaseModel] | None] = None
    # Records carry a label from `spec.labels`: the label filters, expectations, per-label
    # quotas and label figures apply.
    labelled: ClassVar[bool] = False
    # Curation filters of the registry this kind never runs, with why (`synth validate` and
    # the audit say so instead of silently running them).
    skipped_filters: ClassVar[dict[str, str]] = {}
    # The record features this kind has, each a family of expectations (quality/suites.py),
    # report figures (report/metric_registry.py) and sections (report/) that apply to it:
    # "text" (records are text: lengths, lexical diversity, detectability, junk), "labels" (a
    # label per record from spec.labels), "turns" (a conversation's turns), "pairs" (a
    # prompt's chosen and rejected answers), "table" (typed columns of a sensitive table).
    families: ClassVar[frozenset[str]] = frozenset({"text"})
    # After curation, generation asks again for the labels short of their quota (per-label
    # quotas only: a kind with one quota keeps what curation kept).
    tops_up: ClassVar[bool] = False
    # Records are the spec's fields as one flat JSON object; False: `view` maps a record to
    # flat fields (a conversation to its roles' text).
    flat_records: ClassVar[bool] = True
    hf_task: ClassVar[str] = "text-generation"
    # The export formats its records make sense in (exports.FORMATS).
    export_formats: ClassVar[tuple[str, ...]] = ("openai-chat", "jsonl", "parquet", "hf")

    def has(self, family: str) -> bool:
        """Whether the expectations and figures of FAMILY apply to this kind's records."""
        return family in self.families

    # --- the spec ---------------------------------------------------------------------

    def spec_defaults(self, data: dict[str, Any]) -> dict[str, Any]:
        """The raw spec data with this kind's defaults filled in, before validation: the
        kind's own section (named after it) moves to `kind_options`."""
        if self.options_model is not None and self.name in data:
            data = dict(data)
            data["kind_options"] = data.pop(self.name)
        return data

    def spec_problems(self, spec: DatasetSpec) -> list[str]:
        """What is inconsistent in SPEC for this kind; empty when it is fine."""
        return []

    def target_total(self, spec: DatasetSpec) -> int:
        """Records a version aims at."""
        assert spec.generation.total_records is not None
        return spec.generation.total_records

    def size_setting(self, spec: DatasetSpec) -> tuple[str, str]:
        """(the spec setting that sizes the plan, how the total follows from it)."""
        return "generation.total_records", f"{self.target_total(spec):,}"

    def label_groups(self, spec: DatasetSpec) -> list[str | None]:
        """The groups generation plans quotas for: each label, or [None] for one group."""
        return [None]

    def options(self, spec: DatasetSpec) -> BaseModel | None:
        """The kind's own spec section, validated once per section: record checks ask for it
        on every row."""
        if self.options_model is None:
            return None
        raw = spec.kind_options
        last = self.__dict__.get("_last_options")
        if last is None or last[0] is not raw:  # the same dict: the same validated section
            last = (raw, self.options_model.model_validate(raw))
            self.__dict__["_last_options"] = last
        return last[1]

    # --- records ----------------------------------------------------------------------

    def validate_record(self, spec: DatasetSpec, obj: dict[str, Any], where: str) -> dict[str, Any]:
        """Check one raw record against the spec's fields; RecordError starts with `where`."""
        expected = {f.name for f in spec.fields}
        unknown = set(obj) - expected
        if unknown:
            raise RecordError(
                f"{where}: unknown field(s) {sorted(unknown)}; the spec names {sorted(expected)}"
            )
        out: dict[str, Any] = {}
        for f in spec.fields:
            if f.name not in obj or obj[f.name] is None or obj[f.name] == "":
                raise RecordError(f"{where}: field {f.name!r} is missing or empty")
            value = obj[f.name]
            if isinstance(value, str) and f.type != "string":
                try:
                    value = parse_csv_value(value, f.type)
                except ValueError as e:
                    raise RecordError(f"{where}: field {f.name!r} is not a {f.type}: {e}") from e
            if not matches(value, f.type):
                raise RecordError(f"{where}: field {f.name!r} must be a {f.type}, got {value!r}")
            out[f.name] = value
        return out

    def text_of(self, spec: DatasetSpec, record: dict[str, Any]) -> str:
        """The record's main text (the `text` column: dedup, lengths and similarity)."""
        return str(record.get(spec.text_field, ""))

    def label_of(self, spec: DatasetSpec, record: dict[str, Any]) -> str | None:
        return None

    def view(self, spec: DatasetSpec, record: dict[str, Any]) -> dict[str, Any]:
        """The record as flat fields, as filters and figures read them per field."""
        return record

    def record_problem(self, spec: DatasetSpec, record: dict[str, Any]) -> str | None:
        """Why a generated record does not fit the kind's shape beyond the spec's flat fields
        (the schema filter checks those); None when it does."""
        return None

    # --- generation -------------------------------------------------------------------

    def template_dir(self) -> str | None:
        """The kind's own prompt templates (kinds/templates/<kind>/), read before the shared
        ones in generation/templates; None when it has none."""
        folder = Path(__file__).parent / "templates" / self.name
        return str(folder) if folder.is_dir() else None

    def prompt_context(self, spec: DatasetSpec) -> dict[str, Any]:
        """Extra values the kind's templates read."""
        return {}

    def response_model(self, spec: DatasetSpec, name: str | None) -> type[BaseModel] | None:
        """The schema the generator answers in: the record's (NAME None), or one of the
        kind's other answers (a judge's verdict); None: the spec's content fields."""
        return None

    def plan_requests(self, spec: DatasetSpec, seeds: Any) -> list[Any] | None:
        """The kind's own generation plan (GenerationRequests); None: the strategies'."""
        return None

    def local_candidates(
        self, spec: DatasetSpec, seeds: Any, version: str, log: Any = None
    ) -> tuple[Any, dict[str, Any]] | None:
        """Candidates the kind makes without a model (a tabular synthesizer's rows), in the
        candidates frame's schema, with their figures; None: the model writes them all."""
        return None

    def request_provider(self, spec: DatasetSpec, request: Any) -> Any:
        """The ProviderSpec a request of the kind's own plan goes to; None: `provider`."""
        return None

    def input_files(self, spec: DatasetSpec) -> list[str]:
        """Files of the dataset folder the kind reads besides seeds and holdout."""
        return []

    def input_versions(self, spec: DatasetSpec) -> dict[str, str]:
        """Other datasets' published versions the kind reads (`published <dataset>` -> its
        version id): recorded with the input files, so a newly published upstream version
        counts as a change for the nightly run."""
        return {}

    def follow_up(self, spec: DatasetSpec, frame: Any) -> list[Any]:
        """Requests to run on the generated candidates (a judge's), or none."""
        return []

    def assemble(
        self,
        spec: DatasetSpec,
        frame: Any,
        requests: list[Any],
        outcomes: list[Any],
        answered: Any,
    ) -> Any:
        """The candidate frame once the follow-up REQUESTS are answered (OUTCOMES, and their
        rows as `candidate_frame` writes them: ANSWERED)."""
        return frame

    # Filters of the curation registry the kind runs after the spec's list (its own checks).
    extra_filters: ClassVar[tuple[str, ...]] = ()

    def record_from_response(
        self,
        spec: DatasetSpec,
        response: dict[str, Any],
        fixed: dict[str, Any],
        label: str | None,
    ) -> dict[str, Any]:
        """The record a generated answer makes: the request's fixed fields, the answer and
        the requested label."""
        record = {**fixed, **response}
        if spec.label_field and label is not None:
            record[spec.label_field] = label
        return record

    def shown_example(self, spec: DatasetSpec, record: dict[str, Any]) -> dict[str, Any]:
        """A seed record as a few-shot answer shows it: the fields the generator writes."""
        return {f.name: record[f.name] for f in spec.content_fields if f.name in record}

    # --- curation and quality -----------------------------------------------------------

    def restatement_pairs(self, fields: list[str]) -> list[tuple[str, str]]:
        """(later, earlier) free-text fields where the later one must not merely repeat the
        earlier one's words (an answer restating its question): every ordered pair here."""
        return [(fields[j], fields[i]) for j in range(1, len(fields)) for i in range(j)]

    def shortfall(self, spec: DatasetSpec, kept_labels: list[str | None]) -> dict[str, int]:
        """Rows still missing against the plan's target; one `_total` entry here."""
        return {"_total": max(0, self.target_total(spec) - len(kept_labels))}

    def holdout_problems(
        self,
        spec: DatasetSpec,
        labels: list[str | None],
        where: str,
        minimum_total: int,
        minimum_per_label: int,
    ) -> list[str]:
        if len(labels) < minimum_total:
            return [
                f"{where}: {len(labels)} holdout records, need at least {minimum_total} "
                "to measure a version against (fewer make the report's figures noise)"
            ]
        return []

    def flag_bounds(self, spec: DatasetSpec) -> dict[str, float]:
        """Per-row flags whose share the quality suite bounds (flag -> largest share)."""
        return {}

    def row_flags(
        self, spec: DatasetSpec, records: list[dict[str, Any]], real: dict[str, Any]
    ) -> dict[str, list[float]]:
        """The flags of `flag_bounds`, 1.0 or 0.0 per record; REAL holds the version's real
        record frames (`seeds`, `holdout`) when the suite has them."""
        return {}

    # --- the report -------------------------------------------------------------------

    def figures(
        self,
        spec: DatasetSpec,
        texts: list[str],
        records: list[dict[str, Any]],
        real_texts: list[str],
    ) -> dict[str, float]:
        """The kind's own report figures of one set of records (`texts`: the `text` column,
        `records`: their `view`), against the real holdout's texts."""
        return {}

    def figure_rows(self) -> list[tuple[str, str, str | None]]:
        """(title, figure, real figure or None) of `figures` in the report's fidelity table."""
        return []

    # --- exports and the newcomer's scaffold -------------------------------------------

    def chat_line(
        self, spec: DatasetSpec, record: dict[str, Any], system: str | None
    ) -> dict[str, Any] | None:
        """The record as an exported chat line when the kind writes it itself; None: the
        exporter builds it from `chat_turns`."""
        return None

    def export_row(self, spec: DatasetSpec, record: dict[str, Any]) -> dict[str, Any]:
        """The record's columns in the jsonl, Parquet and hf exports."""
        return {f.name: record.get(f.name) for f in spec.fields}

    def chat_turns(self, spec: DatasetSpec) -> tuple[str, list[str]]:
        """(user field, assistant fields) of a chat fine-tuning line."""
        return spec.text_field, [f.name for f in spec.fields if f.name != spec.text_field]

    def system_prompt(self, spec: DatasetSpec, mode: str) -> str:
        """The system message of an exported chat line (`keep` or `short`)."""
        task = " ".join(spec.task.split())
        if mode == "short":
            first, dot, _ = task.partition(". ")
            return first + dot.strip()
        return task

    def hf_dtype(self, spec: DatasetSpec, field_name: str, default: Any) -> Any:
        """A field's dtype on the Hub card (`default`: the field type's own)."""
        return default

    def export_schema(self, spec: DatasetSpec) -> dict[str, Any]:
        """The Polars types of `export_row`'s columns."""
        return {f.name: POLARS_TYPES[f.type] for f in spec.fields}

    def hf_columns(self, spec: DatasetSpec) -> list[dict[str, Any]]:
        """The card's features of `export_row`'s columns: `{name, dtype}`, or `{name, list:
        [sub-features]}` for a list of records."""
        return [
            {"name": f.name, "dtype": self.hf_dtype(spec, f.name, HF_DTYPES[f.type])}
            for f in spec.fields
        ]

    def column_docs(self, spec: DatasetSpec) -> list[tuple[str, str]]:
        """(column, what it holds) for the dataset card, per `export_row` column."""
        return [(f.name, " ".join(f.description.split())) for f in spec.fields]

    def scaffold(self, name: str, todo: str) -> dict[str, Any]:
        """The spec a new dataset of this kind starts from (`synth init`), as YAML data."""
        raise NotImplementedError

    def record_example(self, spec: DatasetSpec, placeholders: dict[str, Any]) -> dict[str, Any]:
        """One record's shape for the README of a new dataset."""
        return {f.name: placeholders[f.type] for f in spec.fields}

    def seeds_wanted(self, spec: DatasetSpec, per_group: int) -> str:
        """How many seeds a newcomer should write, in words."""
        return f"at least {per_group}"
