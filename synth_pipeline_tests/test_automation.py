"""Nightly regeneration and the seed-change sensor, on a test instance with a simulated clock."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import dagster as dg

from synth_pipeline.defs.runner import materialize_version
from synth_pipeline_tests.conftest import SMALL_INTENTS

NIGHT = datetime(2026, 11, 26, 2, 0, tzinfo=UTC)


def _schedule(defs, name):
    return next(s for s in defs.schedules if s.name == name)


def _sensor(defs, name):
    return next(s for s in defs.sensors if s.name == name)


def test_nightly_schedule_adds_a_time_sorted_version_per_tick(project, instance):
    project.add_dataset("support_intents", **SMALL_INTENTS)
    defs = project.definitions()
    schedule = _schedule(defs, "support_intents_nightly")
    repo = defs.get_repository_def()
    assert schedule.cron_schedule == "0 2 * * *"
    assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING

    keys = []
    for night in (NIGHT, NIGHT + timedelta(days=1)):
        ctx = dg.build_schedule_context(
            instance=instance, scheduled_execution_time=night, repository_def=repo
        )
        request = schedule.evaluate_tick(ctx).run_requests[0]
        keys.append(request.partition_key)
    assert keys == sorted(keys) and keys[0] != keys[1]
    assert keys[0].startswith("20261126T020000Z")
    assert set(keys) <= set(instance.get_dynamic_partitions("support_intents_versions"))


def test_schedule_timezone_is_configurable(project, monkeypatch):
    project.add_dataset("support_intents", **SMALL_INTENTS)
    monkeypatch.setenv("SYNTH_SCHEDULE_TIMEZONE", "Europe/Berlin")
    schedule = _schedule(project.definitions(), "support_intents_nightly")
    assert schedule.execution_timezone == "Europe/Berlin"


def test_sensor_starts_a_version_only_when_seed_files_change(project, instance):
    folder = project.add_dataset("support_intents", **SMALL_INTENTS)
    defs = project.definitions()
    sensor = _sensor(defs, "support_intents_seed_change")

    def tick(cursor=None):
        context = dg.build_sensor_context(instance=instance, cursor=cursor, definitions=defs)
        return sensor(context), context.cursor

    first, cursor = tick()
    assert isinstance(first, dg.SkipReason) and cursor
    same, same_cursor = tick(cursor)
    assert isinstance(same, dg.SkipReason) and same_cursor == cursor

    with (folder / "seeds.jsonl").open("a") as fh:
        fh.write(
            json.dumps(
                {"text": "My parcel says delivered but it is not here.", "label": "order_status"}
            )
            + "\n"
        )
    request, new_cursor = tick(cursor)
    assert isinstance(request, dg.RunRequest)
    assert request.partition_key in instance.get_dynamic_partitions("support_intents_versions")
    assert new_cursor != cursor


def test_two_nightly_runs_the_second_pays_only_for_new_seeds(project, instance):
    folder = project.add_dataset("support_intents", **SMALL_INTENTS)
    wh = project.warehouse()

    def nightly(when):
        defs = project.definitions()
        schedule = _schedule(defs, "support_intents_nightly")
        ctx = dg.build_schedule_context(
            instance=instance,
            scheduled_execution_time=when,
            repository_def=defs.get_repository_def(),
        )
        version = schedule.evaluate_tick(ctx).run_requests[0].partition_key
        run = materialize_version(defs, "support_intents", version, instance)
        assert run.success, run.errors
        return version

    v1 = nightly(NIGHT)
    with (folder / "seeds.jsonl").open("a") as fh:
        fh.write(
            json.dumps(
                {
                    "text": "Could you check whether order 88123 has left the warehouse yet?",
                    "label": "order_status",
                }
            )
            + "\n"
        )
    v2 = nightly(NIGHT + timedelta(days=1))
    assert v1 < v2
    paid = wh.query(
        "SELECT label, count(*) FILTER (WHERE NOT from_cache) AS paid, count(*) AS total "
        "FROM candidates WHERE dataset = 'support_intents' AND version = ? GROUP BY label",
        [v2],
    )
    by_label = {r["label"]: r["paid"] for r in paid.iter_rows(named=True)}
    assert all(n == 0 for label, n in by_label.items() if label != "order_status"), by_label
    assert by_label["order_status"] <= 2
    assert wh.published_version("support_intents") == v2
