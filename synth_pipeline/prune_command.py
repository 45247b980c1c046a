"""`synth versions <dataset> --prune`: list the stray versions, ask, remove them.

Kept out of cli.py so the command's code lives in one place; cli.py only adds the options.
The work is `synth_pipeline.prune`'s, on the project's Dagster instance and warehouse, as
the UI's `Prune_versions_<dataset>` job does it.
"""

from __future__ import annotations

import typer
from rich.console import Console
from rich.markup import escape

from synth_pipeline.paths import default_warehouse, reports_dir
from synth_pipeline.prune import CACHE_NOTE, plan_prune, prune
from synth_pipeline.warehouse import Warehouse

PRUNE_HELP = (
    "Remove stray versions: those that hold no published data and are not running (a "
    "mistyped id, a version that failed). Lists them and asks first; removes each one's "
    "partition, warehouse rows and report folder. Published versions are never touched. "
    + CACHE_NOTE
)
YES_HELP = "With --prune: do not ask for confirmation."


def prune_versions(console: Console, dataset: str, yes: bool) -> int:
    """The exit code: 0 when pruned or nothing to prune, 1 when the user declined."""
    from synth_pipeline.defs.prune import InstanceVersions
    from synth_pipeline.defs.runner import project_instance

    wh, root = Warehouse(default_warehouse()), reports_dir()
    registry = InstanceVersions(project_instance())
    plan = plan_prune(wh, registry, dataset, root)
    for version, reason in plan.kept.items():
        console.print(f"keeps {escape(version)}: {escape(reason)}", soft_wrap=True)
    if not plan.prunable:
        console.print(f"Nothing to prune in {dataset}.")
        return 0
    console.print(f"Would remove {len(plan.prunable)} version(s) of {dataset}:")
    for stray in plan.prunable:
        console.print(f"  {escape(stray.describe())}", soft_wrap=True)
    console.print(CACHE_NOTE)
    if not yes and not typer.confirm(f"Prune these {len(plan.prunable)} version(s)?"):
        console.print("Nothing removed.")
        return 1
    removed = prune(wh, registry, plan, root)
    console.print(
        f"Pruned {len(removed)} version(s) of {dataset}: {', '.join(s.version for s in removed)}",
        soft_wrap=True,
    )
    return 0
