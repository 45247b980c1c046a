"""The dataset spec: one YAML file per dataset folder, validated by pydantic.

The spec is the single source of fields, labels, targets, provider settings and
quality thresholds; nothing else in the code base hard-codes them.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from synth_pipeline.curation.config import CurationSpec
from synth_pipeline.eval_config import EvalSpec
from synth_pipeline.field_types import FieldType
from synth_pipeline.kinds import KIND_NAMES, get_kind
from synth_pipeline.regression.config import RegressionSpec
from synth_pipeline.report.config import ReportSpec
from synth_pipeline.review.config import ReviewSpec

NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
SPEC_FILE = "spec.yaml"

# A sanity limit on one version's plan: records a spec may ask the generator for (targets
# of every strategy together). A typo such as `records_per_label: 1.0e+9` would otherwise
# plan a billion requests and hang in `candidates`; the largest demo plans 320. Set
# SYNTH_MAX_PLANNED_RECORDS to raise it for a dataset that truly needs more.
MAX_PLANNED_RECORDS = 100_000
MAX_PLANNED_RECORDS_ENV = "SYNTH_MAX_PLANNED_RECORDS"


class SpecError(ValueError):
    """A dataset spec or data file is invalid; the message names the file and field or line."""


def max_planned_records() -> int:
    """The sanity limit on a version's planned records (MAX_PLANNED_RECORDS, or the
    SYNTH_MAX_PLANNED_RECORDS environment variable)."""
    raw = os.environ.get(MAX_PLANNED_RECORDS_ENV, "").strip()
    if not raw:
        return MAX_PLANNED_RECORDS
    try:
        value = int(raw)
    except ValueError:
        raise SpecError(
            f"{MAX_PLANNED_RECORDS_ENV}={raw!r} is not a whole number of records"
        ) from None
    if value < 1:
        raise SpecError(f"{MAX_PLANNED_RECORDS_ENV}={raw!r} must be at least 1")
    return value


def decode_text(data: bytes, where: str, what: str) -> str:
    """`data` as UTF-8 text; otherwise a SpecError naming `where`, the line and the column
    of the first bad byte, and what to do. NUL bytes (binary data) are refused too."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        column = e.start - (data.rfind(b"\n", 0, e.start) + 1) + 1
        raise SpecError(
            f"{where}:{line}: not valid UTF-8 text (byte 0x{data[e.start]:02x} at column "
            f"{column}); {what} must be UTF-8 text: re-save it as UTF-8"
        ) from None
    nul = text.find("\x00")
    if nul >= 0:
        line = text.count("\n", 0, nul) + 1
        raise SpecError(
            f"{where}:{line}: binary data (a NUL byte); {what} must be UTF-8 text, "
            "not a binary file"
        )
    return text


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FieldSpec(_Strict):
    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$", description="The field's key in a record.")
    type: FieldType = Field(default="string", description="string, integer, number or boolean.")
    description: str = Field(description="What the field holds, in a few words.")
    min_length: int | None = Field(default=None, ge=0, description="Minimum characters (strings).")
    max_length: int | None = Field(default=None, ge=1, description="Maximum characters (strings).")

    def length_problem(self, text: str, what: str | None = None) -> str | None:
        """Why TEXT is outside this field's length bounds (WHAT names it), or None."""
        what = what or f"field {self.name!r}"
        if self.min_length is not None and len(text) < self.min_length:
            return f"{what} is shorter than {self.min_length} characters"
        if self.max_length is not None and len(text) > self.max_length:
            return f"{what} is longer than {self.max_length} characters"
        return None


class ModelPrice(_Strict):
    prompt_per_million: float = Field(ge=0, description="USD per million prompt tokens.")
    completion_per_million: float = Field(ge=0, description="USD per million completion tokens.")


class ProviderSpec(_Strict):
    """Where generation calls go. Every kind uses the same OpenAI-compatible client path."""

    kind: Literal["embedded", "openai", "openai_compatible"] = Field(
        default="embedded",
        description="embedded (the model shipped with the project, no key), openai, or "
        "openai_compatible (vLLM, Ollama, a llama.cpp server: needs base_url).",
    )
    model: str | None = Field(default=None, description="Model name; ignored for embedded.")
    base_url: str | None = Field(
        default=None, description="The endpoint's OpenAI-compatible URL, ending in /v1."
    )
    # Name of the environment variable holding the key; the key itself never lives in a spec.
    api_key_env: str | None = Field(
        default=None, description="Name of the environment variable holding the API key."
    )
    temperature: float = Field(default=0.9, ge=0, le=2, description="Sampling temperature.")
    top_p: float = Field(default=0.95, gt=0, le=1, description="Nucleus sampling share.")
    max_tokens: int = Field(default=160, ge=1, description="Most tokens one answer may have.")
    seed: int = Field(default=0, description="Shifts every request's sampling seed.")
    concurrency: int = Field(default=4, ge=1, le=256, description="Requests in flight at most.")
    timeout_seconds: float = Field(default=120.0, gt=0, description="Per request.")
    max_retries: int = Field(
        default=3, ge=0, description="Retries after a transport fault (rate limit, 5xx, timeout)."
    )
    # Re-asks after a reply that fails schema validation (instructor feeds the error back).
    validation_reasks: int = Field(
        default=1, ge=0, le=5, description="Re-asks after a reply that fails the schema."
    )
    # Price table, USD per million tokens, keyed by model name. The embedded model costs 0.
    prices: dict[str, ModelPrice] = Field(
        default_factory=dict, description="USD per million tokens, by model name; for budgets."
    )

    @model_validator(mode="after")
    def _check_kind(self) -> ProviderSpec:
        if self.kind == "openai_compatible" and not self.base_url:
            raise ValueError(
                "provider.base_url is required when provider.kind is openai_compatible"
            )
        return self


class _StrategyBase(_Strict):
    weight: float = Field(default=1.0, gt=0, description="Share of the target records.")
    # A jinja2 file in the dataset folder replacing the strategy's built-in user prompt.
    template: str | None = Field(
        default=None, description="A jinja2 file in the dataset folder replacing the prompt."
    )
    seeds_per_prompt: int | None = Field(
        default=None, ge=0, description="Few-shot seeds per call; generation.seeds_per_prompt."
    )

    @model_validator(mode="after")
    def _check_template(self) -> _StrategyBase:
        t = self.template
        if t is not None and ("/" in t or "\\" in t or t.startswith(".")):
            raise ValueError(f"template {t!r} must be a plain file name inside the dataset folder")
        return self


class SeedVariationStrategy(_StrategyBase):
    """Few-shot prompts with seeds drawn per call: new records in the same style."""

    name: Literal["seed_variation"]


class ClassBalanceStrategy(_StrategyBase):
    """Per-label quotas bringing seeds plus generated records to the target distribution."""

    name: Literal["class_balance"]
    # "uniform", or a share per label (normalised; labels left out get 0).
    target: Literal["uniform"] | dict[str, float] = Field(
        default="uniform", description="uniform, or a share per label (normalised)."
    )
    # Count the seeds in the final distribution, so their imbalance is corrected.
    include_seeds: bool = Field(
        default=True, description="Count the seeds in the final distribution."
    )

    @model_validator(mode="after")
    def _check_target(self) -> ClassBalanceStrategy:
        if isinstance(self.target, dict):
            if not self.target or any(v < 0 for v in self.target.values()):
                raise ValueError("class_balance.target needs non-negative shares per label")
            if sum(self.target.values()) <= 0:
                raise ValueError("class_balance.target shares must not all be zero")
        return self


class AttributesStrategy(_StrategyBase):
    """Each prompt asks for one combination of scenario and attribute values."""

    name: Literal["attributes"]
    # Dimension -> values, e.g. tone: [polite, angry], persona: [...], typo_level: [...].
    attributes: dict[str, list[str]] = Field(
        default_factory=dict, description="Dimension -> values, one value sampled per prompt."
    )
    # Edge cases the seeds lack; sampled as one more dimension named "scenario".
    scenarios: list[str] = Field(
        default_factory=list, description="Edge cases the seeds lack; one per prompt."
    )

    @model_validator(mode="after")
    def _check_values(self) -> AttributesStrategy:
        if not self.attributes and not self.scenarios:
            raise ValueError("the attributes strategy needs attributes or scenarios")
        for dim, values in self.attributes.items():
            if not re.match(r"^[a-z][a-z0-9_]*$", dim) or dim == "scenario":
                raise ValueError(
                    f"attribute name {dim!r}: use lowercase letters, digits, underscores "
                    "(and not 'scenario', which the scenarios list fills)"
                )
            if not values or len(set(values)) != len(values):
                raise ValueError(f"attribute {dim!r} needs a non-empty list of distinct values")
        if len(set(self.scenarios)) != len(self.scenarios):
            raise ValueError("scenarios must be distinct")
        return self


class DistillationStrategy(_StrategyBase):
    """A teacher labels (classification) or answers (instruction) unlabelled inputs."""

    name: Literal["distillation"]
    # JSONL or CSV in the dataset folder; each row holds some of the spec's content fields.
    inputs_file: str = Field(description="JSONL or CSV of unlabelled inputs in the folder.")
    # The teacher; the dataset's provider when unset. SYNTH_PROVIDER and friends do not
    # apply to it (they steer the generator).
    teacher: ProviderSpec | None = Field(
        default=None, description="The teacher model; the dataset's provider when unset."
    )

    @model_validator(mode="after")
    def _check_file(self) -> DistillationStrategy:
        f = self.inputs_file
        if "/" in f or "\\" in f or f.startswith("."):
            raise ValueError(f"inputs_file {f!r} must be a plain file name in the dataset folder")
        return self


EVOLUTION_OPERATIONS = ("harder", "more_specific", "more_diverse")


class EvolutionStrategy(_StrategyBase):
    """Rewrite one seed per call into a harder, more specific or more diverse variant."""

    name: Literal["evolution"]
    operations: list[Literal["harder", "more_specific", "more_diverse"]] = Field(
        default_factory=lambda: list(EVOLUTION_OPERATIONS),
        min_length=1,
        description="Rewrites to choose from, one per call.",
    )


StrategySpec = Annotated[
    SeedVariationStrategy
    | ClassBalanceStrategy
    | AttributesStrategy
    | DistillationStrategy
    | EvolutionStrategy,
    Field(discriminator="name"),
]


class BudgetSpec(_Strict):
    """Limits on one version's generation spend (all runs of the version together)."""

    max_calls: int | None = Field(default=None, ge=0, description="HTTP requests sent.")
    max_tokens: int | None = Field(default=None, ge=0, description="Prompt + completion tokens.")
    max_cost: float | None = Field(default=None, ge=0, description="USD, from provider.prices.")
    allow_partial: bool = Field(
        default=False,
        description="false: a plan whose uncached requests cannot fit in what the budget has "
        "left is refused before the first call, with the figures. true: generate what the "
        "budget allows, stop cleanly, and resume the version later with a larger budget.",
    )


DEFAULT_REFUSAL_MARKERS = [
    "i'm sorry, but i can't",
    "i'm sorry, but i cannot",
    "i am sorry, but i cannot",
    "i am sorry, but i can't",
    "i cannot help with",
    "i can't help with",
    "i can't assist",
    "i cannot assist",
    "i'm unable to help",
    "as an ai",
    "as a language model",
]


class GenerationSpec(_Strict):
    # Labelled datasets: records per label; unlabelled: total records.
    records_per_label: int | None = Field(
        default=None, ge=1, description="Classification: records to generate per label."
    )
    total_records: int | None = Field(
        default=None, ge=1, description="Instruction datasets: records to generate in all."
    )
    seeds_per_prompt: int = Field(default=3, ge=0, description="Few-shot seeds shown per call.")
    max_failure_rate: float = Field(
        default=0.5, ge=0, le=1, description="Generation stops with an error above this share."
    )
    strategies: list[StrategySpec] = Field(
        default_factory=lambda: [SeedVariationStrategy(name="seed_variation")],
        min_length=1,
        description="How prompts are made: seed_variation, class_balance, attributes, "
        "distillation, evolution, each at most once, weighted.",
    )
    budget: BudgetSpec = Field(default_factory=BudgetSpec)
    top_up_factor: float = Field(
        default=1.5,
        ge=0,
        le=10,
        description="After curation, request this many times each label's shortfall once "
        "more (0 turns top-up off).",
    )
    # A generated string field starting with one of these (case-insensitive) is a refusal.
    refusal_markers: list[str] = Field(
        default_factory=lambda: list(DEFAULT_REFUSAL_MARKERS),
        description="A generated string starting with one of these is a refusal.",
    )
    prompt_format: Literal["auto", "chat", "document"] = Field(
        default="auto",
        description="chat: the seeds as earlier turns of a conversation and a JSON answer "
        "(every provider). document: the seeds as a numbered list under `examples_title` that "
        "the model continues in plain text, one line per record (completion endpoints; only "
        "for records with one free-text field, the seed-based strategies). auto: document for "
        "the embedded model and one free-text field, chat otherwise. A small model keeps the "
        "record's voice far better when it continues a list than when it answers as an "
        "assistant.",
    )
    examples_title: str | None = Field(
        default=None,
        description="The header of a document prompt: what the listed records are, e.g. "
        "'Messages customers sent to the support team of an online store'. Defaults to the "
        "task.",
    )

    @model_validator(mode="after")
    def _check_strategies(self) -> GenerationSpec:
        names = [s.name for s in self.strategies]
        if len(set(names)) != len(names):
            raise ValueError(f"generation.strategies: each strategy at most once, got {names}")
        return self

    def problems(self, labelled: bool, labels: list[str]) -> list[str]:
        """Checks that need the rest of the dataset spec; empty when consistent."""
        out = []
        for s in self.strategies:
            if s.name == "class_balance" and not labelled:
                out.append("generation.strategies: class_balance needs a labelled dataset kind")
            if s.name == "class_balance" and isinstance(s.target, dict):
                unknown = sorted(set(s.target) - set(labels))
                if unknown:
                    out.append(f"class_balance.target: unknown labels {unknown}")
        return out


class QualitySpec(_Strict):
    """Yield and length bounds of the curated data (checked by the blocking quality suite)."""

    min_yield: int = Field(ge=0, description="Minimum rows the filtered data must keep.")
    min_length: int = Field(default=1, ge=0, description="Minimum characters of the text field.")
    max_length: int = Field(default=2000, ge=1, description="Maximum characters of the text field.")

    @model_validator(mode="after")
    def _check_bounds(self) -> QualitySpec:
        if self.min_length > self.max_length:
            raise ValueError("quality.min_length must not exceed quality.max_length")
        return self


class ExportSpec(_Strict):
    """What exports write besides the version's records (synth_pipeline/exports.py). Not part
    of the spec hash: changing it never makes a new version nor stales a check."""

    include_seeds_in_train: bool = Field(
        default=False,
        description="Add the real seed records (origin real) to the train split of every "
        "export; the test split is always the real holdout alone.",
    )
    license: str = Field(
        default="cc-by-4.0",
        pattern=r"^[a-z0-9][a-z0-9.+-]*$",
        description="License id on the Hugging Face card (lowercase Hub id, e.g. cc-by-4.0, "
        "apache-2.0, mit, other).",
    )


class DatasetSpec(_Strict):
    name: str = Field(description="The dataset's name; must match its folder's name.")
    kind: Literal[KIND_NAMES] = Field(  # type: ignore[valid-type]
        description="What a record is: " + ", ".join(KIND_NAMES) + " (synth_pipeline/kinds/; "
        "docs/SPEC.md, 'Dataset kinds')."
    )
    task: str = Field(description="What the records are for; shown to the generator.")
    purpose: Literal["train", "eval"] = Field(
        default="train",
        description="train: the version holds curated synthetic records. eval: an eval set, "
        "never synthetic-only; the version's real holdout rows are kept next to its synthetic "
        "edge cases, each row with `origin` real or synthetic, and the share of real rows "
        "must reach `eval.min_real_share` before the version publishes.",
    )
    fields: list[FieldSpec] = Field(min_length=1, description="The fields of one record.")
    text_field: str = Field(
        description="The main text field: dedup, lengths and similarity use it."
    )
    label_field: str | None = Field(
        default=None, description="Classification: the field holding the label."
    )
    labels: list[str] = Field(
        default_factory=list, description="Classification: every allowed label (two or more)."
    )
    seeds_file: str = Field(
        default="seeds.jsonl", description="Real examples shown to the generator (JSONL or CSV)."
    )
    holdout_file: str = Field(
        default="holdout.jsonl",
        description="Other real examples, never shown to the generator; the report judges on them.",
    )
    generation: GenerationSpec = Field(description="How many records, and how they are asked for.")
    provider: ProviderSpec = Field(default_factory=ProviderSpec)
    quality: QualitySpec
    curation: CurationSpec = Field(
        default_factory=CurationSpec,
        description="Which filters run and their thresholds (synth_pipeline/curation/config.py).",
    )
    report: ReportSpec = Field(
        default_factory=ReportSpec,
        description="The report's figures and the thresholds its gate checks "
        "(synth_pipeline/report/config.py).",
    )
    review: ReviewSpec = Field(
        default_factory=ReviewSpec, description="Human review of a sample before publication."
    )
    regression: RegressionSpec = Field(
        default_factory=RegressionSpec,
        description="How much worse than the published version a new version may be before "
        "it is held (synth_pipeline/regression/config.py).",
    )
    eval: EvalSpec = Field(
        default_factory=EvalSpec,
        description="Eval versions (`purpose: eval`): the share of real rows they must hold "
        "(synth_pipeline/eval_config.py).",
    )
    export: ExportSpec = Field(
        default_factory=ExportSpec,
        description="Export options: seeds in the train split, the card's license.",
    )
    kind_options: dict[str, Any] = Field(
        default_factory=dict,
        description="The kind's own settings, written under a section named after the kind "
        "(e.g. `chat:`); see synth_pipeline/kinds/.",
    )
    # The folder the spec was read from; filled by the loader, not by the YAML.
    folder: Path | None = Field(default=None, exclude=True)

    @model_validator(mode="before")
    @classmethod
    def _kind_defaults(cls, data: Any) -> Any:
        """The kind fills in what it implies (its fields, its own section)."""
        if isinstance(data, dict) and data.get("kind") in KIND_NAMES:
            return get_kind(data["kind"]).spec_defaults(data)
        return data

    @model_validator(mode="after")
    def _check_consistency(self) -> DatasetSpec:
        if not NAME_PATTERN.match(self.name):
            raise ValueError(
                f"name {self.name!r} must be lowercase letters, digits and underscores, "
                "starting with a letter"
            )
        names = [f.name for f in self.fields]
        if len(set(names)) != len(names):
            raise ValueError("fields: field names must be unique")
        if self.text_field not in names:
            raise ValueError(f"text_field {self.text_field!r} is not one of the fields {names}")
        kind = get_kind(self.kind)
        if kind.options_model is not None:
            kind.options(self)  # a ValidationError names the section's bad setting
        elif self.kind_options:
            raise ValueError(f"kind {self.kind} has no settings of its own (kind_options)")
        problems = kind.spec_problems(self)
        if problems:
            raise ValueError("; ".join(problems))
        problems = self.generation.problems(kind.labelled, self.labels)
        if problems:
            raise ValueError("; ".join(problems))
        too_large = plan_size_problem(self)
        if too_large:
            raise ValueError(too_large)
        for f in (self.seeds_file, self.holdout_file):
            if "/" in f or "\\" in f or f.startswith("."):
                raise ValueError(
                    f"data file {f!r} must be a plain file name inside the dataset folder"
                )
        return self

    @property
    def target_total(self) -> int:
        """Records a version aims at (the kind says how the spec sizes its plan)."""
        return get_kind(self.kind).target_total(self)

    def field(self, name: str) -> FieldSpec:
        return next(f for f in self.fields if f.name == name)

    @property
    def content_fields(self) -> list[FieldSpec]:
        """Fields the generator writes (everything but the label)."""
        return [f for f in self.fields if f.name != self.label_field]

    def path(self, file_name: str) -> Path:
        assert self.folder is not None, "spec was not loaded from a folder"
        return self.folder / file_name

    def spec_hash(self) -> str:
        """What a version's check results are bound to (`fingerprints.py`).

        `export` is left out: it changes what an export writes, not the rows nor any check.
        Fields added to the spec after hashes were first stored (`FIELDS_ADDED_LATER`) are
        left out while at their default, so upgrading the code keeps the hash of a spec that
        does not use them, and the checks of its versions stay valid. A new field with a
        default goes into that list."""
        exclude: dict[str, Any] = {"folder": True, "export": True}
        for path in FIELDS_ADDED_LATER:
            owner: Any = self
            for part in path[:-1]:
                owner = getattr(owner, part)
            default = type(owner).model_fields[path[-1]].get_default(call_default_factory=True)
            if getattr(owner, path[-1]) == default:
                node = exclude
                for part in path[:-1]:
                    node = node.setdefault(part, {})
                node[path[-1]] = True
        payload = self.model_dump_json(exclude=exclude)
        return hashlib.sha256(payload.encode()).hexdigest()[:16]


# Spec fields added after check results were first bound to spec hashes, as attribute paths.
FIELDS_ADDED_LATER: tuple[tuple[str, ...], ...] = (
    ("generation", "budget", "allow_partial"),
    ("curation", "junk_estimate", "without_realism"),
    ("kind_options",),
    ("purpose",),
    ("eval",),
)


def plan_size_problem(spec: DatasetSpec) -> str | None:
    """Why the spec's plan is larger than a version may plan (`max_planned_records`), with
    what it would cost; None when it fits."""
    limit = max_planned_records()
    total = spec.target_total
    if total <= limit:
        return None
    field, asked = get_kind(spec.kind).size_setting(spec)
    tokens = total * spec.provider.max_tokens
    cost = ""
    price = spec.provider.prices.get(spec.provider.model or "")
    if price is not None:
        usd = tokens * price.completion_per_million / 1e6
        cost = f", about {usd:,.0f} USD in completion tokens alone"
    return (
        f"{field}: the plan asks for {asked} records, at least {total:,} model requests and "
        f"up to {tokens:,} completion tokens (provider.max_tokens {spec.provider.max_tokens})"
        f"{cost}; a version may plan at most {limit:,} records. Lower {field}, or set "
        f"{MAX_PLANNED_RECORDS_ENV} if you really mean to generate that many"
    )


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML's safe loader, refusing a key given twice in one mapping (PyYAML keeps the
    last one silently)."""

    def construct_mapping(self, node, deep=False):  # type: ignore[no-untyped-def]
        if isinstance(node, yaml.MappingNode):
            seen: dict[object, int] = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                line = key_node.start_mark.line + 1
                try:
                    first = seen.setdefault(key, line)
                except TypeError:  # an unhashable key: let the base class refuse it
                    continue
                if first != line:
                    raise _DuplicateKey(key, first, line)
        return super().construct_mapping(node, deep=deep)


class _DuplicateKey(Exception):
    def __init__(self, key: object, first: int, again: int):
        super().__init__(key, first, again)
        self.key, self.first, self.again = key, first, again


def missing_templates(spec: DatasetSpec) -> list[str]:
    """Prompt templates the spec names in its folder that are not there, one message each
    naming the file and the spec field. (Distillation inputs are checked when planned.)"""
    assert spec.folder is not None, "spec was not loaded from a folder"
    out = []
    for i, s in enumerate(spec.generation.strategies):
        where = f"generation.strategies[{i}] ({s.name})"
        if s.template is not None and not (spec.folder / s.template).is_file():
            out.append(
                f"{spec.folder / s.template}: prompt template not found ({where}.template); "
                f"create the file in {spec.folder} or remove `template` to use the built-in "
                "prompt"
            )
    return out


def _format_validation_error(path: Path, err: ValidationError) -> str:
    parts = []
    for e in err.errors():
        loc = ".".join(str(p) for p in e["loc"]) or "(top level)"
        parts.append(f"{loc}: {e['msg']}")
    return f"{path}: invalid spec: " + "; ".join(parts)


def _yaml_problem(e: yaml.YAMLError) -> str:
    """`:line:column: not valid YAML: problem` on one line, from PyYAML's multi-line message."""
    mark = getattr(e, "problem_mark", None)
    problem = getattr(e, "problem", None)
    if mark is None or not problem:
        return f": not valid YAML: {' '.join(str(e).split())}"
    where = ""
    context, context_mark = getattr(e, "context", None), getattr(e, "context_mark", None)
    if context and context_mark is not None:
        where = f" ({context} started on line {context_mark.line + 1})"
    return f":{mark.line + 1}:{mark.column + 1}: not valid YAML: {problem}{where}"


def load_spec(folder: Path) -> DatasetSpec:
    """Read and validate `folder/spec.yaml`. The dataset name is the folder name."""
    path = folder / SPEC_FILE
    if not path.is_file():
        raise SpecError(f"{path}: spec file not found")
    text = decode_text(path.read_bytes(), str(path), "the spec")
    try:
        raw = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 (a SafeLoader)
    except _DuplicateKey as e:
        raise SpecError(
            f"{path}:{e.again}: key {e.key!r} is given twice in the same mapping (first on "
            f"line {e.first}); YAML would keep only the last one: remove one of them"
        ) from None
    except yaml.YAMLError as e:
        raise SpecError(f"{path}{_yaml_problem(e)}") from e
    if not isinstance(raw, dict):
        raise SpecError(f"{path}: the spec must be a mapping of fields")
    raw.setdefault("name", folder.name)
    if raw["name"] != folder.name:
        raise SpecError(f"{path}: name {raw['name']!r} must match its folder name {folder.name!r}")
    try:
        spec = DatasetSpec.model_validate(raw)
    except ValidationError as e:
        raise SpecError(_format_validation_error(path, e)) from e
    spec.folder = folder
    missing = missing_templates(spec)
    if missing:
        raise SpecError("; ".join(missing))
    return spec


def discover_specs(data_dir: Path) -> list[DatasetSpec]:
    """Every `data/<name>/spec.yaml`, sorted by name."""
    if not data_dir.is_dir():
        return []
    return [load_spec(p.parent) for p in sorted(data_dir.glob(f"*/{SPEC_FILE}"))]
