"""Small CLI defects (issue 13, first item): the report's candidates column, an export of a
version that does not exist, and a diff of a version with itself."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from synth_pipeline.exports import ExportError, existing_versions, export_version
from synth_pipeline.spec import load_spec
from synth_pipeline_tests.conftest import Project
from synth_pipeline_tests.test_lineage import KEPT, build_version

DS = "support_intents"


@pytest.fixture
def env(project: Project, monkeypatch: pytest.MonkeyPatch) -> Project:
    from synth_pipeline.cli import console

    monkeypatch.setattr(console, "width", 400)  # one line per message
    project.add_dataset(DS)
    spec = load_spec(project.data / DS)
    build_version(project.warehouse(), "v1", KEPT, dataset=DS, spec=spec, publish=True)
    build_version(project.warehouse(), "v2", KEPT, dataset=DS, spec=spec, salt="v2")
    return project


def synth(*args: str, code: int = 0) -> str:
    from synth_pipeline.cli import app

    out = CliRunner().invoke(app, list(args), terminal_width=400)
    assert out.exit_code == code, out.output
    return " ".join(out.output.split())


def test_report_fills_the_candidates_column_from_metrics_json(env: Project):
    folder = env.reports / DS / "v1"
    folder.mkdir(parents=True)
    metrics = {
        "utility.tstr_macro_f1": 0.8125,
        "curation.candidates.utility.tstr_macro_f1": 0.6125,
        "fidelity.detectability_auc": 0.75,  # no candidates figure: the cell stays empty
        "records.synthetic": 12.0,
        "curation.candidate_records": 30.0,
    }
    (folder / "metrics.json").write_text(json.dumps({"headline_score": 50.0, "metrics": metrics}))
    out = synth("report", DS, "--version", "v1")
    assert "utility.tstr_macro_f1 │ 0.812 │ 0.613" in out  # rich rounds half to even
    assert "records.synthetic │ 12.000 │ 30.000" in out
    assert "fidelity.detectability_auc │ 0.750 │ │" in out


def test_export_of_a_missing_version_says_no_such_version(env: Project, tmp_path):
    wh = env.warehouse()
    assert existing_versions(wh, DS) == ["v2", "v1"]  # newest first
    args = ("--version", "v9", "--format", "jsonl", "--out", str(tmp_path / "x"))
    out = synth("export", DS, *args, code=1)
    assert out.startswith(f"error: no such version 'v9' of {DS}; its versions, newest first: v2")
    assert "v1" in out and "check" not in out
    assert not (tmp_path / "x").exists()
    spec = load_spec(env.data / DS)
    with pytest.raises(ExportError, match="no such version 'v9'"):
        export_version(wh, spec, "v9", "jsonl", tmp_path / "y")
    with pytest.raises(ExportError, match="other has no versions"):
        export_version(wh, spec.model_copy(update={"name": "other"}), "v9", "jsonl", tmp_path)


def test_diff_of_a_version_with_itself_says_so_and_exits_0(env: Project):
    out = synth("diff", DS, "v1", "v1")
    assert out.startswith("both sides are the same version (v1): nothing can differ")
    assert "+0 added" in out and "-0 removed" in out
    as_json = json.loads(synth("diff", DS, "v1", "v1", "--json"))
    assert as_json["same_version"] is True
    assert as_json["notes"][0].startswith("both sides are the same version (v1)")
    assert json.loads(synth("diff", DS, "v1", "v2", "--json"))["same_version"] is False
