"""Exports: OpenAI chat JSONL, JSONL, Parquet and the Hugging Face folder, gated by the checks."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from synth_pipeline.exports import (
    DEFAULT_LICENSE,
    HF_DATA_FILE,
    ExportError,
    ExportRefused,
    export_all,
    export_version,
    read_card_metadata,
)
from synth_pipeline.fingerprints import table_fingerprint
from synth_pipeline.spec import DatasetSpec
from synth_pipeline.warehouse import Warehouse
from synth_pipeline_tests.test_lineage import (
    DATASET,
    DROPPED,
    KEPT,
    build_version,
    intents_spec,
    qa_spec,
)


@pytest.fixture
def wh(tmp_path: Path) -> Warehouse:
    return Warehouse(tmp_path / "w.duckdb")


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_openai_chat_for_classification_answers_with_the_label(wh, tmp_path):
    build_version(wh, "v1", KEPT, DROPPED, publish=True)
    res = export_version(wh, intents_spec(), "latest", "openai-chat", tmp_path / "chat.jsonl")
    assert res.version == "v1" and res.rows == 2 and not res.forced
    lines = _lines(tmp_path / "chat.jsonl")
    assert len(lines) == 2
    for line in lines:
        assert list(line) == ["messages"]
        assert [m["role"] for m in line["messages"]] == ["system", "user", "assistant"]
        assert "refund, status" in line["messages"][0]["content"]
    assert lines[0]["messages"][1]["content"] == "Refund my order now!"
    assert lines[0]["messages"][2]["content"] == "refund"


def _qa_version(wh: Warehouse) -> None:
    rows = [
        {"question": "How fine for espresso?", "answer": "Fine, like salt.", "difficulty": 2},
        {"question": "Best ratio?", "answer": "About 1:16.", "difficulty": 1},
    ]
    build_version(wh, "v1", [(r["question"], None) for r in rows], dataset="qa")
    for r in rows:
        wh.execute(
            "UPDATE dataset_records SET record = ? WHERE dataset = 'qa' AND text = ?",
            [json.dumps(r), r["question"]],
        )
    # The checks judged these final rows (as they would have, run after this edit).
    wh.execute(
        "UPDATE check_results SET rows_fingerprint = ? WHERE dataset = 'qa'",
        [table_fingerprint(wh, "dataset_records", "qa", "v1")],
    )


def test_openai_chat_for_instructions_answers_with_the_other_fields(wh, tmp_path):
    _qa_version(wh)
    export_version(wh, qa_spec(), "v1", "openai-chat", tmp_path / "qa.jsonl")
    first = _lines(tmp_path / "qa.jsonl")[0]["messages"]
    assert first[0]["content"] == "Answer a home barista's question."
    assert first[1]["content"] == "How fine for espresso?"
    # Two answer fields: the assistant turn is a JSON object of both.
    assert json.loads(first[2]["content"]) == {"answer": "Fine, like salt.", "difficulty": 2}


def test_jsonl_and_parquet_round_trip_with_typed_columns(wh, tmp_path):
    _qa_version(wh)
    export_version(wh, qa_spec(), "v1", "jsonl", tmp_path / "qa.jsonl")
    lines = _lines(tmp_path / "qa.jsonl")
    assert lines[1] == {
        "record_id": lines[1]["record_id"],
        "question": "Best ratio?",
        "answer": "About 1:16.",
        "difficulty": 1,
    }
    out = tmp_path / "folder"
    out.mkdir()
    res = export_version(wh, qa_spec(), "v1", "parquet", out)  # a folder: named file inside
    assert res.path == out / "qa-v1.parquet"
    frame = pl.read_parquet(res.path)
    assert frame.columns == ["record_id", "question", "answer", "difficulty"]
    assert frame.schema["difficulty"] == pl.Int64
    assert frame["question"].to_list() == ["How fine for espresso?", "Best ratio?"]


def test_hf_folder_has_the_data_file_and_a_card_with_provenance(wh, tmp_path):
    build_version(wh, "v1", KEPT, DROPPED, publish=True)
    folder = tmp_path / "hf"
    res = export_version(wh, intents_spec(), None, "hf", folder)
    assert res.files == [folder / HF_DATA_FILE, folder / "README.md"]
    assert sorted(p.name for p in (folder / "data").iterdir()) == ["train-00000-of-00001.parquet"]
    data = pl.read_parquet(folder / HF_DATA_FILE)
    assert data.columns == ["record_id", "text", "label"] and data.height == 2

    meta = read_card_metadata(folder / "README.md")
    assert meta["license"] == DEFAULT_LICENSE
    assert meta["configs"] == [
        {"config_name": "default", "data_files": [{"split": "train", "path": HF_DATA_FILE}]}
    ]
    info = meta["dataset_info"]
    assert [f["name"] for f in info["features"]] == data.columns
    assert {f["dtype"] for f in info["features"]} == {"string"}
    assert info["splits"][0] == {
        "name": "train",
        "num_bytes": info["splits"][0]["num_bytes"],
        "num_examples": 2,
    }
    assert info["download_size"] == (folder / HF_DATA_FILE).stat().st_size
    assert meta["synth_pipeline"]["forced_export"] is False
    assert meta["task_categories"] == ["text-classification"]

    card = (folder / "README.md").read_text()
    for expected in (
        "| spec hash | abc123 |",
        "| provider | embedded |",
        "| model | smollm2 |",
        "| seeds.jsonl | " + "11" * 32 + " |",
        "| seed_copy | 1 | 0 |",
        "| degenerate | 1 | 0 |",
        "| pii_redacted | 0 | 1 |",
        "| report_thresholds | dataset | passed | 1 |",
        "| headline_score | 70 |",
        "This is the dataset's **published** version.",
        "cc-by-4.0",
    ):
        assert expected in card, expected
    assert "FORCED EXPORT" not in card


def test_spec_license_wins_over_the_default(wh, tmp_path):
    class LicensedSpec(DatasetSpec):  # as the spec reads once it grows a `license` field
        license: str | None = None

    spec = LicensedSpec.model_validate({**intents_spec().model_dump(), "license": "apache-2.0"})
    build_version(wh, "v1", KEPT, publish=True, spec=spec)
    export_version(wh, spec, "v1", "hf", tmp_path / "hf")
    assert read_card_metadata(tmp_path / "hf" / "README.md")["license"] == "apache-2.0"


def test_a_failed_version_is_refused_naming_the_check_unless_forced(wh, tmp_path):
    build_version(wh, "v1", KEPT, publish=True)
    build_version(wh, "v2", KEPT, checks={"report_thresholds": False})
    with pytest.raises(ExportRefused, match="report_thresholds"):
        export_version(wh, intents_spec(), "v2", "jsonl", tmp_path / "x.jsonl")
    assert not (tmp_path / "x.jsonl").exists()

    res = export_version(wh, intents_spec(), "v2", "hf", tmp_path / "hf", force=True)
    assert res.forced and "report_thresholds" in res.refusal
    card = (tmp_path / "hf" / "README.md").read_text()
    body = card.split("\n---\n", 1)[1]
    # The warning comes right after the title, before anything else.
    assert body.lstrip().split("\n\n")[1].startswith("> [!WARNING]")
    assert "FORCED EXPORT" in body and "report_thresholds" in body
    assert "| report_thresholds | dataset | **FAILED** |" in body
    meta = read_card_metadata(tmp_path / "hf" / "README.md")
    assert meta["synth_pipeline"]["forced_export"] is True
    assert "forced-export-failed-gates" in meta["tags"]
    assert "The dataset's published version is v1." in body


def test_latest_without_a_published_version_and_bad_formats(wh, tmp_path):
    build_version(wh, "v1", KEPT)
    with pytest.raises(ExportError, match="no published version"):
        export_version(wh, intents_spec(), "latest", "jsonl", tmp_path / "x.jsonl")
    with pytest.raises(ExportError, match="unknown export format"):
        export_version(wh, intents_spec(), "v1", "csv", tmp_path / "x.csv")


def test_export_all_writes_every_format(wh, tmp_path):
    build_version(wh, "v1", KEPT, publish=True)
    results = export_all(wh, intents_spec(), "latest", tmp_path / "exports")
    assert [r.format for r in results] == ["openai-chat", "jsonl", "parquet", "hf"]
    names = sorted(p.name for p in (tmp_path / "exports").iterdir())
    assert names == [
        "hf",
        f"{DATASET}-v1.chat.jsonl",
        f"{DATASET}-v1.jsonl",
        f"{DATASET}-v1.parquet",
    ]


def test_export_published_writes_only_published_versions(wh, tmp_path):
    from synth_pipeline.exports import export_published

    build_version(wh, "v1", KEPT, publish=True)
    build_version(wh, "v2", KEPT)
    results = export_published(wh, intents_spec(), "v1", tmp_path)
    assert {r.path.parent for r in results} == {tmp_path / DATASET / "v1"}
    with pytest.raises(ExportRefused, match="never published"):
        export_published(wh, intents_spec(), "v2", tmp_path)
