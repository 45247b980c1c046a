"""The `synth` command: materialize versions, list them, show reports.

It runs the same Dagster job as the UI (in this process, on the project's
instance), so every version it makes has the same lineage as one made in the UI.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from synth_pipeline import pipeline
from synth_pipeline import progress as progress_events
from synth_pipeline.cli_errors import DatasetArg, SynthGroup
from synth_pipeline.curate_command import curate
from synth_pipeline.datasets_command import datasets
from synth_pipeline.init_command import init
from synth_pipeline.paths import default_warehouse, reports_dir
from synth_pipeline.preview_command import preview
from synth_pipeline.prune_command import PRUNE_HELP, YES_HELP, prune_versions
from synth_pipeline.review_command import review
from synth_pipeline.validate_command import validate
from synth_pipeline.warehouse import Warehouse, WarehouseError, validate_version

DEMO_DATASET = "support_intents"
STAGE_NAMES = set(pipeline.STAGE_NAMES)
KEY_FIGURES = (
    "utility.tstr_accuracy",
    "utility.tstr_macro_f1",
    "utility.trtr_macro_f1",
    "utility.augmented_macro_f1",
    "fidelity.detectability_auc",
    "fidelity.label_js_distance",
    "fidelity.tfidf_mmd",
    "diversity.distinct_2",
    "diversity.compression_ratio",
    "privacy.near_copy_share",
    "privacy.holdout_contamination_count",
    "records.synthetic",
)


def candidates_figure(metrics: dict[str, Any], key: str) -> float | None:
    """The figure `key` measured on the candidates before curation, as metrics.json holds it
    (`curation.candidates.<key>`; the count of candidates is `curation.candidate_records`)."""
    if key == "records.synthetic":
        return metrics.get("curation.candidate_records")
    return metrics.get(f"curation.candidates.{key}")


app = typer.Typer(
    cls=SynthGroup, help="synth_pipeline: synthetic datasets, generated, curated, gated, reported."
)
console = Console()


def _fail(message: str) -> None:
    console.print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True)  # one line
    raise typer.Exit(code=1)


def _warehouse() -> Warehouse:
    """The warehouse, read back whole once per change (a damaged file: one `error:` line)."""
    wh = Warehouse(default_warehouse())
    wh.verify()
    return wh


def _materialize(dataset: str, version: str | None, force: bool = False) -> int:
    # Dagster is imported here so `synth versions` stays fast.
    from synth_pipeline.datasets import dataset_spec

    dataset_spec(dataset)  # a broken spec disables its dataset: SpecError names file and field
    from synth_pipeline.defs import build_definitions
    from synth_pipeline.defs.runner import (
        materialize_version,
        new_version_id,
        project_instance,
        register_version,
        unfinished_publication,
    )

    if version:
        try:
            validate_version(version)
        except WarehouseError as e:
            _fail(str(e))
        if _warehouse().was_published(dataset, version):
            unfinished = unfinished_publication(project_instance(), dataset, version)
            if unfinished and not force:
                return _finish_publication(dataset, version, unfinished)
            if not force:
                _fail(
                    f"version {version} of {dataset} is published and immutable; "
                    "pass --force to materialize a new version from the same inputs"
                )
            fresh = new_version_id()
            console.print(f"{version} is published and stays as it is; forcing new version {fresh}")
            version = fresh
    version = version or new_version_id()
    _warehouse()  # a damaged warehouse starts no version and registers none
    # Registered first: another process starting the same version is refused here, in one line.
    register_version(project_instance(), dataset, version)
    logging.getLogger("dagster").setLevel(logging.WARNING)
    console.print(f"Materializing [bold]{dataset}[/] version [bold]{version}[/] ...")
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[extra]}"),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    ) as bar:
        task = bar.add_task("generating", total=None, extra="")

        def on_progress(stage: str, event: Any) -> None:
            if stage == "candidates":
                bar.update(
                    task,
                    total=event.total,
                    completed=event.done,
                    extra=f"{event.rate:.2f}/s, failures {event.failed}, "
                    f"cache hits {event.cache_hits}",
                )

        unsubscribe = progress_events.subscribe(on_progress)
        try:
            # The bar shows progress; the full event log stays in the Dagster instance.
            # Our own summary says what failed; the full event log stays in the instance.
            run = materialize_version(
                build_definitions(), dataset, version, console_log_level="CRITICAL"
            )
        except KeyError as e:
            _fail(str(e))
        finally:
            unsubscribe()
    console.print(f"Dagster run {run.run_id}: materialized {', '.join(run.materialized) or 'none'}")
    wh = _warehouse()
    if run.failed_checks:
        from synth_pipeline.gate_report import failed_expectations

        console.print(f"[bold red]Held by gate(s):[/] {', '.join(run.failed_checks)}")
        for line in failed_expectations(wh, dataset, run.version):
            console.print(f"  [red]{line}[/]")
    else:
        for err in run.errors:
            console.print(f"[red]{err}[/]")
    published = wh.published_version(dataset)
    report = reports_dir() / dataset / run.version / "report.html"
    if report.exists():
        console.print(f"Report: [bold]{report}[/]")
    if published == run.version:
        console.print(f"[bold green]Published[/] {dataset} version {run.version}")
        return 0
    if run.success and wh.version_status(dataset, run.version) == "held_regression":
        from synth_pipeline.regression.command import print_held

        print_held(console, wh, dataset, run.version)  # not an error: a person decides
        return 0
    if run.success and wh.version_status(dataset, run.version) == "awaiting_review":
        console.print(
            f"[bold yellow]Awaiting review[/]: every gate passed; publish {dataset} version "
            f"{run.version} with `synth review {dataset} --version {run.version}`"
        )
        return 0
    console.print(
        f"[bold yellow]Not published[/]: {dataset} version {run.version} "
        f"(published version stays {published or 'none'})"
    )
    return 1


def _finish_publication(dataset: str, version: str, steps: list[str]) -> int:
    """Run the publication steps a crash cut short; the pointer is not moved again."""
    from synth_pipeline.defs import build_definitions
    from synth_pipeline.defs.runner import materialize_version

    console.print(
        f"{dataset} version {version} is published but its {' and '.join(steps)} step(s) were "
        "not recorded (the run ended early): finishing them"
    )
    logging.getLogger("dagster").setLevel(logging.WARNING)
    run = materialize_version(
        build_definitions(), dataset, version, selection=steps, console_log_level="CRITICAL"
    )
    for err in run.errors:
        console.print(f"[red]{escape(err)}[/]")
    if run.success:
        console.print(f"[bold green]Finished[/] the publication of {dataset} version {version}")
        return 0
    return 1


@app.command()
def demo(
    dataset: Annotated[
        str,
        typer.Argument(
            help="The demo dataset: support_intents (text, the embedded model) or census_wage "
            "(a sensitive table's privacy stand-in, the local synthesizer)."
        ),
    ] = DEMO_DATASET,
) -> None:
    """Materialize a new version of a demo dataset end to end (no API key)."""
    code = _materialize(dataset, None)
    wh = _warehouse()
    latest = wh.rows(
        "SELECT version FROM versions WHERE dataset = ? ORDER BY created_at DESC LIMIT 1",
        [dataset],
    )
    if code and dataset == DEMO_DATASET and latest and wh.failed_checks(dataset, latest[0][0]):
        # The run worked and a gate held the version: that is the demo's point, not a crash.
        console.print(
            "The gates held this version instead of publishing it (above: which gate, and "
            "what it measured). The embedded model (SmolLM2-135M) writes mostly incoherent "
            "or off-label rows that curation cannot all tell from good ones (docs/BENCHMARKS.md, "
            "the junk benchmark), so a held demo version is the gates doing their job. Point "
            "`provider` in data/support_intents/spec.yaml at a stronger OpenAI-compatible "
            "model to publish."
        )
        code = 0
    raise typer.Exit(code=code)


@app.command()
def materialize(
    dataset: DatasetArg,
    version: Annotated[str | None, typer.Option(help="Version id; a new one by default.")] = None,
    force: Annotated[
        bool, typer.Option("--force", help="For a published VERSION: make a new version instead.")
    ] = False,
    accept_regression: Annotated[
        bool,
        typer.Option(
            "--accept-regression",
            help="Publish VERSION although it compares worse than the published version (held: "
            "regression); for a new version, publish it even if it does. Records who "
            "(SYNTH_USER, else the login name) and when in the lineage.",
        ),
    ] = False,
) -> None:
    """Materialize one version of DATASET: seeds to published."""
    if accept_regression:
        from synth_pipeline.regression.command import accept_regression as accept

        code, version = accept(console, dataset, version)
        if code is not None:  # an existing version: accepted and published (or refused)
            raise typer.Exit(code=code)
    raise typer.Exit(code=_materialize(dataset, version, force))


def _current_spec_hash(dataset: str) -> str | None:
    """The hash of the dataset's spec as it is now, or None when it cannot be read."""
    from synth_pipeline.paths import data_dir
    from synth_pipeline.spec import SpecError, load_spec

    try:
        return load_spec(data_dir() / dataset).spec_hash()
    except (SpecError, OSError):
        return None


def _unfinished_publications(wh: Warehouse, dataset: str) -> dict[str, list[str]]:
    """Published versions whose publication Dagster never recorded, with the missing steps."""
    from synth_pipeline.run_state import publication_unconfirmed

    maybe = publication_unconfirmed(wh, dataset)
    if not maybe:
        return {}
    from synth_pipeline.defs.runner import project_instance, unfinished_publication

    instance = project_instance()
    found = {v: unfinished_publication(instance, dataset, v) for v in maybe}
    return {v: steps for v, steps in found.items() if steps}


def _version_states(wh: Warehouse, dataset: str) -> dict[str, Any]:
    """Each version's run state; killed runs found here become `interrupted` (and their
    Dagster runs failed). Dagster is asked only when a stage row alone cannot tell."""
    from synth_pipeline.run_state import reconcile

    states = reconcile(wh, dataset)
    if any(s.status in ("running", "interrupted") and s.run_id for s in states.values()):
        from synth_pipeline.defs.runner import project_instance, reconcile_versions

        states = reconcile_versions(project_instance(), wh, dataset)
    return states


@app.command()
def versions(
    dataset: DatasetArg,
    prune: Annotated[bool, typer.Option("--prune", help=PRUNE_HELP)] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help=YES_HELP)] = False,
) -> None:
    """List DATASET's versions: gates, publication, row counts, model calls and spend."""
    if prune:
        raise typer.Exit(code=prune_versions(console, dataset, yes))
    from synth_pipeline.fingerprints import describe_stale, stale_checks
    from synth_pipeline.generation.ledger import ledger_frame
    from synth_pipeline.sql_models import MODELS_DIR, load_models, relation_name, run_model

    wh = _warehouse()
    # The per-version summary is the `version_summary` SQL model; refresh its view first.
    summary = next(m for m in load_models(MODELS_DIR, STAGE_NAMES) if m.name == "version_summary")
    run_model(wh, summary, dataset, "summary")
    rows = wh.query(
        f"SELECT * FROM {relation_name('version_summary')} WHERE dataset = ? ORDER BY version",
        [dataset],
    )
    states = _version_states(wh, dataset)
    unfinished = _unfinished_publications(wh, dataset)
    # A version that failed before writing a row (its input check) is listed from its runs.
    runs_only = sorted(set(states) - set(rows["version"]))
    if rows.is_empty() and not runs_only:
        _fail(f"no versions of {dataset!r} in {wh.path}")
    spend: dict[str, dict[str, Any]] = {}
    for r in ledger_frame(wh, dataset).iter_rows(named=True):
        s = spend.setdefault(r["version"], {"calls": 0, "tokens": 0, "cost": 0.0, "stopped": False})
        s["calls"] += r["calls"] or 0
        # Sent but never answered (in flight, or cut off by a crash): paid, cost estimated.
        s["unanswered"] = s.get("unanswered", 0) + (r.get("calls_unanswered") or 0)
        s["tokens"] += (r["prompt_tokens"] or 0) + (r["completion_tokens"] or 0)
        s["cost"] += r["cost_usd"] or 0.0
        s["stopped"] = s["stopped"] or bool(r["budget_stopped"])
    table = Table(title=f"{dataset} versions")
    # A version id is copied from here: never wrapped or cut; the other columns fold first,
    # and a terminal narrower than the id column crops the table's right side, not the ids.
    longest = max(len(v) for v in [*rows["version"], *runs_only])
    table.add_column("version", no_wrap=True, min_width=longest, overflow="ignore")
    for col in ("created", "gates", "published", "rows", "candidates", "calls", "cost"):
        table.add_column(col, overflow="fold", min_width=5)
    spec_hash = _current_spec_hash(dataset)
    held: list[str] = []
    resumable: list[str] = []
    for r in rows.iter_rows(named=True):
        checked = r["gates_passed"] and not r["gates_failed"]
        stale = stale_checks(wh, dataset, r["version"], spec_hash) if checked else []
        if r["gates_failed"]:
            gates = f"[red]failed: {r['failed_checks']}[/]"
        elif stale:  # the checks passed on other rows, or under another spec, than now
            color = "red" if any(c.rows_changed for c in stale) else "yellow"
            gates = f"[{color}]not valid: {describe_stale(stale)}[/]"
        elif r.get("regression_held") and not r["is_published"]:
            gates = f"[yellow]held: regression[/] ({r['regressed_figures']})"
            held.append(r["version"])
        elif r["status"] == "awaiting_review":
            gates = f"[yellow]awaiting review[/] (passed {r['gates_passed']})"
        elif (state := states.get(r["version"])) is not None and state.resumable:
            gates = f"[red]{escape(state.describe())}[/]"
            resumable.append(r["version"])
        elif r["gates_passed"]:
            gates = f"[green]passed ({r['gates_passed']})[/]"
        elif state is not None and state.status == "running":
            gates = f"running ({state.stage})"
        else:
            gates = r["status"] or "not checked"
        s = spend.get(r["version"], {})
        calls = str(s.get("calls", 0)) + (" [red](budget-stopped)[/]" if s.get("stopped") else "")
        if s.get("unanswered"):
            calls += f" [yellow]({s['unanswered']} unanswered)[/]"
        table.add_row(
            r["version"],
            str(r["created_at"] or "")[:19],
            gates,
            ("[bold green]yes[/]" if r["is_published"] else "no")
            + (" [red](unfinished)[/]" if r["version"] in unfinished else ""),
            str(r["dataset_rows"]),
            f"{r['candidates_ok']} ok / {r['candidates']}",
            calls,
            f"${s.get('cost', 0.0):.4f}",
        )
    for v in runs_only:
        if states[v].resumable:
            resumable.append(v)
        table.add_row(
            v, "", f"[red]{escape(states[v].describe())}[/]", "no", "0", "0 ok / 0", "0", ""
        )
    # Narrower than the table's narrowest layout (whole ids), the terminal wraps the lines
    # instead of rich cutting the ids.
    console.print(table)
    for v, steps in unfinished.items():
        console.print(
            f"{v}: published, but its {' and '.join(steps)} step(s) never finished; complete "
            f"them with `synth materialize {dataset} --version {v}`",
            soft_wrap=True,
        )
    for v in resumable:  # a killed, failed or stopped run: the same command goes on from there
        console.print(
            f"{v}: {escape(states[v].describe())}; resume with "
            f"`synth materialize {dataset} --version {v}` (paid model calls are not repeated)",
            soft_wrap=True,
        )
    if held:
        from synth_pipeline.regression.command import held_note

        for v in held:  # what holds each version, side by side with the published figures
            console.print(f"[yellow]{held_note(wh, dataset, v)}[/]")


@app.command()
def report(
    dataset: DatasetArg,
    version: Annotated[
        str | None, typer.Option(help="Version; the published one by default.")
    ] = None,
) -> None:
    """Print the validation report's summary and the path of its HTML."""
    wh = _warehouse()
    version = version or wh.published_version(dataset)
    if not version:
        _fail(f"{dataset} has no published version; pass --version")
    validate_version(version)
    folder = reports_dir() / dataset / version
    if not folder.resolve().is_relative_to(reports_dir().resolve()):  # a link out of the folder
        _fail(f"the report folder {folder} is outside {reports_dir()}")
    metrics_file = folder / "metrics.json"
    if not metrics_file.exists():
        _fail(f"no report for {dataset} version {version} at {folder}")
    payload = json.loads(metrics_file.read_text())
    metrics = payload.get("metrics", {})
    console.print(
        f"[bold]{dataset}[/] version [bold]{version}[/]: headline score "
        f"[bold]{payload.get('headline_score', float('nan')):.1f}[/] / 100"
    )
    parts = Table(title="Score parts (0-100)")
    parts.add_column("part")
    parts.add_column("score", justify="right")
    parts.add_column("weight", justify="right")
    for part, value in payload.get("score_parts", {}).items():
        weight = payload.get("weights", {}).get(part, "")
        parts.add_row(part, "n/a" if value is None else f"{value:.1f}", str(weight))
    console.print(parts)
    table = Table(title="Key figures (synthetic vs candidates before curation)")
    table.add_column("metric")
    table.add_column("published", justify="right")
    table.add_column("candidates", justify="right")
    for key in KEY_FIGURES:
        if key in metrics:
            before = candidates_figure(metrics, key)
            table.add_row(key, f"{metrics[key]:.3f}", "" if before is None else f"{before:.3f}")
    console.print(table)
    for t in payload.get("thresholds", []):
        mark = "[green]pass[/]" if t.get("passed") else "[red]FAIL[/]"
        console.print(f"threshold {t.get('name')}: {mark} (observed {t.get('observed')})")
    if payload.get("regression"):  # the regression check's comparison with the published one
        console.print(
            f"compared with the published version: {payload['regression']['description']}"
        )
    console.print(f"HTML report: [bold]{folder / 'report.html'}[/]")


@app.command()
def lineage(
    dataset: DatasetArg,
    version: Annotated[
        str | None, typer.Option(help="Version; the published one by default.")
    ] = None,
    record: Annotated[
        str | None, typer.Option(help="A record id of the version's dataset (or a candidate).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """A version's asset lineage with row counts, or one record's: seeds to publication."""
    from synth_pipeline.lineage import (
        LineageError,
        record_lineage,
        render_record_lineage,
        render_version_lineage,
        version_lineage,
    )

    wh = _warehouse()
    version = version or wh.published_version(dataset)
    if not version:
        _fail(f"{dataset} has no published version; pass --version")
    try:
        validate_version(version)
        if record:
            found = record_lineage(wh, dataset, version, record)
            view = render_record_lineage(found)
        else:
            found = version_lineage(wh, dataset, version)
            view = render_version_lineage(found)
    except (LineageError, WarehouseError) as e:
        _fail(str(e))
    if as_json:
        console.print_json(json.dumps(found.to_dict(), default=str))
    else:
        console.print(view)


@app.command()
def diff(
    dataset: DatasetArg,
    v1: str,
    v2: str,
    sample: Annotated[int, typer.Option(help="Added/removed records to show.")] = 5,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """What changed from V1 to V2: records (by normalized text and by id), labels, metrics."""
    from synth_pipeline.diff import DiffError, diff_versions, render_diff

    try:
        d = diff_versions(_warehouse(), dataset, v1, v2)
    except DiffError as e:
        _fail(str(e))
    if as_json:
        console.print_json(json.dumps(d.to_dict(max_records=sample), default=str))
    else:
        console.print(render_diff(d, sample=sample))


@app.command()
def export(
    dataset: DatasetArg,
    fmt: Annotated[
        str,
        typer.Option("--format", help="openai-chat, trl-dpo (preference), jsonl, parquet or hf."),
    ],
    out: Annotated[Path, typer.Option("--out", help="File to write; a folder for hf.")],
    version: Annotated[
        str, typer.Option(help="Version, or 'latest' for the published one.")
    ] = "latest",
    force: Annotated[
        bool,
        typer.Option("--force", help="Export a version that failed a gate; the card says so."),
    ] = False,
    overwrite: Annotated[
        bool,
        typer.Option(
            "--overwrite", help="Replace an existing file (for hf: the export's files in it)."
        ),
    ] = False,
    system_prompt: Annotated[
        str,
        typer.Option(
            "--system-prompt",
            help="openai-chat: keep the system message on every line, drop it, or a short one "
            "(the labels; the task's first sentence without labels).",
        ),
    ] = "keep",
    push_to_hub: Annotated[
        str | None,
        typer.Option(
            "--push-to-hub",
            metavar="REPO",
            help="hf: then push the folder to this Hugging Face dataset repository "
            "(owner/name; created if missing), with the token in HF_TOKEN.",
        ),
    ] = None,
) -> None:
    """Export a version that passed every gate (the published one by default).

    Never replaces an existing target without --overwrite, never writes through a symbolic
    link, never into the warehouse, the Dagster instance or a dataset folder."""
    from synth_pipeline.exports import ExportError, export_version
    from synth_pipeline.paths import data_dir
    from synth_pipeline.spec import SpecError, load_spec

    if push_to_hub is not None:  # refused before anything is written
        from synth_pipeline.hub import HubError, check_repo_id, hub_token

        if fmt != "hf":
            _fail(f"--push-to-hub pushes an hf folder; use --format hf, not {fmt}")
        try:
            check_repo_id(push_to_hub)
            hub_token()
        except HubError as e:
            _fail(str(e))
    try:
        spec = load_spec(data_dir() / dataset)
        res = export_version(
            _warehouse(),
            spec,
            version,
            fmt,
            out,
            force=force,
            overwrite=overwrite,
            system_prompt=system_prompt,
        )
    except (ExportError, SpecError, WarehouseError) as e:
        _fail(str(e))
    except OSError as e:  # permissions, a full disk: nothing was left half-written
        _fail(f"cannot write {out}: {e.strerror or e}")
    if res.forced:
        console.print(f"[bold red]FORCED export; the version failed its gates:[/] {res.refusal}")
    seeds = f", {res.seed_rows} of them real seeds" if res.seed_rows else ""
    test = f" and {res.test_rows} real holdout records as test" if res.test_rows else ""
    console.print(
        f"Exported {res.rows} records of {dataset} version {res.version} as train{seeds}{test}, "
        f"{fmt}, to [bold]{res.path}[/]"
    )
    if push_to_hub is not None:
        from synth_pipeline.hub import HubError, push_folder

        try:
            pushed = push_folder(
                res.path, push_to_hub, commit_message=f"{dataset} version {res.version}"
            )
        except HubError as e:
            _fail(f"{e} (the export at {res.path} is kept)")
        console.print(
            f"Pushed {len(pushed.files)} files to [bold]{pushed.repo_url}[/]: {pushed.commit_url}"
        )


app.command()(review)  # synth_pipeline/review_command.py
app.command()(curate)  # synth_pipeline/curate_command.py
app.command()(init)  # synth_pipeline/init_command.py
app.command()(validate)  # synth_pipeline/validate_command.py
app.command()(preview)  # synth_pipeline/preview_command.py
app.command()(datasets)  # synth_pipeline/datasets_command.py


def main() -> None:  # pragma: no cover - console entry
    sys.exit(app())


if __name__ == "__main__":  # pragma: no cover
    app()
