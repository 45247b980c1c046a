"""Clean records per minute: what users get from the embedded model, not what it emits.

Generates `--records` records of a dataset with its spec (prompts, strategies, provider
settings) on a fresh temporary warehouse, runs the dataset's default curation chain over
them, and divides the records that pass by the minutes of generation.

    .venv/bin/python bench/clean_rate.py [--dataset support_intents] [--records 240]

The last line is `clean_records_per_minute=<x>`; above it, records generated, kept and
dropped by reason. A second figure that a reviewer confirms, rows judged ok and kept by the
chain per minute, comes from the junk benchmark's labelled rows and their generation times
(`bench/quality/raw/*.meta.json`), printed with `--reviewed`.

The script only uses `stages.load_seeds`, `stages.generate_candidates` and
`curation.run_curation`, so the same file runs against an earlier checkout of the project
to give the "before" figure.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from synth_pipeline import stages  # noqa: E402
from synth_pipeline.curation.pipeline import run_curation  # noqa: E402
from synth_pipeline.spec import load_spec  # noqa: E402
from synth_pipeline.warehouse import Warehouse  # noqa: E402


def generate_and_curate(dataset: str, records: int) -> dict[str, float]:
    root = Path(tempfile.mkdtemp(prefix="bench_clean_"))
    try:
        folder = root / dataset
        shutil.copytree(REPO / "data" / dataset, folder)
        raw = yaml.safe_load((folder / "spec.yaml").read_text())
        if raw["kind"] == "classification":
            raw["generation"]["records_per_label"] = math.ceil(records / len(raw["labels"]))
        else:
            raw["generation"]["total_records"] = records
        raw["generation"]["max_failure_rate"] = 1.0
        (folder / "spec.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
        spec = load_spec(folder)
        wh = Warehouse(root / "bench.duckdb")
        stages.load_seeds(spec, wh, "bench")
        t = time.perf_counter()
        stages.generate_candidates(spec, wh, "bench")
        seconds = time.perf_counter() - t
        cands = wh.stage("candidates", spec.name, "bench")
        result = run_curation(
            spec,
            cands,
            wh.stage("seeds", spec.name, "bench"),
            wh.stage("holdout", spec.name, "bench"),
        )
        dropped = result.audit.filter(~result.audit["kept"])
        reasons = dict(dropped.group_by("reason").len().sort("len", descending=True).iter_rows())
        return {
            "generated": cands.height,
            "kept": result.kept.height,
            "seconds": seconds,
            "dropped_by_reason": reasons,
        }
    finally:
        shutil.rmtree(root, ignore_errors=True)


def reviewed_rates() -> None:
    """Rows a reviewer judged ok and the current chain keeps, per minute of generation."""
    sys.path.insert(0, str(REPO / "bench"))
    from junk_filter import dataset_spec, frame_of, load_labelled

    from synth_pipeline.curation.external import curate_records

    for meta_path in sorted((REPO / "bench" / "quality" / "raw").glob("*.meta.json")):
        meta = json.loads(meta_path.read_text())
        rows = load_labelled(meta_path.with_name(meta_path.name.replace(".meta.json", ".jsonl")))
        if not rows:
            continue
        spec = dataset_spec(meta["dataset"])
        kept = curate_records(spec, frame_of(spec, rows)).kept_ids
        ok = [r for r in rows if r["verdict"] == "ok"]
        ok_kept = sum(r["id"] in kept for r in ok)
        minutes = meta["generation_seconds"] / 60
        print(
            f"{meta['dataset']:16s} {meta['prompts']:11s} generated {meta['rows']:4d} in "
            f"{meta['generation_seconds']:6.1f}s: reviewer-ok {len(ok):3d} "
            f"({len(ok) / minutes:5.1f}/min), ok and kept {ok_kept:3d} "
            f"({ok_kept / minutes:5.1f}/min)"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default="support_intents")
    ap.add_argument("--records", type=int, default=240)
    ap.add_argument("--reviewed", action="store_true", help="also the reviewer-confirmed rates")
    args = ap.parse_args()
    if args.reviewed:
        reviewed_rates()
    r = generate_and_curate(args.dataset, args.records)
    minutes = r["seconds"] / 60
    print(f"dropped by reason: {r['dropped_by_reason']}")
    print(
        f"{args.dataset}: generated {r['generated']} in {r['seconds']:.0f}s, kept {r['kept']} "
        f"({r['kept'] / max(1, r['generated']):.0%})"
    )
    print(f"clean_records_per_minute={r['kept'] / minutes:.2f}")


if __name__ == "__main__":
    main()
