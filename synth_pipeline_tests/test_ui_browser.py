"""Issue 14's acceptance, in a real headless Chromium against one `dagster dev`: the asset
graph and its lineage edges; a new version of a small dataset made from the UI without typing
an id, run end to end on the embedded model and published; the page of
`<dataset>/current_published` naming that version and its report; the stage metadata; and
pruning a stray version with the `Prune_versions_<dataset>` job."""

from __future__ import annotations

import contextlib
import json
import os
import re
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

DATASET = "support_intents"
STAGE_NAMES = ["seeds", "holdout", "candidates", "filtered", "dataset", "validation_report"]
VERSION_ID = re.compile(r"^\d{8}T\d{6}Z-[0-9a-f]{4}$")
# The version run: dagster's run worker starts, the embedded model writes 16 records, the
# gates, the report and the exports follow. About a minute alone; much longer on a busy box.
VERSION_RUN_TIMEOUT = 900


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


def _graphql(base: str, query: str) -> dict:
    req = urllib.request.Request(
        f"{base}/graphql",
        data=json.dumps({"query": query}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())["data"]


RUNS_QUERY = (
    "{ runsOrError(limit: 20) { ... on Runs { results { runId jobName status "
    "tags { key value } } } } }"
)


def _runs(base: str) -> list[dict]:
    runs = _graphql(base, RUNS_QUERY)["runsOrError"]["results"]
    for run in runs:
        run["tags"] = {t["key"]: t["value"] for t in run["tags"]}
    return runs


@pytest.fixture
def dagster_dev(project, tmp_path, monkeypatch):
    """`dagster dev` (webserver and daemon) on a scratch project; the run worker it starts
    inherits this environment: data, warehouse, reports, exports and DAGSTER_HOME."""
    chromium = chromium_or_skip()
    project.add_dataset(DATASET, **SMALL_INTENTS)
    home = tmp_path / "dagster_home"
    home.mkdir()
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.setenv("SYNTH_EXPORTS_DIR", str(tmp_path / "exports"))
    # The embedded model (the `project` fixture unsets provider overrides). The webserver
    # and the daemon share the cores with it: one llama.cpp thread fewer than cores.
    if not os.environ.get("SYNTH_EMBEDDED_THREADS"):
        monkeypatch.setenv("SYNTH_EMBEDDED_THREADS", str(max(1, (os.cpu_count() or 2) - 1)))

    port = _free_port()
    log_path = tmp_path / "dagster_dev.log"
    log = log_path.open("w")
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
        yield f"http://127.0.0.1:{port}", chromium, log_path
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()


def _skip_dialogs(page) -> None:
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    skip = page.get_by_role("button", name="Skip")
    with contextlib.suppress(PlaywrightTimeout):  # the first-visit dialog, when it shows
        skip.wait_for(timeout=5_000)
        skip.click()


def test_new_version_from_the_ui_is_published_shown_and_a_stray_version_pruned(
    dagster_dev, project, tmp_path
):
    from playwright.sync_api import sync_playwright

    base, chromium, log_path = dagster_dev
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1600, "height": 1000})

        # The asset graph: every stage, and the 11 lineage edges between them.
        page.goto(f"{base}/locations/synth_pipeline/asset-groups/{DATASET}")
        page.wait_for_selector("text=validation_report", timeout=90_000)
        _skip_dialogs(page)
        for name in [*STAGE_NAMES, "published", "current_published"]:
            assert page.get_by_text(name, exact=True).first.is_visible(), name
        # Lineage edges are drawn as stroked SVG paths between the nodes.
        page.wait_for_timeout(1500)
        edges = page.evaluate(
            "() => [...document.querySelectorAll('svg path')]"
            ".filter(p => (p.getAttribute('stroke') || '').length && !p.closest('button'))"
            ".length"
        )
        assert edges >= 11, edges

        # A new version, no id typed: launch New_version_<dataset> from its Launchpad.
        version = _make_a_version_from_the_launchpad(page, base, log_path)
        assert project.warehouse().published_version(DATASET) == version

        # The page that names the published version: the generated id and its report.
        page.goto(f"{base}/assets/{DATASET}/current_published")
        page.wait_for_selector("text=published_version", timeout=90_000)
        row = page.locator("tr", has_text="published_version").first
        assert version in row.inner_text(), row.inner_text()
        content = page.content()
        for expected in ("report_html", "report_link", f"{version}/report.html"):
            assert expected in content, expected
        assert "score.headline" in content
        published_png = tmp_path / "current_published.png"
        page.screenshot(path=str(published_png), full_page=True)

        # The stage metadata of the version's run.
        page.goto(f"{base}/assets/{DATASET}/seeds?view=events")
        page.wait_for_selector("text=dagster/row_count", timeout=90_000)
        content = page.content()
        for expected in ("per_label", "refund_request", "preview", version):
            assert expected in content, expected

        # Pruning from the UI: a mistyped version goes, the published one stays.
        prune_png = _prune_a_stray_version_from_the_launchpad(
            page, base, project, tmp_path, version
        )
        browser.close()

    assert published_png.stat().st_size > 20_000 and prune_png.stat().st_size > 20_000


def _make_a_version_from_the_launchpad(page, base: str, log_path: Path) -> str:
    """Launch `New_version_<dataset>`; the sensor's run of the version job must publish.

    Returns the generated version id."""
    from synth_pipeline.defs.assets import version_job_name

    page.goto(f"{base}/locations/synth_pipeline/jobs/New_version_{DATASET}/playground")
    launch = page.get_by_role("button", name="Launch run")
    launch.wait_for(timeout=90_000)
    _skip_dialogs(page)
    page.keyboard.press("Escape")
    launch.first.click()

    def failed(why: str) -> str:
        return f"{why}\n--- dagster dev log ---\n{log_path.read_text()[-4000:]}"

    # The <dataset>_new_version_request sensor (the daemon) requests the version run.
    deadline, run = time.monotonic() + 180, None
    while time.monotonic() < deadline and run is None:
        time.sleep(2)
        run = next(
            (
                r
                for r in _runs(base)
                if r["jobName"] == version_job_name(DATASET)
                and r["tags"].get("dagster/sensor_name") == f"{DATASET}_new_version_request"
            ),
            None,
        )
    assert run, failed("the sensor requested no version run")
    version = run["tags"]["dagster/partition"]
    assert VERSION_ID.match(version), run["tags"]
    assert run["tags"]["dagster/run_key"] == f"ui-{version}"

    deadline = time.monotonic() + VERSION_RUN_TIMEOUT
    while run["status"] not in ("SUCCESS", "FAILURE", "CANCELED"):
        assert time.monotonic() < deadline, failed(f"version run still {run['status']}")
        time.sleep(3)
        run = next(r for r in _runs(base) if r["runId"] == run["runId"])
    assert run["status"] == "SUCCESS", failed(f"version run {run['status']}: {_errors(run)}")
    return version


def _errors(run: dict) -> list[str]:
    """The failure messages of a run, from the instance `dagster dev` runs on."""
    import dagster as dg

    instance = dg.DagsterInstance.get()
    return [
        str(e.dagster_event.event_specific_data)[:800]
        for e in instance.all_logs(run["runId"])
        if e.dagster_event and e.dagster_event.is_failure
    ]


def _prune_a_stray_version_from_the_launchpad(page, base, project, tmp_path, published) -> Path:
    """Launch `Prune_versions_<dataset>` as a user would; wait for its run to succeed.

    PUBLISHED is the dataset's published version: the job must keep it."""
    import dagster as dg

    instance = dg.DagsterInstance.get()  # the one `dagster dev` runs on (DAGSTER_HOME)
    partitions = f"{DATASET}_versions"
    instance.add_dynamic_partitions(partitions, ["v1-typo"])
    assert project.warehouse().published_version(DATASET) == published

    page.goto(f"{base}/locations/synth_pipeline/jobs/Prune_versions_{DATASET}/playground")
    launch = page.get_by_role("button", name="Launch run")
    launch.wait_for(timeout=90_000)
    _skip_dialogs(page)
    launch.click()
    # The run page opens; its logs name what was pruned and the version that stays.
    page.wait_for_selector("text=pruned 1 version(s): v1-typo", timeout=120_000)
    stays = f"version {published} stays: published (the current version)"
    assert page.get_by_text(stays).first.is_visible()
    png = tmp_path / "prune_run.png"
    page.screenshot(path=str(png), full_page=True)

    runs = instance.get_runs(dg.RunsFilter(job_name=f"Prune_versions_{DATASET}"))
    deadline = time.monotonic() + 60
    while runs[0].status != dg.DagsterRunStatus.SUCCESS and time.monotonic() < deadline:
        time.sleep(1)
        runs = instance.get_runs(dg.RunsFilter(job_name=f"Prune_versions_{DATASET}"))
    assert len(runs) == 1 and runs[0].status == dg.DagsterRunStatus.SUCCESS, runs[0].status
    assert instance.get_dynamic_partitions(partitions) == [published]
    assert project.warehouse().count("seeds", DATASET, published) > 0
    return png
