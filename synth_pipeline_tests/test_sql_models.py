"""SQL models: ref parsing, load-time errors with file:line, materialization and scoping."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from synth_pipeline.sql_models import (
    MODELS_DIR,
    SqlModelError,
    load_models,
    render_sql,
    run_model,
    run_models,
    spec_variables,
)
from synth_pipeline.warehouse import Warehouse
from synth_pipeline_tests.test_lineage import (
    DATASET,
    DROPPED,
    KEPT,
    build_version,
    intents_spec,
    publish_version,
)

STAGES = {"seeds", "holdout", "candidates", "filtered", "dataset", "validation_report", "published"}


@pytest.fixture
def wh(tmp_path: Path) -> Warehouse:
    return Warehouse(tmp_path / "w.duckdb")


def _folder(tmp_path: Path, files: dict[str, str], name: str = "models") -> Path:
    folder = tmp_path / name
    folder.mkdir(exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text)
    return folder


def _relation_type(wh: Warehouse, name: str) -> str:
    return wh.rows("SELECT table_type FROM information_schema.tables WHERE table_name = ?", [name])[
        0
    ][0]


def test_shipped_models_load_in_dependency_order_with_their_refs():
    models = {m.name: m for m in load_models(MODELS_DIR, STAGES)}
    assert set(models) >= {"seed_staging", "label_balance", "version_summary"}
    order = [m.name for m in load_models(MODELS_DIR, STAGES)]
    assert order.index("seed_staging") < order.index("label_balance")
    staging = models["seed_staging"]
    assert staging.materialized == "table" and staging.stages == ["seeds"]
    assert [(r.name, r.kind, r.relation) for r in staging.refs] == [("seeds", "source", "seeds")]
    assert models["label_balance"].model_refs == ["seed_staging"]
    summary = models["version_summary"]
    assert summary.materialized == "view" and not summary.uses_scope
    assert set(summary.stages) == STAGES
    assert "per-version summary" in summary.description
    # A ref's line is recorded: the seeds ref of seed_staging is on its FROM line.
    ref = staging.refs[0]
    assert "ref('seeds')" in staging.source.splitlines()[ref.lineno - 1]


def test_a_ref_to_nothing_fails_at_load_time_with_file_and_line(tmp_path):
    folder = _folder(
        tmp_path,
        {"bad.sql": "-- materialized: table\nSELECT *\nFROM {{ ref('sedes') }}\nWHERE true\n"},
    )
    with pytest.raises(SqlModelError, match=r"bad\.sql:3: ref\('sedes'\) names no model"):
        load_models(folder, STAGES)
    # A stage the code location does not define is not a valid ref either.
    _folder(tmp_path, {"bad.sql": "SELECT * FROM {{ ref('published') }}"})
    with pytest.raises(SqlModelError, match=r"bad\.sql:1: ref\('published'\)"):
        load_models(folder, STAGES - {"published"})


def test_malformed_templates_and_bad_headers_fail_with_file_and_line(tmp_path):
    folder = _folder(tmp_path, {"broken.sql": "SELECT 1\nFROM x\n{% if dataset %}\nWHERE 1\n"})
    with pytest.raises(SqlModelError, match=r"broken\.sql:\d+: malformed template"):
        load_models(folder, STAGES)
    (folder / "broken.sql").write_text("SELECT 1 FROM {{ ref('seeds' }}\n")
    with pytest.raises(SqlModelError, match=r"broken\.sql:1: malformed template"):
        load_models(folder, STAGES)
    (folder / "broken.sql").write_text("-- x\n-- materialized: snapshot\nSELECT 1\n")
    with pytest.raises(SqlModelError, match=r"broken\.sql:2: materialized must be"):
        load_models(folder, STAGES)
    (folder / "broken.sql").write_text("SELECT 1\nFROM {{ ref(name) }}\n")
    with pytest.raises(SqlModelError, match=r"broken\.sql:2: ref\(\) takes one string literal"):
        load_models(folder, STAGES)


def test_cycles_and_version_scoped_views_are_rejected(tmp_path):
    folder = _folder(
        tmp_path,
        {
            "a.sql": "SELECT * FROM {{ ref('b') }}\n",
            "b.sql": "SELECT *\nFROM {{ ref('c') }}\n",
            "c.sql": "SELECT * FROM\n\n{{ ref('a') }}\n",
        },
    )
    with pytest.raises(SqlModelError, match=r"a\.sql:1: cyclic refs: a -> b -> c -> a"):
        load_models(folder, STAGES)
    view = (
        "-- materialized: view\nSELECT * FROM {{ ref('seeds') }}\nWHERE version = {{ version }}\n"
    )
    folder = _folder(tmp_path, {"v.sql": view}, name="views")
    with pytest.raises(SqlModelError, match=r"v\.sql:3: a view covers every version"):
        load_models(folder, STAGES)


def test_table_models_replace_only_their_version_and_views_span_versions(wh):
    build_version(wh, "v1", KEPT, DROPPED, publish=True)
    build_version(wh, "v2", KEPT, checks={"report_thresholds": False})
    models = load_models(MODELS_DIR, STAGES)
    by_name = {m.name: m for m in models}
    with pytest.raises(SqlModelError, match="not materialized yet"):
        run_model(wh, by_name["label_balance"], DATASET, "v1")

    runs = run_models(wh, models, DATASET, "v1", spec_variables(intents_spec()))
    staging = next(r for r in runs if r.model == "seed_staging")
    assert staging.rows == 3 and "normalized_text" in staging.columns
    assert _relation_type(wh, "model_seed_staging") == "BASE TABLE"
    assert _relation_type(wh, "model_version_summary") == "VIEW"
    norm = wh.rows(
        "SELECT normalized_text, text_length, word_count FROM model_seed_staging "
        "WHERE record_id = 'seed-bbb'"
    )
    assert norm == [("where is my parcel?", 19, 4)]

    run_model(wh, by_name["seed_staging"], DATASET, "v2")
    assert wh.rows("SELECT version, count(*) FROM model_seed_staging GROUP BY 1 ORDER BY 1") == [
        ("v1", 3),
        ("v2", 3),
    ]
    # Re-materializing v2 after its seeds changed replaces v2's rows and leaves v1's alone.
    wh.execute("DELETE FROM seeds WHERE version = 'v2' AND record_id = 'seed-aaa'")
    again = run_model(wh, by_name["seed_staging"], DATASET, "v2")
    assert again.rows == 2
    assert wh.rows("SELECT version, count(*) FROM model_seed_staging GROUP BY 1 ORDER BY 1") == [
        ("v1", 3),
        ("v2", 2),
    ]

    balance = {
        r[0]: r[1:]
        for r in wh.rows(
            "SELECT label, seeds, target, quota_gap, target_from_seeds FROM model_label_balance "
            "WHERE version = 'v1'"
        )
    }
    assert balance == {"refund": (2, 3, 1, False), "status": (1, 3, 2, False)}
    # Without a target variable the largest label's seed count is the target.
    run_model(wh, by_name["label_balance"], DATASET, "v2", {"labels": ["refund", "status", "x"]})
    balance = {
        r[0]: r[1:]
        for r in wh.rows(
            "SELECT label, seeds, target, quota_gap, target_from_seeds FROM model_label_balance "
            "WHERE version = 'v2'"
        )
    }
    assert balance == {
        "refund": (1, 1, 0, True),
        "status": (1, 1, 0, True),
        "x": (0, 1, 1, True),
    }

    summary = {
        r[0]: r[1:]
        for r in wh.rows(
            "SELECT version, seeds, candidates, candidates_failed, filtered, dropped, "
            "dataset_rows, gates_passed, gates_failed, failed_checks, is_published, "
            "regression_held FROM model_version_summary WHERE dataset = ? ORDER BY version",
            [DATASET],
        )
    }
    # Four required checks, the regression check among them (it holds, it never fails).
    assert summary["v1"] == (3, 5, 1, 2, 2, 2, 4, 0, None, True, False)
    assert summary["v2"] == (2, 3, 1, 2, 0, 2, 3, 1, "report_thresholds", False, False)


def test_a_table_model_is_scoped_to_its_version_even_without_a_filter(wh, tmp_path):
    build_version(wh, "v1", KEPT)
    build_version(wh, "v2", KEPT)
    sql = "SELECT dataset, version, count(*) AS n\nFROM {{ ref('seeds') }}\nGROUP BY ALL\n"
    folder = _folder(tmp_path, {"per_version.sql": sql})
    (model,) = load_models(folder, STAGES)
    run = run_model(wh, model, DATASET, "v1")
    assert run.rows == 1
    assert wh.rows("SELECT version, n FROM model_per_version") == [("v1", 3)]
    # A new column in the model's SQL is added to the table; older versions' rows keep null.
    (folder / "per_version.sql").write_text(
        "SELECT dataset, version, count(*) AS n, max(text_length) AS longest\n"
        "FROM {{ ref('seeds') }} CROSS JOIN (SELECT 1 AS text_length)\nGROUP BY ALL\n"
    )
    (model,) = load_models(folder, STAGES)
    run_model(wh, model, DATASET, "v2")
    assert wh.rows("SELECT version, n, longest FROM model_per_version ORDER BY 1") == [
        ("v1", 3, None),
        ("v2", 3, 1),
    ]
    # A model without dataset/version columns is refused.
    (folder / "per_version.sql").write_text("SELECT 1 AS n")
    (model,) = load_models(folder, STAGES)
    with pytest.raises(SqlModelError, match="must return dataset and version columns"):
        run_model(wh, model, DATASET, "v1")


def test_variables_render_as_sql_literals():
    (model,) = [m for m in load_models(MODELS_DIR, STAGES) if m.name == "seed_staging"]
    sql = render_sql(model, "it's", "v1")
    assert "dataset = 'it''s' AND version = 'v1'" in sql
    with pytest.raises(SqlModelError, match="one dataset version"):
        render_sql(model)


def test_the_sql_models_module_knows_nothing_of_dagster():
    # Logic lives in plain modules; `synth_pipeline.defs` only wires them into Dagster.
    import synth_pipeline.sql_models as plain

    tree = ast.parse(Path(plain.__file__).read_text(encoding="utf-8"))
    imported = []
    for node in ast.walk(tree):  # every level: also lazy and TYPE_CHECKING imports
        if isinstance(node, ast.Import):
            imported += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            imported.append(node.module or "")
    assert imported, "the parse found no imports at all"
    assert not [m for m in imported if m == "dagster" or m.startswith("dagster.")], imported
    assert not [m for m in imported if m.startswith("synth_pipeline.defs")], imported


def test_model_assets_wire_into_dagster_and_materialize(wh, tmp_path):
    import dagster as dg

    from synth_pipeline.defs.resources import WarehouseResource
    from synth_pipeline.defs.sql_models import build_model_assets

    build_version(wh, "v1", KEPT, DROPPED)
    publish_version(wh, DATASET, "v1")
    spec = intents_spec()
    parts = dg.DynamicPartitionsDefinition(name=f"{DATASET}_versions")
    models = load_models(MODELS_DIR, STAGES)
    assets = build_model_assets(spec, models, parts, lambda s: dg.AssetKey([DATASET, s]))
    by_key = {a.key.to_user_string(): a for a in assets}
    assert set(by_key) >= {f"{DATASET}/sql/{m.name}" for m in models}
    balance = by_key[f"{DATASET}/sql/label_balance"]
    assert balance.group_names_by_key[balance.key] == DATASET
    assert {k.to_user_string() for k in balance.asset_deps[balance.key]} == {
        f"{DATASET}/sql/seed_staging"
    }
    staging = by_key[f"{DATASET}/sql/seed_staging"]
    assert {k.to_user_string() for k in staging.asset_deps[staging.key]} == {f"{DATASET}/seeds"}
    spec_ = staging.specs_by_key[staging.key]
    assert spec_.kinds == {"duckdb", "sql"}
    assert "```sql" in spec_.description and "ref('seeds')" in spec_.description

    instance = dg.DagsterInstance.ephemeral()  # faster than instance_for_test
    instance.add_dynamic_partitions(f"{DATASET}_versions", ["v1"])
    result = dg.materialize(
        assets,
        partition_key="v1",
        instance=instance,
        resources={"warehouse": WarehouseResource(path=str(wh.path))},
    )
    assert result.success
    mats = {
        ev.materialization.asset_key.to_user_string(): ev.materialization.metadata
        for ev in result.get_asset_materialization_events()
    }
    assert mats[f"{DATASET}/sql/seed_staging"]["dagster/row_count"].value == 3
    assert mats[f"{DATASET}/sql/label_balance"]["dagster/row_count"].value == 2
    assert "seed-aaa" in mats[f"{DATASET}/sql/seed_staging"]["preview"].value
