"""Render report.html in headless Chromium: the page loads, plots and tables are there.

With CI=true a missing Chromium fails the test; elsewhere it is skipped (and says so).
Install it on Debian with `apt-get install -y chromium`.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import polars as pl
import pytest
from PIL import Image

from synth_pipeline.report.build import build_report
from synth_pipeline.report.sample_data import TextDistribution, labelled_frame
from synth_pipeline.spec import DatasetSpec

CANDIDATE_BINARIES = ["chromium", "chromium-browser", "google-chrome", "google-chrome-stable"]
LABELS = ["refund_request", "order_status", "cancel_order", "damaged_item", "billing_issue"]


def find_chromium() -> str | None:
    for name in CANDIDATE_BINARIES:
        found = shutil.which(name)
        if found:
            return found
    return "/usr/bin/chromium" if Path("/usr/bin/chromium").is_file() else None


@pytest.fixture(scope="module")
def chromium() -> str:
    binary = find_chromium()
    if binary is None:
        message = f"no Chromium binary found (looked for {CANDIDATE_BINARIES})"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message + "; CI=true requires it")
        pytest.skip(message + "; install it with `apt-get install -y chromium`")
    return binary


def run_chromium(binary: str, tmp: Path, *args: str) -> subprocess.CompletedProcess:
    profile = tmp / f"profile-{len(list(tmp.glob('profile-*')))}"
    cmd = [
        binary,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        *args,
    ]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)


@pytest.fixture(scope="module")
def report_html(tmp_path_factory) -> Path:
    spec = DatasetSpec.model_validate(
        {
            "name": "support_browser",
            "kind": "classification",
            "task": "classify support messages",
            "fields": [
                {"name": "text", "description": "the message"},
                {"name": "label", "description": "the intent"},
            ],
            "text_field": "text",
            "label_field": "label",
            "labels": LABELS,
            "generation": {"records_per_label": 40},
            "quality": {"min_yield": 10},
            "report": {"min_headline_score": 40, "max_detectability_auc": 0.9},
        }
    )
    dist = TextDistribution(tuple(LABELS))
    seeds = labelled_frame(dist, 100, seed=1, prefix="seed")
    holdout = labelled_frame(dist, 150, seed=2, prefix="hold")
    synthetic = labelled_frame(dist, 200, seed=3)
    off = labelled_frame(TextDistribution(tuple(LABELS), vocab_tag="q"), 50, seed=4, prefix="o")
    candidates = pl.concat([synthetic, off]).with_columns(pl.lit("ok").alias("status"))
    history = [
        {
            "version": "2024-01-01",
            "metrics": {
                "score.headline": 61.0,
                "score.fidelity": 70.0,
                "fidelity.detectability_auc": 0.8,
            },
        },
        {
            "version": "2024-01-02",
            "metrics": {
                "score.headline": 74.0,
                "score.fidelity": 80.0,
                "fidelity.detectability_auc": 0.7,
            },
        },
    ]
    out = tmp_path_factory.mktemp("browser_report")
    result = build_report(
        spec,
        synthetic=synthetic,
        seeds=seeds,
        holdout=holdout,
        candidates=candidates,
        out_dir=out,
        version="2024-01-03",
        history=history,
    )
    return result.html_path


def test_report_renders_in_chromium(chromium: str, report_html: Path, tmp_path: Path):
    url = report_html.resolve().as_uri()

    dom = run_chromium(chromium, tmp_path, "--dump-dom", url)
    assert dom.returncode == 0, dom.stderr[-2000:]
    html = dom.stdout
    images = re.findall(r'<img[^>]+src="data:image/png;base64,[A-Za-z0-9+/=]{200,}"', html)
    assert len(images) >= 8  # score, labels, lengths, ROC, confusion, F1, DCR, trend
    assert len(re.findall(r"<table", html)) >= 8
    for section in (
        "summary",
        "fidelity",
        "utility",
        "diversity",
        "privacy",
        "curation",
        "trend",
        "method",
    ):
        assert f'id="{section}"' in html
    assert "TSTR confusion matrix" in html and "Detectability ROC curve" in html
    assert "Trend" in html and "2024-01-02" in html

    shot = tmp_path / "report.png"
    res = run_chromium(chromium, tmp_path, f"--screenshot={shot}", "--window-size=1280,4000", url)
    assert res.returncode == 0, res.stderr[-2000:]
    assert shot.is_file() and shot.stat().st_size > 50_000
    with Image.open(shot) as im:
        assert im.size == (1280, 4000)
        colors = im.convert("RGB").resize((320, 1000)).getcolors(maxcolors=1_000_000)
        assert colors is not None and len(colors) > 200  # plots, not a blank page
