"""The reference side of bench/records.py; runs only in the benchmark's reference venv.

Two commands, both reading a work folder that bench/records.py writes (`seeds.csv`,
`holdout.csv`, `metadata.json`: column name -> SDV sdtype, identifiers already removed):

- `synthesize DIR`: fits SDV's GaussianCopulaSynthesizer on the seeds, samples as many
  rows as seeds into `DIR/reference.csv`, prints the fit and sample seconds as JSON;
- `score DIR NAME...`: scores each `DIR/NAME.csv` against the seeds with SDMetrics'
  QualityReport (score and its two properties), DCRBaselineProtection,
  DCROverfittingProtection (holdout as the validation set) and a count of synthetic rows
  equal to a seed row; prints one JSON object per name.

    bench/.venv-records-reference/bin/python bench/records_reference_score.py synthesize DIR
    bench/.venv-records-reference/bin/python bench/records_reference_score.py score DIR NAME...
"""

from __future__ import annotations

import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

TABLE = "table"


def read_metadata(folder: Path) -> dict[str, str]:
    return json.loads((folder / "metadata.json").read_text())


def sdmetrics_metadata(sdtypes: dict[str, str]) -> dict:
    columns = {}
    for name, sdtype in sdtypes.items():
        if sdtype == "integer":
            columns[name] = {"sdtype": "numerical", "computer_representation": "Int64"}
        elif sdtype == "number":
            columns[name] = {"sdtype": "numerical", "computer_representation": "Float"}
        else:
            columns[name] = {"sdtype": sdtype}
    return {"columns": columns}


def read_table(path: Path, sdtypes: dict[str, str]) -> pd.DataFrame:
    df = pd.read_csv(path, dtype=str, keep_default_na=False)[list(sdtypes)]
    for name, sdtype in sdtypes.items():
        if sdtype == "boolean":
            df[name] = df[name].str.lower().isin(["true", "1", "1.0"])
        elif sdtype == "integer":
            df[name] = pd.to_numeric(df[name]).round().astype("Int64")
        elif sdtype == "number":
            df[name] = pd.to_numeric(df[name]).astype(float)
        elif sdtype == "datetime":
            df[name] = pd.to_datetime(df[name])
    return df


def row_keys(df: pd.DataFrame) -> list[tuple]:
    """Rows as comparable tuples (floats to 6 decimals, so CSV round trips compare equal)."""
    parts = []
    for name in df.columns:
        col = df[name]
        if pd.api.types.is_float_dtype(col):
            parts.append(col.round(6).map(repr))
        else:
            parts.append(col.astype(str))
    return list(zip(*parts, strict=True))


def synthesize(folder: Path) -> dict:
    from sdv.metadata import Metadata
    from sdv.single_table import GaussianCopulaSynthesizer

    sdtypes = read_metadata(folder)
    seeds = read_table(folder / "seeds.csv", sdtypes)
    metadata = Metadata.load_from_dict(
        {"METADATA_SPEC_VERSION": "V1", "tables": {TABLE: sdmetrics_metadata(sdtypes)}}
    )
    np.random.seed(0)
    synthesizer = GaussianCopulaSynthesizer(metadata)
    started = time.perf_counter()
    synthesizer.fit({TABLE: seeds})
    fit_seconds = time.perf_counter() - started
    started = time.perf_counter()
    out = synthesizer.sample(num_rows=len(seeds))
    sample_seconds = time.perf_counter() - started
    out = out[TABLE] if isinstance(out, dict) else out
    out.to_csv(folder / "reference.csv", index=False)
    return {"fit_seconds": fit_seconds, "sample_seconds": sample_seconds, "rows": len(out)}


def score(folder: Path, names: list[str]) -> dict:
    from sdmetrics.reports.single_table import QualityReport
    from sdmetrics.single_table import DCRBaselineProtection, DCROverfittingProtection

    sdtypes = read_metadata(folder)
    metadata = sdmetrics_metadata(sdtypes)
    multi = {"METADATA_SPEC_VERSION": "V1", "tables": {TABLE: metadata}}
    seeds = read_table(folder / "seeds.csv", sdtypes)
    holdout = read_table(folder / "holdout.csv", sdtypes)
    seed_keys = set(row_keys(seeds))
    # The random baseline of DCRBaselineProtection draws from this seed (None: unseeded).
    DCRBaselineProtection._seed = 0
    results = {}
    for name in names:
        syn = read_table(folder / f"{name}.csv", sdtypes)
        started = time.perf_counter()
        report = QualityReport()
        report.generate(seeds, syn, metadata, verbose=False)
        properties = report.get_properties().set_index("Property")["Score"].to_dict()
        baseline = DCRBaselineProtection.compute_breakdown(
            real_data=seeds, synthetic_data=syn, metadata=multi, table_name=TABLE
        )
        overfitting = DCROverfittingProtection.compute_breakdown(
            real_training_data=seeds,
            synthetic_data=syn,
            real_validation_data=holdout,
            metadata=multi,
            table_name=TABLE,
        )
        results[name] = {
            "rows": len(syn),
            "quality": float(report.get_score()),
            "column_shapes": float(properties["Column Shapes"]),
            "column_pair_trends": float(properties["Column Pair Trends"]),
            "dcr_baseline_protection": float(baseline["score"]),
            "median_dcr_synthetic": float(baseline["median_DCR_to_real_data"]["synthetic_data"]),
            "median_dcr_random": float(baseline["median_DCR_to_real_data"]["random_data_baseline"]),
            "dcr_overfitting_protection": float(overfitting["score"]),
            "closer_to_training": float(
                overfitting["synthetic_data_percentages"]["closer_to_training"]
            ),
            "exact_copies": int(sum(key in seed_keys for key in row_keys(syn))),
            "score_seconds": time.perf_counter() - started,
        }
    return results


def main(argv: list[str]) -> None:
    warnings.filterwarnings("ignore")
    if len(argv) >= 2 and argv[0] == "synthesize":
        print(json.dumps(synthesize(Path(argv[1]))))
    elif len(argv) >= 3 and argv[0] == "score":
        print(json.dumps(score(Path(argv[1]), argv[2:])))
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
