"""The spec's `curation:` section: which filters run, in what order, with what thresholds."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class CurationSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
