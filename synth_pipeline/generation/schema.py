"""The record schema handed to instructor, built from the spec's fields."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, create_model

from synth_pipeline.spec import DatasetSpec

_PY_TYPES = {"string": str, "integer": int, "number": float, "boolean": bool}


def record_model(spec: DatasetSpec) -> type[BaseModel]:
    """A pydantic model of the fields the generator writes.

    The label is not asked of the model: generation is conditioned on it, so it
    is assigned from the request. Length bounds stay out of the schema on purpose:
    curation drops out-of-bounds rows with an audited reason instead of the
    server silently cutting text mid-sentence.
    """
    fields = {
        f.name: (_PY_TYPES[f.type], Field(description=f.description)) for f in spec.content_fields
    }
    name = "".join(p.capitalize() for p in spec.name.split("_")) + "Record"
    return create_model(name, __config__=ConfigDict(extra="forbid"), **fields)
