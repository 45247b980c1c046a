"""The nightly schedule makes a version only when something changed since the latest decided one.

Versions are recorded directly in the warehouse (as `stages.load_seeds` records them), so
these tests run no model.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import UTC, datetime

import dagster as dg

from synth_pipeline.changes import VersionInputs, changes_since_latest, compare, current_inputs
from synth_pipeline.spec import load_spec

NIGHT = datetime(2026, 11, 26, 2, 0, tzinfo=UTC)


def _record(wh, spec, version, status, **override):
    inputs = {**asdict(current_inputs(spec)), **override}
    wh.record_version(
        spec.name,
        version,
        spec_hash=inputs["spec_hash"],
        provider=inputs["provider"],
        model=inputs["model"],
        seed_files_sha256=json.dumps(inputs["seed_files"]),
        code_version=inputs["code_version"],
        status=status,
    )


def _tick(project, instance):
    defs = project.definitions()
    schedule = next(s for s in defs.schedules if s.name == "support_intents_nightly")
    ctx = dg.build_schedule_context(
        instance=instance, scheduled_execution_time=NIGHT, repository_def=defs.get_repository_def()
    )
    return schedule.evaluate_tick(ctx)


def test_nightly_skips_when_nothing_changed_since_the_published_version(project, instance):
    folder = project.add_dataset("support_intents")
    wh = project.warehouse()
    _record(wh, load_spec(folder), "20261125T020000Z-aaaa", "published")

    result = _tick(project, instance)
    assert not result.run_requests
    assert "nothing changed since version 20261125T020000Z-aaaa" in result.skip_message
    assert instance.get_dynamic_partitions("support_intents_versions") == []


def test_nightly_runs_when_the_spec_changed(project, instance):
    folder = project.add_dataset("support_intents")
    _record(project.warehouse(), load_spec(folder), "20261125T020000Z-aaaa", "published")
    project.update_spec("support_intents", generation={"records_per_label": 41})

    result = _tick(project, instance)
    (request,) = result.run_requests
    assert request.partition_key.startswith("20261126T020000Z")
    assert request.partition_key in instance.get_dynamic_partitions("support_intents_versions")


def test_nightly_runs_when_a_seed_file_changed(project, instance):
    folder = project.add_dataset("support_intents")
    _record(project.warehouse(), load_spec(folder), "20261125T020000Z-aaaa", "failed")
    with (folder / "holdout.jsonl").open("a") as fh:
        fh.write(
            json.dumps({"text": "Where do I enter a gift card code?", "label": "billing_issue"})
        )
        fh.write("\n")
    report = changes_since_latest(load_spec(folder), project.warehouse())
    assert report.changed and report.baseline == "20261125T020000Z-aaaa"
    assert report.changes == [report.changes[0]] and "holdout.jsonl changed" in report.changes[0]
    assert len(_tick(project, instance).run_requests) == 1


def test_an_unfinished_version_does_not_block_the_next_one(project, instance):
    folder = project.add_dataset("support_intents")
    spec = load_spec(folder)
    wh = project.warehouse()
    # The same inputs, but no version reached publication or a gate: nothing to repeat.
    for i, status in enumerate(("running", "interrupted", "budget_stopped")):
        _record(wh, spec, f"20261125T02000{i}Z-aaaa", status)
    assert len(_tick(project, instance).run_requests) == 1

    # A held version counts: compared with it, not with an older published one.
    _record(wh, spec, "20261124T020000Z-bbbb", "published", model="another-model")
    _record(wh, spec, "20261125T030000Z-cccc", "held_regression")
    report = changes_since_latest(spec, wh)
    assert (report.baseline, report.baseline_status) == ("20261125T030000Z-cccc", "held_regression")
    assert not report.changed


def test_first_version_runs(project, instance):
    project.add_dataset("support_intents")
    result = _tick(project, instance)
    assert len(result.run_requests) == 1


def test_compare_names_each_changed_input():
    before = VersionInputs("aaa", {"seeds.jsonl": "1" * 64}, "0.1.0", "embedded", "smol")
    now = VersionInputs(
        "bbb", {"seeds.jsonl": "2" * 64, "holdout.jsonl": "3" * 64}, "0.2.0", "openai", "gpt"
    )
    assert compare(before, before) == []
    assert compare(before, now) == [
        "spec changed (hash aaa -> bbb)",
        "data file holdout.jsonl is new",
        "data file seeds.jsonl changed (sha256 111111111111 -> 222222222222)",
        "code version 0.1.0 -> 0.2.0",
        "provider embedded -> openai",
        "model smol -> gpt",
    ]
