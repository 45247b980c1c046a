"""How well the default curation chain separates junk from good rows, judged by a reviewer.

Reads the junk benchmark (`bench/quality/raw/*.jsonl`, the rows as generated, and
`bench/quality/labels/*.jsonl`, one verdict per row written by a person who read it) and
runs each dataset's curation chain over its rows, exactly as `synth curate` does (the
dataset's spec, seeds and holdout). Rows are curated per raw file, as one generation run's
candidates would be.

    .venv/bin/python bench/junk_filter.py [--dataset NAME] [--prompts TAG] [--show N]

Prints recall of junk and the share of good rows kept per category, dataset and prompt
version, and last `junk_recall=<x> good_kept=<y>` over every labelled row. `--show N`
prints N missed junk rows and N dropped good rows per dataset, to read.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import polars as pl

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from synth_pipeline.curation.external import curate_records  # noqa: E402
from synth_pipeline.spec import DatasetSpec, load_spec  # noqa: E402
from synth_pipeline.stats import wilson_interval  # noqa: E402

BENCH = REPO / "bench" / "quality"
FOLDERS = [REPO / "data", BENCH / "datasets"]


def dataset_spec(name: str) -> DatasetSpec:
    for root in FOLDERS:
        if (root / name / "spec.yaml").is_file():
            return load_spec(root / name)
    raise SystemExit(f"no dataset folder for {name!r} under {[str(f) for f in FOLDERS]}")


def without_filters(spec: DatasetSpec, names: list[str]) -> DatasetSpec:
    if not names:
        return spec
    filters = [f for f in spec.curation.filters if f not in names]
    return spec.model_copy(
        update={"curation": spec.curation.model_copy(update={"filters": filters})}
    )


def load_labelled(raw_path: Path) -> list[dict[str, Any]]:
    """Raw ok rows joined with their verdicts; a raw ok row without a verdict is an error."""
    label_path = BENCH / "labels" / raw_path.name.replace("-v", "-prompts-v", 1)
    if not label_path.is_file():
        return []
    verdicts = {}
    for n, line in enumerate(label_path.read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            v = json.loads(line)
            if v["verdict"] not in ("ok", "junk"):
                raise SystemExit(f"{label_path}:{n}: verdict must be ok or junk")
            verdicts[v["id"]] = v
    rows = []
    for line in raw_path.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        if row["status"] != "ok":
            continue
        if row["id"] not in verdicts:
            raise SystemExit(f"{label_path}: no verdict for {row['id']}")
        rows.append({**row, **verdicts[row["id"]]})
    return rows


def frame_of(spec: DatasetSpec, rows: list[dict[str, Any]]) -> pl.DataFrame:
    return pl.DataFrame(
        [
            {
                "record_id": r["id"],
                "text": str(r["record"].get(spec.text_field)),
                "label": r["record"].get(spec.label_field) if spec.label_field else None,
                "record": json.dumps(r["record"], ensure_ascii=False, sort_keys=True),
                "source_line": i + 1,
            }
            for i, r in enumerate(rows)
        ],
        schema={
            "record_id": pl.String,
            "text": pl.String,
            "label": pl.String,
            "record": pl.String,
            "source_line": pl.Int64,
        },
    )


def ratio(a: int, b: int) -> str:
    return f"{a / b:.3f} ({a}/{b})" if b else "n/a"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset")
    ap.add_argument("--prompts")
    ap.add_argument("--show", type=int, default=0)
    ap.add_argument(
        "--without",
        action="append",
        default=[],
        help="run the chain without this filter (repeatable): the figures for versions where it "
        "did not run, e.g. realism on a set too small to cross-fit",
    )
    args = ap.parse_args()

    totals: Counter = Counter()
    per_category: dict[str, Counter] = defaultdict(Counter)
    for raw_path in sorted((BENCH / "raw").glob("*.jsonl")):
        rows = load_labelled(raw_path)
        if not rows:
            continue
        dataset, prompts = rows[0]["dataset"], rows[0]["prompts"]
        if (args.dataset and dataset != args.dataset) or (args.prompts and prompts != args.prompts):
            continue
        spec = without_filters(dataset_spec(dataset), args.without)
        curation = curate_records(spec, frame_of(spec, rows))
        kept = curation.kept_ids
        reasons = dict(
            zip(curation.result.audit["record_id"], curation.result.audit["reason"], strict=True)
        )
        part: Counter = Counter()
        missed, lost = [], []
        for r in rows:
            dropped = r["id"] not in kept
            if r["verdict"] == "junk":
                cat = r["category"] or "unspecified"
                per_category[cat]["junk"] += 1
                per_category[cat]["caught"] += dropped
                part["junk"] += 1
                part["caught"] += dropped
                if not dropped:
                    missed.append(r)
            else:
                part["good"] += 1
                part["kept"] += not dropped
                if dropped:
                    lost.append((r, reasons.get(r["id"])))
        totals.update(part)
        print(
            f"{dataset:16s} {prompts:11s} rows={len(rows):4d} junk={part['junk']:4d} "
            f"junk_recall={ratio(part['caught'], part['junk'])} "
            f"good_kept={ratio(part['kept'], part['good'])}"
        )
        for r in missed[: args.show]:
            print(f"    MISSED {r['category']:12s} {json.dumps(r['record'])[:220]}")
        for r, why in lost[: args.show]:
            print(f"    LOST   {why!s:22s} {json.dumps(r['record'])[:220]}")
    print()
    for cat, c in sorted(per_category.items()):
        print(f"category {cat:12s} junk_recall={ratio(c['caught'], c['junk'])}")
    print()
    recall = totals["caught"] / totals["junk"] if totals["junk"] else float("nan")
    kept = totals["kept"] / totals["good"] if totals["good"] else float("nan")
    dropped = totals["caught"] + totals["good"] - totals["kept"]
    low, high = wilson_interval(totals["caught"], totals["junk"])
    print(f"rows={totals['junk'] + totals['good']} junk={totals['junk']} good={totals['good']}")
    # The figures curation.junk_estimate takes (its defaults come from this line).
    print(
        f"junk_estimate: recall={recall:.3f} recall_low={low:.3f} recall_high={high:.3f} "
        f"precision={totals['caught'] / dropped if dropped else float('nan'):.3f}"
    )
    print(f"junk_recall={recall:.3f} good_kept={kept:.3f}")


if __name__ == "__main__":
    main()
