"""The version list tells the truth: a killed run is `interrupted`, a failed stage is
`failed` with its stage and reason, a run that stopped early is `stopped after` its last
stage, and each can be resumed with the same command."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fake_openai_server import FakeOpenAIServer
from generation_support import fake_provider
from typer.testing import CliRunner

from synth_pipeline import run_state
from synth_pipeline.cli import app
from synth_pipeline_tests.conftest import SMALL_INTENTS, Project

DATASET = "support_intents"


@pytest.fixture
def slow_server() -> Iterator[FakeOpenAIServer]:
    srv = FakeOpenAIServer(latency=0.4)
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture
def home(project: Project, monkeypatch: pytest.MonkeyPatch) -> Path:
    from synth_pipeline.cli import console

    monkeypatch.setattr(console, "width", 250)  # one table row per version
    home = project.root / "dagster_home"
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    return home


def _synth(*args: str) -> Any:
    return CliRunner().invoke(app, list(args), terminal_width=200)


def _dagster_runs(version: str) -> list[Any]:
    import dagster as dg

    from synth_pipeline.defs.runner import project_instance

    return list(project_instance().get_runs(dg.RunsFilter(tags={"dagster/partition": version})))


def test_a_killed_run_is_interrupted_and_resumes(
    project: Project, home: Path, slow_server: FakeOpenAIServer
) -> None:
    project.add_dataset(
        DATASET, **{**SMALL_INTENTS, "provider": fake_provider(slow_server.base_url)}
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    proc = subprocess.Popen(
        [sys.executable, "-c", "from synth_pipeline.cli import main; main()",
         "materialize", DATASET, "--version", "v1"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while len(slow_server.events) < 3:  # generation is under way
            assert proc.poll() is None, proc.communicate()[1][-2000:]
            assert time.monotonic() < deadline, "the run never reached generation"
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL

    # Before anyone looks, the version's stage row is still open; the Dagster run "started".
    [run] = _dagster_runs("v1")
    assert not run.is_finished

    listed = _synth("versions", DATASET)
    assert listed.exit_code == 0, listed.output
    assert "interrupted in candidates" in listed.output
    assert f"synth materialize {DATASET} --version v1" in listed.output
    wh = project.warehouse()
    assert wh.version_status(DATASET, "v1") == "interrupted"
    # The UI agrees: the dead run is failed, with the reason and the command to resume.
    [run] = _dagster_runs("v1")
    assert run.status.value == "FAILURE"

    # Resuming: the same command takes the version on from where it was.
    paid_before = len(slow_server.events)
    resumed = _synth("materialize", DATASET, "--version", "v1")
    assert "Materializing" in resumed.output, resumed.output
    answered_before = {e.base_key for e in slow_server.events[:paid_before] if e.action == "ok"}
    cached = {k for (k,) in wh.rows("SELECT cache_key FROM generation_cache WHERE status = 'ok'")}
    assert cached  # answers of the killed run were stored ...
    again = [e for e in slow_server.events[paid_before:] if e.base_key in answered_before]
    assert len(again) <= 4  # ... and only calls in flight at the kill (concurrency 4) repeat
    states = run_state.version_states(wh, DATASET)
    assert states["v1"].status not in ("interrupted", "failed", "running")
    listed = _synth("versions", DATASET)
    assert "interrupted" not in listed.output


def test_a_failed_stage_names_the_stage_and_the_reason(project: Project, home: Path) -> None:
    from synth_pipeline.defs.runner import materialize_version, project_instance

    project.add_dataset(DATASET, **SMALL_INTENTS)
    # Curation of a version whose generation never ran: the stage raises.
    run = materialize_version(
        project.definitions(), DATASET, "v2", instance=project_instance(), selection=["filtered"]
    )
    assert not run.success
    states = run_state.version_states(project.warehouse(), DATASET)
    assert states["v2"].status == "failed"
    assert states["v2"].stage == "filtered"
    assert "materialize it first" in (states["v2"].reason or "")
    listed = _synth("versions", DATASET)
    # Only stage rows exist for v2 (nothing was written): the list still shows it.
    assert listed.exit_code == 0, listed.output
    assert "failed in filtered" in listed.output
    assert f"synth materialize {DATASET} --version v2" in listed.output


def test_a_run_of_some_stages_is_stopped_after_its_last_stage(project: Project, home: Path) -> None:
    from synth_pipeline.defs.runner import materialize_version, project_instance

    project.add_dataset(DATASET, **SMALL_INTENTS)
    run = materialize_version(
        project.definitions(), DATASET, "v3", instance=project_instance(), selection=["seeds"]
    )
    assert run.success
    listed = _synth("versions", DATASET)
    assert listed.exit_code == 0, listed.output
    assert "stopped after seeds" in listed.output
    assert f"synth materialize {DATASET} --version v3" in listed.output


def test_a_dead_process_is_told_from_a_live_one(project: Project) -> None:
    wh = project.warehouse()
    wh.init()
    with run_state.stage_run(wh, DATASET, "live", "candidates", None):
        states = run_state.reconcile(wh, DATASET)
        assert states["live"].status == "running"  # this very process holds the stage
    # A stage row of a process that has exited (a real child, waited for).
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    run_state.ensure_table(wh)
    wh.execute(
        f"INSERT INTO {run_state.TABLE} (dataset, version, stage, host, pid, started_at) "
        "VALUES (?, 'dead', 'filtered', ?, ?, now())",
        [DATASET, __import__("socket").gethostname(), child.pid],
    )
    states = run_state.reconcile(wh, DATASET)
    assert states["dead"].status == "interrupted"
    assert states["dead"].stage == "filtered"
    assert states["live"].status != "interrupted"


def test_secrets_never_reach_the_stage_rows(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_PROVIDER_API_KEY", "sk-very-secret-value")
    err = RuntimeError("401 from provider with key sk-very-secret-value\nsecond line")
    line = run_state.one_line_error(err)
    assert "sk-very-secret-value" not in line
    assert line == "RuntimeError: 401 from provider with key ***"


# Run by the test below in a subprocess: the real CLI, with the publication held open for a
# minute right after the warehouse pointer moved, so the kill lands inside `published`.
_SLOW_PUBLISH = """
import sys, time
from synth_pipeline import warehouse
original = warehouse.Warehouse.publish
def publish(self, dataset, version):
    original(self, dataset, version)
    print("POINTER MOVED", flush=True)
    time.sleep(120)
warehouse.Warehouse.publish = publish
from synth_pipeline.cli import main
sys.argv = ["synth", *sys.argv[1:]]
main()
"""


def test_a_kill_inside_published_is_finished_by_the_same_command(
    project: Project, home: Path
) -> None:
    import dagster as dg

    from synth_pipeline.defs.runner import project_instance

    project.add_dataset(DATASET, **SMALL_INTENTS)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    proc = subprocess.Popen(
        [sys.executable, "-c", _SLOW_PUBLISH, "materialize", DATASET, "--version", "v1"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        for line in proc.stdout:  # the embedded model generates first: about a minute
            if "POINTER MOVED" in line:
                proc.send_signal(signal.SIGKILL)
                break
    finally:
        proc.wait(timeout=300)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read()[-3000:]

    wh = project.warehouse()
    assert wh.published_version(DATASET) == "v1"  # the warehouse moved its pointer ...
    instance = project_instance()
    published_key = dg.AssetKey([DATASET, "published"])
    assert "v1" not in instance.get_materialized_partitions(published_key)  # ... Dagster not

    listed = _synth("versions", DATASET)
    assert "(unfinished)" in listed.output, listed.output
    assert f"complete them with `synth materialize {DATASET} --version v1`" in listed.output

    finished = _synth("materialize", DATASET, "--version", "v1")
    assert finished.exit_code == 0, finished.output
    assert "Finished the publication" in finished.output
    assert "v1" in instance.get_materialized_partitions(published_key)
    assert "v1" in instance.get_materialized_partitions(dg.AssetKey([DATASET, "exports"]))
    assert wh.published_version(DATASET) == "v1"
    assert wh.rows("SELECT count(*) FROM publish_history WHERE version = 'v1'") == [(1,)]
    listed = _synth("versions", DATASET)
    assert "unfinished" not in listed.output
    # Once finished, the version is immutable as before.
    again = _synth("materialize", DATASET, "--version", "v1")
    assert again.exit_code == 1 and "published and immutable" in again.output
