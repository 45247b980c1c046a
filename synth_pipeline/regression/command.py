"""The `synth` command's side of the regression gate: the side-by-side table, the held
message, and `synth materialize --accept-regression`.

Accepting an existing version records who and when (`SYNTH_USER`, else the login name) and
publishes it with a Dagster run of its `published` and `exports` assets, the same run the UI
makes. For a version not made yet, the acceptance is recorded first and the whole version is
then materialized: it publishes even if it compares worse.
"""

from __future__ import annotations

import getpass
import logging
import os
from typing import Any

from rich.console import Console
from rich.table import Table

from synth_pipeline.paths import data_dir, default_warehouse, reports_dir
from synth_pipeline.regression.compare import Comparison
from synth_pipeline.regression.gate import (
    RegressionError,
    accept,
    holding,
    regression_refusal,
    stored_comparison,
)
from synth_pipeline.warehouse import Warehouse


def accepted_by() -> str:
    """Who accepts: SYNTH_USER, else the login name."""
    name = os.environ.get("SYNTH_USER")
    if name:
        return name
    try:
        return getpass.getuser()
    except Exception:  # no login name (some containers)
        return "unknown"


def comparison_table(c: Comparison, title: str | None = None) -> Table:
    from synth_pipeline.report.comparison import rows

    t = Table(
        title=title or f"{c.dataset} {c.version} compared with published version {c.baseline}"
    )
    for col in ("figure", f"published {c.baseline}", f"this version {c.version}", "change"):
        t.add_column(col, justify="left" if col == "figure" else "right")
    t.add_column("tolerance", justify="right")
    t.add_column("verdict")
    for r in rows(c):
        verdict = f"[bold red]{r['verdict']}[/]" if r["regressed"] else r["verdict"]
        t.add_row(
            f"{r['figure']} ({r['metric']})",
            r["published"],
            r["version"],
            r["change"],
            r["tolerance"],
            verdict,
        )
    return t


def print_held(console: Console, wh: Warehouse, dataset: str, version: str) -> None:
    c = holding(wh, dataset, version) or stored_comparison(wh, dataset, version)
    baseline = c.baseline if c else wh.published_version(dataset)
    console.print(
        f"[bold yellow]Held: regression[/]: {dataset} version {version} is worse than the "
        f"published version {baseline}, which stays published"
    )
    if c is not None and c.figures:
        console.print(comparison_table(c))
    console.print(
        f"Publish it anyway with `synth materialize {dataset} --version {version} "
        "--accept-regression` (recorded with who and when)"
    )


def held_note(wh: Warehouse, dataset: str, version: str) -> str:
    """One line for `synth versions`: what holds the version."""
    c = stored_comparison(wh, dataset, version)
    if c is None:
        return f"{version}: held: regression"
    return f"{version}: {c.describe()}"


def _publish_run(console: Console, dataset: str, version: str) -> Any:
    # Dagster is imported here so the other commands stay fast.
    from synth_pipeline.defs import build_definitions
    from synth_pipeline.defs.runner import materialize_version

    logging.getLogger("dagster").setLevel(logging.WARNING)
    console.print(f"Publishing [bold]{dataset}[/] version [bold]{version}[/] ...")
    return materialize_version(
        build_definitions(),
        dataset,
        version,
        selection=["published", "exports"],
        console_log_level="CRITICAL",
    )


def accept_regression(
    console: Console, dataset: str, version: str | None
) -> tuple[int | None, str]:
    """Accept a regression of VERSION. Returns (exit code, version) once an existing version
    was handled, or (None, version id) for a version still to be made (the acceptance is
    recorded; the caller materializes it)."""
    from synth_pipeline.defs.runner import new_version_id
    from synth_pipeline.spec import SpecError, load_spec

    wh = Warehouse(default_warehouse())
    try:
        spec = load_spec(data_dir() / dataset)
    except SpecError as e:
        console.print(f"[bold red]error:[/] {e}")
        return 1, version or ""
    by = accepted_by()
    if version is None or wh.version_status(dataset, version) is None:
        version = version or new_version_id()
        accept(spec, wh, version, by, note="accepted before the version was compared")
        console.print(
            f"Regression accepted in advance by [bold]{by}[/] for new version {version}: "
            "it publishes even if it compares worse than the published version"
        )
        return None, version
    if wh.was_published(dataset, version):
        console.print(f"{dataset} version {version} is already published; nothing to accept")
        return 0, version
    from synth_pipeline.gates import checks_refusal

    refusal = checks_refusal(wh, dataset, version, spec)
    if refusal and refusal != regression_refusal(wh, dataset, version):
        console.print(f"[bold red]Not accepted[/]: {refusal}")  # another gate refuses it
        return 1, version
    try:
        c = accept(spec, wh, version, by, reports_dir())
    except RegressionError as e:
        console.print(f"[bold red]error:[/] {e}")
        return 1, version
    if c is not None:
        console.print(f"[bold yellow]{c.describe()}[/]")
        if c.figures:
            console.print(comparison_table(c))
    run = _publish_run(console, dataset, version)
    for err in run.errors:
        console.print(f"[red]{err}[/]")
    if wh.published_version(dataset) == version:
        console.print(
            f"[bold green]Published[/] {dataset} version {version} (run {run.run_id}); "
            f"the acceptance by {by} is in its lineage"
        )
        return 0, version
    if wh.version_status(dataset, version) == "awaiting_review":
        console.print(
            f"[bold yellow]Awaiting review[/]: publish it with "
            f"`synth review {dataset} --version {version}`"
        )
        return 0, version
    reason = regression_refusal(wh, dataset, version)
    console.print(
        f"[bold red]Not published[/]: Dagster run {run.run_id} did not publish it"
        + (f" ({reason})" if reason else "")
    )
    return 1, version
