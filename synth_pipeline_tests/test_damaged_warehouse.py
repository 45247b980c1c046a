"""A damaged warehouse file stops every command and stage that would read or write it.

Row counts come from DuckDB's metadata, so a file whose data blocks were cut off or
overwritten still lists its versions; only reading the values makes DuckDB check the blocks'
checksums. `Warehouse.verify` reads every value once: `synth versions` and the other read
commands, the input stages (before their first write) and the publish step refuse a damaged
file in one line naming the file and what to do.
"""

from __future__ import annotations

import os
import time
from hashlib import sha256
from pathlib import Path

import duckdb
import polars as pl
import pytest
from typer.testing import CliRunner

from synth_pipeline.cli import app
from synth_pipeline.warehouse import DamagedWarehouseError, Warehouse
from synth_pipeline_tests.conftest import SMALL_INTENTS

DATASET = "support_intents"
HEADER_BYTES = 3 * 4096  # DuckDB's file header and two database headers, then the blocks


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "dagster_home"
    monkeypatch.setenv("DAGSTER_HOME", str(folder))
    return folder


def _run(*args: str):
    return CliRunner().invoke(app, list(args), terminal_width=100)


def _warehouse_with_a_version(project) -> Path:
    """Version v1 with enough seed text that the text column fills blocks of its own."""
    wh = project.warehouse()
    wh.record_version(DATASET, "v1", status="failed")
    n = 5000
    frame = pl.DataFrame(
        {
            "record_id": [f"seed-{i}" for i in range(n)],
            "text": [f"parcel {sha256(str(i).encode()).hexdigest() * 3} is late" for i in range(n)],
            "label": ["order_status"] * n,
        }
    )
    wh.replace_versions({"seeds": frame, "holdout": frame.head(50)}, DATASET, "v1")
    return project.warehouse_path


def _seed_text_block(path: Path) -> int:
    """The file offset of a block that holds only `seeds.text` values (no other column's)."""
    with duckdb.connect(str(path), read_only=True) as conn:
        block_size = conn.execute("SELECT block_size FROM pragma_database_size()").fetchone()[0]
        tables = [r[0] for r in conn.execute("SELECT table_name FROM duckdb_tables()").fetchall()]
        owners: dict[int, set[str]] = {}
        for table in tables:
            for column, block in conn.execute(
                f"SELECT column_name, block_id FROM pragma_storage_info('{table}') "
                "WHERE block_id >= 0"
            ).fetchall():
                owners.setdefault(block, set()).add(f"{table}.{column}")
    only_text = sorted(b for b, cols in owners.items() if cols == {"seeds.text"})
    assert only_text, owners
    return HEADER_BYTES + only_text[len(only_text) // 2] * block_size


def _damage(path: Path, how: str) -> None:
    data = bytearray(path.read_bytes())
    if how == "seed block overwritten":
        start = _seed_text_block(path) + 1000
        data[start : start + 4096] = os.urandom(4096)
    elif how == "header block overwritten":
        data[4096 : 4096 + 8192] = os.urandom(8192)
    else:  # a copy cut in half
        data = data[: len(data) // 2]
    path.write_bytes(bytes(data))


def _assert_one_line(result, path: Path) -> None:
    out = result.output
    assert result.exit_code == 1, out
    assert result.exception is None or isinstance(result.exception, SystemExit), out
    assert "Traceback" not in out
    assert len(out.strip().splitlines()) == 1, out
    assert out.startswith(f"error: the warehouse {path} cannot be used"), out
    assert "damaged" in out and "keeps no backup" in out and "move it away" in out, out


@pytest.mark.parametrize(
    "how", ["seed block overwritten", "header block overwritten", "cut in half"]
)
def test_synth_versions_refuses_a_damaged_warehouse_in_one_line(project, home, how):
    project.add_dataset(DATASET, **SMALL_INTENTS)
    path = _warehouse_with_a_version(project)
    assert _run("versions", DATASET).exit_code == 0
    _damage(path, how)
    if how == "seed block overwritten":  # what made this slip through: counts still work
        with duckdb.connect(str(path), read_only=True) as conn:
            assert conn.execute("SELECT count(*) FROM seeds").fetchone()[0] == 5000
            with pytest.raises(duckdb.Error, match="checksum"):
                conn.execute("SELECT text FROM seeds").fetchall()
    started = time.monotonic()
    for command in (["versions", DATASET], ["report", DATASET], ["lineage", DATASET]):
        _assert_one_line(_run(*command), path)
    # A checksum error is not a lock held by another process: no waiting for one to go away.
    assert time.monotonic() - started < 30


def test_a_damaged_warehouse_starts_no_version(project, home, instance):
    from synth_pipeline.defs.runner import materialize_version

    project.add_dataset(DATASET, **SMALL_INTENTS)
    path = _warehouse_with_a_version(project)
    _damage(path, "seed block overwritten")

    # The input stages refuse before their first write, in whichever order they run.
    run = materialize_version(
        project.definitions(), DATASET, "v2", instance, selection=["seeds", "holdout"]
    )
    assert not run.success
    assert run.errors and all(f"the warehouse {path} cannot be used" in e for e in run.errors)
    assert all("damaged (table seeds)" in e for e in run.errors), run.errors
    # The CLI refuses before it registers a version.
    _assert_one_line(_run("materialize", DATASET, "--version", "v3"), path)

    with duckdb.connect(str(path), read_only=True) as conn:  # the version columns still read
        tables = [r[0] for r in conn.execute("SELECT table_name FROM duckdb_tables()").fetchall()]
        assert {"versions", "seeds", "holdout", "published"} <= set(tables)
        for table in tables:
            columns = {r[0] for r in conn.execute(f"DESCRIBE {table}").fetchall()}
            if "version" in columns:
                n = conn.execute(
                    f"SELECT count(*) FROM {table} WHERE version IN ('v2', 'v3')"
                ).fetchone()[0]
                assert n == 0, table
        assert conn.execute("SELECT count(*) FROM published").fetchone()[0] == 0


def test_verify_reads_a_sound_file_once_per_change(project, monkeypatch):
    path = _warehouse_with_a_version(project)
    wh = Warehouse(path)
    wh.verify()
    opened: list[bool] = []
    connect = Warehouse.connect

    def counting(self, read_only=False):
        opened.append(read_only)
        return connect(self, read_only)

    monkeypatch.setattr(Warehouse, "connect", counting)
    Warehouse(path).verify()  # unchanged since it passed: not read again
    assert opened == []
    wh.record_version(DATASET, "v9", status="running")
    opened.clear()
    wh.verify()  # changed: read again
    assert opened == [True]
    Warehouse(project.root / "absent.duckdb").verify()  # nothing to read yet: passes
    assert not (project.root / "absent.duckdb").exists()

    _damage(path, "seed block overwritten")
    with pytest.raises(DamagedWarehouseError, match=r"damaged \(table seeds\).*checksum"):
        Warehouse(path).verify()
