"""The Dagster UI, in a real headless Chromium: asset graph, lineage edges, metadata, and
pruning a stray version with the `Prune_versions_<dataset>` job."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from synth_pipeline_tests.browser import CHROMIUM_ARGS, chromium_or_skip
from synth_pipeline_tests.conftest import REPO, SMALL_INTENTS

STAGE_NAMES = ["seeds", "holdout", "candidates", "filtered", "dataset", "validation_report"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_up(url: str, proc: subprocess.Popen, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"dagster dev exited early with code {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(1)
    raise TimeoutError(f"{url} did not answer within {timeout}s")


@pytest.fixture
def dagster_dev(project, tmp_path, monkeypatch):
    chromium = chromium_or_skip()
    project.add_dataset("support_intents", **SMALL_INTENTS)
    home = tmp_path / "dagster_home"
    home.mkdir()
    monkeypatch.setenv("DAGSTER_HOME", str(home))

    import dagster as dg

    from synth_pipeline.defs.runner import materialize_version

    # A real materialization for the UI to show: the real-data stages of one version.
    instance = dg.DagsterInstance.get()
    run = materialize_version(
        project.definitions(), "support_intents", "v1", instance, selection=["seeds", "holdout"]
    )
    assert run.success, run.errors

    port = _free_port()
    log = (tmp_path / "dagster_dev.log").open("w")
    proc = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "dagster"),
            "dev",
            "-w",
            str(REPO / "workspace.yaml"),
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
        ],
        cwd=REPO,
        env={**os.environ},
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        _wait_up(f"http://127.0.0.1:{port}/server_info", proc)
        yield f"http://127.0.0.1:{port}", chromium
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()


def test_asset_graph_materialization_metadata_and_pruning_in_chromium(
    dagster_dev, project, tmp_path
):
    from playwright.sync_api import sync_playwright

    base, chromium = dagster_dev
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1600, "height": 1000})

        page.goto(f"{base}/locations/synth_pipeline/asset-groups/support_intents")
        page.wait_for_selector("text=validation_report", timeout=90_000)
        skip = page.get_by_role("button", name="Skip")
        if skip.count():
            skip.click()  # the first-visit newsletter dialog
        for name in [*STAGE_NAMES, "published"]:
            assert page.get_by_text(name, exact=True).first.is_visible(), name
        # Lineage edges are drawn as stroked SVG paths between the nodes: the 11 stage edges.
        page.wait_for_timeout(1500)
        edges = page.evaluate(
            "() => [...document.querySelectorAll('svg path')]"
            ".filter(p => (p.getAttribute('stroke') || '').length && !p.closest('button'))"
            ".length"
        )
        assert edges >= 11, edges
        graph_png = tmp_path / "asset_graph.png"
        page.screenshot(path=str(graph_png))

        page.goto(f"{base}/assets/support_intents/seeds?view=events")
        page.wait_for_selector("text=dagster/row_count", timeout=90_000)
        content = page.content()
        for expected in ("per_label", "refund_request", "preview", "v1"):
            assert expected in content, expected
        asset_png = tmp_path / "seeds_asset.png"
        page.screenshot(path=str(asset_png), full_page=True)

        # Pruning from the UI: a mistyped version goes, the published one stays.
        prune_png = _prune_a_stray_version_from_the_launchpad(page, base, project, tmp_path)
        browser.close()

    assert graph_png.stat().st_size > 20_000 and asset_png.stat().st_size > 20_000
    assert prune_png.stat().st_size > 20_000


def _prune_a_stray_version_from_the_launchpad(page, base, project, tmp_path) -> Path:
    """Launch `Prune_versions_support_intents` as a user would; wait for its run to succeed."""
    import dagster as dg
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    instance = dg.DagsterInstance.get()  # the one `dagster dev` runs on (DAGSTER_HOME)
    partitions = "support_intents_versions"
    instance.add_dynamic_partitions(partitions, ["v1-typo"])
    project.warehouse().publish("support_intents", "v1")  # published: the job must keep it

    page.goto(f"{base}/locations/synth_pipeline/jobs/Prune_versions_support_intents/playground")
    launch = page.get_by_role("button", name="Launch run")
    launch.wait_for(timeout=90_000)
    skip = page.get_by_role("button", name="Skip")
    with contextlib.suppress(PlaywrightTimeout):  # the community dialog, when it shows
        skip.wait_for(timeout=10_000)
        skip.click()
    launch.click()
    # The run page opens; its logs name what was pruned and the version that stays.
    page.wait_for_selector("text=pruned 1 version(s): v1-typo", timeout=120_000)
    assert page.get_by_text("stays: published (the current version)").first.is_visible()
    png = tmp_path / "prune_run.png"
    page.screenshot(path=str(png), full_page=True)

    runs = instance.get_runs(dg.RunsFilter(job_name="Prune_versions_support_intents"))
    deadline = time.monotonic() + 60
    while runs[0].status != dg.DagsterRunStatus.SUCCESS and time.monotonic() < deadline:
        time.sleep(1)
        runs = instance.get_runs(dg.RunsFilter(job_name="Prune_versions_support_intents"))
    assert len(runs) == 1 and runs[0].status == dg.DagsterRunStatus.SUCCESS, runs[0].status
    assert instance.get_dynamic_partitions(partitions) == ["v1"]
    assert project.warehouse().count("seeds", "support_intents", "v1") > 0
    return png
