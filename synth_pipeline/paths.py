"""Where things live. Every path can be moved with an environment variable."""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
# The report's score plot as a small PNG beside report.html: the Dagster UI page of the
# published pointer embeds it (synth_pipeline.published_pointer).
SCORECARD_NAME = "scorecard.png"


def data_dir() -> Path:
    """Dataset folders (`<name>/spec.yaml`); SYNTH_DATA_DIR overrides."""
    return Path(os.environ.get("SYNTH_DATA_DIR") or PROJECT_ROOT / "data")


def reports_dir() -> Path:
    """HTML reports go to `<reports>/<dataset>/<version>/`; SYNTH_REPORTS_DIR overrides."""
    return Path(os.environ.get("SYNTH_REPORTS_DIR") or PROJECT_ROOT / "data" / "reports")


def default_warehouse() -> Path:
    """The DuckDB file; SYNTH_WAREHOUSE overrides."""
    return Path(os.environ.get("SYNTH_WAREHOUSE") or PROJECT_ROOT / "data" / "warehouse.duckdb")


def dagster_home() -> Path:
    """One instance folder for `dagster dev`, the CLI and the schedule alike."""
    return Path(os.environ.get("DAGSTER_HOME") or PROJECT_ROOT / ".dagster_home")
