"""Records kind vs a reference synthesizer on the census_wage demo table.

The same seed rows go through both sides:

- ours: `synth_pipeline.tables.synthesizer.synthesize` (MST) with the spec's columns and
  epsilon, then the project's privacy curation drops exact copies of seed rows, rows too
  close to a seed row, rows reproducing a unique quasi-identifier combination and rows
  with a leaked identifier; timed together;
- reference: SDV's GaussianCopulaSynthesizer (defaults) fitted on the seeds without the
  identifier, as many rows sampled as there are seeds; fit and sample timed.

Both synthetic tables are scored with the same reference metrics (SDMetrics' QualityReport
and its two properties, DCRBaselineProtection, DCROverfittingProtection with the holdout as
validation set, exact copies of seed rows) and with the project's own figures
(`quality_score`, `dcr_share`, `membership_inference`).

SDV and its libraries are under the Business Source License, so the reference side runs in
a benchmark-only venv (`bench/.venv-records-reference`, git-ignored), created on first run
from `bench/records_reference_requirements.txt` (about 1.4 GB; torch's CPU build first),
through `bench/records_reference_score.py`. With an epsilon, MST's noise is not seedable,
so our side is fitted `--repeat` times and the ratios use the mean over the fits.

    .venv/bin/python bench/records.py [--repeat 3] [--epsilon E] [--bins wage=30] [--seed 0]

The last line is `quality_vs_reference=<ours/ref SDMetrics quality> dcr_vs_reference=<ours/ref
DCRBaselineProtection> exact_copies=<published rows of ours equal to a seed row, most over
the fits>`.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl
import yaml
from rich.console import Console
from rich.table import Table

from synth_pipeline.tables.columns import POLARS_DTYPES, TableColumn, modelled_columns

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
REFERENCE_VENV = BENCH / ".venv-records-reference"
REQUIREMENTS = BENCH / "records_reference_requirements.txt"
SCORER = BENCH / "records_reference_score.py"
TORCH = "torch==2.13.0"  # installed before the requirements so pip keeps the CPU build

# FALLBACK, used only while the table folder has no spec.yaml (or its `records` section has
# no columns): the census_wage columns as its spec declares them.
FALLBACK_EPSILON = 1.0
FALLBACK_COLUMNS: list[dict] = [
    {"name": "person_id", "type": "integer", "role": "identifier",
     "description": "The survey's row number."},
    {"name": "year", "type": "integer", "role": "plain", "lower": 2003, "upper": 2009,
     "description": "Survey year the wage was recorded in."},
    {"name": "age", "type": "integer", "role": "quasi_identifier", "lower": 18, "upper": 80,
     "description": "Age in years."},
    {"name": "marital_status", "type": "categorical", "role": "quasi_identifier",
     "values": ["Never Married", "Married", "Widowed", "Divorced", "Separated"],
     "description": "Marital status."},
    {"name": "race", "type": "categorical", "role": "quasi_identifier",
     "values": ["White", "Black", "Asian", "Other"], "description": "Race."},
    {"name": "education", "type": "categorical", "role": "quasi_identifier",
     "values": ["< HS Grad", "HS Grad", "Some College", "College Grad", "Advanced Degree"],
     "description": "Highest education level."},
    {"name": "jobclass", "type": "categorical", "role": "plain",
     "values": ["Industrial", "Information"], "description": "Type of job."},
    {"name": "health", "type": "categorical", "role": "sensitive",
     "values": ["<=Good", ">=Very Good"], "description": "Self-reported health."},
    {"name": "has_health_ins", "type": "boolean", "role": "sensitive",
     "description": "Whether the worker has health insurance."},
    {"name": "wage", "type": "number", "role": "sensitive", "lower": 0, "upper": 350,
     "description": "Yearly wage, thousands of dollars."},
]  # fmt: skip

SDTYPES = {"categorical": "categorical", "boolean": "boolean", "integer": "integer",
           "number": "number", "date": "datetime"}  # fmt: skip


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def load_spec(table: Path) -> tuple[list[TableColumn], float | None, str]:
    """The table's columns and epsilon from its spec.yaml `records` section, else the fallback."""
    spec_path = table / "spec.yaml"
    records = {}
    if spec_path.exists():
        records = (yaml.safe_load(spec_path.read_text()) or {}).get("records") or {}
    if records.get("columns"):
        columns = [TableColumn.model_validate(c) for c in records["columns"]]
        epsilon = records.get("epsilon", FALLBACK_EPSILON)
        return (
            columns,
            None if epsilon is None else float(epsilon),
            str(spec_path.relative_to(ROOT)),
        )
    return [TableColumn.model_validate(c) for c in FALLBACK_COLUMNS], FALLBACK_EPSILON, "fallback"


def read_table(path: Path, columns: list[TableColumn]) -> pl.DataFrame:
    frame = pl.read_csv(path, infer_schema_length=0)
    return frame.select(
        pl.col(c.name).str.to_lowercase().is_in(["true", "1"]).alias(c.name)
        if c.type == "boolean"
        else pl.col(c.name).cast(POLARS_DTYPES[c.type])
        for c in columns
    )


def ensure_reference_venv(venv: Path) -> Path:
    """The reference venv's python, installing it when missing or when the pins changed."""
    python = venv / "bin" / "python"
    stamp = venv / "requirements.sha256"
    digest = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()
    if python.exists() and stamp.exists() and stamp.read_text().strip() == digest:
        return python
    say(f"installing the reference venv in {venv} (a few minutes; ~1.4 GB)")
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, TORCH], check=True)
    subprocess.run([*pip, "-r", str(REQUIREMENTS)], check=True)
    stamp.write_text(digest + "\n")
    return python


def run_reference(python: Path, *args: str) -> dict:
    out = subprocess.run(
        [str(python), str(SCORER), *args], check=True, capture_output=True, text=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def curate(
    frame: pl.DataFrame,
    seeds: pl.DataFrame,
    holdout: pl.DataFrame,
    columns: list[TableColumn],
    quantile: float,
) -> tuple[pl.DataFrame, dict[str, int]]:
    """The project's privacy filters; a row counts under the first filter that flags it."""
    from synth_pipeline.tables import privacy

    quasi = [c for c in columns if c.role == "quasi_identifier"]
    idents = [c for c in columns if c.role == "identifier"]
    flags = {
        "exact_copy": privacy.exact_copies(frame, seeds, columns),
        "too_close": privacy.too_close(frame, seeds, holdout, columns, quantile=quantile)[0],
        "unique_combination": (
            privacy.reproduced_unique_combinations(frame, seeds, quasi)
            if quasi
            else np.zeros(frame.height, dtype=bool)
        ),
        "leaked_identifier": privacy.leaked_identifiers(frame, seeds, idents),
    }
    dropped = np.zeros(frame.height, dtype=bool)
    counts = {}
    for reason, flag in flags.items():
        counts[reason] = int((flag & ~dropped).sum())
        dropped |= flag
    return frame.filter(pl.Series(~dropped)), counts


def own_figures(
    synthetic: pl.DataFrame,
    seeds: pl.DataFrame,
    holdout: pl.DataFrame,
    columns: list[TableColumn],
    seed: int,
) -> dict[str, float]:
    from synth_pipeline.tables import fidelity, privacy

    shapes = fidelity.column_shapes(seeds, synthetic, columns)
    trends = fidelity.pair_trends(seeds, synthetic, columns)
    dcr = privacy.dcr_share(synthetic, seeds, holdout, columns, seed=seed)
    mia = privacy.membership_inference(seeds, holdout, synthetic, columns, seed=seed)
    return {
        "own_quality": fidelity.quality_score(shapes, trends),
        "own_dcr_share": dcr.value,
        "own_membership_auc": mia.value,
    }


def apply_bins(columns: list[TableColumn], overrides: list[str]) -> list[TableColumn]:
    bins = {}
    for item in overrides:
        name, _, value = item.partition("=")
        bins[name] = int(value)
    unknown = set(bins) - {c.name for c in columns}
    if unknown:
        raise SystemExit(f"--bins names unknown columns: {sorted(unknown)}")
    return [c.model_copy(update={"bins": bins[c.name]}) if c.name in bins else c for c in columns]


def mean(values: list[float]) -> float:
    return statistics.fmean(values)


def spread(values: list[float]) -> str:
    if len(values) == 1:
        return f"{values[0]:.3f}"
    return f"{mean(values):.3f} ({min(values):.3f}-{max(values):.3f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--table", type=Path, default=ROOT / "data" / "census_wage")
    parser.add_argument("--repeat", type=int, default=3, help="fits of our side")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--epsilon",
        type=str,
        default=None,
        help="override the spec's epsilon ('none': no guarantee)",
    )
    parser.add_argument("--bins", action="append", default=[], metavar="COLUMN=N")
    parser.add_argument("--too-close-quantile", type=float, default=0.05)
    parser.add_argument("--reference-venv", type=Path, default=REFERENCE_VENV)
    parser.add_argument("--keep", type=Path, default=None, help="keep the CSVs in this folder")
    args = parser.parse_args()

    columns, epsilon, source = load_spec(args.table)
    if args.epsilon is not None:
        epsilon = None if args.epsilon.lower() == "none" else float(args.epsilon)
    columns = apply_bins(columns, args.bins)
    compared = modelled_columns(columns)
    seeds = read_table(args.table / "seeds.csv", columns)
    holdout = read_table(args.table / "holdout.csv", columns)
    say(f"{args.table.name}: {seeds.height} seeds, {holdout.height} holdout; columns from {source}")
    python = ensure_reference_venv(args.reference_venv)

    from synth_pipeline.tables.synthesizer import synthesize

    with tempfile.TemporaryDirectory() as tmp:
        work = args.keep or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        names = [c.name for c in compared]
        seeds.select(names).write_csv(work / "seeds.csv")
        holdout.select(names).write_csv(work / "holdout.csv")
        (work / "metadata.json").write_text(json.dumps({c.name: SDTYPES[c.type] for c in compared}))

        say("reference: GaussianCopulaSynthesizer fit + sample")
        started = time.perf_counter()
        ref_time = run_reference(python, "synthesize", str(work))
        ref_time["wall_seconds"] = time.perf_counter() - started
        reference = read_table(work / "reference.csv", compared)

        ours: list[dict] = []
        for i in range(args.repeat):
            say(f"ours {i + 1}/{args.repeat}: MST (epsilon={epsilon}) + privacy curation")
            started = time.perf_counter()
            result = synthesize(seeds, columns, seeds.height, epsilon=epsilon, seed=args.seed + i)
            published, drops = curate(
                result.frame, seeds, holdout, columns, args.too_close_quantile
            )
            ours.append(
                {
                    "seconds": time.perf_counter() - started,
                    "fit_seconds": result.fit_seconds,
                    "sample_seconds": result.sample_seconds,
                    "drops": drops,
                    "frame": published,
                }
            )
            published.select(names).write_csv(work / f"ours_{i}.csv")

        say("scoring both sides with SDMetrics (reference venv)")
        scores = run_reference(
            python, "score", str(work), "reference", *[f"ours_{i}" for i in range(args.repeat)]
        )
        say("scoring both sides with synth_pipeline.tables")
        scores["reference"].update(own_figures(reference, seeds, holdout, columns, args.seed))
        for i, run in enumerate(ours):
            scores[f"ours_{i}"].update(
                own_figures(run["frame"], seeds, holdout, columns, args.seed)
            )

    ref = scores["reference"]
    runs = [scores[f"ours_{i}"] for i in range(args.repeat)]

    def ours_of(key: str) -> list[float]:
        return [float(r[key]) for r in runs]

    table = Table(
        title=f"{args.table.name}: {seeds.height} seeds, {holdout.height} holdout "
        f"(ours: MST epsilon={epsilon}, {args.repeat} fit(s): mean (min-max))"
    )
    table.add_column("figure")
    table.add_column("ours", justify="right")
    table.add_column("reference (SDV GaussianCopula)", justify="right")
    rows = [
        ("published rows", "rows", "{:.0f}"),
        ("SDMetrics quality", "quality", "{:.3f}"),
        ("  column shapes", "column_shapes", "{:.3f}"),
        ("  column pair trends", "column_pair_trends", "{:.3f}"),
        ("DCRBaselineProtection", "dcr_baseline_protection", "{:.3f}"),
        ("  median DCR synthetic -> seeds", "median_dcr_synthetic", "{:.4f}"),
        ("  median DCR random -> seeds", "median_dcr_random", "{:.4f}"),
        ("DCROverfittingProtection", "dcr_overfitting_protection", "{:.3f}"),
        ("  share closer to seeds than holdout", "closer_to_training", "{:.3f}"),
        ("exact copies of seed rows", "exact_copies", "{:.0f}"),
        ("own quality_score", "own_quality", "{:.3f}"),
        ("own dcr_share (0.5 ideal)", "own_dcr_share", "{:.3f}"),
        ("own membership AUC (0.5 ideal)", "own_membership_auc", "{:.3f}"),
    ]
    for label, key, fmt in rows:
        values = ours_of(key)
        shown = (
            fmt.format(values[0])
            if len(values) == 1
            else (
                f"{fmt.format(mean(values))} ({fmt.format(min(values))}-{fmt.format(max(values))})"
            )
        )
        table.add_row(label, shown, fmt.format(float(ref[key])))
    our_seconds = [r["seconds"] for r in ours]
    table.add_row(
        "seconds (fit + sample [+ curation])",
        spread(our_seconds),
        f"{ref_time['fit_seconds'] + ref_time['sample_seconds']:.3f}",
    )
    table.add_row(
        "  of which fit / sample",
        f"{mean([r['fit_seconds'] for r in ours]):.1f} / "
        f"{mean([r['sample_seconds'] for r in ours]):.2f}",
        f"{ref_time['fit_seconds']:.2f} / {ref_time['sample_seconds']:.2f}",
    )
    table.add_row("  reference wall incl. import", "", f"{ref_time['wall_seconds']:.1f}")
    console = Console(width=110)
    console.print(table)
    for i, run in enumerate(ours):
        drops = ", ".join(f"{k} {v}" for k, v in run["drops"].items())
        console.print(f"ours fit {i + 1}: dropped {drops}")

    quality_ratio = mean(ours_of("quality")) / float(ref["quality"])
    dcr_ratio = mean(ours_of("dcr_baseline_protection")) / float(ref["dcr_baseline_protection"])
    per_fit = " ".join(
        f"{q / float(ref['quality']):.3f}/{d / float(ref['dcr_baseline_protection']):.3f}"
        for q, d in zip(ours_of("quality"), ours_of("dcr_baseline_protection"), strict=True)
    )
    console.print(f"per fit quality/dcr ratios: {per_fit}")
    print(
        f"quality_vs_reference={quality_ratio:.3f} dcr_vs_reference={dcr_ratio:.3f} "
        f"exact_copies={max(int(v) for v in ours_of('exact_copies'))}"
    )


if __name__ == "__main__":
    main()
