"""Curation: filters over candidate frames; every dropped row keeps its reason.

`synth_pipeline.spec` imports `curation.config`, so this package imports only that
eagerly; the other public names load on first use (they import the spec).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from synth_pipeline.curation.config import CurationSpec

if TYPE_CHECKING:
    from synth_pipeline.curation.filters import FILTERS, CurationContext, Verdict
    from synth_pipeline.curation.pipeline import CurationResult, label_shortfall, run_curation

__all__ = [
    "FILTERS",
    "CurationContext",
    "CurationResult",
    "CurationSpec",
    "Verdict",
    "label_shortfall",
    "run_curation",
]

_LAZY = {
    "FILTERS": "synth_pipeline.curation.filters",
    "CurationContext": "synth_pipeline.curation.filters",
    "Verdict": "synth_pipeline.curation.filters",
    "CurationResult": "synth_pipeline.curation.pipeline",
    "label_shortfall": "synth_pipeline.curation.pipeline",
    "run_curation": "synth_pipeline.curation.pipeline",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
