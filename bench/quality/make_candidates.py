"""Generate raw candidate rows for the junk benchmark with the embedded model.

The rows are what the generation stage writes before curation: one record per answered
request of the dataset's plan, with the prompt that made it. A reviewer then reads every
row and adds a verdict (see README.md in this folder); nothing here judges a row.

    .venv/bin/python bench/quality/make_candidates.py DATASET_FOLDER --records 200 \
        --tag prompts-v2 --out bench/quality/raw/support_intents-v2.jsonl

`--records` is the total the plan aims at (split over labels as the spec's strategies
split it). The warehouse is a temporary file, so nothing is cached between runs.
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

import polars as pl
import yaml

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from synth_pipeline import stages  # noqa: E402
from synth_pipeline.generation.planner import plan_generation  # noqa: E402
from synth_pipeline.spec import load_spec  # noqa: E402
from synth_pipeline.warehouse import Warehouse  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folder", type=Path, help="a dataset folder (spec.yaml, seeds, holdout)")
    ap.add_argument("--records", type=int, default=200)
    ap.add_argument("--tag", required=True, help="names the prompt version the rows came from")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--sample-offset", type=int, default=0, help="shifts sampling seeds")
    ap.add_argument("--temperature", type=float, help="overrides the spec's temperature")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / args.folder.name
        shutil.copytree(args.folder, folder)
        raw = yaml.safe_load((folder / "spec.yaml").read_text())
        if raw["kind"] == "classification":
            raw["generation"]["records_per_label"] = math.ceil(args.records / len(raw["labels"]))
        else:
            raw["generation"]["total_records"] = args.records
        raw["generation"]["max_failure_rate"] = 1.0
        if args.temperature is not None:
            raw.setdefault("provider", {})["temperature"] = args.temperature
        if args.sample_offset:
            raw.setdefault("provider", {})["seed"] = args.sample_offset
        (folder / "spec.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
        spec = load_spec(folder)
        wh = Warehouse(Path(tmp) / "bench.duckdb")
        version = "bench"
        stages.load_seeds(spec, wh, version)
        start = time.perf_counter()
        stages.generate_candidates(spec, wh, version)
        seconds = time.perf_counter() - start
        cands = wh.stage("candidates", spec.name, version)
        # The prompt of each row, so a reader can see what the model was asked.
        plan = plan_generation(spec, wh.stage("seeds", spec.name, version))
        messages = {(r.strategy, r.label, r.sample_index): r.message_list for r in plan.requests}

    args.out.parent.mkdir(parents=True, exist_ok=True)
    ok = cands.filter(pl.col("status") == "ok")
    with args.out.open("w", encoding="utf-8") as fh:
        for row in cands.iter_rows(named=True):
            record = json.loads(row["record"]) if row["record"] else None
            fh.write(
                json.dumps(
                    {
                        "id": f"{spec.name}:{args.tag}:{row['record_id']}",
                        "dataset": spec.name,
                        "prompts": args.tag,
                        "strategy": row["strategy"],
                        "status": row["status"],
                        "error": row["error"],
                        "record": record,
                        "raw_response": row["raw_response"],
                        "messages": messages.get(
                            (row["strategy"], row["requested_label"], row["sample_index"])
                        ),
                    },
                    ensure_ascii=False,
                )
                + "\n"
            )
    meta = {
        "dataset": spec.name,
        "prompts": args.tag,
        "rows": cands.height,
        "ok": ok.height,
        "generation_seconds": round(seconds, 1),
        "records_requested": args.records,
    }
    args.out.with_suffix(".meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    print(f"{spec.name}: {cands.height} rows ({ok.height} ok) in {seconds:.0f} s -> {args.out}")


if __name__ == "__main__":
    main()
