"""An expected refusal ends a step with its message alone, not above a long stack trace.

The plain modules refuse with their own exceptions: a gate (`GateRefused`), a stage whose
upstream has no rows for the version (`StageError`: "materialize it first"), a published
version's immutable rows, a spec or input file that cannot be used, an export that may not
be written, a damaged warehouse file. Dagster shows any exception with its stack trace and
its causes' stack traces; a `dg.Failure` raised `from None` shows its description and no
frame of the stage's code. Any other exception (a bug) keeps its whole stack trace.
"""

import functools
import inspect
from collections.abc import Callable, Iterator
from typing import Any

import dagster as dg

from synth_pipeline.export_paths import ExportError
from synth_pipeline.gates import GateRefused
from synth_pipeline.generation.engine import GenerationError
from synth_pipeline.spec import SpecError
from synth_pipeline.stages import StageError
from synth_pipeline.warehouse import DamagedWarehouseError, PublishedVersionError

REFUSALS: tuple[type[Exception], ...] = (
    StageError,
    GateRefused,
    PublishedVersionError,
    SpecError,
    ExportError,
    DamagedWarehouseError,
    GenerationError,  # a budget the plan cannot fit, a failure rate over the limit
)


def refusal_failure(error: Exception) -> dg.Failure:
    """The Failure that stands for an expected refusal: its message, nothing retried."""
    return dg.Failure(description=str(error), allow_retries=False)


def refusals_as_failure(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Put under `@dg.asset` / `@dg.asset_check`: REFUSALS raised by the body become a Failure.

    The wrapper keeps the body's signature (Dagster reads the context and resources from it)
    and stays a generator function when the body is one.
    """
    if inspect.isgeneratorfunction(fn):

        @functools.wraps(fn)
        def generator(*args: Any, **kwargs: Any) -> Iterator[Any]:
            try:
                yield from fn(*args, **kwargs)
            except REFUSALS as e:
                raise refusal_failure(e) from None

        return generator

    @functools.wraps(fn)
    def function(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except REFUSALS as e:
            raise refusal_failure(e) from None

    return function
