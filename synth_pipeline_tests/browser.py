"""Finding Debian's Chromium for the browser tests; CI must have it, elsewhere we may skip."""

from __future__ import annotations

import os
import shutil

import pytest

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_or_skip() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path:
        return path
    if os.environ.get("CI") == "true":
        pytest.fail("CI=true but no Chromium is installed: .ci/run must install Debian's chromium")
    pytest.skip("no Chromium installed on this machine (apt-get install chromium); CI runs this")
