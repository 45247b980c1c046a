"""`kind: chat`: conversations from seed files to exports, through the same pipeline."""

from __future__ import annotations

import json

import polars as pl
import pytest

from synth_pipeline.curation.pipeline import run_curation
from synth_pipeline.defs.runner import materialize_version
from synth_pipeline.export_paths import ExportError
from synth_pipeline.exports import export_version
from synth_pipeline.generation.schema import record_model
from synth_pipeline.kinds import kind_of
from synth_pipeline.records import load_real_records
from synth_pipeline.report.score import THRESHOLDS
from synth_pipeline.spec import SpecError, load_spec

SYSTEM = (
    "You are the support assistant of Brightline Fiber, a home internet provider. Be concise, "
    "friendly and concrete."
)


def _line(*turns: tuple[str, str], system: str | None = SYSTEM) -> str:
    messages = [{"role": "system", "content": system}] if system else []
    messages += [{"role": r, "content": c} for r, c in turns]
    return json.dumps({"messages": messages})


def test_the_demo_chat_spec_loads_with_the_roles_as_its_fields(project):
    folder = project.add_dataset("support_chat")
    spec = load_spec(folder)
    kind = kind_of(spec)
    assert kind.name == "chat" and not kind.has("labels")
    assert [f.name for f in spec.fields] == ["user", "assistant"]
    seeds = load_real_records(spec, spec.seeds_file, "seed")
    holdout = load_real_records(spec, spec.holdout_file, "holdout")
    assert seeds.height == 48 and holdout.height == 40
    first = json.loads(seeds["record"][0])
    assert first["messages"][0] == {"role": "system", "content": SYSTEM}
    # The text column is the transcript, a line per turn, the system message left out.
    assert seeds["text"][0].startswith("user: ") and "\nassistant: " in seeds["text"][0]
    assert SYSTEM not in seeds["text"][0]
    assert seeds["label"].null_count() == seeds.height


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (_line(("assistant", "Hello"), ("user", "hi")), "turn 1 is 'assistant', expected 'user'"),
        (_line(("user", "my wifi drops")), "must end with the assistant's reply"),
        (
            _line(("user", "my wifi drops"), ("assistant", "Restart it."), system="Be rude."),
            "differs from the spec's chat.system_prompt",
        ),
        (
            _line(
                ("user", "a"),
                ("assistant", "b"),
                ("user", "c"),
                ("assistant", "d"),
                ("user", "e"),
                ("assistant", "f"),
                ("user", "g"),
                ("assistant", "h"),
            ),
            "4 exchanges; chat.min_exchanges..max_exchanges is 1..3",
        ),
        (_line(("user", "   "), ("assistant", "Restart it.")), "messages[1] (user) has no text"),
        ('{"text": "hello"}', "unknown field(s) ['text']"),
    ],
)
def test_a_malformed_seed_conversation_names_the_file_and_line(project, line, message):
    folder = project.add_dataset("support_chat")
    seeds = folder / "seeds.jsonl"
    lines = seeds.read_text().splitlines()
    lines.insert(2, line)
    seeds.write_text("\n".join(lines) + "\n")
    spec = load_spec(folder)
    with pytest.raises(SpecError) as err:
        load_real_records(spec, spec.seeds_file, "seed")
    assert "seeds.jsonl:3: " in str(err.value) and message in str(err.value)


def test_chat_settings_are_checked_when_the_spec_loads(project):
    project.add_dataset("support_chat", chat={"min_exchanges": 3, "max_exchanges": 2})
    with pytest.raises(SpecError, match="min_exchanges must not exceed"):
        load_spec(project.data / "support_chat")
    project.update_spec("support_chat", chat={"min_exchanges": 1, "max_exchanges": 2, "turns": 4})
    with pytest.raises(SpecError, match="turns"):
        load_spec(project.data / "support_chat")


def test_the_generator_answers_in_exchanges_within_the_spec_bounds(project):
    spec = load_spec(project.add_dataset("support_chat"))
    schema = record_model(spec).model_json_schema()
    exchanges = schema["properties"]["exchanges"]
    assert exchanges["minItems"] == 1 and exchanges["maxItems"] == 3
    response = {"exchanges": [{"user": "wifi is slow", "assistant": "Restart the router."}]}
    record = kind_of(spec).record_from_response(spec, response, {}, None)
    assert record["messages"] == [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": "wifi is slow"},
        {"role": "assistant", "content": "Restart the router."},
    ]


def _candidates(spec, records: list[dict]) -> pl.DataFrame:
    kind = kind_of(spec)
    return pl.DataFrame(
        [
            {
                "record_id": f"c-{i}",
                "text": kind.text_of(spec, r),
                "label": None,
                "record": json.dumps(r),
                "status": "ok",
                "error": None,
                "strategy": "seed_variation",
            }
            for i, r in enumerate(records)
        ]
    )


def test_curation_reads_conversations_by_role(project):
    spec = load_spec(project.add_dataset("support_chat"))
    seeds = load_real_records(spec, spec.seeds_file, "seed")
    holdout = load_real_records(spec, spec.holdout_file, "holdout")
    good = {
        "messages": [
            {"role": "system", "content": SYSTEM},
            {"role": "user", "content": "my bill went up by twelve dollars this month, why"},
            {
                "role": "assistant",
                "content": "Your twelve-month promotional discount ended on the 3rd, so the "
                "plan is back at its regular $65. I can move you to the 100 Mbps plan at $40.",
            },
        ]
    }
    swapped = {"messages": [good["messages"][0], good["messages"][2], good["messages"][1]]}
    too_long = {
        "messages": [
            good["messages"][0],
            {"role": "user", "content": "why is my router blinking orange at night " * 20},
            good["messages"][2],
        ]
    }
    copied = json.loads(holdout["record"][0])
    looping = {
        "messages": [
            good["messages"][0],
            {"role": "user", "content": "the router light blinks orange every night around ten"},
            {
                "role": "assistant",
                "content": "Orange means the fibre signal dropped. Check "
                "that the green cable into the wall box is clicked in firmly.",
            },
            # The simulated user says its first message again.
            {"role": "user", "content": "router light blinks orange every night around ten pm"},
            {"role": "assistant", "content": "Then I will book a technician for Friday."},
        ]
    }
    frame = _candidates(spec, [good, swapped, too_long, copied, looping])
    result = run_curation(spec, frame, seeds, holdout)
    audit = result.audit.filter(~pl.col("kept"))
    reasons = dict(zip(audit["record_id"], audit["reason"], strict=True))
    details = dict(zip(audit["record_id"], audit["detail"], strict=True))
    assert "c-0" not in reasons, reasons
    assert reasons["c-1"] == "schema_invalid" and "expected 'user'" in details["c-1"]
    assert reasons["c-2"] == "schema_invalid" and "longer than 400" in details["c-2"]
    assert reasons["c-3"] == "holdout_copy"  # a real held-out conversation, copied
    assert (
        reasons["c-4"] == "repeated_turn"
        and "turn 3 (user) repeats turn 1 (user)" in (details["c-4"])
    )
    assert result.kept["record_id"].to_list() == ["c-0"]


def test_a_small_chat_version_runs_end_to_end_and_exports_as_openai_chat(project, instance):
    # Orchestration and formats are under test, not what 4 conversations of the small model
    # say: the report thresholds are off, as for the other kinds' small versions.
    project.add_dataset(
        "support_chat",
        generation={"total_records": 4},
        quality={"min_yield": 1},
        report=dict.fromkeys(THRESHOLDS),
        review={"required": False},  # the demo waits for a person; orchestration is tested
    )
    defs = project.definitions()
    run = materialize_version(defs, "support_chat", "v1", instance=instance)
    wh = project.warehouse()
    assert "filtered" in run.materialized, run.errors
    candidates = wh.stage("candidates", "support_chat", "v1")
    assert candidates.height == 4
    answered = candidates.filter(pl.col("status") == "ok")
    for raw in answered["record"].to_list():
        messages = json.loads(raw)["messages"]
        assert messages[0] == {"role": "system", "content": SYSTEM}
        assert [m["role"] for m in messages[1:3]] == ["user", "assistant"]
    kept = wh.count("filtered", "support_chat", "v1")
    if kept == 0:  # a tiny model can miss entirely: then the yield gate holds the version
        assert not run.success and wh.published_version("support_chat") is None
        return
    assert run.success, run.errors
    assert wh.published_version("support_chat") == "v1"
    out = project.root / "chat.jsonl"
    export_version(wh, load_spec(project.data / "support_chat"), "v1", "openai-chat", out)
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(lines) == kept
    for line in lines:  # OpenAI's chat fine-tuning format: messages of role and content
        assert set(line) == {"messages"}
        roles = [m["role"] for m in line["messages"]]
        assert roles[0] == "system" and roles[-1] == "assistant"
        assert all(set(m) == {"role", "content"} and m["content"] for m in line["messages"])


def test_a_format_that_does_not_fit_the_kind_is_refused_before_anything_is_read(project):
    spec = load_spec(project.add_dataset("support_chat"))
    with pytest.raises(ExportError, match="trl-dpo does not fit chat records; use one of"):
        export_version(project.warehouse(), spec, "v1", "trl-dpo", project.root / "x.jsonl")


def test_chat_exports_load_as_openai_lines_and_a_datasets_folder(project):
    spec = load_spec(project.add_dataset("support_chat"))
    wh = project.warehouse()
    seeds = load_real_records(spec, spec.seeds_file, "seed")
    conversations = seeds.head(3).with_columns(pl.Series("record_id", ["r-1", "r-2", "r-3"]))
    wh.replace_version(
        "dataset_records", spec.name, "v1", conversations.drop("source_file", "source_line")
    )
    wh.replace_version("seeds", spec.name, "v1", seeds)
    wh.replace_version(
        "holdout", spec.name, "v1", load_real_records(spec, spec.holdout_file, "holdout")
    )

    out = project.root / "chat.jsonl"
    export_version(wh, spec, "v1", "openai-chat", out, force=True)
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [line["messages"] for line in lines] == [
        json.loads(r)["messages"] for r in conversations["record"]
    ]
    dropped = project.root / "chat-nosystem.jsonl"
    export_version(wh, spec, "v1", "openai-chat", dropped, force=True, system_prompt="drop")
    first = json.loads(dropped.read_text().splitlines()[0])["messages"]
    assert first[0]["role"] == "user"

    import datasets

    hf = export_version(wh, spec, "v1", "hf", project.root / "hf", force=True)
    loaded = datasets.load_dataset(str(hf.path))
    assert loaded["train"].num_rows == 3 and loaded["test"].num_rows == 40
    row = loaded["train"][0]
    assert row["messages"] == json.loads(conversations["record"][0])["messages"]
    assert row["origin"] == "synthetic" and loaded["test"][0]["origin"] == "real"


def test_the_report_compares_exchanges_per_conversation_with_the_holdout(project):
    spec = load_spec(project.add_dataset("support_chat"))
    kind = kind_of(spec)
    holdout = load_real_records(spec, spec.holdout_file, "holdout")["text"].to_list()
    one = [
        kind.text_of(
            spec,
            {
                "messages": [
                    {"role": "user", "content": "hi"},
                    {"role": "assistant", "content": "Hello."},
                ]
            },
        )
    ] * 4
    figures = kind.figures(spec, one, [], holdout)
    real_mean = figures["fidelity.real_mean_exchanges"]
    assert figures["fidelity.mean_exchanges"] == 1.0 and 2.0 <= real_mean <= 3.0
    # The holdout has no one-exchange conversation: the counts do not overlap at all.
    assert figures["fidelity.exchanges_tv_distance"] == 1.0
    assert kind.figures(spec, holdout, [], holdout)["fidelity.exchanges_tv_distance"] == 0.0
    # Diversity per role against the holdout's: real seeds are about as varied as the
    # holdout; one short conversation said four times is not.
    seeds = load_real_records(spec, spec.seeds_file, "seed")["text"].to_list()
    real_like = kind.figures(spec, seeds, [], holdout)
    for role in ("user", "assistant"):
        assert 0.8 <= real_like[f"diversity.distinct_2_vs_real.{role}"] <= 1.2
    assert figures["diversity.distinct_2_vs_real.assistant"] < 0.5
    assert (
        "exchanges per conversation",
        "fidelity.mean_exchanges",
        "fidelity.real_mean_exchanges",
    ) in kind.figure_rows()
