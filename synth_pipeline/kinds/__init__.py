"""The dataset kinds, one module each, chosen once from `spec.kind`.

`kind_of(spec)` is how the rest of the code asks a kind-specific question; nothing else
tests a kind's name. Adding a kind: a module here with a `KIND` instance of a
`DatasetKind` subclass, and its name in `MODULES`.
"""

from __future__ import annotations

import importlib
from functools import cache
from typing import TYPE_CHECKING

from synth_pipeline.kinds.base import DatasetKind, RecordError

if TYPE_CHECKING:
    from synth_pipeline.spec import DatasetSpec

# Kind name -> its module under synth_pipeline.kinds.
MODULES: dict[str, str] = {
    "classification": "classification",
    "instruction": "instruction",
    "chat": "chat",
}
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
