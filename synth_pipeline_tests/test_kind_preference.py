"""`kind: preference`: prompts answered twice, judged in both orders, curated, exported for
TRL's DPO trainer."""

from __future__ import annotations

import json

import polars as pl
import pytest

from synth_pipeline.curation.pipeline import run_curation
from synth_pipeline.defs.runner import materialize_version
from synth_pipeline.exports import export_version
from synth_pipeline.generation.cache import CallOutcome
from synth_pipeline.generation.planner import plan_generation
from synth_pipeline.kinds import kind_of
from synth_pipeline.records import CANDIDATE_SCHEMA, load_real_records
from synth_pipeline.report.score import THRESHOLDS
from synth_pipeline.spec import SpecError, load_spec
from synth_pipeline.warehouse import Warehouse


def _spec(project, **overrides):
    return load_spec(project.add_dataset("coffee_preference", **overrides))


def test_the_demo_preference_spec_loads_with_its_three_fields(project):
    spec = _spec(project)
    kind = kind_of(spec)
    assert kind.name == "preference" and kind.has("pairs") and not kind.has("labels")
    assert [f.name for f in spec.fields] == ["prompt", "chosen", "rejected"]
    seeds = load_real_records(spec, spec.seeds_file, "seed")
    holdout = load_real_records(spec, spec.holdout_file, "holdout")
    assert seeds.height == 40 and holdout.height == 24
    # The text column is the chosen answer: copies, lengths and similarity read it.
    assert seeds["text"][0] == json.loads(seeds["record"][0])["chosen"]


def test_a_seed_pair_with_the_same_answer_twice_names_the_file_and_line(project):
    folder = project.add_dataset("coffee_preference")
    seeds = folder / "seeds.jsonl"
    lines = seeds.read_text().splitlines()
    lines.insert(4, json.dumps({"prompt": "Why?", "chosen": "Because.", "rejected": "Because."}))
    seeds.write_text("\n".join(lines) + "\n")
    spec = load_spec(folder)
    with pytest.raises(SpecError, match=r"seeds.jsonl:5: chosen and rejected are the same"):
        load_real_records(spec, spec.seeds_file, "seed")


def test_each_prompt_is_answered_once_per_sampler(project):
    spec = _spec(project, generation={"total_records": 5})
    seeds = load_real_records(spec, spec.seeds_file, "seed")
    plan = plan_generation(spec, seeds)
    assert len(plan.requests) == 10
    prompts = [
        json.loads(line)["prompt"]
        for line in (spec.path("prompts.jsonl")).read_text().splitlines()[:5]
    ]
    for i, prompt in enumerate(prompts):
        low, high = plan.requests[2 * i], plan.requests[2 * i + 1]
        assert low.fixed_dict == high.fixed_dict == {"prompt": prompt}
        assert dict(low.params) == {"temperature": 0.3}
        assert dict(high.params) == {"temperature": 1.0}
        assert low.message_list[-1] == {"role": "user", "content": prompt}
        # The seeds' good answers are the examples, never the prompt's own seed pair.
        shown = [m["content"] for m in low.message_list if m["role"] == "user"]
        assert prompt not in shown[:-1]


def _answers(spec, answers: list[tuple[str, str, str]]) -> pl.DataFrame:
    """Answer rows as `candidate_frame` writes them: (prompt id, prompt, answer) per row,
    two per prompt."""
    rows = []
    for i, (pid, prompt, answer) in enumerate(answers):
        rows.append(
            {
                "record_id": f"c-{i}",
                "text": answer,
                "label": None,
                "record": json.dumps({"prompt": prompt, "response": answer}),
                "status": "ok",
                "error": None,
                "strategy": "preference_response",
                "requested_label": None,
                "seed_ids": "[]",
                "sample_index": i,
                "cache_key": f"k{i}",
                "prompt_hash": "h",
                "provider": "embedded",
                "model": "m",
                "params": json.dumps({"attributes": {"prompt_id": pid, "sampler": str(i % 2)}}),
                "raw_response": None,
                "from_cache": False,
                "prompt_tokens": 1,
                "completion_tokens": 1,
            }
        )
    return pl.DataFrame(rows, schema=CANDIDATE_SCHEMA)


def _verdict(a: int, b: int, key: str) -> CallOutcome:
    return CallOutcome(key, "ok", None, {"score_a": a, "score_b": b}, json.dumps([a, b]))


def test_pairs_are_ordered_by_both_verdicts_and_curated(project):
    spec = _spec(project)
    kind = kind_of(spec)
    good = "Use 60 g of medium-coarse coffee per litre and steep it for 4 minutes."
    vague = "Some coffee, it depends on your taste really."
    frame = _answers(
        spec,
        [
            ("p1", "How much coffee for a 1 litre French press?", vague),
            ("p1", "How much coffee for a 1 litre French press?", good),
            ("p2", "How hot should pour-over water be?", "Around 93 C, just off the boil."),
            ("p2", "How hot should pour-over water be?", "Use water at about 94 C."),
            ("p3", "How long should espresso run?", "About 25 to 30 seconds for 36 g out."),
            ("p3", "How long should espresso run?", "About 25 to 30 seconds for 36 g out!"),
            ("p4", "Should I store beans in the fridge?", "No, keep them airtight and dark."),
            ("p4", "Should I store beans in the fridge?", "Yes, the fridge keeps them fresh."),
        ],
    )
    requests = kind.follow_up(spec, frame)
    assert [dict(r.attributes)["order"] for r in requests] == ["ab", "ba"] * 4
    # The judge's answer for each (prompt, order): A is the first-shown answer.
    outcomes = [
        _verdict(2, 5, "j1"),
        _verdict(5, 2, "j2"),  # p1: the second answer wins both orders
        _verdict(4, 4, "j3"),
        _verdict(4, 4, "j4"),  # p2: a tie
        _verdict(5, 1, "j5"),
        _verdict(1, 5, "j6"),  # p3: agree, but the answers are the same
        _verdict(5, 2, "j7"),
        _verdict(5, 2, "j8"),  # p4: "A" wins whatever A is: position bias
    ]
    pairs = kind.assemble(spec, frame, requests, outcomes, frame.clear())
    assert pairs.height == 4
    records = [json.loads(r) for r in pairs["record"]]
    assert records[0]["chosen"] == good and records[0]["rejected"] == vague
    assert records[0]["chosen_score"] == 5 and records[0]["rejected_score"] == 2
    assert records[0]["verdicts_agree"] is True
    assert records[3]["verdicts_agree"] is False

    seeds = load_real_records(spec, spec.seeds_file, "seed")
    holdout = load_real_records(spec, spec.holdout_file, "holdout")
    result = run_curation(spec, pairs, seeds, holdout)
    dropped = result.audit.filter(~pl.col("kept"))
    reasons = dict(zip(dropped["record_id"], dropped["reason"], strict=True))
    ids = pairs["record_id"].to_list()
    assert reasons.get(ids[1]) == "small_margin"
    assert reasons.get(ids[2]) == "identical_pair"
    assert reasons.get(ids[3]) == "position_bias"
    assert ids[0] in result.kept["record_id"].to_list()


def test_a_failed_answer_or_judge_call_leaves_a_failed_pair(project):
    spec = _spec(project)
    kind = kind_of(spec)
    frame = _answers(spec, [("p1", "Q?", "answer one"), ("p1", "Q?", "answer two")])
    requests = kind.follow_up(spec, frame)
    failed = CallOutcome("j", "failed", "truncated", None, None)
    pairs = kind.assemble(spec, frame, requests, [failed, _verdict(5, 1, "j2")], frame.clear())
    assert pairs["status"].to_list() == ["failed"]
    assert pairs["error"].to_list() == ["judge_truncated"]


def _published_pairs(project, spec, pairs: list[dict]) -> Warehouse:
    wh = project.warehouse()
    frame = pl.DataFrame(
        [
            {"record_id": f"r-{i}", "text": p["chosen"], "label": None, "record": json.dumps(p)}
            for i, p in enumerate(pairs)
        ]
    )
    wh.replace_version("dataset_records", spec.name, "v1", frame)
    wh.replace_version("seeds", spec.name, "v1", load_real_records(spec, spec.seeds_file, "seed"))
    holdout = load_real_records(spec, spec.holdout_file, "holdout")
    wh.replace_version("holdout", spec.name, "v1", holdout)
    return wh


def test_the_dpo_export_has_exactly_the_columns_trl_reads(project):
    spec = _spec(project)
    pairs = [
        {
            "prompt": "How fine for a moka pot?",
            "chosen": "Fine, like table salt.",
            "rejected": "Any grind works.",
            "chosen_score": 5,
            "rejected_score": 2,
            "verdicts_agree": True,
            "chosen_sampler": 0,
        },
        {
            "prompt": "Ratio for pour-over?",
            "chosen": "About 1:16, 15 g to 240 g.",
            "rejected": "Two spoons.",
            "chosen_score": 4.5,
            "rejected_score": 2,
            "verdicts_agree": True,
            "chosen_sampler": 1,
        },
    ]
    wh = _published_pairs(project, spec, pairs)
    out = project.root / "pairs.dpo.jsonl"
    result = export_version(wh, spec, "v1", "trl-dpo", out, force=True)
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert result.test_rows == 0  # a training file: never the holdout
    assert lines == [{k: p[k] for k in ("prompt", "chosen", "rejected")} for p in pairs]

    hf = export_version(wh, spec, "v1", "hf", project.root / "hf", force=True)
    import datasets

    loaded = datasets.load_dataset(str(hf.path))
    assert set(loaded) == {"train", "test"}
    assert {"prompt", "chosen", "rejected"} <= set(loaded["train"].column_names)
    assert loaded["train"]["chosen"] == [p["chosen"] for p in pairs]
    assert loaded["test"].num_rows == 24  # the real holdout pairs
    assert set(loaded["test"]["origin"]) == {"real"}


def test_a_small_preference_version_runs_end_to_end(project, instance):
    # Orchestration under test: the embedded model's judge mostly prefers whichever answer
    # it is shown second, so curation drops most pairs as position-biased and the yield gate
    # may hold the version; either way every stage ran and every pair has its verdict.
    project.add_dataset(
        "coffee_preference",
        generation={"total_records": 3},
        quality={"min_yield": 1},
        report=dict.fromkeys(THRESHOLDS),
        review={"required": False},  # the demo waits for a person; orchestration is tested
    )
    run = materialize_version(project.definitions(), "coffee_preference", "v1", instance=instance)
    wh = project.warehouse()
    assert "filtered" in run.materialized, run.errors
    candidates = wh.stage("candidates", "coffee_preference", "v1")
    assert candidates.height == 3
    assert set(candidates["strategy"]) == {"preference"}
    for row in candidates.filter(pl.col("status") == "ok").iter_rows(named=True):
        record = json.loads(row["record"])
        assert set(record) >= {"prompt", "chosen", "rejected", "verdicts_agree"}
        assert 1 <= record["rejected_score"] <= record["chosen_score"] <= 5
    # Answers and verdicts were paid for once each: 3 prompts x 2 answers + 2 verdicts each.
    calls = wh.query(
        "SELECT count(*) AS n FROM generation_cache WHERE dataset = 'coffee_preference'"
    )["n"][0]
    assert calls <= 12
    kept = wh.count("filtered", "coffee_preference", "v1")
    if kept == 0:
        assert not run.success and wh.published_version("coffee_preference") is None
    else:
        assert run.success, run.errors


def test_length_bias_over_the_spec_bound_fails_the_quality_suite(project):
    from synth_pipeline.quality.suites import run_suite

    spec = _spec(project, preference={"max_chosen_longer_share": 0.5}, quality={"min_yield": 1})
    pairs = [
        {
            "prompt": f"Question {i}?",
            "chosen": "A long and specific answer " * (i + 1),
            "rejected": "Short.",
            "chosen_score": 5,
            "rejected_score": 2,
            "verdicts_agree": True,
            "chosen_sampler": 0,
        }
        for i in range(3)
    ] + [
        {
            "prompt": "Q?",
            "chosen": "Yes.",
            "rejected": "No, never, not at all.",
            "chosen_score": 5,
            "rejected_score": 1,
            "verdicts_agree": True,
            "chosen_sampler": 1,
        }
    ]
    frame = pl.DataFrame(
        [
            {"record_id": f"r-{i}", "text": p["chosen"], "label": None, "record": json.dumps(p)}
            for i, p in enumerate(pairs)
        ]
    )
    outcomes = {o.name: o for o in run_suite(spec, frame, "filtered")}
    bias = outcomes["chosen_longer_share_within_bound"]
    assert not bias.passed  # 3 of 4 chosen answers are the longer one: 0.75 > 0.5
    assert bias.expected == {"max_share": 0.5}
    project.update_spec("coffee_preference", preference={"max_chosen_longer_share": 0.8})
    looser = load_spec(project.data / "coffee_preference")
    assert {o.name: o for o in run_suite(looser, frame, "filtered")}[
        "chosen_longer_share_within_bound"
    ].passed


def test_samplers_and_the_judge_may_each_name_their_own_provider(project):
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent))
    from fake_openai_server import FakeOpenAIServer
    from generation_support import fake_provider

    from synth_pipeline import stages

    servers = {name: FakeOpenAIServer() for name in ("main", "strong", "judge")}
    for srv in servers.values():
        srv.start()
    try:
        project.add_dataset(
            "coffee_preference",
            generation={"total_records": 3},
            provider=fake_provider(servers["main"].base_url),
            preference={
                "samplers": [
                    {"temperature": 0.3},
                    {
                        "temperature": 0.7,
                        "provider": fake_provider(servers["strong"].base_url, model="strong-model"),
                    },
                ],
                "judge": fake_provider(servers["judge"].base_url, model="judge-model"),
            },
        )
        spec = load_spec(project.data / "coffee_preference")
        wh = project.warehouse()
        wh.replace_version("seeds", spec.name, "v1", load_real_records(spec, "seeds.jsonl", "s"))
        wh.replace_version(
            "holdout", spec.name, "v1", load_real_records(spec, "holdout.jsonl", "h")
        )
        out = stages.generate_candidates(spec, wh, "v1")
        # 3 prompts: one answer each from the main and the strong model, two verdicts each.
        assert [len(servers[n].events) for n in ("main", "strong", "judge")] == [3, 3, 6]
        assert out.frame.height == 3 and set(out.frame["status"]) == {"ok"}
        models = [json.loads(p)["models"] for p in out.frame["params"]]
        assert models == [["fake-model", "strong-model"]] * 3  # each answer's model
        again = stages.generate_candidates(spec, wh, "v1")
        assert again.figures["calls"] == 0  # answers and verdicts all come from the cache
    finally:
        for srv in servers.values():
            srv.stop()


def test_prompts_may_come_from_another_datasets_published_version(project):
    spec = _spec(
        project,
        preference={"prompts_file": None, "prompts_dataset": "coffee_qa"},
        generation={"total_records": 2},
    )
    seeds = load_real_records(spec, spec.seeds_file, "seed")
    with pytest.raises(SpecError, match="'coffee_qa' has no published version"):
        plan_generation(spec, seeds)
    wh = project.warehouse()
    questions = ["How fine should I grind for AeroPress?", "Is bottled water better?"]
    wh.replace_version(
        "dataset_records",
        "coffee_qa",
        "v7",
        pl.DataFrame(
            {
                "record_id": ["a", "b"],
                "text": questions,
                "label": [None, None],
                "record": [json.dumps({"question": q, "answer": "..."}) for q in questions],
            },
            schema={
                "record_id": pl.String,
                "text": pl.String,
                "label": pl.String,
                "record": pl.String,
            },
        ),
    )
    from synth_pipeline.changes import compare, current_inputs

    before = current_inputs(spec)
    assert before.seed_files["published coffee_qa"] == "<none>"
    wh.publish("coffee_qa", "v7")
    # A newly published upstream version is a change the nightly run sees.
    now = current_inputs(spec)
    assert now.seed_files["published coffee_qa"] == "v7"
    assert compare(before, now) == ["coffee_qa published v7 (was <none>)"]
    plan = plan_generation(spec, seeds)
    assert [r.fixed_dict["prompt"] for r in plan.requests] == [
        questions[0],
        questions[0],
        questions[1],
        questions[1],
    ]


def test_a_prompts_file_without_a_prompt_names_the_file_and_line(project):
    folder = project.add_dataset("coffee_preference")
    spec = load_spec(folder)
    seeds = load_real_records(spec, spec.seeds_file, "seed")
    prompts = folder / "prompts.jsonl"
    prompts.write_text('{"prompt": "Why is my shot sour?"}\n{"question": "Grind?"}\n')
    with pytest.raises(SpecError, match=r"prompts.jsonl:2: no `prompt`"):
        plan_generation(spec, seeds)
    prompts.unlink()
    with pytest.raises(SpecError, match=r"prompts.jsonl: file not found"):
        plan_generation(spec, seeds)


def test_a_version_records_the_prompts_file_and_the_nightly_run_sees_it_change(project):
    from synth_pipeline.changes import compare, current_inputs

    spec = _spec(project)
    before = current_inputs(spec)
    assert set(before.seed_files) == {"seeds.jsonl", "holdout.jsonl", "prompts.jsonl"}
    prompts = spec.path("prompts.jsonl")
    prompts.write_text(prompts.read_text() + '{"prompt": "Is a gooseneck kettle worth it?"}\n')
    changes = compare(before, current_inputs(spec))
    assert any("prompts.jsonl" in c for c in changes), changes


def test_generated_prompts_are_answered_and_judged_in_later_rounds(project):
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent))
    from fake_openai_server import FakeOpenAIServer
    from generation_support import fake_provider

    from synth_pipeline import stages

    bodies: list[dict] = []
    server = FakeOpenAIServer(decide=lambda req: bodies.append(req.body) or "ok")
    server.start()
    try:
        project.add_dataset(
            "coffee_preference",
            generation={"total_records": 3},
            provider=fake_provider(server.base_url),
            preference={"prompts_file": None, "generate_prompts": True},
        )
        spec = load_spec(project.data / "coffee_preference")
        wh = project.warehouse()
        wh.replace_version("seeds", spec.name, "v1", load_real_records(spec, "seeds.jsonl", "s"))
        wh.replace_version(
            "holdout", spec.name, "v1", load_real_records(spec, "holdout.jsonl", "h")
        )
        out = stages.generate_candidates(spec, wh, "v1")
        # 3 prompts, then 2 answers each, then 2 verdicts each: three rounds, 15 calls.
        schemas = [b["response_format"]["json_schema"]["name"] for b in bodies]
        assert len(schemas) == 15
        assert schemas[:3] == ["CoffeePreferencePrompt"] * 3
        assert set(schemas[3:9]) == {"CoffeePreferenceAnswer"}
        assert set(schemas[9:]) == {"PairVerdict"}
        assert out.frame.height == 3 and set(out.frame["strategy"]) == {"preference"}
        prompts = {json.loads(r)["prompt"] for r in out.frame["record"]}
        assert all(p.startswith("Synthetic prompt") for p in prompts)  # the model's prompts
        assert out.figures["calls"] == 15
        assert stages.generate_candidates(spec, wh, "v1").figures["calls"] == 0
    finally:
        server.stop()
