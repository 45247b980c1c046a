"""docs/SPEC.md is generated from the spec models and kept current; docs/examples/ stay valid."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import yaml

from synth_pipeline.generation.providers import resolve_provider
from synth_pipeline.spec import load_spec
from synth_pipeline.spec_doc import REGENERATE, render, undocumented_fields
from synth_pipeline.stages import check_inputs
from synth_pipeline_tests.conftest import DATA, REPO

SPEC_MD = REPO / "docs" / "SPEC.md"
EXAMPLES = sorted((REPO / "docs" / "examples").glob("*.yaml"))


def test_spec_md_is_up_to_date():
    current = SPEC_MD.read_text(encoding="utf-8") if SPEC_MD.exists() else ""
    assert current == render(), f"docs/SPEC.md is out of date; regenerate it: {REGENERATE}"


def test_every_spec_field_has_a_description():
    assert undocumented_fields() == []


def test_spec_md_covers_every_section_and_key():
    text = render()
    for heading in (
        "`generation.budget`",
        "`generation.strategies[]`",
        "`provider`",
        "`provider.prices.<model>`",
        "`curation.dedup`",
        "`report`",
        "Report thresholds",
        "Prompt templates",
        "Data files",
    ):
        assert re.search(rf"^#+ .*{re.escape(heading)}", text, re.M), heading
    for key in ("allow_partial", "validation_reasks", "template", "max_estimated_junk_share"):
        assert f"| `{key}` |" in text, key


@pytest.mark.parametrize("example", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_spec_loads_with_the_demo_seeds(example: Path, tmp_path: Path):
    spec_yaml = yaml.safe_load(example.read_text(encoding="utf-8"))
    demo = "support_intents" if spec_yaml["kind"] == "classification" else "coffee_qa"
    folder = tmp_path / demo
    folder.mkdir()
    for name in ("seeds.jsonl", "holdout.jsonl"):
        shutil.copy(DATA / demo / name, folder / name)
    shutil.copy(example, folder / "spec.yaml")

    spec = load_spec(folder)
    check_inputs(spec)  # the demo's seeds fit its fields, labels and plan
    provider = resolve_provider(spec.provider, env={})
    assert provider.kind == spec.provider.kind != "embedded"
    assert spec.provider.model and spec.generation.budget.max_calls
    key_env = spec.provider.api_key_env
    assert key_env is None or re.fullmatch(r"[A-Z][A-Z0-9_]*", key_env)  # a name, never a key
    assert not re.search(r"\bsk-[A-Za-z0-9]", example.read_text(encoding="utf-8"))


def test_examples_cover_openai_vllm_and_ollama():
    assert {p.stem for p in EXAMPLES} >= {"openai", "vllm", "ollama"}
