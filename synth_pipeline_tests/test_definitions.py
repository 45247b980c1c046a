"""The code location loads every dataset's assets, blocking checks and lineage edges."""

from __future__ import annotations

import dagster as dg

from synth_pipeline.defs.assets import STAGES, version_job_name
from synth_pipeline.gates import REQUIRED_CHECKS

EDGES = {
    "candidates": {"seeds", "holdout"},  # generation's top-up curates against the holdout
    "filtered": {"candidates", "seeds", "holdout"},
    "dataset": {"filtered"},
    "validation_report": {"dataset", "seeds", "holdout", "candidates"},
    "published": {"dataset", "validation_report"},
}


def test_shipped_definitions_load_with_every_asset_and_blocking_check():
    from synth_pipeline.definitions import defs

    graph = defs.resolve_asset_graph()
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    for dataset in ("support_intents", "coffee_qa", "support_chat", "coffee_preference"):
        assert {f"{dataset}/{s}" for s in STAGES} <= keys
        checks = {c.name for c in graph.asset_check_keys if c.asset_key.path[0] == dataset}
        assert checks == set(REQUIRED_CHECKS)
        for stage, parents in EDGES.items():
            node = graph.get(dg.AssetKey([dataset, stage]))
            assert {p.path[-1] for p in node.parent_keys} == parents, stage
        job = defs.resolve_job_def(version_job_name(dataset))
        assert job.partitions_def is not None


def test_checks_are_blocking_and_partitioned_by_version():
    from synth_pipeline.definitions import defs

    for checks_def in defs.asset_checks or []:
        for spec in checks_def.check_specs:
            assert spec.blocking, spec.key
    for asset in defs.assets or []:
        if asset.key.path[-1] == "current_published":  # the pointer: one, not per version
            assert asset.partitions_def is None
            continue
        assert isinstance(asset.partitions_def, dg.DynamicPartitionsDefinition)


def test_adding_a_dataset_folder_adds_an_asset_group(project):
    project.add_dataset("support_intents")
    project.add_dataset("coffee_qa")
    (project.data / "coffee_qa").rename(project.data / "tea_qa")
    project.update_spec("tea_qa", name="tea_qa")
    defs = project.definitions()
    keys = {k.to_user_string() for k in defs.resolve_asset_graph().get_all_asset_keys()}
    assert "tea_qa/published" in keys and "support_intents/published" in keys
    assert "coffee_qa/published" not in keys


def test_asset_deps_are_the_stage_graph():
    """The assets' deps and the stage graph (lineage, CLI, SQL refs read it) cannot drift."""
    from synth_pipeline.definitions import defs
    from synth_pipeline.pipeline import STAGES as GRAPH

    graph = defs.resolve_asset_graph()
    for dataset in ("support_intents", "coffee_qa", "support_chat", "coffee_preference"):
        for stage in GRAPH:
            node = graph.get(dg.AssetKey([dataset, stage.name]))
            assert {p.path[-1] for p in node.parent_keys} == set(stage.upstream), stage.name
