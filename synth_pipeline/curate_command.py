"""`synth curate`: a dataset's curation chain over a JSONL or CSV file of records a user
brings, with kept and dropped rows written to a folder. No version is made.

Kept out of cli.py so the command's code lives in one place; cli.py only registers it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from synth_pipeline.cli_errors import DatasetArg
from synth_pipeline.paths import data_dir
from synth_pipeline.spec import NAME_PATTERN, SpecError, load_spec

console = Console()


def curate(
    dataset: DatasetArg,
    input_file: Annotated[
        Path, typer.Option("--input", help="Records to curate: .jsonl or .csv with the fields.")
    ],
    out: Annotated[Path, typer.Option("--out", help="Folder for kept, dropped and summary.")],
) -> None:
    """Curate records from any source with a dataset's spec, seeds and holdout."""
    from synth_pipeline.curation.external import (
        curate_records,
        read_external_records,
        write_curation,
    )

    if not NAME_PATTERN.match(dataset) or not (data_dir() / dataset / "spec.yaml").is_file():
        known = sorted(p.parent.name for p in data_dir().glob("*/spec.yaml"))
        console.print(f"[bold red]error:[/] no dataset {dataset!r}; datasets: {known}")
        raise typer.Exit(code=1)
    if not input_file.is_file():
        console.print(f"[bold red]error:[/] {input_file}: no such file")
        raise typer.Exit(code=1)
    if out.exists() and not out.is_dir():
        console.print(f"[bold red]error:[/] {out} exists and is not a folder")
        raise typer.Exit(code=1)
    try:
        spec = load_spec(data_dir() / dataset)
        records = read_external_records(spec, input_file)
        if records.height == 0:
            console.print(f"[bold red]error:[/] {input_file}: the file holds no records")
            raise typer.Exit(code=1)
        with console.status("curating") as status:
            result = curate_records(spec, records, progress=lambda m: status.update(m))
    except SpecError as e:
        console.print(f"[bold red]error:[/] {e}")
        raise typer.Exit(code=1) from None
    paths = write_curation(result, out)
    kept = len(result.kept_ids)
    console.print(
        f"{records.height} records: [green]{kept} kept[/], [red]{records.height - kept} dropped[/]"
    )
    counts = result.result.audit.filter(~result.result.audit["kept"]).group_by("reason").len()
    if counts.height:
        table = Table("reason", "dropped")
        for reason, n in counts.sort("len", descending=True).iter_rows():
            table.add_row(reason, str(n))
        console.print(table)
    for name, path in paths.items():
        console.print(f"{name}: {path}")
