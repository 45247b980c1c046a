"""The demo datasets in data/ load, validate and keep their holdout apart from their seeds."""

from __future__ import annotations

import json
import re
from pathlib import Path

import polars as pl
import pytest

from synth_pipeline.kinds import kind_of
from synth_pipeline.records import load_real_records
from synth_pipeline.spec import DatasetSpec, discover_specs, load_spec

DATA_DIR = Path(__file__).parents[1] / "data"
DEMO_DATASETS = [
    "census_wage",
    "coffee_preference",
    "coffee_qa",
    "support_chat",
    "support_intents",
]


def _normalize(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().lower()


def _count_lines(path: Path) -> int:
    """Records in a seed file: its non-blank lines, less a CSV's header."""
    lines = sum(1 for line in path.read_text(encoding="utf-8").splitlines() if line.strip())
    return lines - 1 if path.suffix == ".csv" else lines


def _load(name: str) -> tuple[DatasetSpec, pl.DataFrame, pl.DataFrame]:
    spec = load_spec(DATA_DIR / name)
    seeds = load_real_records(spec, spec.seeds_file, "seed")
    holdout = load_real_records(spec, spec.holdout_file, "holdout")
    return spec, seeds, holdout


def test_demo_specs_are_discovered() -> None:
    names = {spec.name for spec in discover_specs(DATA_DIR)}
    assert set(DEMO_DATASETS) <= names


@pytest.mark.parametrize("name", DEMO_DATASETS)
def test_holdout_texts_do_not_appear_in_seeds(name: str) -> None:
    _, seeds, holdout = _load(name)
    seed_texts = {_normalize(t) for t in seeds["text"].to_list()}
    leaked = [t for t in holdout["text"].to_list() if _normalize(t) in seed_texts]
    assert leaked == [], f"{name}: holdout texts also in the seeds: {leaked}"


@pytest.mark.parametrize("name", DEMO_DATASETS)
def test_record_ids_are_unique(name: str) -> None:
    spec, seeds, holdout = _load(name)
    for frame, file_name in ((seeds, spec.seeds_file), (holdout, spec.holdout_file)):
        # load_real_records drops repeated lines, so compare with the file's line count.
        assert frame.height == _count_lines(spec.path(file_name)), f"{file_name}: duplicate lines"
        assert frame["record_id"].n_unique() == frame.height
    all_ids = seeds["record_id"].to_list() + holdout["record_id"].to_list()
    assert len(set(all_ids)) == len(all_ids)


@pytest.mark.parametrize("name", DEMO_DATASETS)
def test_texts_fit_the_spec_bounds(name: str) -> None:
    spec, seeds, holdout = _load(name)
    kind = kind_of(spec)
    if not kind.flat_records:  # a conversation: the transcript, and each turn in its bounds
        for frame in (seeds, holdout):
            lengths = frame["text"].str.len_chars()
            assert spec.quality.min_length <= lengths.min()
            assert lengths.max() <= spec.quality.max_length
            for raw in frame["record"].to_list():
                assert kind.record_problem(spec, json.loads(raw)) is None
        return
    field = spec.field(spec.text_field)
    low = max(field.min_length or 0, spec.quality.min_length)
    high = min(field.max_length or spec.quality.max_length, spec.quality.max_length)
    for frame in (seeds, holdout):
        lengths = frame["text"].str.len_chars()
        assert lengths.min() >= low
        assert lengths.max() <= high


def test_support_intents_label_coverage() -> None:
    spec, seeds, holdout = _load("support_intents")
    assert kind_of(spec).has("labels")
    assert len(spec.labels) >= 6
    seed_counts = dict(seeds.group_by("label").len().iter_rows())
    holdout_counts = dict(holdout.group_by("label").len().iter_rows())
    for label in spec.labels:
        assert seed_counts.get(label, 0) >= 8, f"seeds for {label!r}: {seed_counts.get(label, 0)}"
        assert holdout_counts.get(label, 0) >= 10, (
            f"holdout for {label!r}: {holdout_counts.get(label, 0)}"
        )
