"""`synth curate`: a dataset's curation chain over a file of records a user brings."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from typer.testing import CliRunner

from synth_pipeline.cli import app

DATA = Path(__file__).resolve().parents[1] / "data"

RECORDS = [
    {"text": "What the customer wrote.", "label": "order_status"},  # a prompt echo
    {"text": "I'm sorry, but I'm unable to assist with that.", "label": "refund_request"},
    {"text": "hey where is my parcel, order 5512, it was due monday", "label": "order_status"},
    {"text": "Can I swap the sofa colour to grey before it ships?", "label": "product_question"},
    {"text": "x", "label": "order_status"},  # too short for the spec's field
    {"text": "My mug arrived in three pieces, box crushed.", "label": "not_a_label"},
]


def _run(args: list[str]):
    return CliRunner().invoke(app, args, catch_exceptions=False)


def test_curate_a_jsonl_file_keeps_good_rows_and_says_why_the_rest_went(tmp_path: Path) -> None:
    src = tmp_path / "records.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in RECORDS))
    out = tmp_path / "out"
    result = _run(["curate", "support_intents", "--input", str(src), "--out", str(out)])
    assert result.exit_code == 0, result.output
    kept = [json.loads(line) for line in (out / "kept.jsonl").read_text().splitlines()]
    dropped = [json.loads(line) for line in (out / "dropped.jsonl").read_text().splitlines()]
    assert [r["text"] for r in kept] == [RECORDS[2]["text"], RECORDS[3]["text"]]
    reasons = {d["line"]: d["reason"] for d in dropped}
    assert reasons == {
        1: "prompt_echo",
        2: "wrong_voice",
        5: "schema_invalid",
        6: "label_not_allowed",
    }
    assert all(d["record"] and d["filter"] for d in dropped)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["records"] == 6 and summary["kept"] == 2 and summary["dropped"] == 4
    assert "2 kept" in result.output


def test_curate_reads_csv_with_the_dataset_fields(tmp_path: Path) -> None:
    src = tmp_path / "records.csv"
    with src.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=["text", "label"])
        writer.writeheader()
        writer.writerows(RECORDS[:4])
    out = tmp_path / "out"
    result = _run(["curate", "support_intents", "--input", str(src), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert len((out / "kept.jsonl").read_text().splitlines()) == 2
    lines = {json.loads(x)["line"] for x in (out / "dropped.jsonl").read_text().splitlines()}
    assert lines == {2, 3}  # CSV line numbers count the header


def test_a_malformed_line_names_the_file_and_line_and_writes_nothing(tmp_path: Path) -> None:
    src = tmp_path / "broken.jsonl"
    src.write_text(json.dumps(RECORDS[2]) + "\n{not json\n")
    out = tmp_path / "out"
    result = _run(["curate", "support_intents", "--input", str(src), "--out", str(out)])
    assert result.exit_code == 1
    assert f"{src}:2" in result.output.replace("\n", "") and "malformed JSON" in result.output
    assert not out.exists()


def test_an_unknown_dataset_lists_the_known_ones(tmp_path: Path) -> None:
    src = tmp_path / "r.jsonl"
    src.write_text(json.dumps(RECORDS[2]) + "\n")
    result = _run(["curate", "support_intent", "--input", str(src), "--out", str(tmp_path / "o")])
    assert result.exit_code == 1
    assert "support_intents" in result.output
    assert DATA.is_dir()
