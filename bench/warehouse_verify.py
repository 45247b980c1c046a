"""What the damaged-warehouse check costs: `Warehouse.verify` on a warehouse of N versions.

Builds a warehouse with --versions versions of --rows rows in every stage table (seeds,
holdout, candidates, filtered, curation_audit, dataset_records), then times `verify()` on a
fresh process state (a full read of every value, as a new `synth` command does) and again
with the file unchanged (the per-process cache). Prints the file size and
the median and range of --repeat cold runs.

    .venv/bin/python bench/warehouse_verify.py [--versions 50] [--rows 500] [--repeat 5]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from hashlib import sha256
from pathlib import Path

import polars as pl

from synth_pipeline import warehouse as warehouse_module
from synth_pipeline.warehouse import STAGE_TABLES, Warehouse


def build(path: Path, versions: int, rows: int) -> None:
    wh = Warehouse(path)
    for v in range(versions):
        version = f"v{v:04d}"
        ids = [f"{version}-{i}" for i in range(rows)]
        texts = [f"order {sha256(i.encode()).hexdigest()[:24]} has not arrived yet" for i in ids]
        base = pl.DataFrame({"record_id": ids, "text": texts, "label": ["order_status"] * rows})
        audit = pl.DataFrame(
            {"record_id": ids, "filter": ["realism"] * rows, "reason": ["kept"] * rows,
             "score": [0.5] * rows, "detail": [""] * rows, "kept": [True] * rows}
        )  # fmt: skip
        frames = {t: (audit if t == "curation_audit" else base) for t in STAGE_TABLES}
        wh.record_version("bench", version, status="failed")
        wh.replace_versions(frames, "bench", version)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--versions", type=int, default=50)
    ap.add_argument("--rows", type=int, default=500)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "warehouse.duckdb"
        build(path, args.versions, args.rows)
        cold = []
        for _ in range(args.repeat):
            warehouse_module._VERIFIED.clear()  # a new process: nothing verified yet
            wh = Warehouse(path)
            start = time.perf_counter()
            wh.verify()
            cold.append(time.perf_counter() - start)
        start = time.perf_counter()
        wh.verify()  # same object, same file: the cached result
        warm = time.perf_counter() - start
        size_mb = path.stat().st_size / 1e6
    print(
        f"versions={args.versions} rows_per_table={args.rows} file_mb={size_mb:.1f} "
        f"verify_ms_median={statistics.median(cold) * 1000:.0f} "
        f"range_ms={min(cold) * 1000:.0f}-{max(cold) * 1000:.0f} cached_ms={warm * 1000:.2f}"
    )


if __name__ == "__main__":
    main()
