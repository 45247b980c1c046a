"""The repo is a `dg` project: `dg check defs` and `dg list defs` load its Definitions.

Both run as subprocesses from the repo root (where `[tool.dg]` in pyproject.toml is read), on
a scratch copy of the demo datasets with their own warehouse, reports folder and Dagster
instance, so nothing in the repo's `data/` or `.dagster_home/` is touched.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from synth_pipeline_tests.conftest import DATA, REPO

BIN = Path(sys.executable).parent


@pytest.fixture
def dg_env(tmp_path: Path) -> dict[str, str]:
    data = tmp_path / "data"
    for dataset in ("support_intents", "coffee_qa"):
        shutil.copytree(DATA / dataset, data / dataset)
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYNTH_")}
    env.update(
        SYNTH_DATA_DIR=str(data),
        SYNTH_WAREHOUSE=str(tmp_path / "warehouse.duckdb"),
        SYNTH_REPORTS_DIR=str(tmp_path / "reports"),
        DAGSTER_HOME=str(home),
    )
    return env


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    dg = BIN / "dg"
    if not dg.exists():
        pytest.fail(f"{dg} not found: dagster-dg-cli is pinned in requirements.lock; run `make`")
    return subprocess.run(
        [str(dg), *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=300
    )


def test_dg_check_defs_passes(dg_env):
    result = _run(["check", "defs"], dg_env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "All definitions loaded successfully." in result.stdout + result.stderr


def test_dg_list_defs_lists_every_dataset(dg_env):
    result = _run(["list", "defs", "--json"], dg_env)
    assert result.returncode == 0, result.stdout + result.stderr
    listed = json.loads(result.stdout)
    schedules = {s["name"] for s in listed["schedules"]}
    assert {"support_intents_nightly", "coffee_qa_nightly"} <= schedules
    assets = {a["asset_key"] for a in listed["assets"]}
    assert {"support_intents/seeds", "coffee_qa/published"} <= assets
    assert not Path(dg_env["SYNTH_WAREHOUSE"]).exists()  # loading writes no warehouse
