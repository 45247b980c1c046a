"""Quality suites with real Great Expectations: clean data passes, planted problems fail the
expectation they belong to, with the observed value reported."""

from __future__ import annotations

import json
import random

import polars as pl
import pytest

from synth_pipeline.curation.pipeline import run_curation
from synth_pipeline.quality import ExpectationOutcome, run_suite
from synth_pipeline.spec import DatasetSpec

WORDS = [f"word{i}" for i in range(400)]


def sentence(seed: int, n: int = 12) -> str:
    return " ".join(random.Random(seed).sample(WORDS, n)).capitalize() + "."


def make_spec(**overrides) -> DatasetSpec:
    raw = {
        "name": "reviews",
        "kind": "classification",
        "task": "Movie review sentiment.",
        "fields": [
            {"name": "text", "description": "A review."},
            {"name": "label", "description": "Sentiment."},
        ],
        "text_field": "text",
        "label_field": "label",
        "labels": ["pos", "neg"],
        "generation": {"records_per_label": 10},
        "quality": {"min_yield": 10, "min_length": 10, "max_length": 300},
    }
    for key, value in overrides.items():
        raw[key] = {**raw[key], **value} if isinstance(raw.get(key), dict) else value
    return DatasetSpec.model_validate(raw)


def records(texts: list[str], labels: list[str] | None, prefix: str = "r") -> pl.DataFrame:
    labels = labels or [None] * len(texts)
    rows = []
    for i, (t, lab) in enumerate(zip(texts, labels, strict=True)):
        rec = {"text": t, "label": lab} if lab is not None else {"question": t, "answer": "ok"}
        rows.append(
            {
                "record_id": f"{prefix}{i}",
                "text": t,
                "label": lab,
                "record": json.dumps(rec, sort_keys=True),
            }
        )
    return pl.DataFrame(
        rows,
        schema={"record_id": pl.String, "text": pl.String, "label": pl.String, "record": pl.String},
    )


def clean(n: int = 20, start: int = 0) -> pl.DataFrame:
    return records([sentence(start + i) for i in range(n)], ["pos", "neg"] * (n // 2))


HOLDOUT = records([sentence(1000 + i) for i in range(5)], ["pos"] * 5, prefix="h")


def by_name(outcomes: list[ExpectationOutcome]) -> dict[str, ExpectationOutcome]:
    return {o.name: o for o in outcomes}


def failed(outcomes: list[ExpectationOutcome]) -> set[str]:
    return {o.name for o in outcomes if not o.passed}


def test_clean_data_passes_every_expectation():
    outcomes = run_suite(make_spec(), clean(), "filtered", {"holdout": HOLDOUT})
    assert failed(outcomes) == set()
    names = [o.name for o in outcomes]
    assert names == [
        "row_count_at_least_min_yield",
        "record_id_not_null",
        "record_id_unique",
        "text_not_null",
        "normalized_text_unique",
        "text_length_within_bounds",
        "no_holdout_contamination",
        "no_unredacted_pii",
        "near_duplicate_rate_below_limit",
        "label_not_null",
        "labels_in_set",
        "label_share_within_tolerance",
    ]
    o = by_name(outcomes)
    assert o["row_count_at_least_min_yield"].observed == 20
    assert o["label_share_within_tolerance"].observed == {"pos": 0.5, "neg": 0.5}
    assert o["near_duplicate_rate_below_limit"].observed == 0.0
    for outcome in outcomes:  # everything JSON-ready for the report
        json.dumps(outcome.to_dict())


def test_min_yield_too_high_fails_with_observed_row_count():
    outcomes = run_suite(
        make_spec(quality={"min_yield": 50}), clean(), "filtered", {"holdout": HOLDOUT}
    )
    assert failed(outcomes) == {"row_count_at_least_min_yield"}
    o = by_name(outcomes)["row_count_at_least_min_yield"]
    assert o.observed == 20 and o.expected == {"min_value": 50}


def test_contaminated_candidates_fail_the_contamination_expectation():
    spec = make_spec()
    holdout_texts = HOLDOUT["text"].to_list()
    contaminated = records(
        [
            holdout_texts[0],
            holdout_texts[1].replace(".", " indeed."),
            sentence(7) + " " + holdout_texts[2],
        ],
        ["pos", "neg", "pos"],
        prefix="x",
    )
    frame = pl.concat([clean(), contaminated])
    outcomes = run_suite(spec, frame, "filtered", {"holdout": HOLDOUT})
    assert "no_holdout_contamination" in failed(outcomes)
    o = by_name(outcomes)["no_holdout_contamination"]
    assert o.observed["unexpected_count"] == 3
    assert sorted(o.observed["record_ids"]) == ["x0", "x1", "x2"]
    # Curation removes exactly those rows, and the suite then passes.
    result = run_curation(spec, frame, clean(4, start=500), HOLDOUT)
    assert result.counts == {"holdout_copy": 1, "holdout_contamination": 2}
    assert "no_holdout_contamination" not in failed(
        run_suite(spec, result.kept, "filtered", {"holdout": HOLDOUT})
    )


def test_extra_eval_frames_count_as_contamination_and_missing_holdout_is_reported():
    extra = records([sentence(3)], ["pos"], prefix="e")
    o = by_name(
        run_suite(make_spec(), clean(), "filtered", {"holdout": HOLDOUT, "extra_eval": [extra]})
    )
    assert not o["no_holdout_contamination"].passed
    o = by_name(run_suite(make_spec(), clean(), "filtered"))
    assert o["no_holdout_contamination"].passed and o["no_holdout_contamination"].observed is None
    assert "not checked" in o["no_holdout_contamination"].details


def test_unredacted_pii_fails_and_redaction_fixes_it():
    spec = make_spec()
    frame = pl.concat(
        [
            clean(),
            records(["Great film, mail me at fan@example.com for more."], ["pos"], prefix="p"),
        ]
    )
    o = by_name(run_suite(spec, frame, "filtered", {"holdout": HOLDOUT}))["no_unredacted_pii"]
    assert not o.passed and o.observed["record_ids"] == ["p0"]
    kept = run_curation(spec, frame, clean(4, start=500), HOLDOUT).kept
    assert "no_unredacted_pii" not in failed(
        run_suite(spec, kept, "filtered", {"holdout": HOLDOUT})
    )


def test_duplicates_lengths_labels_and_balance():
    spec = make_spec(curation={"gates": {"length_mostly": 0.9}})
    base = clean()
    dup = records([base["text"][0].upper()], ["pos"], prefix="d")
    long_rows = records(["x" * 400, "y" * 400, "z" * 400], ["pos", "neg", "pos"], prefix="l")
    bad_label = records([sentence(99)], ["meh"], prefix="b")
    outcomes = run_suite(
        spec, pl.concat([base, dup, long_rows, bad_label]), "filtered", {"holdout": HOLDOUT}
    )
    o = by_name(outcomes)
    assert not o["normalized_text_unique"].passed
    assert o["normalized_text_unique"].observed["unexpected_count"] == 2
    assert o["normalized_text_unique"].observed["sample"] == [base["text"][0].lower()]
    assert not o["text_length_within_bounds"].passed  # 3 of 25 = 12% out of bounds > 10%
    assert o["text_length_within_bounds"].observed["unexpected_count"] == 3
    assert not o["labels_in_set"].passed and o["labels_in_set"].observed["sample"] == ["meh"]
    skewed = records([sentence(i) for i in range(20)], ["pos"] * 18 + ["neg"] * 2)
    o = by_name(run_suite(spec, skewed, "filtered", {"holdout": HOLDOUT}))
    assert not o["label_share_within_tolerance"].passed
    assert o["label_share_within_tolerance"].observed == {"pos": 0.9, "neg": 0.1}
    assert o["label_share_within_tolerance"].expected == pytest.approx(
        {"target_share": 0.5, "min_share": 0.25, "max_share": 0.75}
    )


def test_near_duplicate_rate_limit():
    base = clean()
    near = [t.rstrip(".") + " extra." for t in base["text"].to_list()[:4]]  # Jaccard 12/13
    frame = pl.concat([base, records(near, ["pos", "neg"] * 2, prefix="n")])
    o = by_name(run_suite(make_spec(), frame, "filtered", {"holdout": HOLDOUT}))
    assert not o["near_duplicate_rate_below_limit"].passed
    assert o["near_duplicate_rate_below_limit"].observed == pytest.approx(4 / 24)
    relaxed = make_spec(curation={"gates": {"max_near_duplicate_rate": 0.2}})
    o = by_name(run_suite(relaxed, frame, "filtered", {"holdout": HOLDOUT}))
    assert o["near_duplicate_rate_below_limit"].passed


def test_unlabelled_dataset_has_no_label_expectations():
    spec = DatasetSpec.model_validate(
        {
            "name": "qa",
            "kind": "instruction",
            "task": "Q&A",
            "fields": [
                {"name": "question", "description": "q"},
                {"name": "answer", "description": "a"},
            ],
            "text_field": "question",
            "generation": {"total_records": 5},
            "quality": {"min_yield": 5},
        }
    )
    frame = records([sentence(i) for i in range(6)], None)
    outcomes = run_suite(spec, frame, "dataset")
    assert not any(o.name.startswith("label") for o in outcomes)
    assert failed(outcomes) == set()
    assert all(o.details.startswith("dataset") for o in outcomes)


def test_empty_frame_fails_row_count():
    outcomes = run_suite(make_spec(), clean().clear(), "filtered", {"holdout": HOLDOUT})
    o = by_name(outcomes)
    assert not o["row_count_at_least_min_yield"].passed
    assert o["row_count_at_least_min_yield"].observed == 0
