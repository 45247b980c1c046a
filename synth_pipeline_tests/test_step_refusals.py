"""A step that a gate refuses, or whose upstream never ran, ends with the message alone."""

from __future__ import annotations

import pytest

from synth_pipeline.defs.runner import materialize_version
from synth_pipeline_tests.conftest import SMALL_INTENTS


def _step_failures(instance, run_id: str) -> list:
    return [
        e.dagster_event.step_failure_data
        for e in instance.all_logs(run_id)
        if e.dagster_event is not None and e.dagster_event.event_type_value == "STEP_FAILURE"
    ]


@pytest.mark.parametrize(
    ("stage", "expected"),
    [
        # `published` alone: the gate refuses a version none of whose checks ran.
        ("published", "has not passed the check(s) filtered_quality_suite"),
        # `filtered` alone: its upstream has no rows for the version.
        ("filtered", "support_intents/candidates has no rows for version lonely"),
    ],
)
def test_a_refused_step_shows_its_message_without_our_stack_trace(
    project, instance, stage, expected
):
    project.add_dataset("support_intents", **SMALL_INTENTS)
    run = materialize_version(
        project.definitions(), "support_intents", "lonely", instance, selection=[stage]
    )
    assert not run.success
    assert run.failed_steps == [f"support_intents__{stage}"]
    # The CLI's one-line summary: the stage and the message, nothing of Dagster's wrapper.
    [summary] = run.errors
    assert summary.startswith(f"{stage}: ") and expected in summary, summary
    assert "Failure" not in summary and "Traceback" not in summary
    message = summary.removeprefix(f"{stage}: ")
    assert message.endswith("materialize the whole version first") or message.endswith(
        "materialize it first"
    )

    [failure] = _step_failures(instance, run.run_id)
    # The UI shows the Failure's description: the message alone.
    assert failure.user_failure_data is not None
    assert failure.user_failure_data.description == message
    error = failure.error
    if error is not None:  # Dagster keeps the Failure's own frames; none of the stage's code
        assert error.cause is None and error.context is None, error.to_string()
        frames = "".join(error.stack)
        for ours in ("synth_pipeline/stages.py", "synth_pipeline/gates.py", "run_state.py"):
            assert ours not in frames, error.to_string()
    assert instance.get_run_by_id(run.run_id).is_failure
