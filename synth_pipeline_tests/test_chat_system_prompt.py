"""The openai-chat export's system prompt (issue 13, fourth item): kept on every line by
default, dropped, or shortened, from the Python API and `synth export --system-prompt`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from synth_pipeline.exports import ExportError, chat_example, export_version, system_prompt
from synth_pipeline.spec import load_spec
from synth_pipeline.warehouse import Warehouse
from synth_pipeline_tests.conftest import Project
from synth_pipeline_tests.test_lineage import KEPT, build_version, intents_spec, qa_spec


def _messages(path: Path) -> list[list[dict]]:
    return [json.loads(line)["messages"] for line in path.read_text().splitlines()]


def test_keep_drop_and_short_on_a_labelled_dataset(tmp_path: Path):
    wh = Warehouse(tmp_path / "w.duckdb")
    build_version(wh, "v1", KEPT, publish=True)
    spec = intents_spec()
    full = system_prompt(spec)
    assert full.startswith("Classify a customer message") and "refund, status" in full

    kept = export_version(wh, spec, "v1", "openai-chat", tmp_path / "keep.jsonl")
    lines = _messages(kept.path)
    assert [m["role"] for m in lines[0]] == ["system", "user", "assistant"]
    assert all(m[0]["content"] == full for m in lines)

    dropped = _messages(
        export_version(
            wh, spec, "v1", "openai-chat", tmp_path / "d.jsonl", system_prompt="drop"
        ).path
    )
    assert [[m["role"] for m in line] for line in dropped] == [["user", "assistant"]] * 2
    assert [line[1:] for line in lines] == dropped  # the turns themselves are unchanged

    short = _messages(
        export_version(
            wh, spec, "v1", "openai-chat", tmp_path / "s.jsonl", system_prompt="short"
        ).path
    )
    assert {line[0]["content"] for line in short} == {"Labels: refund, status."}


def test_short_keeps_the_first_sentence_of_an_unlabelled_task():
    spec = qa_spec().model_copy(update={"task": "Answer a home barista's question. Be brief."})
    line = chat_example(spec, {"question": "Q?", "answer": "A.", "difficulty": 1}, "short")
    assert line["messages"][0] == {"role": "system", "content": "Answer a home barista's question."}
    assert system_prompt(spec, "keep") == "Answer a home barista's question. Be brief."
    assert system_prompt(spec, "drop") is None


def test_bad_modes_and_other_formats_are_refused(tmp_path: Path):
    wh = Warehouse(tmp_path / "w.duckdb")
    build_version(wh, "v1", KEPT, publish=True)
    with pytest.raises(ExportError, match="unknown system prompt mode 'none'"):
        export_version(
            wh, intents_spec(), "v1", "openai-chat", tmp_path / "x", system_prompt="none"
        )
    with pytest.raises(ExportError, match="openai-chat only, not jsonl"):
        export_version(wh, intents_spec(), "v1", "jsonl", tmp_path / "x", system_prompt="drop")
    assert not (tmp_path / "x").exists()


def test_cli_system_prompt_flag(project: Project):
    from synth_pipeline.cli import app

    ds = "support_intents"
    project.add_dataset(ds)
    spec = load_spec(project.data / ds)
    build_version(project.warehouse(), "v1", KEPT, dataset=ds, spec=spec, publish=True)
    out = project.root / "chat.jsonl"
    args = ["export", ds, "--format", "openai-chat", "--out", str(out), "--system-prompt", "drop"]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    assert all(line[0]["role"] == "user" for line in _messages(out))
