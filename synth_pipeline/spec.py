"""The dataset spec: one YAML file per dataset folder, validated by pydantic.

The spec is the single source of fields, labels, targets, provider settings and
quality thresholds; nothing else in the code base hard-codes them.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from synth_pipeline.curation.config import CurationSpec
from synth_pipeline.report.config import ReportSpec

NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
SPEC_FILE = "spec.yaml"


class SpecError(ValueError):
    """A dataset spec or data file is invalid; the message names the file and field or line."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FieldSpec(_Strict):
    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    type: Literal["string", "integer", "number", "boolean"] = "string"
    description: str
    min_length: int | None = Field(default=None, ge=0, description="Minimum characters (strings).")
    max_length: int | None = Field(default=None, ge=1, description="Maximum characters (strings).")


class ProviderSpec(_Strict):
    """Where generation calls go. Every kind uses the same OpenAI-compatible client path."""

    kind: Literal["embedded", "openai", "openai_compatible"] = "embedded"
    model: str | None = None
    base_url: str | None = None
    # Name of the environment variable holding the key; the key itself never lives in a spec.
    api_key_env: str | None = None
    temperature: float = Field(default=0.9, ge=0, le=2)
    top_p: float = Field(default=0.95, gt=0, le=1)
    max_tokens: int = Field(default=160, ge=1)
    seed: int = 0
    concurrency: int = Field(default=4, ge=1, le=256)
    timeout_seconds: float = Field(default=120.0, gt=0)
    max_retries: int = Field(default=3, ge=0)

    @model_validator(mode="after")
    def _check_kind(self) -> ProviderSpec:
        if self.kind == "openai_compatible" and not self.base_url:
            raise ValueError(
                "provider.base_url is required when provider.kind is openai_compatible"
            )
        return self


class GenerationSpec(_Strict):
    # Labelled datasets: records per label; unlabelled: total records.
    records_per_label: int | None = Field(default=None, ge=1)
    total_records: int | None = Field(default=None, ge=1)
    seeds_per_prompt: int = Field(default=3, ge=0, description="Few-shot seeds shown per call.")
    max_failure_rate: float = Field(
        default=0.5, ge=0, le=1, description="Generation stops with an error above this share."
    )


class QualitySpec(_Strict):
    min_yield: int = Field(ge=0, description="Minimum rows the filtered data must keep.")
    min_length: int = Field(default=1, ge=0, description="Minimum characters of the text field.")
    max_length: int = Field(default=2000, ge=1, description="Maximum characters of the text field.")

    @model_validator(mode="after")
    def _check_bounds(self) -> QualitySpec:
        if self.min_length > self.max_length:
            raise ValueError("quality.min_length must not exceed quality.max_length")
        return self


class DatasetSpec(_Strict):
    name: str
    kind: Literal["classification", "instruction"]
    task: str = Field(description="What the records are for; shown to the generator.")
    fields: list[FieldSpec] = Field(min_length=1)
    text_field: str = Field(
        description="The main text field: dedup, lengths and similarity use it."
    )
    label_field: str | None = None
    labels: list[str] = Field(default_factory=list)
    seeds_file: str = "seeds.jsonl"
    holdout_file: str = "holdout.jsonl"
    generation: GenerationSpec
    provider: ProviderSpec = Field(default_factory=ProviderSpec)
    quality: QualitySpec
    curation: CurationSpec = Field(default_factory=CurationSpec)
    report: ReportSpec = Field(default_factory=ReportSpec)
    # The folder the spec was read from; filled by the loader, not by the YAML.
    folder: Path | None = Field(default=None, exclude=True)

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
        if self.kind == "classification":
            if not self.label_field:
                raise ValueError("label_field is required for a classification dataset")
            if self.label_field not in names:
                raise ValueError(
                    f"label_field {self.label_field!r} is not one of the fields {names}"
                )
            if len(self.labels) < 2:
                raise ValueError("labels: a classification dataset needs at least two labels")
            if len(set(self.labels)) != len(self.labels):
                raise ValueError("labels: labels must be unique")
            if self.generation.records_per_label is None:
                raise ValueError("generation.records_per_label is required for classification")
        else:
            if self.label_field or self.labels:
                raise ValueError("label_field and labels apply only to classification datasets")
            if self.generation.total_records is None:
                raise ValueError("generation.total_records is required for an instruction dataset")
        for f in (self.seeds_file, self.holdout_file):
            if "/" in f or "\\" in f or f.startswith("."):
                raise ValueError(
                    f"data file {f!r} must be a plain file name inside the dataset folder"
                )
        return self

    @property
    def is_labelled(self) -> bool:
        return self.kind == "classification"

    @property
    def target_total(self) -> int:
        if self.is_labelled:
            assert self.generation.records_per_label is not None
            return self.generation.records_per_label * len(self.labels)
        assert self.generation.total_records is not None
        return self.generation.total_records

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
        payload = self.model_dump_json(exclude={"folder"})
        return hashlib.sha256(payload.encode()).hexdigest()[:16]


def _format_validation_error(path: Path, err: ValidationError) -> str:
    parts = []
    for e in err.errors():
        loc = ".".join(str(p) for p in e["loc"]) or "(top level)"
        parts.append(f"{loc}: {e['msg']}")
    return f"{path}: invalid spec: " + "; ".join(parts)


def load_spec(folder: Path) -> DatasetSpec:
    """Read and validate `folder/spec.yaml`. The dataset name is the folder name."""
    path = folder / SPEC_FILE
    if not path.is_file():
        raise SpecError(f"{path}: spec file not found")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        raise SpecError(f"{path}: not valid YAML: {e}") from e
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
    return spec


def discover_specs(data_dir: Path) -> list[DatasetSpec]:
    """Every `data/<name>/spec.yaml`, sorted by name."""
    if not data_dir.is_dir():
        return []
    return [load_spec(p.parent) for p in sorted(data_dir.glob(f"*/{SPEC_FILE}"))]
