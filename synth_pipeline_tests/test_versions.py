"""Published versions are immutable; two processes share the warehouse without lock errors."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import polars as pl
from typer.testing import CliRunner

from synth_pipeline.cli import app
from synth_pipeline.defs.runner import materialize_version
from synth_pipeline_tests.conftest import SMALL_INTENTS


def test_a_published_version_is_refused_and_force_makes_a_new_one(project, instance):
    project.add_dataset("support_intents", **SMALL_INTENTS)
    wh = project.warehouse()
    run = materialize_version(
        project.definitions(), "support_intents", "v1", instance, selection=["seeds", "holdout"]
    )
    assert run.success
    wh.publish("support_intents", "v1")  # as the published asset does once every gate passed
    seeds_before = wh.count("seeds", "support_intents", "v1")

    again = materialize_version(
        project.definitions(), "support_intents", "v1", instance, selection=["seeds"]
    )
    assert not again.success
    assert any("published and immutable" in e for e in again.errors), again.errors
    assert wh.count("seeds", "support_intents", "v1") == seeds_before

    out = CliRunner().invoke(app, ["materialize", "support_intents", "--version", "v1"])
    assert out.exit_code == 1 and "--force" in out.output


WRITER = textwrap.dedent(
    """
    import sys, time
    import polars as pl
    from synth_pipeline.warehouse import Warehouse
    wh = Warehouse(sys.argv[1])
    frame = pl.DataFrame({"record_id": ["r"] * 200, "text": ["t"] * 200,
                          "label": ["l"] * 200, "record": ["{}"] * 200})
    end = time.monotonic() + 8
    n = 0
    while time.monotonic() < end:
        wh.replace_version("filtered", "support_intents", f"w{n % 5}", frame)
        n += 1
    print(n)
    """
)


def test_cli_reads_while_another_process_writes(project):
    project.add_dataset("support_intents", **SMALL_INTENTS)
    wh = project.warehouse()
    wh.record_version("support_intents", "w0", status="running")
    wh.replace_version("seeds", "support_intents", "w0", pl.DataFrame({"record_id": ["s"]}))
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(project.warehouse_path)], stdout=subprocess.PIPE
    )
    try:
        for _ in range(6):
            out = CliRunner().invoke(app, ["versions", "support_intents"], terminal_width=200)
            assert out.exit_code == 0, out.output
            assert "w0" in out.output
    finally:
        stdout, _ = writer.communicate(timeout=60)
    assert writer.returncode == 0
    assert int(stdout.decode().strip()) > 5  # the writer made progress the whole time


def test_unknown_or_hostile_dataset_names_are_refused(project, instance):
    import pytest

    project.add_dataset("support_intents", **SMALL_INTENTS)
    for name in ("nope", "../support_intents", "support_intents; DROP TABLE seeds"):
        with pytest.raises(KeyError, match="unknown dataset"):
            materialize_version(project.definitions(), name, "v1", instance)
    assert instance.get_dynamic_partitions("nope_versions") == []
