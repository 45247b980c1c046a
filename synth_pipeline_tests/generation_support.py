"""Helpers for the generation tests: scratch datasets pointed at a fake server, and a runner
that a subprocess test can start and kill.

`python generation_support.py run DATASET_FOLDER WAREHOUSE VERSION` loads the seeds and
generates the candidates of one version, as the pipeline's stages do.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "data"


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> None:
    for k, v in extra.items():
        if isinstance(v, dict) and isinstance(base.get(k), dict):
            _merge(base[k], v)
        else:
            base[k] = v


def make_dataset(root: Path, name: str = "support_intents", **overrides: Any) -> Path:
    """Copy a demo dataset under `root`, deep-merging `overrides` into its spec.
    A `generation` override replaces the whole section when it sets `strategies`."""
    folder = root / name
    if folder.exists():
        shutil.rmtree(folder)
    shutil.copytree(DATA / name, folder)
    spec = yaml.safe_load((folder / "spec.yaml").read_text())
    _merge(spec, overrides)
    # These tests count the plan's calls exactly: generation's top-up round (which depends
    # on what curation drops) is off unless a test sets it.
    spec.setdefault("generation", {}).setdefault("top_up_factor", 0)
    (folder / "spec.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    return folder


def fake_provider(base_url: str, **extra: Any) -> dict[str, Any]:
    return {
        "kind": "openai_compatible",
        "base_url": base_url,
        "model": "fake-model",
        "concurrency": 4,
        "timeout_seconds": 5.0,
        **extra,
    }


def run_version(folder: Path, warehouse: Path, version: str) -> dict[str, Any]:
    from synth_pipeline import stages
    from synth_pipeline.spec import load_spec
    from synth_pipeline.warehouse import Warehouse

    spec = load_spec(folder)
    wh = Warehouse(warehouse)
    stages.load_seeds(spec, wh, version)
    return stages.generate_candidates(spec, wh, version).figures


if __name__ == "__main__":  # pragma: no cover - run by the kill test
    command, folder, warehouse, version = sys.argv[1:5]
    assert command == "run"
    run_version(Path(folder), Path(warehouse), version)
    print("done")
