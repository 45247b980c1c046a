"""Exports: OpenAI chat JSONL, JSONL, Parquet and the Hugging Face folder, gated by the checks."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from synth_pipeline.exports import (
    DEFAULT_LICENSE,
    HF_DATA_FILE,
    HF_TEST_FILE,
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
    SEEDS,
    build_version,
    intents_spec,
    qa_spec,
)

PROVENANCE = ["origin", "version", "strategy", "model"]


def build_with_spec_labels(wh: Warehouse, spec: DatasetSpec, version: str = "v1") -> None:
    """`build_version` for a demo spec: KEPT, the seeds and the holdout get its first two
    labels instead of refund and status (a ClassLabel holds only the spec's labels)."""
    first, second = spec.labels[:2]
    kept = [(text, first if label == "refund" else second) for text, label in KEPT]
    build_version(wh, version, kept, dataset=spec.name, spec=spec, publish=True)
    for table in ("seeds", "holdout"):  # real rows: no check is bound to them
        wh.execute(
            f"UPDATE {table} SET label = CASE label WHEN 'refund' THEN ? ELSE ? END "
            "WHERE dataset = ? AND version = ?",
            [first, second, spec.name, version],
        )
        wh.execute(
            f"UPDATE {table} SET record = json_object('text', text, 'label', label) "
            "WHERE dataset = ? AND version = ?",
            [spec.name, version],
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
        "split": "train",
        "origin": "synthetic",
        "version": "v1",
        "strategy": "seed_variation",
        "model": "smollm2",
    }
    out = tmp_path / "folder"
    out.mkdir()
    res = export_version(wh, qa_spec(), "v1", "parquet", out)  # a folder: named file inside
    assert res.path == out / "qa-v1.parquet"
    frame = pl.read_parquet(res.path)
    assert frame.columns == ["record_id", "question", "answer", "difficulty", "split", *PROVENANCE]
    assert frame.schema["difficulty"] == pl.Int64
    train = frame.filter(pl.col("split") == "train")
    assert train["question"].to_list() == ["How fine for espresso?", "Best ratio?"]
    # The holdout follows as the test split (an instruction dataset has one too).
    assert frame.filter(pl.col("split") == "test")["origin"].unique().to_list() == ["real"]


def test_hf_folder_has_the_data_file_and_a_card_with_provenance(wh, tmp_path):
    build_version(wh, "v1", KEPT, DROPPED, publish=True)
    folder = tmp_path / "hf"
    res = export_version(wh, intents_spec(), None, "hf", folder)
    assert res.files == [folder / HF_DATA_FILE, folder / HF_TEST_FILE, folder / "README.md"]
    assert res.rows == 2 and res.test_rows == len(SEEDS) and res.seed_rows == 0
    assert sorted(p.name for p in (folder / "data").iterdir()) == [
        "test-00000-of-00001.parquet",
        "train-00000-of-00001.parquet",
    ]
    data = pl.read_parquet(folder / HF_DATA_FILE)
    assert data.columns == ["record_id", "text", "label", *PROVENANCE] and data.height == 2

    meta = read_card_metadata(folder / "README.md")
    assert meta["license"] == DEFAULT_LICENSE
    assert meta["configs"] == [
        {
            "config_name": "default",
            "data_files": [
                {"split": "train", "path": HF_DATA_FILE},
                {"split": "test", "path": HF_TEST_FILE},
            ],
        }
    ]
    info = meta["dataset_info"]
    assert [f["name"] for f in info["features"]] == data.columns
    assert {f["name"]: f["dtype"] for f in info["features"]}["label"] == {
        "class_label": {"names": {"0": "refund", "1": "status"}}
    }
    assert [(s["name"], s["num_examples"]) for s in info["splits"]] == [
        ("train", 2),
        ("test", len(SEEDS)),
    ]
    assert info["download_size"] == sum(
        (folder / f).stat().st_size for f in (HF_DATA_FILE, HF_TEST_FILE)
    )
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
    spec = intents_spec(export={"license": "apache-2.0"})
    # An export option is not part of the spec hash: the checks stay bound to the spec.
    assert spec.spec_hash() == intents_spec().spec_hash()
    build_version(wh, "v1", KEPT, publish=True, spec=spec)
    export_version(wh, spec, "v1", "hf", tmp_path / "hf")
    assert read_card_metadata(tmp_path / "hf" / "README.md")["license"] == "apache-2.0"
    card = (tmp_path / "hf" / "README.md").read_text()
    assert "## License\n\napache-2.0" in card and "cc-by-4.0" not in card


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


# --- train/test splits and per-row provenance ------------------------------------------------

HOLDOUT_IDS = [rid.replace("seed", "holdout") for rid, _, _ in SEEDS]
SEED_IDS = [rid for rid, _, _ in SEEDS]


def _reordered_spec(**extra) -> DatasetSpec:
    # Labels in an order that is not alphabetical: the ClassLabel must follow the spec.
    return intents_spec(labels=["status", "refund"], **extra)


def _by_split(frame: pl.DataFrame, split: str) -> pl.DataFrame:
    return frame.filter(pl.col("split") == split).drop("split")


def _check_splits(train: pl.DataFrame, test: pl.DataFrame, ids: dict[str, str]) -> None:
    kept_ids = [ids[t] for t, _ in KEPT]
    assert train["record_id"].to_list() == kept_ids
    assert train["origin"].to_list() == ["synthetic", "synthetic"]
    assert train["version"].to_list() == ["v1", "v1"]
    assert train["strategy"].to_list() == ["attributes", "seed_variation"]  # from candidates
    assert train["model"].to_list() == ["smollm2", "smollm2"]
    assert sorted(test["record_id"].to_list()) == sorted(HOLDOUT_IDS)
    assert set(test["origin"]) == {"real"} and set(test["version"]) == {"v1"}
    assert test["strategy"].null_count() == test.height == test["model"].null_count()


def test_every_format_gives_a_synthetic_train_and_the_real_holdout_as_test(wh, tmp_path):
    spec = _reordered_spec()
    ids = build_version(wh, "v1", KEPT, DROPPED, publish=True, spec=spec)
    results = {r.format: r for r in export_all(wh, spec, "v1", tmp_path)}
    for r in results.values():
        assert r.rows == 2 and r.seed_rows == 0
        assert r.test_rows == (0 if r.format == "openai-chat" else len(SEEDS))

    parquet = pl.read_parquet(results["parquet"].path)
    assert parquet.columns == ["record_id", "text", "label", "split", *PROVENANCE]
    _check_splits(_by_split(parquet, "train"), _by_split(parquet, "test"), ids)
    assert parquet["label"].to_list()[:2] == ["refund", "status"]  # plain files keep names

    jsonl = pl.DataFrame(_lines(results["jsonl"].path))
    assert jsonl.columns == parquet.columns
    _check_splits(_by_split(jsonl, "train"), _by_split(jsonl, "test"), ids)

    hf = tmp_path / "hf"
    train, test = pl.read_parquet(hf / HF_DATA_FILE), pl.read_parquet(hf / HF_TEST_FILE)
    assert train.columns == test.columns == ["record_id", "text", "label", *PROVENANCE]
    _check_splits(train, test, ids)
    # The label is the class index in the spec's order: status 0, refund 1.
    assert train["label"].to_list() == [1, 0]
    holdout_labels = dict(zip(HOLDOUT_IDS, [lab for _, _, lab in SEEDS], strict=True))
    order = spec.labels
    assert all(order[i] == holdout_labels[r] for r, i in test.select("record_id", "label").rows())
    features = {
        f["name"]: f["dtype"]
        for f in read_card_metadata(hf / "README.md")["dataset_info"]["features"]
    }
    assert features["label"] == {"class_label": {"names": {"0": "status", "1": "refund"}}}
    assert all(features[c] == "string" for c in PROVENANCE)

    # The openai-chat file is for training: the synthetic rows, never the holdout.
    chat = _lines(results["openai-chat"].path)
    assert [line["messages"][1]["content"] for line in chat] == [t for t, _ in KEPT]


def test_the_card_says_which_rows_are_real(wh, tmp_path):
    build_version(wh, "v1", KEPT, publish=True)
    export_version(wh, intents_spec(), "v1", "hf", tmp_path / "hf")
    card = (tmp_path / "hf" / "README.md").read_text()
    assert "**2 synthetic records** (`origin: synthetic`)" in card
    assert f"- **`test`** ({len(SEEDS)} rows, `{HF_TEST_FILE}`): the **real holdout**" in card
    assert "never synthetic" in card and "real seed records" not in card
    for column in PROVENANCE:
        assert f"| {column} | string |" in card
    assert "| label | ClassLabel (0 refund, 1 status) |" in card
    assert "| label | train | test |" in card and "| refund | 1 | 2 |" in card
    meta = read_card_metadata(tmp_path / "hf" / "README.md")["synth_pipeline"]
    assert meta["train_synthetic_rows"] == 2 and meta["train_real_seed_rows"] == 0
    assert meta["test_real_holdout_rows"] == len(SEEDS)


def test_include_seeds_in_train_adds_the_seeds_as_real_rows(wh, tmp_path):
    spec = intents_spec(export={"include_seeds_in_train": True})
    ids = build_version(wh, "v1", KEPT, publish=True, spec=spec)
    results = {r.format: r for r in export_all(wh, spec, "v1", tmp_path)}
    assert {r.rows for r in results.values()} == {2 + len(SEEDS)}
    assert {r.seed_rows for r in results.values()} == {len(SEEDS)}

    train = pl.read_parquet(tmp_path / "hf" / HF_DATA_FILE)
    assert train["record_id"].to_list() == [ids[t] for t, _ in KEPT] + SEED_IDS
    assert train["origin"].to_list() == ["synthetic"] * 2 + ["real"] * len(SEEDS)
    assert train.filter(pl.col("origin") == "real")["strategy"].null_count() == len(SEEDS)
    test = pl.read_parquet(tmp_path / "hf" / HF_TEST_FILE)
    assert sorted(test["record_id"]) == sorted(HOLDOUT_IDS) and set(test["origin"]) == {"real"}

    flat = pl.read_parquet(results["parquet"].path)
    assert _by_split(flat, "train")["record_id"].to_list() == train["record_id"].to_list()
    assert sorted(_by_split(flat, "test")["record_id"]) == sorted(HOLDOUT_IDS)
    chat = _lines(results["openai-chat"].path)
    assert [line["messages"][1]["content"] for line in chat] == [t for t, _ in KEPT] + [
        text for _, text, _ in SEEDS
    ]
    card = (tmp_path / "hf" / "README.md").read_text()
    assert f"**{len(SEEDS)} real seed records** (`origin: real`" in card
    meta = read_card_metadata(tmp_path / "hf" / "README.md")
    assert [(s["name"], s["num_examples"]) for s in meta["dataset_info"]["splits"]] == [
        ("train", 2 + len(SEEDS)),
        ("test", len(SEEDS)),
    ]


def test_hf_parquet_files_carry_the_class_label_features(wh, tmp_path):
    import pyarrow.parquet as pq

    spec = _reordered_spec()
    build_version(wh, "v1", KEPT, publish=True, spec=spec)
    export_version(wh, spec, "v1", "hf", tmp_path / "hf")
    for rel in (HF_DATA_FILE, HF_TEST_FILE):
        schema = pq.read_schema(tmp_path / "hf" / rel)
        assert str(schema.field("label").type) == "int64"
        assert str(schema.field("text").type) == "string"
        features = json.loads(schema.metadata[b"huggingface"])["info"]["features"]
        assert features["label"] == {"names": ["status", "refund"], "_type": "ClassLabel"}
        assert features["origin"] == {"dtype": "string", "_type": "Value"}


def test_hf_refuses_a_stray_test_shard_and_never_deletes_it(wh, tmp_path):
    build_version(wh, "v1", KEPT, publish=True)
    folder = tmp_path / "hf"
    export_version(wh, intents_spec(), "v1", "hf", folder)
    stray = folder / "data" / "test-00001-of-00002.parquet"
    stray.write_bytes(b"other")
    with pytest.raises(ExportError, match="test-00001-of-00002.parquet"):
        export_version(wh, intents_spec(), "v1", "hf", folder, overwrite=True)
    assert stray.read_bytes() == b"other"


def test_export_options_do_not_change_the_spec_hash():
    plain = intents_spec()
    custom = intents_spec(export={"include_seeds_in_train": True, "license": "mit"})
    assert custom.spec_hash() == plain.spec_hash()
    assert plain.export.license == DEFAULT_LICENSE and not plain.export.include_seeds_in_train
    with pytest.raises(ValueError, match="license"):
        intents_spec(export={"license": "CC BY 4.0"})


def test_an_instruction_dataset_gets_the_same_splits_without_class_labels(wh, tmp_path):
    _qa_version(wh)
    res = export_version(wh, qa_spec(), "v1", "hf", tmp_path / "hf")
    assert res.rows == 2 and res.test_rows == len(SEEDS)
    meta = read_card_metadata(tmp_path / "hf" / "README.md")
    features = {f["name"]: f["dtype"] for f in meta["dataset_info"]["features"]}
    assert features == {
        "record_id": "string",
        "question": "string",
        "answer": "string",
        "difficulty": "int64",
        **dict.fromkeys(PROVENANCE, "string"),
    }
    test = pl.read_parquet(tmp_path / "hf" / HF_TEST_FILE)
    assert set(test["origin"]) == {"real"} and test.height == len(SEEDS)


def test_a_version_without_a_holdout_exports_no_test_split(wh, tmp_path):
    build_version(wh, "v1", KEPT, publish=True)
    wh.execute("DELETE FROM holdout WHERE dataset = ?", [DATASET])
    res = export_version(wh, intents_spec(), "v1", "hf", tmp_path / "hf")
    assert res.files == [tmp_path / "hf" / HF_DATA_FILE, tmp_path / "hf" / "README.md"]
    meta = read_card_metadata(tmp_path / "hf" / "README.md")
    assert meta["configs"][0]["data_files"] == [{"split": "train", "path": HF_DATA_FILE}]
    assert [s["name"] for s in meta["dataset_info"]["splits"]] == ["train"]
    assert "this version recorded no real holdout" in (tmp_path / "hf" / "README.md").read_text()
    export_version(wh, intents_spec(), "v1", "jsonl", tmp_path / "x.jsonl")
    assert {line["split"] for line in _lines(tmp_path / "x.jsonl")} == {"train"}


def test_a_label_outside_the_spec_cannot_become_a_class_label(wh, tmp_path):
    build_version(wh, "v1", KEPT, publish=True)
    wh.execute("UPDATE holdout SET label = 'other', record = NULL WHERE dataset = ?", [DATASET])
    with pytest.raises(ExportError, match=r"\['other'\].*ClassLabel"):
        export_version(wh, intents_spec(), "v1", "hf", tmp_path / "hf")
    assert not (tmp_path / "hf").exists()
