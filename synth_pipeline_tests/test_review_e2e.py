"""Human review end to end: a version held as awaiting_review by a real Dagster run on the
embedded model, then reviewed through `synth review` (a verdicts file, or the real page in
headless Chromium) and published, or failed for good.

One module-scoped materialization feeds every test: each test works on its own copy of the
warehouse, reports and Dagster instance.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from synth_pipeline.gates import REVIEW
from synth_pipeline_tests.browser import CHROMIUM_ARGS, chromium_or_skip
from synth_pipeline_tests.conftest import SMALL_INTENTS, Project

DATASET = "support_intents"
# A sample of at most 8 rows; 0.3 lets "all accepted" pass from 2 rows up, and "all rejected"
# fail, whatever number of rows the small model's run kept.
REVIEWED = {
    **SMALL_INTENTS,
    "review": {"required": True, "sample_size": 8, "min_acceptance": 0.3, "seed": 1},
}


@dataclass
class Copy:
    root: Path

    @property
    def warehouse_path(self) -> Path:
        return self.root / "warehouse.duckdb"

    def warehouse(self):
        from synth_pipeline.warehouse import Warehouse

        return Warehouse(self.warehouse_path)

    def session(self):
        from synth_pipeline.review.session import ReviewSession
        from synth_pipeline.spec import load_spec

        return ReviewSession.open(load_spec(self.root / "data" / DATASET), self.warehouse(), "v1")

    def instance(self):
        import dagster as dg

        return dg.DagsterInstance.from_config(str(self.root / "dagster_home"))


def _point_env(mp: pytest.MonkeyPatch, root: Path) -> None:
    mp.setenv("SYNTH_DATA_DIR", str(root / "data"))
    mp.setenv("SYNTH_WAREHOUSE", str(root / "warehouse.duckdb"))
    mp.setenv("SYNTH_REPORTS_DIR", str(root / "reports"))
    mp.setenv("SYNTH_EXPORTS_DIR", str(root / "exports"))
    mp.setenv("DAGSTER_HOME", str(root / "dagster_home"))
    for var in ("SYNTH_PROVIDER", "SYNTH_BASE_URL", "SYNTH_MODEL", "SYNTH_API_KEY_ENV"):
        mp.delenv(var, raising=False)


@pytest.fixture(scope="module")
def awaiting(tmp_path_factory) -> Path:
    """One version of a review-required dataset, materialized by Dagster: awaiting review."""
    from synth_pipeline.defs.runner import materialize_version, project_instance

    root = tmp_path_factory.mktemp("review_e2e")
    with pytest.MonkeyPatch.context() as mp:
        _point_env(mp, root)
        project = Project(root)
        project.add_dataset(DATASET, **REVIEWED)
        instance = project_instance()
        try:
            run = materialize_version(project.definitions(), DATASET, "v1", instance)
        finally:
            instance.dispose()
    assert run.success, run.errors
    return root


@pytest.fixture
def copy(awaiting: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Copy]:
    root = tmp_path / "project"
    shutil.copytree(awaiting, root)
    _point_env(monkeypatch, root)
    yield Copy(root)


def synth(*args: str, code: int = 0) -> str:
    from synth_pipeline.cli import app

    out = CliRunner().invoke(app, list(args), terminal_width=200)
    assert out.exit_code == code, out.output
    return " ".join(out.output.split())  # rich wraps long lines at 80 columns here


def _materializations(instance, stage: str) -> list:
    import dagster as dg

    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey([DATASET, stage]), asset_partitions=["v1"]),
        limit=10,
    ).records
    return [r.asset_materialization for r in records]


def _verdicts(path: Path, rows: list[tuple[str, str, str | None]]) -> Path:
    path.write_text(
        "".join(
            json.dumps({"record_id": r, "verdict": v, "reason": why}) + "\n" for r, v, why in rows
        )
    )
    return path


def test_awaiting_review_then_verdicts_publish(copy: Copy, tmp_path: Path):
    import dagster as dg

    wh = copy.warehouse()
    assert wh.version_status(DATASET, "v1") == "awaiting_review"
    assert wh.published_version(DATASET) is None
    instance = copy.instance()
    assert _materializations(instance, "published") == []
    observed = instance.fetch_observations(
        dg.AssetRecordsFilter(
            asset_key=dg.AssetKey([DATASET, "published"]), asset_partitions=["v1"]
        ),
        limit=5,
    ).records
    assert observed[0].asset_observation.metadata["review.state"].value == "awaiting_review"
    assert "awaiting" in synth("versions", DATASET)  # table cells may wrap the words
    refused = synth("export", DATASET, "--version", "v1", "--format", "jsonl", "--out",
                    str(tmp_path / "x.jsonl"), code=1)  # fmt: skip
    assert "awaiting human review" in refused

    sample = copy.session().sample_ids
    bad = _verdicts(
        tmp_path / "bad.jsonl", [(sample[0], "accept", None), ("c-nope", "accept", None)]
    )
    out = synth("review", DATASET, "--version", "v1", "--verdicts", str(bad), code=1)
    assert f"{bad}:2" in out and "unknown record_id" in out

    one = _verdicts(tmp_path / "one.jsonl", [(sample[0], "accept", None)])
    out = synth("review", DATASET, "--verdicts", str(one), "--reviewer", "ann")  # latest = v1
    assert "awaiting review" in out and wh.published_version(DATASET) is None

    every = _verdicts(tmp_path / "all.jsonl", [(r, "accept", None) for r in sample])
    out = synth("review", DATASET, "--version", "v1", "--verdicts", str(every))
    assert "review passed" in out and "Published" in out, out
    assert wh.published_version(DATASET) == "v1"
    assert REVIEW in wh.passed_checks(DATASET, "v1")

    # Dagster, the warehouse and the report agree.
    (published,) = _materializations(copy.instance(), "published")
    assert published.metadata["review.acceptance_rate"].value == 1.0
    assert published.metadata["review.reviewed"].value == len(sample)
    assert len(_materializations(copy.instance(), "exports")) == 1
    report = copy.root / "reports" / DATASET / "v1"
    metrics = json.loads((report / "metrics.json").read_text())["metrics"]
    assert metrics["review.reviewed"] == len(sample) and metrics["review.acceptance_rate"] == 1.0
    assert 0 < metrics["review.acceptance_lower_bound"] < 1
    assert 'data-metric="review.acceptance_lower_bound"' in (report / "report.html").read_text()
    listed = synth("versions", DATASET)
    assert "v1" in listed and "yes" in listed


def test_materialize_says_a_held_version_awaits_review(copy: Copy, monkeypatch):
    """`synth materialize` ends a held version with exit code 0 and the command to run."""
    import types

    from synth_pipeline.defs import runner

    # The run itself is the module's; only the CLI's account of it is under test here.
    monkeypatch.setitem(sys.modules, "synth_pipeline.definitions", types.SimpleNamespace(defs=None))
    monkeypatch.setattr(
        runner,
        "materialize_version",
        lambda *a, **k: runner.VersionRun(DATASET, "v1", True, "run-1", ["dataset"]),
    )
    out = synth("materialize", DATASET, "--version", "v1")
    assert "Awaiting review" in out and f"synth review {DATASET} --version v1" in out


def test_a_rejected_review_fails_the_version_for_good(copy: Copy, tmp_path: Path):
    from synth_pipeline.defs.runner import materialize_version

    sample = copy.session().sample_ids
    rejected = _verdicts(
        tmp_path / "no.jsonl", [(r, "reject", "support-agent voice") for r in sample]
    )
    out = synth("review", DATASET, "--version", "v1", "--verdicts", str(rejected), code=1)
    assert "review failed" in out
    wh = copy.warehouse()
    assert REVIEW in wh.failed_checks(DATASET, "v1")
    assert wh.version_status(DATASET, "v1") == "failed"

    # Accepting everything later, or running `published` again, never publishes it.
    every = _verdicts(tmp_path / "all.jsonl", [(r, "accept", None) for r in sample])
    out = synth("review", DATASET, "--version", "v1", "--verdicts", str(every), code=1)
    assert "can never be published" in out
    from synth_pipeline.defs import build_definitions

    again = materialize_version(
        build_definitions(), DATASET, "v1", copy.instance(), selection=["published"]
    )
    assert not again.success and any("review" in e for e in again.errors), again.errors
    assert wh.published_version(DATASET) is None
    listed = synth("versions", DATASET)
    assert "failed" in listed and "review" in listed  # "failed: review", wrapped in its cell


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_up(url: str, proc: subprocess.Popen, log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"synth review exited early: {log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise TimeoutError(f"{url} did not answer within {timeout}s")


def test_review_page_in_chromium(copy: Copy, tmp_path: Path):
    from playwright.sync_api import expect, sync_playwright

    from synth_pipeline.review.figures import ReviewFigures
    from synth_pipeline.review.gate import ReviewState, decide

    chromium = chromium_or_skip()
    session = copy.session()
    n = len(session.rows)
    reject_at = {n} if n > 1 else set()  # accept most, reject the last one
    port = _free_port()
    log_path = tmp_path / "review.log"
    log = log_path.open("w")
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "synth"), "review", DATASET, "--version", "v1",
         "--port", str(port), "--no-browser", "--reviewer", "playwright"],
        env={**os.environ, "COLUMNS": "200"},
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"
        _wait_up(base + "/summary", proc, log_path)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            page.goto(base + "/")
            for pos in range(1, n + 1):
                row = session.rows[pos - 1]
                expect(page.locator("#progress")).to_have_text(f"{pos} / {n}")
                expect(page.locator("#record")).to_have_attribute("data-record-id", row.record_id)
                expect(page.locator("#label")).to_have_text(row.label or "")
                expect(page.locator('[data-field="text"]')).to_have_text(row.text or "")
                if pos in reject_at:
                    # Reject needs a reason: the page refuses, then R focuses the box.
                    page.locator("#reject").click()
                    expect(page.locator("#client-error")).to_be_visible()
                    page.locator("body").click(position={"x": 5, "y": 5})
                    page.keyboard.press("r")
                    expect(page.locator("#reason")).to_be_focused()
                    page.keyboard.type("answers as the support agent")
                    page.keyboard.press("Enter")
                else:
                    page.keyboard.press("a")
                page.wait_for_load_state()
            expect(page.locator("#summary")).to_be_visible()
            expect(page.locator("#reviewed")).to_have_text(f"{n} / {n}")
            expect(page.locator("#accepted")).to_have_text(str(n - len(reject_at)))
            page.screenshot(path=str(tmp_path / "summary.png"), full_page=True)
            page.locator("#finish").click()
            expect(page.locator("#done")).to_be_visible()
            browser.close()
        proc.wait(timeout=300)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=30)
        log.close()
    output = log_path.read_text()

    verdicts = session.verdicts()
    assert len(verdicts) == n
    assert {v.reviewer for v in verdicts.values()} == {"playwright"}
    rejected = [v for v in verdicts.values() if v.verdict == "reject"]
    assert [v.reason for v in rejected] == ["answers as the support agent"] * len(reject_at)
    expected = decide(session.spec.review, ReviewFigures(n, n, n - len(reject_at))).state
    wh = copy.warehouse()
    if expected is ReviewState.PASSED:
        assert proc.returncode == 0, output
        assert wh.published_version(DATASET) == "v1", output
    else:
        assert proc.returncode == 1, output
        assert REVIEW in wh.failed_checks(DATASET, "v1") and wh.published_version(DATASET) is None
