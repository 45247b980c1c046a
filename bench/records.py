"""Records kind vs a reference synthesizer on the census_wage demo table.

The same seed rows go through both sides:

- ours: `synth_pipeline.tables.synthesizer.synthesize` (MST) draws the spec's
  `records.rows` with its columns and epsilon, then the project's privacy filters
  (`curation/privacy.py`) drop copies of real rows, rows closer to a seed row than the
  spec's `too_close_quantile` of holdout rows are, rows reproducing a quasi-identifier
  combination unique to one real person and rows carrying a real identifier; timed
  together (the version's free-text step does not apply: the table has no text column);
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

    .venv/bin/python bench/records.py [--repeat 3] [--seed 0]
        [--epsilon E|none] [--bins wage=30 ...] [--too-close-quantile Q]   # spec overrides

The last line is `quality_vs_reference=<ours/ref SDMetrics quality> dcr_vs_reference=<ours/ref
DCRBaselineProtection> exact_copies=<published rows of ours equal to a seed row, most over
the fits>`.
"""

from __future__ import annotations

import argparse
import copy
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
from rich.console import Console
from rich.table import Table

from synth_pipeline.tables.columns import POLARS_DTYPES, TableColumn, modelled_columns

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
REFERENCE_VENV = BENCH / ".venv-records-reference"
REQUIREMENTS = BENCH / "records_reference_requirements.txt"
SCORER = BENCH / "records_reference_score.py"
TORCH = "torch==2.13.0"  # installed before the requirements so pip keeps the CPU build

SDTYPES = {"categorical": "categorical", "boolean": "boolean", "integer": "integer",
           "number": "number", "date": "datetime"}  # fmt: skip


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def load_options(table: Path, epsilon: str | None, quantile: float | None, bins: list[str]):
    """The spec with the command line's overrides written into its `records` section (so
    the curation filters see them too) and that section's options."""
    from synth_pipeline.kinds.records import KIND
    from synth_pipeline.spec import load_spec

    spec = load_spec(table)
    raw = copy.deepcopy(spec.kind_options)
    wanted = {}
    for item in bins:
        name, _, value = item.partition("=")
        wanted[name] = int(value)
    unknown = set(wanted) - {c["name"] for c in raw["columns"]}
    if unknown:
        raise SystemExit(f"--bins names unknown columns: {sorted(unknown)}")
    for column in raw["columns"]:
        if column["name"] in wanted:
            column["bins"] = wanted[column["name"]]
    if epsilon is not None:
        raw["epsilon"] = None if epsilon.lower() == "none" else float(epsilon)
    if quantile is not None:
        raw["too_close_quantile"] = quantile
    spec = spec.model_copy(update={"kind_options": raw})
    return spec, KIND.table_options(spec)


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


def as_records(frame: pl.DataFrame) -> pl.DataFrame:
    """A typed table as the warehouse holds it: one JSON `record` per row."""
    rows = frame.with_columns(pl.col(pl.Date).dt.to_string("%Y-%m-%d")).iter_rows(named=True)
    return pl.DataFrame({"record": [json.dumps(row) for row in rows]}, schema={"record": pl.String})


def curate(
    spec, frame: pl.DataFrame, seeds: pl.DataFrame, holdout: pl.DataFrame
) -> tuple[pl.DataFrame, dict[str, int]]:
    """The project's privacy filters (`curation/privacy.py`, as the quality suite reruns
    them); per filter the rows it flags (a row may be flagged by more than one)."""
    from synth_pipeline.curation.privacy import privacy_flags

    flags = privacy_flags(spec, as_records(frame), as_records(seeds), as_records(holdout))
    dropped = np.zeros(frame.height, dtype=bool)
    counts = {}
    for reason, flag in flags.items():
        hit = np.asarray(flag, dtype=bool)
        counts[reason] = int(hit.sum())
        dropped |= hit
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
    parser.add_argument(
        "--too-close-quantile", type=float, default=None, help="override the spec's quantile"
    )
    parser.add_argument("--reference-venv", type=Path, default=REFERENCE_VENV)
    parser.add_argument("--keep", type=Path, default=None, help="keep the CSVs in this folder")
    args = parser.parse_args()

    spec, opts = load_options(args.table, args.epsilon, args.too_close_quantile, args.bins)
    columns, epsilon = opts.columns, opts.epsilon
    compared = modelled_columns(columns)
    seeds = read_table(spec.path(spec.seeds_file), columns)
    holdout = read_table(spec.path(spec.holdout_file), columns)
    bins = ", ".join(f"{c.name}={c.bins}" for c in columns if c.bins is not None) or "defaults"
    setting = (
        f"epsilon={epsilon}, bins {bins}, too_close_quantile={opts.too_close_quantile}, "
        f"{opts.rows} rows drawn"
    )
    say(f"{spec.name}: {seeds.height} seeds, {holdout.height} holdout; {setting}")
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
            result = synthesize(seeds, columns, opts.rows, epsilon=epsilon, seed=args.seed + i)
            published, drops = curate(spec, result.frame, seeds, holdout)
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
        title=f"{spec.name}: {seeds.height} seeds, {holdout.height} holdout; ours: MST {setting}; "
        f"{args.repeat} fit(s): mean (min-max)"
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
    console = Console(width=120)
    console.print(table)
    for i, run in enumerate(ours):
        drops = ", ".join(f"{k} {v}" for k, v in run["drops"].items())
        kept = run["frame"].height
        console.print(f"ours fit {i + 1}: kept {kept} of {opts.rows}; flagged {drops}")

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
