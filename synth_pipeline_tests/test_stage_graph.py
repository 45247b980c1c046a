"""The stage graph and the field types are declared once; what is derived from them."""

from __future__ import annotations

import pytest

from synth_pipeline import field_types, pipeline
from synth_pipeline.lineage import STAGE_GRAPH
from synth_pipeline.sql_models import SOURCES
from synth_pipeline.warehouse import STAGE_TABLES


def test_stage_names_tables_and_order():
    assert pipeline.STAGE_NAMES == (
        "seeds", "holdout", "candidates", "filtered", "dataset", "validation_report", "published",
    )  # fmt: skip
    assert pipeline.stage_table("dataset") == pipeline.DATASET_TABLE == "dataset_records"
    assert STAGE_GRAPH == pipeline.GRAPH
    assert STAGE_TABLES == (
        "seeds", "holdout", "candidates", "filtered", "curation_audit", "dataset_records",
    )  # fmt: skip
    assert set(pipeline.VERSIONED_TABLES) == {
        *STAGE_TABLES, "check_results", "report_metrics", "versions",
    }  # fmt: skip
    with pytest.raises(KeyError, match="unknown stage"):
        pipeline.stage("nope")


def test_sql_refs_map_to_tables_and_the_stage_writing_them():
    assert SOURCES == {
        "seeds": ("seeds", "seeds"),
        "holdout": ("holdout", "holdout"),
        "candidates": ("candidates", "candidates"),
        "filtered": ("filtered", "filtered"),
        "curation_audit": ("curation_audit", "filtered"),
        "dataset": ("dataset_records", "dataset"),
        "dataset_records": ("dataset_records", "dataset"),
        "validation_report": ("report_metrics", "validation_report"),
        "report_metrics": ("report_metrics", "validation_report"),
        "check_results": ("check_results", "validation_report"),
        "versions": ("versions", "seeds"),
        "published": ("published", "published"),
        "publish_history": ("publish_history", "published"),
    }


def test_versions_partitions_name():
    assert pipeline.versions_partitions_name("support_intents") == "support_intents_versions"


def test_every_field_type_has_an_entry_in_every_table():
    tables = (
        field_types.PYTHON_TYPES,
        field_types.ACCEPTED_PYTHON_TYPES,
        field_types.POLARS_TYPES,
        field_types.HF_DTYPES,
        field_types.PLACEHOLDERS,
    )
    for table in tables:
        assert set(table) == set(field_types.FIELD_TYPES)
    assert set(field_types.HF_DTYPES.values()) <= set(field_types.HF_ARROW_TYPES)


@pytest.mark.parametrize(
    ("value", "type_", "ok"),
    [
        ("a", "string", True),
        (5, "integer", True),
        (5, "number", True),
        (5.0, "integer", False),
        (True, "integer", False),
        (True, "number", False),
        (True, "boolean", True),
        ("5", "integer", False),
    ],
)
def test_matches_is_strict(value, type_, ok):
    assert field_types.matches(value, type_) is ok


def test_csv_cells_parse_as_the_field_type():
    assert field_types.parse_csv_value("5", "integer") == 5
    assert field_types.parse_csv_value("2.5", "number") == 2.5
    assert field_types.parse_csv_value("TRUE", "boolean") is True
    assert field_types.parse_csv_value("x", "string") == "x"
    with pytest.raises(ValueError):
        field_types.parse_csv_value("yes", "boolean")
