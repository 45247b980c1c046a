"""Top-up generation asks only for short labels, with new sample indexes the plan lacked."""

from __future__ import annotations

from synth_pipeline.generation.planner import plan_generation
from synth_pipeline.generation.top_up import top_up_requests
from synth_pipeline.records import load_real_records
from synth_pipeline.spec import load_spec
from synth_pipeline_tests.conftest import SMALL_INTENTS


def test_top_up_requests_only_short_labels_and_new_samples(project):
    spec = load_spec(project.add_dataset("support_intents", **SMALL_INTENTS))
    seeds = load_real_records(spec, spec.seeds_file, "seed")
    base = plan_generation(spec, seeds).requests
    requests, taken = top_up_requests(
        spec, seeds, {"refund_request": 2, "order_status": 1, "cancel_order": 0}, factor=1.5
    )
    assert taken == {"refund_request": 3, "order_status": 2}
    assert sorted(r.label for r in requests) == ["order_status"] * 2 + ["refund_request"] * 3
    base_indexes = {(r.label, r.sample_index) for r in base}
    assert all((r.label, r.sample_index) not in base_indexes for r in requests)
    # Stable: the same shortfall plans the same requests, so the cache answers a re-run.
    again, _ = top_up_requests(
        spec, seeds, {"refund_request": 2, "order_status": 1, "cancel_order": 0}, factor=1.5
    )
    assert again == requests


def test_no_shortfall_no_requests(project):
    spec = load_spec(project.add_dataset("support_intents", **SMALL_INTENTS))
    seeds = load_real_records(spec, spec.seeds_file, "seed")
    assert top_up_requests(spec, seeds, dict.fromkeys(spec.labels, 0), 1.5) == ([], {})
