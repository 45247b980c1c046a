"""The tables engine alone: MST fit and sample times, peak memory, fidelity and privacy figures.

Columns come from a records spec (default: data/census_wage/spec.yaml); the real table is
split into train (fitted on) and holdout (never seen). Each repeat fits MST afresh on train
and draws as many rows as train has. With an epsilon the fit's noise is not seedable, so
repeats differ; without one (`--epsilon none`) a seed gives the same table.

    .venv/bin/python bench/tables_synthesizer.py [--epsilon 1|none] [--repeat 3] \
        [--train CSV --holdout CSV] [--keep DIR]

Peak memory is the process's maximum resident set size, so run one epsilon per process.
`--keep DIR` writes each synthetic table as CSV (to score it with another tool).
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import time
from pathlib import Path

import polars as pl
import yaml

from synth_pipeline.tables import fidelity, privacy
from synth_pipeline.tables.columns import POLARS_DTYPES, TableColumn
from synth_pipeline.tables.synthesizer import synthesize

ROOT = Path(__file__).resolve().parents[1]
TABLE = ROOT / "data" / "census_wage"


def load(path: Path, columns: list[TableColumn]) -> pl.DataFrame:
    frame = pl.read_csv(path, infer_schema=False)
    out = []
    for c in columns:
        col = pl.col(c.name)
        if c.type == "boolean":
            out.append(col.str.to_lowercase().replace_strict({"true": True, "false": False}))
        elif c.type == "date":
            out.append(col.str.to_date())
        else:
            out.append(col.cast(POLARS_DTYPES[c.type]))
    return frame.select(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", type=Path, default=TABLE / "spec.yaml")
    parser.add_argument("--train", type=Path, default=TABLE / "seeds.csv")
    parser.add_argument("--holdout", type=Path, default=TABLE / "holdout.csv")
    parser.add_argument("--epsilon", default="1", help="a number, or none")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", type=Path, default=None)
    args = parser.parse_args()

    spec = yaml.safe_load(args.spec.read_text())
    columns = [TableColumn(**c) for c in spec["records"]["columns"]]
    train, holdout = load(args.train, columns), load(args.holdout, columns)
    epsilon = None if args.epsilon.lower() == "none" else float(args.epsilon)
    quasi = [c.name for c in columns if c.role == "quasi_identifier"]
    idents = [c.name for c in columns if c.role == "identifier"]
    print(f"train {train.height:,} rows, holdout {holdout.height:,}, epsilon {epsilon}")

    runs = []
    for i in range(args.repeat):
        seed = args.seed + i
        result = synthesize(train, columns, train.height, epsilon=epsilon, seed=seed)
        syn = result.frame
        t = time.perf_counter()
        shapes = fidelity.column_shapes(train, syn, columns)
        trends = fidelity.pair_trends(train, syn, columns)
        all_pairs = fidelity.pair_trends(train, syn, columns, all_pairs=True)
        dcr = privacy.dcr_share(syn, train, holdout, columns, seed=seed)
        mia = privacy.membership_inference(train, holdout, syn, columns, seed=seed)
        run = {
            "seed": seed,
            "fit_s": round(result.fit_seconds, 2),
            "sample_s": round(result.sample_seconds, 2),
            "quality": round(fidelity.quality_score(shapes, trends), 4),
            "column_shapes": round(statistics.fmean(shapes.values()), 4),
            "pair_trends": round(statistics.fmean(trends.values()), 4) if trends else None,
            "pairs_counted": len(trends),
            "quality_all_pairs": round(fidelity.quality_score(shapes, all_pairs), 4),
            "exact_copies": int(privacy.exact_copies(syn, train, columns).sum()),
            "too_close": int(privacy.too_close(syn, train, holdout, columns)[0].sum()),
            "unique_quasi_reproduced": int(
                privacy.reproduced_unique_combinations(syn, train, quasi).sum()
            )
            if quasi
            else None,
            "leaked_identifiers": int(privacy.leaked_identifiers(syn, train, idents).sum()),
            "dcr_share": [round(dcr.value, 3), round(dcr.low, 3), round(dcr.high, 3)],
            "dcr_copy_value": round(dcr.detail["copy_value"], 3),
            "mia_auc": [round(mia.value, 3), round(mia.low, 3), round(mia.high, 3)],
            "metrics_s": round(time.perf_counter() - t, 2),
        }
        runs.append(run)
        print(json.dumps(run), flush=True)
        if args.keep:
            args.keep.mkdir(parents=True, exist_ok=True)
            syn.write_csv(args.keep / f"synthetic_eps{args.epsilon}_{seed}.csv")
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    summary = {
        "epsilon": epsilon,
        "fits": len(runs),
        "fit_s_mean": round(statistics.fmean(r["fit_s"] for r in runs), 1),
        "fit_s_range": [min(r["fit_s"] for r in runs), max(r["fit_s"] for r in runs)],
        "sample_s_mean": round(statistics.fmean(r["sample_s"] for r in runs), 2),
        "quality_mean": round(statistics.fmean(r["quality"] for r in runs), 4),
        "quality_range": [min(r["quality"] for r in runs), max(r["quality"] for r in runs)],
        "exact_copies_max": max(r["exact_copies"] for r in runs),
        "dcr_share_mean": round(statistics.fmean(r["dcr_share"][0] for r in runs), 3),
        "mia_auc_mean": round(statistics.fmean(r["mia_auc"][0] for r in runs), 3),
        "peak_rss_mb": round(peak_mb),
    }
    print("summary " + json.dumps(summary))


if __name__ == "__main__":
    main()
