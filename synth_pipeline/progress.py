"""Progress events for whoever is watching: the CLI's progress bar subscribes here.

Dagster logs carry the same events; this channel lets an in-process caller
(the CLI runs the Dagster job in its own process) draw a bar without parsing logs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

_listeners: list[Callable[[str, Any], None]] = []


def subscribe(listener: Callable[[str, Any], None]) -> Callable[[], None]:
    _listeners.append(listener)
    return lambda: _listeners.remove(listener)


def emit(stage: str, event: Any) -> None:
    for listener in list(_listeners):
        listener(stage, event)
