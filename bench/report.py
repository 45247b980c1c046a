"""Benchmark: build the validation report for 10,000 synthetic + 2,000 holdout records.

Run by hand: `.venv/bin/python bench/report.py [--synthetic N] [--holdout N] [--no-candidates]`.
Data is generated (label-specific vocabularies, no model, no files); by default a 12,000-row
candidate frame is passed too, so the before/after-curation figures are part of the run,
as in a real materialization. The last line is `report_seconds=<s>` (build_report wall time).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import polars as pl

from synth_pipeline.report.build import build_report
from synth_pipeline.report.sample_data import TextDistribution, labelled_frame
from synth_pipeline.spec import DatasetSpec

LABELS = [
    "refund_request",
    "order_status",
    "cancel_order",
    "change_shipping_address",
    "damaged_item",
    "billing_issue",
    "account_access",
    "product_question",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--synthetic", type=int, default=10_000)
    parser.add_argument("--holdout", type=int, default=2_000)
    parser.add_argument("--seeds", type=int, default=500)
    parser.add_argument("--no-candidates", action="store_true")
    parser.add_argument("--out", type=Path, default=None, help="keep the report here")
    args = parser.parse_args()

    spec = DatasetSpec.model_validate(
        {
            "name": "bench_support",
            "kind": "classification",
            "task": "classify support messages",
            "fields": [
                {"name": "text", "description": "the message"},
                {"name": "label", "description": "the intent"},
            ],
            "text_field": "text",
            "label_field": "label",
            "labels": LABELS,
            "generation": {"records_per_label": args.synthetic // len(LABELS)},
            "quality": {"min_yield": 1},
        }
    )
    t0 = time.perf_counter()
    dist = TextDistribution(
        tuple(LABELS), filler_size=3000, topic_size=150, min_tokens=8, max_tokens=45
    )
    seeds = labelled_frame(dist, args.seeds, seed=1, prefix="seed")
    holdout = labelled_frame(dist, args.holdout, seed=2, prefix="hold")
    synthetic = labelled_frame(dist, args.synthetic, seed=3)
    candidates = None
    if not args.no_candidates:
        off = labelled_frame(
            TextDistribution(tuple(LABELS), vocab_tag="q"),
            args.synthetic // 5,
            seed=4,
            prefix="off",
        )
        candidates = pl.concat([synthetic, off]).with_columns(pl.lit("ok").alias("status"))
    print(
        f"data_seconds={time.perf_counter() - t0:.1f} synthetic={synthetic.height} "
        f"holdout={holdout.height} seeds={seeds.height} "
        f"candidates={0 if candidates is None else candidates.height}"
    )

    with tempfile.TemporaryDirectory() as tmp:
        out = args.out or Path(tmp)
        t0, c0 = time.perf_counter(), time.process_time()
        result = build_report(
            spec,
            synthetic=synthetic,
            seeds=seeds,
            holdout=holdout,
            candidates=candidates,
            out_dir=out,
            version="bench",
        )
        seconds = time.perf_counter() - t0
        cpu_seconds = time.process_time() - c0
        size_kb = result.html_path.stat().st_size / 1024
    print(
        f"headline_score={result.headline_score:.1f} "
        f"detectability_auc={result.metrics.get('fidelity.detectability_auc', float('nan')):.3f} "
        f"tstr_macro_f1={result.metrics.get('utility.tstr_macro_f1', float('nan')):.3f} "
        f"html_kb={size_kb:.0f}"
    )
    # CPU time of this process: less sensitive than wall time to other load on the machine.
    print(f"report_cpu_seconds={cpu_seconds:.1f}")
    print(f"report_seconds={seconds:.1f}")


if __name__ == "__main__":
    main()
