"""Every expected failure of `synth` ends in one or two lines naming the problem, exit code 1,
and no traceback; a broken dataset folder disables only that dataset."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from synth_pipeline.cli import app
from synth_pipeline.defs.assets import version_job_name
from synth_pipeline_tests.conftest import SMALL_INTENTS


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A Dagster instance folder of the test's own, as the CLI uses it."""
    folder = tmp_path / "dagster_home"
    monkeypatch.setenv("DAGSTER_HOME", str(folder))
    return folder


def _run(*args: str):
    return CliRunner().invoke(app, list(args), terminal_width=100)


def _assert_readable(result, *expected: str, max_lines: int = 2) -> None:
    """Exit code 1, an `error:` line naming the problem, no traceback."""
    out = result.output
    assert result.exit_code == 1, out
    # A traceback would leave the exception itself here; a clean exit leaves SystemExit.
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        repr(result.exception),
        out,
    )
    assert "Traceback" not in out
    error_lines = [line for line in out.splitlines() if line.startswith("error:")]
    assert len(error_lines) == 1, out
    assert len(out.strip().splitlines()) <= max_lines, out
    for text in expected:
        assert text in out, (text, out)


def _break_yaml(folder: Path) -> None:
    with (folder / "spec.yaml").open("a") as fh:
        fh.write("labels: [unclosed\n")


def test_a_spec_error_is_one_line_naming_file_and_line(project, home):
    folder = project.add_dataset("support_intents", **SMALL_INTENTS)
    _break_yaml(folder)
    lines = len((folder / "spec.yaml").read_text().splitlines())
    _assert_readable(
        _run("materialize", "support_intents", "--version", "v1"),
        f"spec.yaml:{lines + 1}:1: not valid YAML",
        max_lines=1,
    )
    assert not home.exists() or not list(home.rglob("*.db"))  # no run was started

    project.add_dataset("coffee_qa", quality={"min_yield": -5})
    out = str(project.root / "x.jsonl")
    for command in (["materialize"], ["export", "--format", "jsonl", "--out", out]):
        _assert_readable(
            _run(command[0], "coffee_qa", *command[1:]),
            "coffee_qa/spec.yaml: invalid spec: quality.min_yield",
            max_lines=1,
        )


def test_a_data_file_error_is_a_line_naming_file_and_line_without_a_stack_trace(project, home):
    folder = project.add_dataset("support_intents", **SMALL_INTENTS)
    lines = (folder / "seeds.jsonl").read_text().splitlines()
    lines[2] = '{"text": "broken line", "label": '
    (folder / "seeds.jsonl").write_text("\n".join(lines) + "\n")
    result = _run("materialize", "support_intents", "--version", "v1")
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit)
    assert "seeds: " in result.output and "seeds.jsonl:3: malformed JSON" in result.output
    for noise in ("dagster._core", "DagsterExecutionStepExecutionError", "Traceback", " <- "):
        assert noise not in result.output, result.output


def test_a_broken_dataset_folder_disables_only_that_dataset(project, home):
    project.add_dataset("support_intents", **SMALL_INTENTS)
    _break_yaml(project.add_dataset("coffee_qa"))

    defs = project.definitions()  # loads: the other dataset keeps its assets and job
    assert defs.resolve_job_def(version_job_name("support_intents")).partitions_def is not None
    keys = {k.to_user_string() for k in defs.resolve_asset_graph().get_all_asset_keys()}
    assert "support_intents/published" in keys and "coffee_qa/published" not in keys
    placeholder = next(
        a for a in defs.assets or [] if a.key.to_user_string() == "coffee_qa/spec_error"
    )
    assert "coffee_qa is disabled" in placeholder.description
    assert "spec.yaml" in placeholder.description and "not valid YAML" in placeholder.description
    with pytest.raises(Exception, match="Could not find job"):
        defs.resolve_job_def(version_job_name("coffee_qa"))

    # The CLI says why for the broken one, and runs the other: its run starts and reaches its
    # own seeds (broken here too, so no model is called) instead of failing on coffee_qa.
    _assert_readable(_run("materialize", "coffee_qa"), "coffee_qa/spec.yaml", "not valid YAML")
    seeds = project.data / "support_intents" / "seeds.jsonl"
    seeds.write_text("not json\n" + seeds.read_text())
    result = _run("materialize", "support_intents", "--version", "v1")
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Dagster run" in result.output and "seeds.jsonl:1: malformed JSON" in result.output
    assert "coffee_qa" not in result.output


def test_unknown_and_hostile_dataset_names_and_versions_are_one_line(project, home):
    project.add_dataset("support_intents", **SMALL_INTENTS)
    project.add_dataset("coffee_qa")
    # A report outside the reports folder that `report ../evil` read before.
    evil = project.reports.parent / "evil" / "X"
    evil.mkdir(parents=True)
    (evil / "metrics.json").write_text(json.dumps({"headline_score": 66.6}))
    project.reports.mkdir()
    result = _run("report", "../evil", "--version", "X")
    _assert_readable(result, "invalid dataset name '../evil'", max_lines=1)
    assert "66.6" not in result.output

    long_name = "a" * 300
    for command in ("report", "versions", "materialize", "lineage"):
        _assert_readable(_run(command, long_name), "invalid dataset name 'aaaa", max_lines=1)
    _assert_readable(
        _run("report", "support_intents", "--version", "a b"), "invalid version id 'a b'"
    )
    for command in ("materialize", "versions", "report"):
        _assert_readable(
            _run(command, "nope"),
            "unknown dataset 'nope'; known datasets: coffee_qa, support_intents",
            max_lines=1,
        )


def _warehouse_with_a_version(project) -> Path:
    wh = project.warehouse()
    wh.record_version("support_intents", "v1", status="running")
    frame = pl.DataFrame({"record_id": [f"r{i}" for i in range(5000)], "text": ["t" * 50] * 5000})
    wh.replace_version("seeds", "support_intents", "v1", frame)
    return project.warehouse_path


def test_a_corrupt_warehouse_is_one_line_naming_the_file(project, home):
    project.add_dataset("support_intents", **SMALL_INTENTS)
    path = _warehouse_with_a_version(project)
    assert _run("versions", "support_intents").exit_code == 0

    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])  # a copy cut in half
    _assert_readable(
        _run("versions", "support_intents"), f"the warehouse {path} cannot be used", max_lines=1
    )

    path.write_bytes(os.urandom(64 * 1024))  # junk bytes
    for command in (["versions", "support_intents"], ["report", "support_intents"]):
        _assert_readable(
            _run(*command), f"the warehouse {path} cannot be used", "not a valid DuckDB"
        )


# Two `synth materialize` of one version, started together: each process registers the version
# as a dynamic partition. The hook holds both between Dagster's existence check and its insert,
# so both see the version as new, as two processes starting at the same moment do.
RACER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from dagster._core.storage.event_log.schema import DynamicPartitionsTable

    gate = Path(sys.argv[1])
    insert = DynamicPartitionsTable.insert

    def held_insert(*args, **kwargs):
        (gate / str(__import__("os").getpid())).touch()
        end = time.monotonic() + 60
        while len(list(gate.iterdir())) < 2 and time.monotonic() < end:
            time.sleep(0.01)
        return insert(*args, **kwargs)

    DynamicPartitionsTable.insert = held_insert
    from synth_pipeline.cli import app
    sys.argv = ["synth", "materialize", "support_intents", "--version", "v1"]
    app()
    """
)


def test_two_materializes_of_one_version_at_once_end_in_one_line(project, home, tmp_path):
    folder = project.add_dataset("support_intents", **SMALL_INTENTS)
    seeds = folder / "seeds.jsonl"
    seeds.write_text("not json\n" + seeds.read_text())  # the winner stops at seeds: no model call
    from synth_pipeline.defs.runner import project_instance

    project_instance().dispose()  # an instance in use; two processes creating one is not this
    gate = tmp_path / "gate"
    gate.mkdir()
    env = {**os.environ, "COLUMNS": "200"}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", RACER, str(gate)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            text=True,
        )
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=180) for p in procs]
    assert len(list(gate.iterdir())) == 2, outs  # both reached the insert together
    busy = [o for o in outs if "at the same moment" in o[0]]
    assert len(busy) == 1, outs
    stdout, stderr = busy[0]
    assert stdout.strip().startswith("error: version v1 of support_intents is being started")
    assert len(stdout.strip().splitlines()) == 1 and stderr.strip() == "", outs
    assert "IntegrityError" not in stderr and "Traceback" not in stderr
    assert all(p.returncode == 1 for p in procs)
    winner = next(o for o in outs if o is not busy[0])
    assert "seeds.jsonl:1: malformed JSON" in winner[0], winner
