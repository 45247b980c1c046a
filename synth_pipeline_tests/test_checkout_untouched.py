"""Tests never write into the checkout (issue 13, second item): every default location the
project writes to points at a temporary folder during the run, and the session guard in
conftest.py sees a new file under data/."""

from __future__ import annotations

import os
from pathlib import Path

from synth_pipeline.exports import default_exports_dir
from synth_pipeline.paths import dagster_home, default_warehouse, reports_dir
from synth_pipeline_tests.conftest import DATA, REPO, Project, checkout_files


def _inside_checkout(path: Path) -> bool:
    return path.resolve().is_relative_to(REPO)


def test_every_default_location_is_outside_the_checkout(_isolated_locations: Path):
    for path in (reports_dir(), default_warehouse(), dagster_home(), default_exports_dir()):
        assert not _inside_checkout(path), path
        assert path.resolve().is_relative_to(_isolated_locations.resolve()), path


def test_the_project_fixture_gives_its_own_exports_folder(project: Project):
    assert default_exports_dir() == project.exports
    assert reports_dir() == project.reports and default_warehouse() == project.warehouse_path


def test_the_guard_sees_a_new_file_under_data():
    probe = DATA / f".guard-probe-{os.getpid()}"
    before = checkout_files()
    try:
        probe.write_text("x")
        rel = str(probe.relative_to(REPO))
        assert checkout_files() - before == {rel, f"git: ?? {rel}"}
    finally:
        probe.unlink()
    assert checkout_files() == before
