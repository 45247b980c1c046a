"""The record schemas handed to instructor, built from the spec's fields."""

from __future__ import annotations

from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, create_model

from synth_pipeline.field_types import PYTHON_TYPES
from synth_pipeline.kinds import kind_of
from synth_pipeline.spec import DatasetSpec


class _Shaped(Protocol):
    output_fields: tuple[str, ...] | None
    label_choices: tuple[str, ...]
    response: str | None


def record_model(spec: DatasetSpec) -> type[BaseModel]:
    """A pydantic model of the fields the generator writes.

    The label is not asked of the model: generation is conditioned on it, so it
    is assigned from the request. Length bounds stay out of the schema on purpose:
    curation drops out-of-bounds rows with an audited reason instead of the
    server silently cutting text mid-sentence.
    """
    return response_model_for(spec, None, ())


def response_model_for(
    spec: DatasetSpec, output_fields: tuple[str, ...] | None, label_choices: tuple[str, ...]
) -> type[BaseModel]:
    """The schema of one request: `output_fields` (all content fields when None), plus the
    label as an enum when the model has to choose it (distillation of a classification set)."""
    own = kind_of(spec).response_model(spec, None)
    if own is not None and output_fields is None and not label_choices:
        return own  # the kind's own record shape (a conversation's exchanges)
    all_fields = {f.name for f in spec.content_fields}
    wanted = all_fields if output_fields is None else set(output_fields)
    fields: dict[str, Any] = {
        f.name: (PYTHON_TYPES[f.type], Field(description=f.description))
        for f in spec.content_fields
        if f.name in wanted
    }
    if label_choices:
        assert spec.label_field is not None
        fields[spec.label_field] = (
            Literal[tuple(label_choices)],  # type: ignore[valid-type]
            Field(description=spec.field(spec.label_field).description),
        )
    if output_fields is None and not label_choices:
        suffix = "Record"
    elif output_fields:
        suffix = "Completion"
    else:
        suffix = "Label"
    name = "".join(p.capitalize() for p in spec.name.split("_")) + suffix
    return create_model(name, __config__=ConfigDict(extra="forbid"), **fields)


class ResponseModels:
    """Resolves a request's schema; one pydantic model per distinct request shape."""

    def __init__(self, spec: DatasetSpec):
        self.spec = spec
        self._models: dict[tuple[Any, ...], type[BaseModel]] = {}

    def __call__(self, request: _Shaped) -> type[BaseModel]:
        response = getattr(request, "response", None)
        shape = (request.output_fields, tuple(request.label_choices), response)
        if shape not in self._models:
            own = kind_of(self.spec).response_model(self.spec, response) if response else None
            self._models[shape] = own or response_model_for(self.spec, *shape[:2])
        return self._models[shape]
