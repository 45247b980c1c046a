"""One place where the `synth` command turns expected failures into a line a person can read.

Every command runs inside `SynthGroup.invoke`: a bad spec or data file, an unknown or
invalid dataset name or version, a version another process is registering, or a warehouse
file that DuckDB cannot read ends with `error: <what and where>` and exit code 1, never a
Python traceback. Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

from typing import Annotated, Any

import click
import typer
from rich.console import Console
from rich.markup import escape
from typer.core import TyperGroup

MAX_LINES = 8  # a spec error lists a few fields; more than this is cut, not scrolled


def readable_error(e: BaseException) -> str | None:
    """The message for an expected failure, or None for a bug (which keeps its traceback)."""
    import duckdb

    from synth_pipeline.datasets import DatasetError
    from synth_pipeline.defs.runner import VersionBusyError
    from synth_pipeline.paths import default_warehouse
    from synth_pipeline.spec import SpecError
    from synth_pipeline.warehouse import WarehouseError

    if isinstance(e, SpecError | DatasetError | WarehouseError | VersionBusyError):
        return str(e)
    if isinstance(e, duckdb.Error):
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        return (
            f"the warehouse {default_warehouse()} cannot be used: {first}. If the file is "
            "damaged, restore it from a copy you made (synth_pipeline keeps no backup of it) "
            "or move it away (a new, empty one is then created)"
        )
    if isinstance(e, UnicodeError):
        return f"a file is not valid UTF-8 text: {e}"
    return None


def _shorten(message: str) -> str:
    lines = message.strip().splitlines()
    if len(lines) > MAX_LINES:
        lines = [*lines[:MAX_LINES], f"... ({len(lines) - MAX_LINES} more lines)"]
    return "\n".join(lines)


class SynthGroup(TyperGroup):
    """The `synth` group: each subcommand's expected failures become one `error:` line."""

    console = Console()

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except Exception as e:
            message = readable_error(e)
            if message is None:
                raise
            self.console.print(f"[bold red]error:[/] {escape(_shorten(message))}", soft_wrap=True)
            raise typer.Exit(code=1) from None


def _dataset_name(value: str) -> str:
    from synth_pipeline.datasets import check_dataset_name

    return check_dataset_name(value)  # DatasetError: one line, with the known datasets


# The DATASET argument of every command: a dataset folder that exists, checked before the
# command touches the warehouse or the instance.
DatasetArg = Annotated[
    str, typer.Argument(help="A dataset folder under the data directory.", callback=_dataset_name)
]
