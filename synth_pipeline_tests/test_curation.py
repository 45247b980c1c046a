"""Curation filters on crafted frames: planted cases each filter must catch, near misses it
must keep, and the `run_curation` audit contract."""

from __future__ import annotations

import json
import random
import re

import numpy as np
import polars as pl
import pytest
from pydantic import ValidationError

from synth_pipeline.curation.config import DEFAULT_FILTERS, CurationSpec
from synth_pipeline.curation.dedup import (
    greedy_duplicates,
    rows_per_band,
    similar_pairs,
    similarity_join,
)
from synth_pipeline.curation.filters import FILTER_FAMILIES, FILTERS, CurationContext
from synth_pipeline.curation.pii import find_pii, redact
from synth_pipeline.curation.pipeline import label_shortfall, run_curation
from synth_pipeline.kinds import KIND_NAMES, get_kind
from synth_pipeline.spec import DatasetSpec

WORDS = [
    "acting",
    "actor",
    "bright",
    "camera",
    "cast",
    "character",
    "charming",
    "cinema",
    "clever",
    "dialogue",
    "director",
    "drama",
    "editing",
    "ending",
    "energy",
    "fans",
    "film",
    "frame",
    "garden",
    "harbor",
    "humor",
    "island",
    "journey",
    "lens",
    "light",
    "lively",
    "mood",
    "music",
    "night",
    "ocean",
    "pacing",
    "plot",
    "quiet",
    "rhythm",
    "scene",
    "score",
    "screen",
    "script",
    "season",
    "silent",
    "story",
    "studio",
    "summer",
    "tension",
    "theater",
    "thriller",
    "timing",
    "twist",
    "village",
    "visual",
    "warm",
    "winter",
    "writer",
    "year",
    "zeal",
]


def sentence(seed: int, n: int = 14) -> str:
    rng = random.Random(seed)
    return " ".join(rng.sample(WORDS, n)).capitalize() + "."


def jaccard(a: str, b: str) -> float:
    ta, tb = set(re.findall(r"\w+", a.lower())), set(re.findall(r"\w+", b.lower()))
    return len(ta & tb) / len(ta | tb)


def classification_spec(**curation) -> DatasetSpec:
    return DatasetSpec.model_validate(
        {
            "name": "reviews",
            "kind": "classification",
            "task": "Movie review sentiment.",
            "fields": [
                {"name": "text", "description": "A review.", "min_length": 3, "max_length": 400},
                {"name": "label", "description": "Sentiment."},
            ],
            "text_field": "text",
            "label_field": "label",
            "labels": ["pos", "neg"],
            "generation": {"records_per_label": 4},
            "quality": {"min_yield": 2, "min_length": 10, "max_length": 300},
            "curation": curation,
        }
    )


def instruction_spec(**curation) -> DatasetSpec:
    return DatasetSpec.model_validate(
        {
            "name": "qa",
            "kind": "instruction",
            "task": "Questions and answers.",
            "fields": [
                {"name": "question", "description": "A question."},
                {"name": "answer", "description": "Its answer."},
            ],
            "text_field": "question",
            "generation": {"total_records": 10},
            "quality": {"min_yield": 1, "min_length": 5, "max_length": 500},
            "curation": curation,
        }
    )


def frame(records: list[dict], spec: DatasetSpec, prefix: str = "c", **extra) -> pl.DataFrame:
    rows = []
    for i, rec in enumerate(records):
        rows.append(
            {
                "record_id": f"{prefix}{i}",
                "text": rec.get(spec.text_field) if isinstance(rec, dict) else None,
                "label": rec.get(spec.label_field) if spec.label_field else None,
                "record": json.dumps(rec, sort_keys=True, ensure_ascii=False),
            }
        )
    out = pl.DataFrame(
        rows,
        schema={"record_id": pl.String, "text": pl.String, "label": pl.String, "record": pl.String},
    )
    return out.with_columns([pl.lit(v).alias(k) for k, v in extra.items()])


def reviews(texts: list[str], labels: list[str] | None = None, prefix: str = "c") -> pl.DataFrame:
    spec = classification_spec()
    labels = labels or ["pos"] * len(texts)
    return frame(
        [{"text": t, "label": lab} for t, lab in zip(texts, labels, strict=True)], spec, prefix
    )


SEEDS = reviews(
    [
        "I loved this film, the acting was superb and the story moving.",
        "Terrible plot and wooden acting, I walked out halfway through.",
        "A delightful comedy with sharp writing and great comic timing.",
        "Boring, predictable and far too long for its thin little story.",
    ],
    ["pos", "neg", "pos", "neg"],
    prefix="s",
)
HOLDOUT = reviews(
    ["The soundtrack alone makes this film worth watching twice over for sure."], prefix="h"
)


def run(name: str, df: pl.DataFrame, spec: DatasetSpec | None = None, **ctx):
    spec = spec or classification_spec()
    context = CurationContext(
        spec=spec,
        seeds=ctx.get("seeds", SEEDS),
        holdout=ctx.get("holdout", HOLDOUT),
        extra_eval=ctx.get("extra_eval", []),
    )
    verdict = FILTERS[name](df, context)
    assert verdict.decisions.height == df.height
    return verdict


def dropped(verdict, df: pl.DataFrame) -> dict[str, str]:
    d = pl.concat([df.select("record_id"), verdict.decisions], how="horizontal")
    return dict(d.filter(~pl.col("keep")).select("record_id", "reason").iter_rows())


# ----------------------------------------------------------------------------- config


def test_spec_without_curation_section_runs_full_default_chain():
    spec = classification_spec()
    assert spec.curation.filters == list(DEFAULT_FILTERS)
    assert spec.curation.judge.enabled is False
    assert spec.curation.pii.mode == "redact"
    # The registry: the spec's default list, and the filters kinds run of their own.
    kinds_own = {f for k in KIND_NAMES for f in get_kind(k).extra_filters}
    assert set(FILTERS) == set(DEFAULT_FILTERS) | kinds_own
    assert set(FILTER_FAMILIES) <= set(FILTERS)


def test_curation_spec_rejects_repeats_unknown_names_and_bad_regex():
    with pytest.raises(ValidationError, match="repeated"):
        CurationSpec.model_validate({"filters": ["pii", "pii"]})
    with pytest.raises(ValidationError):
        CurationSpec.model_validate({"filters": ["no_such_filter"]})
    with pytest.raises(ValidationError):
        CurationSpec.model_validate({"dedup": {"unknown_knob": 1}})
    with pytest.raises(ValidationError, match="not a valid regex"):
        CurationSpec.model_validate({"degenerate": {"boilerplate_patterns": ["(unclosed"]}})


# ----------------------------------------------------------------------------- schema


def test_schema_valid_drops_failed_generations_and_invalid_records():
    spec = classification_spec()
    good = {"text": sentence(1), "label": "pos"}
    df = pl.concat(
        [
            frame([good], spec, "ok"),
            frame([good], spec, "fail").with_columns(record=pl.lit(None, pl.String)),
            frame([{"text": sentence(2), "label": 3}], spec, "type"),
            frame([{"text": sentence(3)}], spec, "missing"),
            frame([{"text": sentence(4), "label": "pos", "extra": "x"}], spec, "unknown"),
            frame([{"text": "ab", "label": "pos"}], spec, "short"),
            frame([{"text": "x" * 401, "label": "pos"}], spec, "long"),
            frame([good], spec, "json").with_columns(record=pl.lit("{not json")),
        ]
    )
    df = df.with_columns(
        status=pl.when(pl.col("record_id") == "fail0")
        .then(pl.lit("failed"))
        .otherwise(pl.lit("ok")),
        error=pl.when(pl.col("record_id") == "fail0").then(pl.lit("truncated")),
    )
    v = run("schema_valid", df, spec)
    assert dropped(v, df) == {
        "fail0": "generation_failed:truncated",
        "type0": "schema_invalid",
        "missing0": "schema_invalid",
        "unknown0": "schema_invalid",
        "short0": "schema_invalid",
        "long0": "schema_invalid",
        "json0": "schema_invalid",
    }
    details = dict(zip(df["record_id"], v.decisions["detail"], strict=True))
    assert "must be a string" in details["type0"]
    assert "shorter than 3" in details["short0"]
    assert details["fail0"] == "truncated"


def test_schema_valid_accepts_int_for_number_but_not_bool():
    spec = DatasetSpec.model_validate(
        {
            "name": "scores",
            "kind": "instruction",
            "task": "t",
            "fields": [
                {"name": "q", "description": "q"},
                {"name": "score", "type": "number", "description": "s"},
            ],
            "text_field": "q",
            "generation": {"total_records": 2},
            "quality": {"min_yield": 1},
        }
    )
    df = frame([{"q": "a", "score": 3}, {"q": "b", "score": 2.5}, {"q": "c", "score": True}], spec)
    assert dropped(run("schema_valid", df, spec), df) == {"c2": "schema_invalid"}


# ----------------------------------------------------------------------------- row content


def test_empty_fields_drops_whitespace_only_fields():
    spec = instruction_spec()
    df = frame(
        [
            {"question": "What is a lens?", "answer": "   \n "},
            {"question": "What is a lens?", "answer": "A curved glass that focuses light."},
        ],
        spec,
    )
    v = run("empty_fields", df, spec)
    assert dropped(v, df) == {"c0": "empty_field"}
    assert v.decisions["detail"][0] == "answer"


def test_degenerate_catches_boilerplate_loops_script_and_keeps_near_misses():
    texts = [
        "As an AI language model, I cannot have opinions about movies.",  # boilerplate
        "Sure, here is a positive review: the film was great fun.",  # boilerplate
        "I cannot help with writing that review, sorry.",  # refusal
        "I cannot recommend this film enough, it was a joy from start to end.",  # keep
        "Great film great film great film great film great film great film.",  # loop
        "Great film, and the cast made every great moment feel even greater.",  # keep
        "Это ужасный фильм, не смотрите его никогда и никому не советуйте.",  # wrong script
        "A café scene with crème brûlée and a naïve garçon, très charmant film.",  # keep (Latin)
    ]
    df = reviews(texts)
    v = run("degenerate", df)
    assert dropped(v, df) == {
        "c0": "boilerplate",
        "c1": "boilerplate",
        "c2": "boilerplate",
        "c4": "repeated_ngrams",
        "c6": "wrong_script",
    }
    scores = v.decisions["score"].to_list()
    assert scores[4] > 0.4 and scores[6] < 0.5


def test_degenerate_script_check_follows_the_seeds_script():
    spec = classification_spec()
    seeds = reviews(
        ["Это прекрасный фильм, смотрите обязательно.", "Скучный и длинный фильм."], prefix="s"
    )
    df = reviews(["Отличная режиссура и музыка.", "Great direction and music overall."])
    v = run("degenerate", df, spec, seeds=seeds)
    assert dropped(v, df) == {"c1": "wrong_script"}


def test_degenerate_restated_question_for_instruction_datasets():
    spec = instruction_spec()
    df = frame(
        [
            {
                "question": "What is the capital of France?",
                "answer": "What is the capital of France?",
            },
            {"question": "Why is the sky blue today?", "answer": "The sky is blue today."},
            {
                "question": "What is the capital of France?",
                "answer": "The capital of France is Paris.",
            },
            {"question": "Is the sky blue?", "answer": "Yes."},
        ],
        spec,
    )
    v = run("degenerate", df, spec, seeds=df.head(0))
    assert dropped(v, df) == {"c0": "restates_question", "c1": "restates_question"}


def test_length_bounds_and_label_not_allowed():
    df = reviews(["Too short", "A" * 301, "This one is just right."], ["pos", "neg", "meh"])
    v = run("length_bounds", df)
    assert dropped(v, df) == {"c0": "too_short", "c1": "too_long"}
    assert v.decisions["score"].to_list()[:2] == [9.0, 301.0]
    v = run("label_not_allowed", df)
    assert dropped(v, df) == {"c2": "label_not_allowed"}
    unlabelled = frame([{"question": "q?", "answer": "a"}], instruction_spec())
    # The curation run never asks an unlabelled kind's rows for a label: the kind has none.
    spec = instruction_spec()
    result = run_curation(spec, unlabelled, SEEDS.clear(), HOLDOUT.clear())
    assert result.per_filter["label_not_allowed"]["skipped"] == "instruction records have no labels"
    assert result.per_filter["label_agreement"]["skipped"] == "instruction records have no labels"
    label_drops = result.audit.filter(pl.col("filter").str.starts_with("label_") & ~pl.col("kept"))
    assert label_drops.is_empty()


# ----------------------------------------------------------------------------- duplicates


def test_exact_duplicate_normalises_case_and_whitespace_and_keeps_first():
    df = reviews(
        [
            "A Quiet  film\nabout the sea.",
            "a quiet film about the sea.",
            "A quiet film about the lake.",
        ]
    )
    v = run("exact_duplicate", df)
    assert dropped(v, df) == {"c1": "exact_duplicate"}
    assert v.decisions["detail"][1] == "same text as c0"


def test_near_duplicate_drops_jaccard_09_keeps_different_and_jaccard_064():
    base = sentence(10, 18)
    words = base.rstrip(".").split()
    near = " ".join(words[:-1] + ["zeppelin"]) + "."  # one of 18 words swapped
    far = " ".join(words[:14] + ["alpha", "beta", "gamma", "delta"]) + "."  # Jaccard 14/22
    assert 0.85 < jaccard(base, near) < 0.95
    assert 0.6 < jaccard(base, far) < 0.8
    df = reviews([base, sentence(11, 18), near, far, sentence(12, 18)])
    v = run("near_duplicate", df)
    assert dropped(v, df) == {"c2": "near_duplicate"}
    assert v.decisions["score"][2] == pytest.approx(jaccard(base, near))
    assert v.decisions["detail"][2] == "near c0"
    strict = classification_spec(dedup={"near_duplicate_threshold": 0.6})
    assert set(dropped(run("near_duplicate", df, strict), df)) == {"c2", "c3"}


def test_seed_copy_exact_and_near_copy():
    seed = SEEDS["text"][0]
    near = seed.replace("moving", "touching")
    assert jaccard(seed, near) >= 0.8
    df = reviews([seed.upper(), near, "A gentle story of two sisters running a village bakery."])
    v = run("seed_copy", df)
    assert dropped(v, df) == {"c0": "seed_copy", "c1": "seed_near_copy"}
    assert v.decisions["detail"].to_list()[:2] == ["seed s0", "seed s0"]


def test_eval_contamination_copy_near_duplicate_and_long_run():
    held = HOLDOUT["text"][0]
    run8 = "makes this film worth watching twice over for"  # 8 consecutive holdout words
    run7 = "makes this film worth watching twice over"  # 7: near miss
    extra = reviews(
        ["An eval record about a lighthouse keeper and his patient old dog."], prefix="e"
    )
    df = reviews(
        [
            held.lower(),
            held.replace("for sure", "I think"),
            f"Honestly the cast {run8} every weekend night.",
            f"Honestly the cast {run7} and the lighting is great.",
            "an eval record about a lighthouse  keeper and his patient old dog.",
            "Completely unrelated text about a harbor festival in summer.",
        ]
    )
    v = run("eval_contamination", df, extra_eval=[extra])
    assert dropped(v, df) == {
        "c0": "holdout_copy",
        "c1": "holdout_contamination",
        "c2": "holdout_contamination",
        "c4": "holdout_copy",
    }
    details = v.decisions["detail"].to_list()
    assert "8-word run with holdout h0" in details[2]
    assert details[4].startswith("eval[0] e0")


def test_similar_pairs_recall_against_exact_jaccard():
    rng = np.random.default_rng(3)
    vocab = [f"w{i}" for i in range(3000)]
    texts = [" ".join(rng.choice(vocab, 15, replace=False)) for _ in range(4000)]
    planted = []
    for k in range(150):
        src = int(rng.integers(0, 2000))
        words = texts[src].split()
        words[int(rng.integers(0, 15))] = f"new{k}"
        texts[2000 + k] = " ".join(words)
        planted.append((src, 2000 + k))
    pairs = similar_pairs(pl.Series(texts), 0.8)
    found = set(zip(pairs["a"].to_list(), pairs["b"].to_list(), strict=True))
    expected = [p for p in planted if jaccard(texts[p[0]], texts[p[1]]) >= 0.8]
    assert len(expected) > 100
    assert sum(p in found for p in expected) / len(expected) >= 0.98
    for a, b, j in pairs.iter_rows():
        assert j == pytest.approx(jaccard(texts[a], texts[b]))


def test_greedy_duplicates_keeps_first_of_chains():
    pairs = pl.DataFrame({"a": [0, 1], "b": [1, 2], "jaccard": [0.9, 0.9]})
    dup, partner, _ = greedy_duplicates(pairs.cast({"a": pl.UInt32, "b": pl.UInt32}), 3)
    # 1 is dropped as a copy of 0; 2 is only similar to the dropped 1, so it stays.
    assert dup.tolist() == [False, True, False] and partner[1] == 0


def test_rows_per_band_keeps_recall_at_threshold():
    for t in (0.6, 0.7, 0.8, 0.9):
        r = rows_per_band(t, 192)
        assert 1 - (1 - t**r) ** (192 // r) >= 0.98
    assert rows_per_band(0.8, 192) == 8  # 24 bands of 8: selective on short texts


# ----------------------------------------------------------------------------- PII


@pytest.mark.parametrize(
    ("text", "types"),
    [
        ("write to jane.doe@example.co.uk today", ["email"]),
        ("call (415) 555-2671 now", ["phone"]),
        ("call +44 20 7946 0958 now", ["phone"]),
        ("card 4111 1111 1111 1111 on file", ["credit_card"]),
        ("card 5500-0000-0000-0004 on file", ["credit_card"]),
        ("iban GB82 WEST 1234 5698 7654 32 please", ["iban"]),
        ("iban DE89370400440532013000 please", ["iban"]),
        ("ssn 123-45-6789 here", ["national_id"]),
        ("host 192.168.1.20 is down", ["ip_address"]),
        ("host 2001:db8::ff00:42:8329 is down", ["ip_address"]),
        ("see https://x.io/dl?file=1&access_token=abc123 now", ["secret_url"]),
        ("see https://x.io/cb?sig=Zm9v now", ["secret_url"]),
    ],
)
def test_pii_detectors_catch_planted_values(text, types):
    assert [m.type for m in find_pii(text, types=list(types) + ["phone"])] == types


@pytest.mark.parametrize(
    "text",
    [
        "card 4111 1111 1111 1112 fails Luhn",
        "iban GB82 WEST 1234 5698 7654 33 fails mod 97",
        "ssn 000-45-6789 and 666-12-3456 are never issued",
        "version 999.1.1.1 is not an address",
        "at 12:30:45 the film starts",
        "see https://x.io/watch?page=2&lang=en for more",
        "rated 10/10 in 1999, runtime 123 minutes",
        "order number 1234567890 arrived",
        "email me at the office",
    ],
)
def test_pii_detectors_keep_near_misses(text):
    assert find_pii(text, types=list(CurationSpec().pii.types)) == []


def test_pii_redact_mode_rewrites_text_and_record_and_keeps_rows():
    spec = instruction_spec()
    df = frame(
        [
            {
                "question": "Who do I email, jane@example.com?",
                "answer": "Call 415-555-2671 instead.",
            },
            {"question": "What is a lens?", "answer": "Card 4111 1111 1111 1112 is not valid."},
        ],
        spec,
    )
    v = run("pii", df, spec)
    assert v.decisions["keep"].all()
    assert v.decisions["reason"].to_list() == ["pii_redacted", None]
    assert v.decisions["detail"][0] == "email,phone"
    out = v.frame
    assert out["text"][0] == "Who do I email, [EMAIL]?"
    rec = json.loads(out["record"][0])
    assert rec == {"question": "Who do I email, [EMAIL]?", "answer": "Call [PHONE] instead."}
    assert out["record"][1] == df["record"][1]


def test_pii_drop_mode_drops_rows():
    spec = classification_spec(pii={"mode": "drop"})
    df = reviews(
        ["Great film, write me at a@b.io about it.", "Great film with no contact details."]
    )
    assert dropped(run("pii", df, spec), df) == {"c0": "pii_detected"}
    only_email_off = classification_spec(pii={"mode": "drop", "types": ["phone"]})
    assert dropped(run("pii", df, only_email_off), df) == {}


# ----------------------------------------------------------------------------- judge


def test_label_agreement_is_off_by_default_and_drops_clear_disagreement_when_on():
    seeds = reviews(
        [
            "wonderful brilliant delightful film loved it",
            "brilliant wonderful acting loved every minute",
            "delightful charming wonderful story loved",
            "awful boring terrible film hated it",
            "terrible awful acting hated every minute",
            "boring dreadful awful story hated",
        ],
        ["pos", "pos", "pos", "neg", "neg", "neg"],
        prefix="s",
    )
    df = reviews(
        ["wonderful brilliant delightful loved it", "awful terrible boring hated it", "a film"],
        ["neg", "neg", "pos"],
    )
    assert run("label_agreement", df, seeds=seeds).skipped == "judge.enabled is false"
    spec = classification_spec(judge={"enabled": True, "max_margin": 0.2})
    v = run("label_agreement", df, spec, seeds=seeds)
    assert dropped(v, df) == {"c0": "label_disagreement"}
    assert v.decisions["score"][0] > 0.2
    assert "prefers 'pos'" in v.decisions["detail"][0]


# ----------------------------------------------------------------------------- run_curation


def test_run_curation_audits_every_drop_in_order():
    spec = classification_spec()
    texts = [
        sentence(1),
        sentence(1).upper(),
        "As an AI language model I cannot review films.",
        SEEDS["text"][1],
        HOLDOUT["text"][0],
        "A warm film; reach the director at dir@studio.example for interviews.",
        sentence(2),
        sentence(3),
    ]
    labels = ["pos", "pos", "pos", "neg", "pos", "neg", "meh", "neg"]
    cands = reviews(texts, labels).with_columns(
        status=pl.lit("ok"), error=pl.lit(None, pl.String), strategy=pl.lit("fewshot")
    )
    failed = cands.head(1).with_columns(
        record_id=pl.lit("f0"),
        status=pl.lit("failed"),
        error=pl.lit("refusal"),
        record=pl.lit(None, pl.String),
    )
    cands = pl.concat([cands, failed])
    messages: list[str] = []
    result = run_curation(spec, cands, SEEDS, HOLDOUT, progress=messages.append)
    assert result.kept["record_id"].to_list() == ["c0", "c5", "c7"]
    assert result.kept.columns == ["record_id", "text", "label", "record", "strategy"]
    assert "[EMAIL]" in result.kept["text"][1]
    assert result.audit.columns == ["record_id", "filter", "reason", "score", "detail", "kept"]
    reasons = dict(result.audit.select("record_id", "reason").iter_rows())
    assert reasons == {
        "f0": "generation_failed:refusal",
        "c2": "boilerplate",
        "c6": "label_not_allowed",
        "c1": "exact_duplicate",
        "c3": "seed_copy",
        "c4": "holdout_copy",
        "c5": "pii_redacted",
    }
    assert result.counts["pii_redacted"] == 1 and result.counts["boilerplate"] == 1
    assert list(result.per_filter) == list(DEFAULT_FILTERS)
    assert result.per_filter["schema_valid"] == {
        "in": 9,
        "out": 8,
        "dropped": 1,
        "changed": 0,
        "seconds": result.per_filter["schema_valid"]["seconds"],
        "skipped": None,
    }
    for name, stats in result.per_filter.items():
        assert stats["in"] - stats["out"] == stats["dropped"], name
    assert result.per_filter["pii"]["changed"] == 1
    assert result.per_filter["label_agreement"]["skipped"] == "judge.enabled is false"
    assert len(messages) == len(DEFAULT_FILTERS)
    assert result.dropped == 6
    assert label_shortfall(spec, result.kept) == {"pos": 3, "neg": 2}


def test_run_curation_respects_configured_filters_and_handles_empty_input():
    spec = classification_spec(filters=["exact_duplicate"])
    df = reviews(["Same text here.", "same text here.", "Too short"])
    result = run_curation(spec, df, SEEDS, HOLDOUT)
    assert list(result.per_filter) == ["exact_duplicate"]
    assert result.kept["record_id"].to_list() == ["c0", "c2"]
    empty = run_curation(classification_spec(), df.clear(), SEEDS, HOLDOUT)
    assert empty.kept.height == 0 and empty.audit.height == 0 and empty.counts == {}
    assert label_shortfall(instruction_spec(), empty.kept) == {"_total": 10}


def test_redact_helper_is_idempotent_on_placeholders():
    text, types = redact("mail a@b.io or call 415-555-2671", ["email", "phone"])
    assert text == "mail [EMAIL] or call [PHONE]" and types == ["email", "phone"]
    assert redact(text, ["email", "phone"]) == (text, [])


def test_similarity_join_is_exact_against_brute_force():
    rng = random.Random(5)
    vocab = [f"v{i}" for i in range(40)]
    left = [" ".join(rng.sample(vocab, rng.randint(3, 12))) for _ in range(400)]
    right = [" ".join(rng.sample(vocab, rng.randint(3, 12))) for _ in range(60)]
    threshold = 0.5
    got = similarity_join(pl.Series(left), pl.Series(right), threshold)
    best = {}
    for i, a in enumerate(left):
        scores = [jaccard(a, b) for b in right]
        if max(scores) >= threshold:
            best[i] = max(scores)
    assert dict(zip(got["row"].to_list(), got["jaccard"].to_list(), strict=True)) == pytest.approx(
        best
    )


def test_similar_pairs_collapses_many_identical_copies():
    texts = [sentence(7)] * 300 + [sentence(8), sentence(7).lower()]
    pairs = similar_pairs(pl.Series(texts), 0.8)
    assert pairs.height == 300  # each copy paired with the first, not 45,150 pairs
    dup, partner, _ = greedy_duplicates(pairs, len(texts))
    assert dup.sum() == 300 and not dup[0] and not dup[300]
    assert set(partner[dup].tolist()) == {0}


def test_run_curation_reuses_tokens_across_shrinking_frames():
    base, other = sentence(20, 18), sentence(21, 18)
    words = base.rstrip(".").split()
    near = " ".join(words[:-1] + ["zeppelin"]) + "."
    texts = [
        "As an AI language model I cannot do that.",
        base,
        "Sure, here is a review: fine film.",
        other,
        near,
        base.upper(),
        "Plain unrelated words about a harbor festival at night.",
    ]
    result = run_curation(classification_spec(), reviews(texts), SEEDS, HOLDOUT)
    reasons = dict(result.audit.select("record_id", "reason").iter_rows())
    assert reasons == {
        "c0": "boilerplate",
        "c2": "boilerplate",
        "c5": "exact_duplicate",
        "c4": "near_duplicate",
    }
    details = dict(result.audit.select("record_id", "detail").iter_rows())
    assert details["c4"] == "near c1" and details["c5"] == "same text as c1"
    assert result.kept["record_id"].to_list() == ["c1", "c3", "c6"]


def test_schema_field_names_that_shadow_model_attributes():
    spec = DatasetSpec.model_validate(
        {
            "name": "odd",
            "kind": "instruction",
            "task": "t",
            "fields": [
                {"name": "json", "description": "q"},
                {"name": "copy", "type": "integer", "description": "n"},
            ],
            "text_field": "json",
            "generation": {"total_records": 2},
            "quality": {"min_yield": 1},
        }
    )
    df = frame([{"json": "a question?", "copy": 1}, {"json": "another?", "copy": "1"}], spec)
    assert dropped(run("schema_valid", df, spec), df) == {"c1": "schema_invalid"}


def test_pii_in_a_non_text_field_is_found_and_dropped():
    spec = instruction_spec(pii={"mode": "drop"})
    df = frame(
        [
            {"question": "How do I reach support?", "answer": "Email help@example.org today."},
            {"question": "How do I reach support?", "answer": "Use the form on the website."},
        ],
        spec,
    )
    v = run("pii", df, spec)
    assert dropped(v, df) == {"c0": "pii_detected"}
    assert v.decisions["detail"][0] == "email"


def test_redaction_invalidates_cached_tokens():
    texts = [
        "Contact anna@example.com for the long detailed review of this quiet film now.",
        "Contact bob@example.org for the long detailed review of this quiet film now.",
    ]
    spec = classification_spec(filters=["degenerate", "exact_duplicate", "pii", "near_duplicate"])
    result = run_curation(spec, reviews(texts), SEEDS, HOLDOUT)
    # Only after redaction are the two the same text; stale tokens would keep both.
    assert result.kept["text"].to_list() == [
        "Contact [EMAIL] for the long detailed review of this quiet film now."
    ]
    assert result.counts == {"pii_redacted": 2, "near_duplicate": 1}
