"""`synth datasets`: every dataset folder with its kind, published version and last version.

A folder whose spec cannot be loaded is listed with its error (`datasets.scan_datasets`),
so a broken spec is visible here instead of only as a missing dataset. Kept out of cli.py;
cli.py only registers it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rich.console import Console
from rich.markup import escape

from synth_pipeline.datasets import scan_datasets
from synth_pipeline.paths import data_dir, default_warehouse

console = Console()


@dataclass
class DatasetRow:
    name: str
    kind: str | None  # None: the spec cannot be loaded
    error: str | None
    published: str | None = None
    published_at: Any = None
    last_version: str | None = None
    last_run: Any = None
    last_status: str | None = None
    versions: int = 0


def dataset_rows() -> list[DatasetRow]:
    """One row per dataset folder, sorted by name; warehouse figures when it exists."""
    scan = scan_datasets()
    rows = {s.name: DatasetRow(s.name, s.kind, None) for s in scan.specs}
    rows.update({n: DatasetRow(n, None, e) for n, e in scan.broken.items()})
    if default_warehouse().exists() and rows:
        from synth_pipeline.warehouse import Warehouse

        wh = Warehouse(default_warehouse())
        wh.verify()
        for name, version, at in wh.rows("SELECT dataset, version, published_at FROM published"):
            if name in rows:
                rows[name].published, rows[name].published_at = version, at
        for name, version, at, status, n in wh.rows(
            "SELECT dataset, arg_max(version, created_at), max(created_at), "
            "arg_max(status, created_at), count(*) FROM versions GROUP BY dataset"
        ):
            if name in rows:
                r = rows[name]
                r.last_version, r.last_run, r.last_status, r.versions = version, at, status, n
    return [rows[n] for n in sorted(rows)]


def datasets() -> None:
    """List the datasets: kind, published version, last version made; broken specs with why."""
    found = dataset_rows()
    if not found:
        console.print(
            f"No datasets in {data_dir()}. Create one with `synth init <name> --kind "
            "classification|instruction`.",
            soft_wrap=True,
        )
        return
    console.print(f"[bold]datasets in {escape(str(data_dir()))}[/]", soft_wrap=True)
    for r in found:
        if r.error is not None:
            continue
        published = (
            f"[green]{r.published}[/] (since {str(r.published_at)[:19]})" if r.published else "none"
        )
        last = (
            f"{r.last_version} at {str(r.last_run)[:19]} ({r.last_status or '?'}), "
            f"{r.versions} version(s)"
            if r.last_version
            else "no version yet"
        )
        console.print(
            f"[bold]{r.name}[/] ({r.kind}): published {published}; last {last}", soft_wrap=True
        )
    for r in found:
        if r.error is not None:
            console.print(f"[bold red]{r.name}[/] (broken): {escape(r.error)}", soft_wrap=True)
