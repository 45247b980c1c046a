"""`synth export --format hf --push-to-hub REPO` (issue 13, fifth item), against a fake Hub
on 127.0.0.1 (HF_ENDPOINT): the repository is created, the folder's files land in one
commit, the token comes from HF_TOKEN and is never printed; never the network."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from synth_pipeline.exports import HF_DATA_FILE, HF_TEST_FILE
from synth_pipeline.hub import HubError, push_folder
from synth_pipeline.spec import load_spec
from synth_pipeline_tests.conftest import Project
from synth_pipeline_tests.fake_hf_hub import FakeHub
from synth_pipeline_tests.test_exports import build_with_spec_labels

DS = "support_intents"
TOKEN = "hf_fake_token_0123456789"


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[FakeHub]:
    fake = FakeHub(token=TOKEN).start()
    monkeypatch.setenv("HF_ENDPOINT", fake.url)
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf_home"))  # no token file, no cache outside
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    try:
        yield fake
    finally:
        fake.stop()


def synth(*args: str, code: int = 0) -> str:
    from synth_pipeline.cli import app

    out = CliRunner().invoke(app, list(args), terminal_width=400)
    assert out.exit_code == code, out.output
    return " ".join(out.output.split())


@pytest.fixture
def env(project: Project, monkeypatch: pytest.MonkeyPatch) -> Project:
    from synth_pipeline.cli import console

    monkeypatch.setattr(console, "width", 400)
    project.add_dataset(DS)
    build_with_spec_labels(project.warehouse(), load_spec(project.data / DS))
    return project


def test_push_folder_creates_the_repo_and_commits_every_file(hub: FakeHub, tmp_path: Path):
    folder = tmp_path / "hf"
    (folder / "data").mkdir(parents=True)
    (folder / "README.md").write_text("---\nlicense: cc-by-4.0\n---\n# card\n")
    (folder / "data" / "train.parquet").write_bytes(b"PAR1\x00\x01PAR1")
    res = push_folder(folder, "alice/intents", commit_message="first")
    assert hub.repos == {
        "alice/intents": {
            "README.md": b"---\nlicense: cc-by-4.0\n---\n# card\n",
            "data/train.parquet": b"PAR1\x00\x01PAR1",
        }
    }
    assert hub.repo_types == {"alice/intents": "dataset"}
    assert res.repo_url == f"{hub.url}/datasets/alice/intents"
    assert res.commit_url.startswith(f"{hub.url}/datasets/alice/intents/commit/")
    assert [c["summary"] for c in hub.commits] == ["first"]
    # A second push to the existing repository is another commit (create_repo: exist_ok).
    (folder / "README.md").write_text("# card v2\n")
    push_folder(folder, "alice/intents", commit_message="second")
    assert hub.repos["alice/intents"]["README.md"] == b"# card v2\n"
    assert [c["summary"] for c in hub.commits] == ["first", "second"]
    assert hub.unexpected == []


def test_a_wrong_token_or_a_bad_repo_id_is_a_readable_error(hub, tmp_path, monkeypatch):
    folder = tmp_path / "hf"
    folder.mkdir()
    (folder / "README.md").write_text("# card\n")
    with pytest.raises(HubError, match=r"refused the push to alice/x \(HTTP 401\)") as err:
        push_folder(folder, "alice/x", token="hf_wrong")
    assert "hf_wrong" not in str(err.value)
    with pytest.raises(HubError, match="not a Hub repository id"):
        push_folder(folder, "no-owner")
    monkeypatch.delenv("HF_TOKEN")
    with pytest.raises(HubError, match="needs a Hugging Face token in the HF_TOKEN variable"):
        push_folder(folder, "alice/x")
    assert hub.repos == {}


def test_cli_exports_then_pushes_the_hf_folder(env: Project, hub: FakeHub):
    out_dir = env.root / "hf_out"
    out = synth(
        "export", DS, "--format", "hf", "--out", str(out_dir), "--push-to-hub", "alice/intents"
    )
    assert f"Exported 2 records of {DS} version v1 as train" in out and ", hf, to" in out
    assert f"Pushed 3 files to {hub.url}/datasets/alice/intents:" in out
    assert TOKEN not in out
    pushed = hub.repos["alice/intents"]
    assert set(pushed) == {"README.md", HF_DATA_FILE, HF_TEST_FILE}
    for rel in (HF_DATA_FILE, HF_TEST_FILE):
        assert pushed[rel] == (out_dir / rel).read_bytes()
    assert hub.commits[0]["summary"] == f"{DS} version v1"


def test_cli_refuses_a_push_before_writing_anything(env: Project, hub, monkeypatch):
    target = env.root / "never"
    out = synth(
        "export", DS, "--format", "jsonl", "--out", str(target), "--push-to-hub", "a/b", code=1
    )
    assert "use --format hf, not jsonl" in out
    monkeypatch.delenv("HF_TOKEN")
    out = synth(
        "export", DS, "--format", "hf", "--out", str(target), "--push-to-hub", "a/b", code=1
    )
    assert "HF_TOKEN" in out
    assert not target.exists() and hub.requests == []
