"""`synth review`: review a version's sample on a local page (or from a verdicts file), apply
the review gate, and publish the version through Dagster when the gate passes.

Kept out of cli.py so the command's code lives in one place; cli.py only registers it.
"""

from __future__ import annotations

import getpass
import logging
import webbrowser
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from synth_pipeline.cli_errors import DatasetArg
from synth_pipeline.gates import AWAITING_REVIEW
from synth_pipeline.paths import data_dir, default_warehouse, reports_dir
from synth_pipeline.review.finish import ReviewOutcome, finish_review
from synth_pipeline.review.gate import ReviewState, review_required
from synth_pipeline.review.sampling import SampleRow
from synth_pipeline.review.session import ReviewError, ReviewSession
from synth_pipeline.review.verdicts import Verdict, VerdictError, read_verdict_file
from synth_pipeline.spec import NAME_PATTERN, SpecError, load_spec
from synth_pipeline.warehouse import Warehouse, WarehouseError

console = Console()


def _fail(message: str) -> None:
    console.print(f"[bold red]error:[/] {message}")
    raise typer.Exit(code=1)


def _default_reviewer() -> str | None:
    try:
        return getpass.getuser()
    except Exception:  # no login name in this environment
        return None


def resolve_review_version(wh: Warehouse, dataset: str, version: str) -> str:
    """`latest`: the newest version awaiting review, else the published one."""
    if version != "latest":
        return version
    rows = wh.rows(
        "SELECT version FROM versions WHERE dataset = ? AND status = ? "
        "ORDER BY created_at DESC, version DESC LIMIT 1",
        [dataset, AWAITING_REVIEW],
    )
    if rows:
        return rows[0][0]
    published = wh.published_version(dataset)
    if published:
        return published
    raise WarehouseError(f"no version of {dataset} awaits review or is published; pass --version")


def _serve(session: ReviewSession, reviewer: str | None, port: int, open_browser: bool) -> None:
    from synth_pipeline.review.server import ReviewServer

    total = len(session.rows)

    def on_verdict(row: SampleRow, v: Verdict) -> None:
        mark = "[green]accept[/]" if v.verdict == "accept" else f"[red]reject[/]: {v.reason}"
        console.print(f"  {row.position:>3} / {total}  {row.record_id}  {mark}")

    try:
        server = ReviewServer(session, reviewer, port=port, on_verdict=on_verdict)
    except OSError as e:
        _fail(f"cannot serve the review page on 127.0.0.1:{port}: {e.strerror or e}")
    with server:
        console.print(f"Review page: [bold]{server.url}[/]  (Ctrl-C stops; verdicts are saved)")
        if open_browser:
            webbrowser.open(server.url)
        try:
            while not server.wait(0.5):
                pass
        except KeyboardInterrupt:
            console.print("stopped; applying the gate to the verdicts so far")


def _print_outcome(session: ReviewSession, outcome: ReviewOutcome) -> None:
    f = outcome.decision.figures
    table = Table(title=f"{session.dataset} version {session.version}: review")
    table.add_column("figure")
    table.add_column("value", justify="right")
    table.add_row("reviewed", f"{f.reviewed} / {f.sample_size}")
    table.add_row("accepted", str(f.accepted))
    table.add_row("rejected", str(f.rejected))
    rate = f.acceptance_rate
    table.add_row("acceptance rate", "–" if rate is None else f"{rate:.3f}")
    table.add_row("Wilson 95% lower bound", f"{f.lower_bound:.3f}")
    table.add_row("min_acceptance", str(outcome.decision.min_acceptance))
    console.print(table)
    if not outcome.required:
        console.print("Review is not required for this dataset: the verdicts are recorded.")
        return
    style = {"passed": "green", "failed": "red"}.get(outcome.decision.state.value, "yellow")
    console.print(f"[bold {style}]{outcome.decision.describe()}[/]")


def _publish(dataset: str, version: str) -> bool:
    # Dagster is imported here: reviewing stays fast, publishing is the same run as the UI's.
    from synth_pipeline.defs import build_definitions
    from synth_pipeline.defs.runner import materialize_version

    logging.getLogger("dagster").setLevel(logging.WARNING)
    console.print(f"Publishing [bold]{dataset}[/] version [bold]{version}[/] ...")
    run = materialize_version(
        build_definitions(),
        dataset,
        version,
        selection=["published", "exports"],
        console_log_level="WARNING",
    )
    for err in run.errors:
        console.print(f"[red]{err}[/]")
    published = Warehouse(default_warehouse()).published_version(dataset) == version
    if published:
        console.print(f"[bold green]Published[/] {dataset} version {version} (run {run.run_id})")
    else:
        console.print(f"[bold red]Not published[/]: Dagster run {run.run_id} did not publish it")
    return published


def review(
    dataset: DatasetArg,
    version: Annotated[
        str,
        typer.Option(
            help="Version id, or 'latest': the newest awaiting review, else the published."
        ),
    ] = "latest",
    port: Annotated[
        int, typer.Option(help="Port of the review page on 127.0.0.1; 0 picks a free one.")
    ] = 0,
    no_browser: Annotated[
        bool, typer.Option("--no-browser", help="Only print the page's URL.")
    ] = False,
    reviewer: Annotated[
        str | None, typer.Option(help="Name stored with each verdict; your login by default.")
    ] = None,
    verdicts: Annotated[
        Path | None,
        typer.Option(
            "--verdicts",
            help='JSONL lines {"record_id", "verdict": "accept"|"reject", "reason"}: record them '
            "without the page.",
        ),
    ] = None,
) -> None:
    """Review a sample of a version's records, then apply its review gate.

    With `review.required` in the spec, a version that passes is published (a Dagster run of
    its `published` asset) and one that fails is marked failed for good.
    """
    if not NAME_PATTERN.match(dataset):
        _fail(f"unknown dataset {dataset!r}")
    try:
        spec = load_spec(data_dir() / dataset)
        wh = Warehouse(default_warehouse())
        version = resolve_review_version(wh, dataset, version)
        session = ReviewSession.open(spec, wh, version)
    except (SpecError, WarehouseError, ReviewError) as e:
        _fail(str(e))
    reviewer = reviewer or _default_reviewer()
    cfg = spec.review
    done = session.figures()
    required = review_required(spec, wh, version)
    console.print(
        f"[bold]{dataset}[/] version [bold]{version}[/]: a sample of {done.sample_size} records "
        f"(seed {cfg.seed}), {done.reviewed} reviewed so far; "
        + (
            f"publication needs a Wilson 95% lower bound >= {cfg.min_acceptance}"
            if required
            else "review is not required to publish"
        )
    )
    if wh.was_published(dataset, version) and required:
        console.print("This version is already published: verdicts only update its figures.")
    if verdicts is not None:
        try:
            items = read_verdict_file(verdicts, set(session.sample_ids), _record_ids(session))
            session.record(items, reviewer)
        except VerdictError as e:
            _fail(str(e))
        console.print(f"Recorded {len(items)} verdict(s) from {verdicts}")
    else:
        _serve(session, reviewer, port, open_browser=not no_browser)

    outcome = finish_review(session, reports_dir())
    _print_outcome(session, outcome)
    if outcome.refusal:
        console.print(f"[bold red]Not published[/]: {outcome.refusal}")
        raise typer.Exit(code=1)
    if outcome.publish_due and not _publish(dataset, version):
        raise typer.Exit(code=1)
    if outcome.required and outcome.decision.state is ReviewState.FAILED:
        raise typer.Exit(code=1)


def _record_ids(session: ReviewSession) -> set[str]:
    rows = session.wh.rows(
        "SELECT record_id FROM dataset_records WHERE dataset = ? AND version = ?",
        [session.dataset, session.version],
    )
    return {r[0] for r in rows}
