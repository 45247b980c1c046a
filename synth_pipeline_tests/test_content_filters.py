"""Content filters: prompt echo at any length, format artifacts, the wrong voice, partial
seed copies and the cross-fitted realism classifier. Each filter must catch planted junk
and keep real-looking records, and a pattern the real records use is never held against
a candidate."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl

from synth_pipeline.curation.filters import FILTERS, CurationContext
from synth_pipeline.curation.patterns import active_patterns
from synth_pipeline.curation.realism import out_of_fold_real_probability
from synth_pipeline.records import load_real_records
from synth_pipeline.spec import load_spec

DATA = Path(__file__).resolve().parents[1] / "data"


def _frame(texts: list[str], label: str = "order_status") -> pl.DataFrame:
    return pl.DataFrame(
        {
            "record_id": [f"r{i}" for i in range(len(texts))],
            "text": texts,
            "label": [label] * len(texts),
            "record": [json.dumps({"text": t, "label": label}) for t in texts],
        }
    )


def _ctx(seeds: pl.DataFrame | None = None) -> CurationContext:
    spec = load_spec(DATA / "support_intents")
    if seeds is None:
        seeds = load_real_records(spec, spec.seeds_file, "seed")
    return CurationContext(spec, seeds, seeds.clear())


def _keep(name: str, texts: list[str], ctx: CurationContext | None = None) -> list[bool]:
    return FILTERS[name](_frame(texts), ctx or _ctx()).decisions["keep"].to_list()


def test_prompt_echo_catches_a_four_word_field_description_and_label_names() -> None:
    keep = _keep(
        "prompt_echo",
        [
            "What the customer wrote.",  # the field description, four words
            "What the customer wrote: where is my parcel",
            "refund_request",  # the label identifier
            "Change shipping address",  # the label as words, nothing else
            "Write one more refund request example",  # the prompt's instruction
            "Where is my order 5521? It was due Monday and tracking hasn't moved.",
            "hey can you help, the courier says delivered but nothing here",
        ],
    )
    assert keep == [False, False, False, False, False, True, True]


def test_prompt_echo_ignores_word_runs_the_seeds_use() -> None:
    # "an order number" is in the task; a seed that says it makes it real language.
    ctx = _ctx()
    seeds = _frame(["I lost an order number somewhere, can you look it up by email?"] * 3)
    ctx_with = CurationContext(ctx.spec, seeds, seeds.clear())
    text = ["Sorry, I do not have an order number, it was a gift."]
    assert _keep("prompt_echo", text, ctx) == [False]
    assert _keep("prompt_echo", text, ctx_with) == [True]


def test_format_artifacts_are_dropped_with_the_pattern_named() -> None:
    frame = _frame(
        [
            "My parcel is late. (at most 400 characters)",
            "Could you cancel one of them? 42 words.",
            "Is the pan pre-seasoned? (example 1)",
            "Text: refund pls, wrong size",
            "Please send it to [Your address] instead.",
            '{"text": "where is my order"}',
            "You charged me twice for order 5512, please fix it.",
        ]
    )
    verdict = FILTERS["format_artifact"](frame, _ctx())
    assert verdict.decisions["keep"].to_list() == [False] * 6 + [True]
    assert set(verdict.decisions["reason"].drop_nulls()) == {"format_artifact"}
    assert "count_note" in verdict.decisions["detail"][1]


def test_wrong_voice_and_text_about_the_record_are_dropped() -> None:
    keep = _keep(
        "voice",
        [
            "I'm sorry, but I'm unable to assist with that.",
            "Hi there, how can I help you today?",
            "Sorry for any inconvenience, please contact our customer service.",
            "This customer's message can be edited to improve readability.",
            "The customer wanted to cancel the entire order.",
            "This review contains negative feedback about a product.",
            "I'm sorry to bother you, but my parcel never came. Can you check order 4411?",
            "Can you help me change the address on my order?",
        ],
    )
    assert keep == [False, False, False, False, False, False, True, True]


def test_a_pattern_the_seeds_match_is_switched_off() -> None:
    active = active_patterns({"offer": r"\bhow can i help\b"}, ["Hi! How can I help you?"])
    assert active == {}
    seeds = _frame(["Thanks for writing in, how can I help you today?"] * 3)
    ctx = CurationContext(_ctx().spec, seeds, seeds.clear())
    assert _keep("voice", ["Hello, how can I help you with your order?"], ctx) == [True]


def test_partial_and_joined_seed_copies_are_dropped_and_new_text_kept() -> None:
    ctx = _ctx()
    seeds = ctx.seeds["text"].to_list()
    first, second = seeds[0], seeds[1]
    cut = " ".join(first.split()[:-3])  # a seed cut short
    joined = f"{first} {second}"  # two seeds joined
    new = "My sofa cushions arrived in the wrong colour, grey instead of blue, order 7712."
    verdict = FILTERS["seed_copy"](_frame([cut, joined, new]), ctx)
    assert verdict.decisions["keep"].to_list() == [False, False, True]
    assert verdict.decisions["reason"][1] in {"seed_overlap", "seed_near_copy"}


def test_realism_drops_what_looks_unlike_every_real_record() -> None:
    spec = load_spec(DATA / "support_intents")
    seeds = load_real_records(spec, spec.seeds_file, "seed")
    holdout = load_real_records(spec, spec.holdout_file, "holdout")
    # Real-looking candidates (held-out real messages) and junk of one style.
    good = holdout["text"].to_list()[:40]
    junk = [
        f"The support team replied within {i} minutes and resolved the ticket politely, "
        "the agent was helpful and the conversation ended well."
        for i in range(20)
    ]
    frame = _frame(good + junk)
    verdict = FILTERS["realism"](frame, CurationContext(spec, seeds, seeds.clear()))
    keep = verdict.decisions["keep"].to_list()
    assert sum(keep[40:]) <= 2  # the junk goes
    assert sum(keep[:40]) >= 32  # real messages stay
    assert set(verdict.decisions["reason"].drop_nulls()) == {"unrealistic"}


def test_realism_is_skipped_with_too_few_rows() -> None:
    verdict = FILTERS["realism"](_frame(["where is my order?"] * 3), _ctx())
    assert verdict.skipped and verdict.decisions["keep"].all()


def test_missed_junk_follows_the_benchmark_recall_applied_to_what_was_dropped() -> None:
    from synth_pipeline.curation.content import missed_junk_share

    spec = load_spec(DATA / "support_intents")
    cfg = spec.curation.junk_estimate
    # 40 content drops (and 10 drops by a non-content filter, which do not count), 50 kept.
    audit = pl.DataFrame(
        {
            "record_id": [f"r{i}" for i in range(50)],
            "filter": ["realism"] * 30 + ["voice"] * 10 + ["exact_duplicate"] * 10,
            "kept": [False] * 50,
        }
    )
    est = missed_junk_share(spec, audit, kept=50)
    assert est is not None and est.dropped_by_content == 40
    expected = 40 * cfg.precision * (1 - cfg.recall) / cfg.recall / 50
    assert abs(est.share - expected) < 1e-9
    assert est.low <= est.share <= est.high
    # Nothing dropped by content: nothing estimated missed.
    assert (
        missed_junk_share(spec, audit.filter(pl.col("filter") == "exact_duplicate"), 50).share == 0
    )


def test_without_realism_the_missed_junk_takes_the_figures_without_it() -> None:
    """A small version where realism did not run: 1 drop of 15 must not read as 'all junk
    caught' with realism's recall (0.81) but as the other filters' recall (about 0.29)."""
    from synth_pipeline.curation.content import missed_junk_share

    spec = load_spec(DATA / "support_intents")
    rates = spec.curation.junk_estimate.without_realism
    audit = pl.DataFrame({"record_id": ["r0"], "filter": ["voice"], "kept": [False]})
    est = missed_junk_share(spec, audit, kept=14)
    assert est is not None and "without realism" in est.method
    assert abs(est.share - rates.precision * (1 - rates.recall) / rates.recall / 14) < 1e-9
    with_realism = spec.curation.junk_estimate
    assert (
        est.share
        > 2 * with_realism.precision * (1 - with_realism.recall) / with_realism.recall / 14
    )


def test_review_verdicts_of_other_versions_train_the_realism_filter(tmp_path: Path) -> None:
    from synth_pipeline.stages import reviewed_rows
    from synth_pipeline.warehouse import Warehouse

    spec = load_spec(DATA / "support_intents")
    wh = Warehouse(tmp_path / "warehouse.duckdb")
    good = "My parcel with order 5512 never came, can you check where it is?"
    junk = "The support team replied politely and the agent resolved the ticket."
    rows = _frame([good, junk]).with_columns(pl.Series("record_id", ["a", "b"]))
    wh.replace_version("dataset_records", spec.name, "v1", rows)
    wh.execute(
        "INSERT INTO review_verdicts (dataset, version, record_id, verdict) VALUES "
        "(?, 'v1', 'a', 'accept'), (?, 'v1', 'b', 'reject')",
        [spec.name, spec.name],
    )
    accepted, rejected = reviewed_rows(wh, spec.name, "v2")
    assert accepted["text"].to_list() == [good] and rejected["text"].to_list() == [junk]
    assert reviewed_rows(wh, spec.name, "v1")[0].height == 0  # a version's own review: no

    # Rejected rows join the synthetic side: candidates like them look less real.
    seeds = load_real_records(spec, spec.seeds_file, "seed")
    holdout = load_real_records(spec, spec.holdout_file, "holdout")
    things = ["bread", "milk", "a cake", "flowers", "a lamp", "shoes", "a kettle", "paint"]
    odd = [f"I'm going to the store tomorrow to buy {t}, can you help me with my order?"
           for t in things]  # fmt: skip
    frame = _frame(holdout["text"].to_list()[:30] + odd)
    turned_down = _frame([f"I'm going to the store on {d} to buy {t}, can you help me?"
                       for d in ("monday", "friday", "sunday") for t in things])  # fmt: skip
    real = seeds["text"].to_list()
    _, alone = out_of_fold_real_probability(real, frame["text"].to_list(), 5, 0)
    _, with_rejected = out_of_fold_real_probability(
        real, frame["text"].to_list() + turned_down["text"].to_list(), 5, 0
    )
    assert with_rejected[30:38].mean() < alone[30:38].mean()  # the odd ones look less real
    taught = FILTERS["realism"](
        frame, CurationContext(spec, seeds, seeds.clear(), rejected=turned_down)
    )
    assert not any(taught.decisions["keep"][30:])  # the filter takes them in
    assert taught.decisions["keep"][:30].sum() >= 24  # real messages stay
