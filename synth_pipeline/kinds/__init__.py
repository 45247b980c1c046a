"""The dataset kinds, one module each, chosen once from `spec.kind`.

`kind_of(spec)` is how the rest of the code asks a kind-specific question; nothing else
tests a kind's name. Adding a kind: a module here named after it with a `KIND` instance of
a `DatasetKind` subclass (found by name, no list to edit), its prompt templates under
templates/<kind>/, its tests and docs.
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache
from typing import TYPE_CHECKING

from synth_pipeline.kinds.base import DatasetKind, RecordError

if TYPE_CHECKING:
    from synth_pipeline.spec import DatasetSpec

# Kind name -> its module under synth_pipeline.kinds: every module here but `base` is a
# kind named after it, the first ones in this order.
_FIRST = ("classification", "instruction")
_FOUND = sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.ispkg and m.name != "base")
MODULES: dict[str, str] = {n: n for n in [*_FIRST, *(m for m in _FOUND if m not in _FIRST)]}
KIND_NAMES: tuple[str, ...] = tuple(MODULES)


class UnknownKindError(ValueError):
    pass


@cache
def get_kind(name: str) -> DatasetKind:
    if name not in MODULES:
        raise UnknownKindError(f"unknown kind {name!r}; the kinds are {', '.join(KIND_NAMES)}")
    module = importlib.import_module(f"synth_pipeline.kinds.{MODULES[name]}")
    kind: DatasetKind = module.KIND
    return kind


def kind_of(spec: DatasetSpec) -> DatasetKind:
    return get_kind(spec.kind)


__all__ = ["KIND_NAMES", "DatasetKind", "RecordError", "UnknownKindError", "get_kind", "kind_of"]
