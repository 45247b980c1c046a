"""Shared fixtures: an isolated data folder, warehouse, reports folder and Dagster instance."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from synth_pipeline.report.score import THRESHOLDS

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "data"
# Where the project writes by default (synth_pipeline.paths, exports.default_exports_dir):
# no test may write there. `_isolated_locations` moves them, `_checkout_untouched` checks.
GUARDED = (DATA, REPO / ".dagster_home")


def checkout_files() -> set[str]:
    """Every file under the checkout's data/ and .dagster_home/ (ignored by git or not), and
    git's view of data/ (a tracked file changed in place)."""
    found = {str(p.relative_to(REPO)) for root in GUARDED for p in root.rglob("*") if p.is_file()}
    status = subprocess.run(
        ["git", "status", "--porcelain", "--", "data"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    return found | {f"git: {line}" for line in status.stdout.splitlines()}


@pytest.fixture(scope="session", autouse=True)
def _isolated_locations(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Every test writes its warehouse, reports, exports and Dagster instance under a
    temporary folder unless it sets its own (monkeypatch.setenv wins inside the test); the
    developer's environment variables for them are ignored during the run."""
    root = tmp_path_factory.mktemp("locations")
    home = root / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SYNTH_EXPORTS_DIR", str(root / "exports"))
        mp.setenv("SYNTH_REPORTS_DIR", str(root / "reports"))
        mp.setenv("SYNTH_WAREHOUSE", str(root / "warehouse.duckdb"))
        mp.setenv("DAGSTER_HOME", str(home))
        # runner.project_instance() sets os.environ["DAGSTER_HOME"] itself; the context's
        # undo restores the original value (or its absence) all the same.
        yield root


@pytest.fixture(scope="session", autouse=True)
def _checkout_untouched(_isolated_locations: Path) -> Iterator[None]:
    """Fails the run (an error at its end) when a test left a new file in the checkout's
    data/ or .dagster_home/. Only new files count: a developer's own warehouse or instance
    may already be there."""
    before = checkout_files()
    yield
    new = sorted(checkout_files() - before)
    if new:
        pytest.fail(
            "the tests wrote into the checkout (set SYNTH_* / DAGSTER_HOME to a temporary "
            "folder in the test): " + ", ".join(new[:20]),
            pytrace=False,
        )


class Project:
    """A scratch copy of datasets with its own warehouse, reports and exports folders."""

    def __init__(self, root: Path):
        self.root = root
        self.data = root / "data"
        self.data.mkdir()
        self.warehouse_path = root / "warehouse.duckdb"
        self.reports = root / "reports"
        self.exports = root / "exports"

    def add_dataset(self, dataset: str, **overrides: Any) -> Path:
        """Copy a demo dataset, deep-merging `overrides` into its spec."""
        folder = self.data / dataset
        shutil.copytree(DATA / dataset, folder)
        self.update_spec(dataset, **overrides)
        return folder

    def update_spec(self, dataset: str, **overrides: Any) -> None:
        path = self.data / dataset / "spec.yaml"
        spec = yaml.safe_load(path.read_text())
        _merge(spec, overrides)
        path.write_text(yaml.safe_dump(spec, sort_keys=False))

    def definitions(self):
        from synth_pipeline.defs import build_definitions

        return build_definitions(self.data)

    def warehouse(self):
        from synth_pipeline.warehouse import Warehouse

        return Warehouse(self.warehouse_path)


def _merge(base: dict, extra: dict) -> None:
    for k, v in extra.items():
        if isinstance(v, dict) and isinstance(base.get(k), dict):
            _merge(base[k], v)
        else:
            base[k] = v


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Project]:
    p = Project(tmp_path)
    monkeypatch.setenv("SYNTH_DATA_DIR", str(p.data))
    monkeypatch.setenv("SYNTH_WAREHOUSE", str(p.warehouse_path))
    monkeypatch.setenv("SYNTH_REPORTS_DIR", str(p.reports))
    monkeypatch.setenv("SYNTH_EXPORTS_DIR", str(p.exports))
    for var in ("SYNTH_PROVIDER", "SYNTH_BASE_URL", "SYNTH_MODEL", "SYNTH_API_KEY_ENV"):
        monkeypatch.delenv(var, raising=False)
    yield p


@pytest.fixture
def instance() -> Iterator[Any]:
    import dagster as dg

    with dg.instance_for_test() as inst:
        yield inst


# A small labelled version: 8 labels x 2 records keeps a real-model run to seconds.
SMALL_INTENTS: dict[str, Any] = {
    # Top-up off: it depends on what curation dropped, and the cache tests count calls exactly.
    "generation": {"records_per_label": 2, "seeds_per_prompt": 2, "top_up_factor": 0},
    "provider": {"max_tokens": 90},
    "quality": {"min_yield": 3},
    # Two records per label: one drop halves a label's share, so the share gate is loose here.
    "curation": {"gates": {"label_share_tolerance": 3.0}},
    # These tests are about orchestration; 16 rows of the small model cannot meet the report's
    # quality thresholds (on by default). test_report_gate.py tests that gate on real rows.
    "report": dict.fromkeys(THRESHOLDS),
}
