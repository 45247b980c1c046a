"""Where `synth export --out` may write (issue 10, second item): real files, links and modes.

Existing targets need --overwrite, read-only files and symbolic links are never replaced nor
followed, the warehouse, the Dagster instance and the dataset folders are never targets,
a failed export leaves nothing behind, files get the user's umask, and no folder is created
at the filesystem root. The `hf` folder and every file in it follow the same rules.
"""

from __future__ import annotations

import os
import secrets
import shutil
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from synth_pipeline import exports
from synth_pipeline.export_paths import ExportPathError, write_file
from synth_pipeline.exports import (
    HF_DATA_FILE,
    HF_TEST_FILE,
    ExportError,
    export_published,
    export_version,
)
from synth_pipeline.spec import load_spec
from synth_pipeline_tests.conftest import Project
from synth_pipeline_tests.test_exports import build_with_spec_labels

DS = "support_intents"


@pytest.fixture
def umask() -> Iterator[None]:
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


@pytest.fixture
def env(project: Project, monkeypatch: pytest.MonkeyPatch, umask) -> Project:
    """A dataset folder, a warehouse with a published version and a Dagster instance folder."""
    from synth_pipeline.cli import console

    monkeypatch.setattr(console, "width", 400)  # one line per message
    project.add_dataset(DS)
    home = project.root / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    build_with_spec_labels(project.warehouse(), load_spec(project.data / DS))
    return project


def synth_export(*args: str, code: int = 0) -> str:
    from synth_pipeline.cli import app

    out = CliRunner().invoke(app, ["export", DS, *args], terminal_width=400)
    assert out.exit_code == code, out.output
    return " ".join(out.output.split())


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def listing(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


# --- files ------------------------------------------------------------------------------------


def test_an_existing_file_needs_overwrite_and_new_files_follow_the_umask(env):
    out = env.root / "out"
    out.mkdir()
    target = out / "x.jsonl"
    target.write_text("mine\n")
    msg = synth_export("--format", "jsonl", "--out", str(target), code=1)
    assert "the file exists" in msg and "--overwrite" in msg
    assert target.read_text() == "mine\n"

    synth_export("--format", "jsonl", "--out", str(target), "--overwrite")
    # 2 synthetic train rows and the 3 real holdout rows of the test split.
    assert target.read_text().count("\n") == 2 + 3 and mode(target) == 0o644

    fresh = out / "deeper" / "new.parquet"  # a missing parent folder is created
    synth_export("--format", "parquet", "--out", str(fresh))
    assert mode(fresh) == 0o644 and mode(fresh.parent) == 0o755
    os.umask(0o027)
    synth_export("--format", "openai-chat", "--out", str(out / "chat.jsonl"))
    assert mode(out / "chat.jsonl") == 0o640

    # A folder as --out: the file inside it is named after the version, and is refused the
    # second time too.
    synth_export("--format", "jsonl", "--out", str(out))
    msg = synth_export("--format", "jsonl", "--out", str(out), code=1)
    assert "the file exists" in msg
    assert listing(out) == [
        "chat.jsonl",
        "deeper",
        "deeper/new.parquet",
        f"{DS}-v1.jsonl",
        "x.jsonl",
    ]  # no temporary file left anywhere


def test_a_read_only_file_is_never_replaced(env):
    target = env.root / "ro.jsonl"
    target.write_text("keep\n")
    target.chmod(0o444)
    msg = synth_export("--format", "jsonl", "--out", str(target), "--overwrite", code=1)
    assert "read-only" in msg
    assert target.read_text() == "keep\n" and mode(target) == 0o444


def test_links_are_never_followed_nor_replaced(env):
    real = env.root / "real.jsonl"
    real.write_text("real\n")
    folder = env.root / "real_folder"
    folder.mkdir()
    links = {
        "to_file": real,
        "to_folder": folder,
        "dangling": env.root / "nowhere.jsonl",
    }
    for name, dest in links.items():
        link = env.root / name
        link.symlink_to(dest)
        for extra in ([], ["--overwrite"]):
            msg = synth_export("--format", "jsonl", "--out", str(link), *extra, code=1)
            assert "symbolic link" in msg, (name, msg)
        assert link.is_symlink() and os.readlink(link) == str(dest)
    assert real.read_text() == "real\n" and list(folder.iterdir()) == []
    assert not (env.root / "nowhere.jsonl").exists()

    # A link among the parent folders is resolved first: into a dataset folder is refused.
    (env.root / "sneaky").symlink_to(env.data / DS)
    msg = synth_export("--format", "jsonl", "--out", str(env.root / "sneaky" / "x.jsonl"), code=1)
    assert "dataset folder of support_intents" in msg
    assert not (env.data / DS / "x.jsonl").exists()


def test_the_warehouse_the_instance_and_the_dataset_folders_are_never_targets(env):
    wh_file = env.warehouse_path
    before = wh_file.read_bytes()
    home = Path(os.environ["DAGSTER_HOME"])
    seeds = env.data / DS / "seeds.jsonl"
    seeds_before = seeds.read_bytes()
    dataset_files = listing(env.data / DS)
    cases = [
        ("jsonl", wh_file, "the warehouse"),
        ("jsonl", wh_file.with_name(wh_file.name + ".wal"), "write-ahead log"),
        ("parquet", home / "dagster.yaml", "Dagster instance folder"),
        ("jsonl", home / "storage" / "new.jsonl", "Dagster instance folder"),
        ("hf", home, "Dagster instance folder"),
        ("jsonl", seeds, "dataset folder of support_intents"),
        ("jsonl", env.data / DS / "new.jsonl", "dataset folder of support_intents"),
        ("hf", env.data / DS, "dataset folder of support_intents"),
        ("hf", env.data / DS / "hf", "dataset folder of support_intents"),
    ]
    for fmt, target, what in cases:
        msg = synth_export("--format", fmt, "--out", str(target), "--overwrite", code=1)
        assert what in msg and "write the export somewhere else" in msg, (target, msg)
    assert wh_file.read_bytes() == before and seeds.read_bytes() == seeds_before
    assert not (home / "storage" / "new.jsonl").exists() and not (env.data / DS / "hf").exists()
    assert listing(env.data / DS) == dataset_files
    # The warehouse still opens and answers.
    assert env.warehouse().published_version(DS) == "v1"
    from synth_pipeline.cli import app

    assert CliRunner().invoke(app, ["versions", DS]).exit_code == 0


def test_no_folder_is_created_at_the_filesystem_root(env):
    name = f"synth-export-test-{secrets.token_hex(4)}"
    top = Path("/") / name
    try:
        msg = synth_export("--format", "jsonl", "--out", str(top / "x.jsonl"), code=1)
        assert "filesystem root" in msg
        msg = synth_export("--format", "hf", "--out", str(top), code=1)
        assert "filesystem root" in msg
        assert not top.exists()
    finally:
        if top.exists():  # only if the refusal failed
            shutil.rmtree(top)


def test_a_failed_write_leaves_nothing_half_written(tmp_path, umask):
    def failing(tmp: Path) -> None:
        tmp.write_text("half")
        raise RuntimeError("disk full")

    target = tmp_path / "x.jsonl"
    with pytest.raises(RuntimeError, match="disk full"):
        write_file(target, failing)
    assert listing(tmp_path) == []
    target.write_text("before")
    with pytest.raises(RuntimeError, match="disk full"):
        write_file(target, failing, overwrite=True)
    assert listing(tmp_path) == ["x.jsonl"] and target.read_text() == "before"


# --- the Hugging Face folder ----------------------------------------------------------------


def test_hf_folder_follows_the_same_rules_for_itself_and_every_file(env):
    folder = env.root / "hf"
    synth_export("--format", "hf", "--out", str(folder))
    assert listing(folder) == ["README.md", "data", HF_TEST_FILE, HF_DATA_FILE]
    assert mode(folder) == 0o755 and mode(folder / "data") == 0o755
    assert mode(folder / "README.md") == 0o644 and mode(folder / HF_DATA_FILE) == 0o644
    assert mode(folder / HF_TEST_FILE) == 0o644

    # An existing folder: refused without --overwrite; with it, only the export's files change.
    (folder / "README.md").write_text("my notes\n")
    (folder / "notes.txt").write_text("keep me\n")
    msg = synth_export("--format", "hf", "--out", str(folder), code=1)
    assert "the folder exists" in msg and "--overwrite" in msg
    assert (folder / "README.md").read_text() == "my notes\n"
    synth_export("--format", "hf", "--out", str(folder), "--overwrite")
    assert (folder / "README.md").read_text().startswith("---\n")
    assert (folder / "notes.txt").read_text() == "keep me\n"
    assert listing(folder) == ["README.md", "data", HF_TEST_FILE, HF_DATA_FILE, "notes.txt"]

    # Another shard would be loaded with the split: refused, and never deleted.
    shard = folder / "data" / "train-00001-of-00002.parquet"
    shard.write_bytes(b"other")
    card = (folder / "README.md").read_text()
    msg = synth_export("--format", "hf", "--out", str(folder), "--overwrite", code=1)
    assert "train-00001-of-00002.parquet" in msg and "never delete" in msg
    assert shard.read_bytes() == b"other" and (folder / "README.md").read_text() == card
    shard.unlink()
    # So would another shard of the test split.
    shard = folder / "data" / "test-00001-of-00002.parquet"
    shard.write_bytes(b"other")
    msg = synth_export("--format", "hf", "--out", str(folder), "--overwrite", code=1)
    assert "test-00001-of-00002.parquet" in msg and "never delete" in msg
    assert shard.read_bytes() == b"other" and (folder / "README.md").read_text() == card
    shard.unlink()

    # Links: the folder, a file in it, the data folder.
    outside = env.root / "outside.md"
    outside.write_text("outside\n")
    (folder / "README.md").unlink()
    (folder / "README.md").symlink_to(outside)
    msg = synth_export("--format", "hf", "--out", str(folder), "--overwrite", code=1)
    assert "symbolic link" in msg and outside.read_text() == "outside\n"
    (folder / "README.md").unlink()
    shutil.rmtree(folder / "data")
    (env.root / "elsewhere").mkdir()
    (folder / "data").symlink_to(env.root / "elsewhere")
    msg = synth_export("--format", "hf", "--out", str(folder), "--overwrite", code=1)
    assert "symbolic link" in msg and list((env.root / "elsewhere").iterdir()) == []
    (env.root / "hf_link").symlink_to(env.root / "elsewhere")
    msg = synth_export("--format", "hf", "--out", str(env.root / "hf_link"), "--overwrite", code=1)
    assert "symbolic link" in msg and list((env.root / "elsewhere").iterdir()) == []


def test_a_failed_hf_export_leaves_no_folder_and_an_existing_one_unchanged(env, monkeypatch):
    spec = load_spec(env.data / DS)
    wh = env.warehouse()
    folder = env.root / "exports" / "hf"
    export_version(wh, spec, "v1", "hf", folder)
    before = {p: (folder / p).read_bytes() for p in ("README.md", HF_DATA_FILE, HF_TEST_FILE)}

    def broken(*args, **kwargs):
        raise RuntimeError("card failed")

    monkeypatch.setattr(exports, "render_card", broken)
    with pytest.raises(RuntimeError, match="card failed"):
        export_version(wh, spec, "v1", "hf", env.root / "exports" / "new_hf")
    assert listing(env.root / "exports") == [
        "hf",
        "hf/README.md",
        "hf/data",
        f"hf/{HF_TEST_FILE}",
        f"hf/{HF_DATA_FILE}",
    ]
    with pytest.raises(RuntimeError, match="card failed"):
        export_version(wh, spec, "v1", "hf", folder, overwrite=True)
    assert {p: (folder / p).read_bytes() for p in before} == before
    assert listing(folder) == ["README.md", "data", HF_TEST_FILE, HF_DATA_FILE]


def test_the_python_api_follows_the_same_rules(env):
    spec = load_spec(env.data / DS)
    wh = env.warehouse()
    target = env.root / "x.parquet"
    export_version(wh, spec, "v1", "parquet", target)
    with pytest.raises(ExportPathError, match="overwrite=True"):
        export_version(wh, spec, "v1", "parquet", target)
    assert issubclass(ExportPathError, ExportError)
    with pytest.raises(ExportPathError, match="the warehouse"):
        export_version(wh, spec, "v1", "jsonl", wh.path, overwrite=True)
    # The `exports` asset's own folder: a re-run (or the completion of an interrupted one)
    # replaces its files.
    first = export_published(wh, spec, "v1", env.root / "exports")
    again = export_published(wh, spec, "v1", env.root / "exports")
    assert [r.path for r in first] == [r.path for r in again]
