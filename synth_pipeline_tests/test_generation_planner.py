"""The planner: strategy mix, class quotas, attribute coverage, seed picks, stability."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from generation_support import make_dataset

from synth_pipeline.generation.planner import (
    apportion,
    class_quotas,
    plan_generation,
    seed_sets,
)
from synth_pipeline.records import load_real_records
from synth_pipeline.spec import DatasetSpec, SpecError, load_spec

LABELS = ["alpha", "beta", "gamma"]


def _spec(generation: dict[str, Any], kind: str = "classification") -> DatasetSpec:
    raw: dict[str, Any] = {
        "name": "toy",
        "kind": kind,
        "task": "Toy records for tests.",
        "fields": [{"name": "text", "description": "The text."}],
        "text_field": "text",
        "generation": generation,
        "quality": {"min_yield": 1},
    }
    if kind == "classification":
        raw["fields"].append({"name": "label", "description": "The label."})
        raw.update(label_field="label", labels=LABELS)
    return DatasetSpec.model_validate(raw)


def _seeds(per_label: dict[str | None, int]) -> pl.DataFrame:
    rows = []
    for label, n in per_label.items():
        for i in range(n):
            rec = {"text": f"seed {label} {i}"} | ({"label": label} if label else {})
            rows.append(
                {
                    "record_id": f"seed-{label}-{i}",
                    "text": rec["text"],
                    "label": label,
                    "record": json.dumps(rec),
                }
            )
    return pl.DataFrame(
        rows, schema={c: pl.String for c in ("record_id", "text", "label", "record")}
    )


def _final_per_label(plan: Any, seeds: pl.DataFrame) -> Counter:
    final = Counter(r.label for r in plan.requests)
    final.update(seeds["label"].to_list())
    return final


def test_default_plan_is_seed_variation_per_label() -> None:
    spec = load_spec(Path("data/support_intents"))
    seeds = load_real_records(spec, spec.seeds_file, "seed")
    spec.generation.records_per_label = 3
    plan = plan_generation(spec, seeds)
    assert plan.per_strategy == {"seed_variation": 24}
    assert Counter(r.label for r in plan.requests) == dict.fromkeys(spec.labels, 3)
    label_of = dict(zip(seeds["record_id"], seeds["label"], strict=True))
    for r in plan.requests:
        assert len(r.seed_ids) == spec.generation.seeds_per_prompt
        assert {label_of[s] for s in r.seed_ids} == {r.label}


def test_apportion_keeps_the_total() -> None:
    assert apportion(10, {"a": 0.6, "b": 0.3, "c": 0.1}) == {"a": 6, "b": 3, "c": 1}
    assert sum(apportion(7, {"a": 1, "b": 1, "c": 1}).values()) == 7
    assert apportion(0, {"a": 1}) == {"a": 0}


def test_class_balance_corrects_the_seeds_imbalance() -> None:
    seeds = _seeds({"alpha": 10, "beta": 2, "gamma": 0})
    spec = _spec({"records_per_label": 10, "strategies": [{"name": "class_balance"}]})
    plan = plan_generation(spec, seeds)
    # 12 seeds + 30 generated = 42: 14 per label once the quotas are filled.
    assert plan.per_label["class_balance"] == {"alpha": 4, "beta": 12, "gamma": 14}
    assert _final_per_label(plan, seeds) == dict.fromkeys(LABELS, 14)


def test_class_balance_mixed_with_other_strategies_still_reaches_the_target() -> None:
    seeds = _seeds({"alpha": 10, "beta": 2, "gamma": 0})
    spec = _spec(
        {
            "records_per_label": 10,
            "strategies": [
                {"name": "seed_variation", "weight": 0.5},
                {"name": "class_balance", "weight": 0.5},
            ],
        }
    )
    plan = plan_generation(spec, seeds)
    assert plan.per_label["seed_variation"] == {"alpha": 5, "beta": 5, "gamma": 5}
    assert plan.per_label["class_balance"]["alpha"] == 0  # already over its target
    final = _final_per_label(plan, seeds)
    assert final["alpha"] == 15  # seeds 10 + seed variation 5: balancing cannot remove
    assert abs(final["beta"] - 14) <= 1 and abs(final["gamma"] - 14) <= 1
    assert sum(final.values()) == 42


def test_class_balance_targets_the_specs_proportions() -> None:
    seeds = _seeds({"alpha": 2, "beta": 2, "gamma": 2})
    spec = _spec(
        {
            "records_per_label": 10,
            "strategies": [
                {"name": "class_balance", "target": {"alpha": 2, "beta": 1, "gamma": 1}}
            ],
        }
    )
    final = _final_per_label(plan_generation(spec, seeds), seeds)
    assert final == {"alpha": 18, "beta": 9, "gamma": 9}  # 36 x (1/2, 1/4, 1/4)


def test_class_quotas_water_filling() -> None:
    shares = {"a": 0.5, "b": 0.5}
    assert class_quotas(4, shares, {"a": 4, "b": 0}, {}, 8) == {"a": 0, "b": 4}
    assert class_quotas(3, shares, {"a": 0, "b": 0}, {}, 3) == {"a": 2, "b": 1}


def test_attribute_values_are_covered_evenly() -> None:
    spec = _spec(
        {
            "total_records": 24,
            "strategies": [
                {
                    "name": "attributes",
                    "attributes": {
                        "tone": ["polite", "angry", "casual"],
                        "channel": ["email", "chat"],
                    },
                    "scenarios": ["no order number", "two problems", "sarcasm", "all caps"],
                }
            ],
        },
        kind="instruction",
    )
    plan = plan_generation(spec, _seeds({None: 6}))
    assert len(plan.requests) == 24
    for dim, n_values in (("tone", 3), ("channel", 2), ("scenario", 4)):
        counts = Counter(r.attribute_dict[dim] for r in plan.requests)
        assert len(counts) == n_values
        assert set(counts.values()) == {24 // n_values}, (dim, counts)
    combos = {tuple(sorted(r.attribute_dict.items())) for r in plan.requests}
    assert len(combos) >= 12  # combinations vary, not just a diagonal
    for r in plan.requests:  # each prompt asks for its combination
        user = r.message_list[-1]["content"]
        for value in r.attribute_dict.values():
            assert value in user


def test_attribute_coverage_spans_labels() -> None:
    seeds = _seeds({"alpha": 3, "beta": 3, "gamma": 3})
    spec = _spec(
        {
            "records_per_label": 2,
            "strategies": [{"name": "attributes", "attributes": {"tone": list("abcdef")}}],
        }
    )
    plan = plan_generation(spec, seeds)
    # 6 requests over 3 labels: every one of 6 tones once, though no label has 6 requests.
    assert Counter(r.attribute_dict["tone"] for r in plan.requests) == dict.fromkeys("abcdef", 1)


@pytest.mark.parametrize("n_seeds,n,k", [(30, 40, 2), (10, 10, 3), (12, 8, 3)])
def test_every_seed_is_shown(n_seeds: int, n: int, k: int) -> None:
    ids = [f"s{i}" for i in range(n_seeds)]
    sets = seed_sets(ids, k, "seed_variation|x", n)
    assert all(len(s) == k and len(set(s)) == k for s in sets)
    assert {s for chosen in sets for s in chosen} == set(ids)


def test_every_demo_seed_is_shown() -> None:
    spec = load_spec(Path("data/support_intents"))
    seeds = load_real_records(spec, spec.seeds_file, "seed")
    used = {s for r in plan_generation(spec, seeds).requests for s in r.seed_ids}
    assert used == set(seeds["record_id"])


def test_adding_a_seed_replans_few_samples() -> None:
    ids = [f"s{i}" for i in range(20)]
    n, k = 60, 3
    before = seed_sets(ids, k, "p", n)
    changed = []
    for t in range(5):
        after = seed_sets([*ids, f"new{t}"], k, "p", n)
        changed.append(sum(a != b for a, b in zip(before, after, strict=True)))
    # Rendezvous alone re-plans about k/(seeds+1) = 14% of samples; coverage adds a little.
    assert sum(changed) / len(changed) <= 0.25 * n, changed


def test_raising_the_count_keeps_every_earlier_request() -> None:
    gen: dict[str, Any] = {
        "strategies": [
            {"name": "seed_variation", "weight": 0.5},
            {"name": "attributes", "weight": 0.3, "attributes": {"tone": ["a", "b", "c"]}},
            {"name": "evolution", "weight": 0.2},
        ]
    }
    seeds = _seeds({"alpha": 6, "beta": 6, "gamma": 6})
    small = plan_generation(_spec({"records_per_label": 4, **gen}), seeds).requests
    large = plan_generation(_spec({"records_per_label": 9, **gen}), seeds).requests
    assert len(large) == 27
    assert set(small) <= set(large)
    cb = {"strategies": [{"name": "class_balance"}]}
    small = plan_generation(_spec({"records_per_label": 4, **cb}), _seeds({"alpha": 5})).requests
    large = plan_generation(_spec({"records_per_label": 6, **cb}), _seeds({"alpha": 5})).requests
    assert set(small) <= set(large)


def test_strategies_mix_by_weight_and_record_their_origin() -> None:
    seeds = _seeds({"alpha": 4, "beta": 4, "gamma": 4})
    spec = _spec(
        {
            "records_per_label": 10,
            "strategies": [
                {"name": "seed_variation", "weight": 0.6},
                {"name": "evolution", "weight": 0.4, "operations": ["harder", "more_specific"]},
            ],
        }
    )
    plan = plan_generation(spec, seeds)
    assert plan.per_strategy == {"seed_variation": 18, "evolution": 12}
    evolved = [r for r in plan.requests if r.strategy == "evolution"]
    assert all(len(r.seed_ids) == 1 for r in evolved)
    assert Counter(r.attribute_dict["operation"] for r in evolved) == {
        "harder": 6,
        "more_specific": 6,
    }
    for r in evolved:  # the rewritten seed is in the prompt, its label is not
        user = r.message_list[-1]["content"]
        assert f"seed {r.label}" in user and "label: " not in user
    # Strategies interleave, so a budget stop leaves a mix of both.
    assert {r.strategy for r in plan.requests[:5]} == {"seed_variation", "evolution"}


def test_distillation_answers_inputs_and_moves_the_shortfall(tmp_path: Path) -> None:
    folder = make_dataset(
        tmp_path,
        "coffee_qa",
        generation={
            "total_records": 10,
            "strategies": [
                {"name": "seed_variation", "weight": 0.5},
                {"name": "distillation", "weight": 0.5, "inputs_file": "questions.jsonl"},
            ],
        },
    )
    (folder / "questions.jsonl").write_text(
        '{"question": "How long should a French press steep?"}\n'
        '{"question": "Is tap water fine for espresso?"}\n'
    )
    spec = load_spec(folder)
    plan = plan_generation(spec, load_real_records(spec, spec.seeds_file, "seed"))
    assert plan.per_strategy == {"seed_variation": 8, "distillation": 2}
    assert plan.notes and "only 2 inputs" in plan.notes[0]
    d = [r for r in plan.requests if r.strategy == "distillation"]
    assert d[0].fixed_dict == {"question": "How long should a French press steep?"}
    assert d[0].output_fields == ("answer",) and d[0].label_choices == ()
    assert "French press steep" in d[0].message_list[1]["content"]
    assert d[0].attribute_dict["input_id"].startswith("input-")


def test_distillation_labels_classification_inputs(tmp_path: Path) -> None:
    gen = {
        "records_per_label": 1,
        "strategies": [{"name": "distillation", "inputs_file": "inbox.csv"}],
    }
    folder = make_dataset(tmp_path, generation=gen)
    (folder / "inbox.csv").write_text("text\nwhere is my parcel\ncancel it please\n")
    spec = load_spec(folder)
    plan = plan_generation(spec, load_real_records(spec, spec.seeds_file, "seed"))
    assert len(plan.requests) == 2
    r = plan.requests[0]
    assert r.label is None and r.label_choices == tuple(spec.labels) and r.output_fields == ()
    (folder / "inbox.csv").write_text("text,label\nwhere is it,order_status\n")
    with pytest.raises(SpecError, match="unlabelled"):
        plan_generation(spec, load_real_records(spec, spec.seeds_file, "seed"))


def test_a_dataset_template_replaces_the_built_in_prompt(tmp_path: Path) -> None:
    folder = make_dataset(
        tmp_path,
        generation={
            "records_per_label": 1,
            "strategies": [{"name": "seed_variation", "template": "my_prompt.j2"}],
        },
    )
    (folder / "my_prompt.j2").write_text(
        '{% import "_macros.j2" as m %}Custom prompt for {{ label }}.\n{{ m.field_guide(fields) }}'
    )
    spec = load_spec(folder)
    plan = plan_generation(spec, load_real_records(spec, spec.seeds_file, "seed"))
    user = plan.requests[0].message_list[-1]["content"]
    assert user.startswith("Custom prompt for refund_request.") and "- text:" in user


def test_inconsistent_strategies_are_rejected() -> None:
    # The spec itself refuses them, so a bad spec fails when definitions load.
    with pytest.raises(ValueError, match="class_balance needs a labelled dataset kind"):
        _spec({"total_records": 3, "strategies": [{"name": "class_balance"}]}, kind="instruction")
    with pytest.raises(ValueError, match="unknown labels"):
        _spec(
            {
                "records_per_label": 2,
                "strategies": [{"name": "class_balance", "target": {"delta": 1}}],
            }
        )
    with pytest.raises(ValueError, match="each strategy at most once"):
        _spec({"records_per_label": 2, "strategies": [
            {"name": "seed_variation"}, {"name": "seed_variation"}]})  # fmt: skip


def test_document_prompts_for_the_embedded_model_and_chat_turns_otherwise() -> None:
    seeds = _seeds({lab: 4 for lab in LABELS})
    doc = plan_generation(_spec({"records_per_label": 2, "seeds_per_prompt": 3}), seeds)
    request = doc.requests[0]
    assert request.document_field == "text"
    (message,) = request.message_list
    prompt = message["content"]
    lines = prompt.splitlines()
    # The title, then the seed texts as a numbered list the model continues.
    assert lines[0].startswith("Toy records for tests") and "alpha" in lines[0]
    assert [line.split(". ", 1)[0] for line in lines[2:]] == ["1", "2", "3", "4."]
    assert all(
        text.startswith("seed alpha") for text in (ln.split(". ", 1)[1] for ln in lines[2:5])
    )
    assert "text:" not in prompt and "description" not in prompt  # nothing to echo

    chat_spec = _spec({"records_per_label": 2, "seeds_per_prompt": 3, "prompt_format": "chat"})
    chat = plan_generation(chat_spec, seeds).requests[0]
    roles = [m["role"] for m in chat.message_list]
    assert chat.document_field is None
    assert roles == [
        "system",
        "user",
        "assistant",
        "user",
        "assistant",
        "user",
        "assistant",
        "user",
    ]
    assert json.loads(chat.message_list[2]["content"])["text"].startswith("seed alpha")
    assert "The text." not in json.dumps(chat.message_list)  # no field description to echo
