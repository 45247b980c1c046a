"""Full non-LLM curation plus the quality suite on N synthetic candidate rows.

Builds a labelled spec, 300 seeds, 300 holdout records and N candidates (English-like
texts with Zipf word frequencies) with planted problems for every filter: failed
generations, schema-invalid records, empty texts, boilerplate, repetition loops, wrong
script, bad lengths, unknown labels, exact and near duplicates, seed and holdout copies,
long shared runs with the holdout, and PII. Then times `run_curation` (default chain; the
classifier judge is off by default) followed by `run_suite` on the kept rows (including
the Great Expectations import) and reports the peak resident memory of the process.

    .venv/bin/python bench/curation_scale.py --rows 1000000 [--judge]
"""

from __future__ import annotations

import argparse
import json
import resource
import time

import numpy as np
import polars as pl

from synth_pipeline.spec import DatasetSpec

LABELS = ["positive", "negative", "neutral"]
_STOPWORD_TEXT = (
    "the a and of to is in it this was i that for with as but on film movie not be are you "
    "all at his so have one by an they like from who just her more about out if what some "
    "there its good very even can when my has would story only really see no which much time"
)
STOPWORDS = _STOPWORD_TEXT.split()


def make_spec(rows: int) -> DatasetSpec:
    return DatasetSpec.model_validate(
        {
            "name": "scale",
            "kind": "classification",
            "task": "Movie review sentiment.",
            "fields": [
                {"name": "text", "description": "A review.", "min_length": 3, "max_length": 600},
                {"name": "label", "description": "Sentiment."},
            ],
            "text_field": "text",
            "label_field": "label",
            "labels": LABELS,
            "generation": {"records_per_label": max(1, rows // 3)},
            "quality": {"min_yield": rows // 2, "min_length": 20, "max_length": 500},
        }
    )


def texts(rng: np.random.Generator, n: int, prefix: str, chunk: int = 100_000) -> list[str]:
    vocab = np.array(STOPWORDS + [f"{prefix}{i}" for i in range(50_000)])
    p = 1.0 / np.arange(1, len(vocab) + 1) ** 1.05
    p /= p.sum()
    out: list[str] = []
    for lo in range(0, n, chunk):
        size = min(chunk, n - lo)
        lengths = rng.integers(10, 41, size)
        words = vocab[rng.choice(len(vocab), int(lengths.sum()), p=p)]
        frame = pl.DataFrame({"w": words, "i": np.repeat(np.arange(size), lengths)})
        joined = frame.group_by("i", maintain_order=True).agg(pl.col("w").str.join(" "))
        capital = pl.col("w").str.head(1).str.to_uppercase() + pl.col("w").str.slice(1) + "."
        out += joined.select(capital)["w"].to_list()
    return out


def records(ids: list[str], text: list[str], labels: list[str]) -> pl.DataFrame:
    frame = pl.DataFrame({"record_id": ids, "text": text, "label": labels})
    return frame.with_columns(pl.struct("label", "text").struct.json_encode().alias("record"))


def build(rows: int, seed: int = 0) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame, dict]:
    rng = np.random.default_rng(seed)
    seeds_text = texts(rng, 300, "s")
    holdout_text = texts(rng, 300, "h")
    seeds = records([f"seed-{i}" for i in range(300)], seeds_text, list(rng.choice(LABELS, 300)))
    holdout = records(
        [f"hold-{i}" for i in range(300)], holdout_text, list(rng.choice(LABELS, 300))
    )

    text = texts(rng, rows, "w")
    label = list(rng.choice(LABELS, rows))
    status = ["ok"] * rows
    error: list[str | None] = [None] * rows
    plan = {
        "failed": 0.02,
        "schema_invalid": 0.005,
        "empty": 0.005,
        "boilerplate": 0.01,
        "loop": 0.005,
        "script": 0.003,
        "short": 0.003,
        "long": 0.003,
        "bad_label": 0.005,
        "exact_dup": 0.03,
        "near_dup": 0.03,
        "seed_copy": 0.002,
        "seed_near": 0.002,
        "holdout_copy": 0.002,
        "holdout_near": 0.002,
        "holdout_run": 0.002,
        "pii": 0.01,
    }
    counts = {k: int(rows * v) for k, v in plan.items()}
    # Planted rows live in the second half; their sources (duplicates) in the first.
    order = rng.permutation(np.arange(rows // 2, rows))
    slots, pos = {}, 0
    for k, c in counts.items():
        slots[k] = order[pos : pos + c].tolist()
        pos += c
    src = rng.integers(0, rows // 2, rows).tolist()
    invalid_records: dict[int, str] = {}
    errors = ["truncated", "schema_invalid", "refusal"]
    for i in slots["failed"]:
        status[i], error[i] = "failed", errors[i % 3]
    for i in slots["schema_invalid"]:
        invalid_records[i] = json.dumps({"label": 7, "text": text[i]})
    for i in slots["empty"]:
        text[i] = "   "
    for i in slots["boilerplate"]:
        text[i] = "As an AI language model, " + text[i]
    for i in slots["loop"]:
        text[i] = " ".join(["the plot was great fun"] * 8)
    for i in slots["script"]:
        text[i] = "Это был очень хороший фильм, и мне понравилась музыка и актёры."
    for i in slots["short"]:
        text[i] = "Too short."
    for i in slots["long"]:
        text[i] = (text[i] + " ") * 30
    for i in slots["bad_label"]:
        label[i] = "mixed"
    for i in slots["exact_dup"]:
        text[i] = text[src[i]].upper()
    for k, i in enumerate(slots["near_dup"]):
        w = text[src[i]].split()
        w[k % len(w)] = f"edited{k}"
        text[i] = " ".join(w)
    for k, i in enumerate(slots["seed_copy"]):
        text[i] = seeds_text[k % 300]
    for k, i in enumerate(slots["seed_near"]):
        text[i] = seeds_text[k % 300].rstrip(".") + " indeed."
    for k, i in enumerate(slots["holdout_copy"]):
        text[i] = holdout_text[k % 300].lower()
    for k, i in enumerate(slots["holdout_near"]):
        text[i] = holdout_text[k % 300].rstrip(".") + " overall."
    for k, i in enumerate(slots["holdout_run"]):
        run = " ".join(holdout_text[k % 300].rstrip(".").split()[:9])
        text[i] = text[i].rstrip(".") + " and " + run + "."
    pii = ["Write to fan{}@example.com.", "Call (415) 555-{:04d}.", "Card 4111 1111 1111 1111 #{}."]
    for k, i in enumerate(slots["pii"]):
        text[i] = text[i] + " " + pii[k % 3].format(1000 + k % 9000)

    cands = records([f"cand-{i}" for i in range(rows)], text, label)
    if invalid_records:
        idx = pl.Series(list(invalid_records), dtype=pl.UInt32)
        fix = pl.DataFrame({"_i": idx, "_rec": list(invalid_records.values())})
        cands = (
            cands.with_row_index("_i")
            .join(fix, on="_i", how="left")
            .with_columns(pl.coalesce("_rec", "record").alias("record"))
            .drop("_i", "_rec")
        )
    cands = cands.with_columns(
        pl.Series("status", status),
        pl.Series("error", error, dtype=pl.String),
        pl.lit("seed_variation").alias("strategy"),
        pl.when(pl.Series(status) == "failed")
        .then(None)
        .otherwise(pl.col("record"))
        .alias("record"),
    )
    return cands, seeds, holdout, counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument(
        "--judge",
        action="store_true",
        help="also run the label-agreement classifier (off by default)",
    )
    args = parser.parse_args()

    spec = make_spec(args.rows)
    if args.judge:
        judge = spec.curation.judge.model_copy(update={"enabled": True})
        spec = spec.model_copy(
            update={"curation": spec.curation.model_copy(update={"judge": judge})}
        )
    t0 = time.perf_counter()
    cands, seeds, holdout, planted = build(args.rows)
    built_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"built {cands.height} candidates in {time.perf_counter() - t0:.1f} s (not timed), "
        f"peak RSS so far {built_mb:.0f} MB"
    )

    from synth_pipeline.curation.pipeline import run_curation
    from synth_pipeline.quality import run_suite

    start = time.perf_counter()
    cpu_start = time.process_time()
    result = run_curation(spec, cands, seeds, holdout, progress=print)
    curated = time.perf_counter()
    curation_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    outcomes = run_suite(spec, result.kept, "filtered", {"holdout": holdout})
    end = time.perf_counter()

    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    for name, stats in result.per_filter.items():
        print(f"  {name:<20} {stats['in']:>9} -> {stats['out']:>9}  {stats['seconds']:>7.2f} s")
    print("planted:", json.dumps(planted))
    print("reasons:", json.dumps(result.counts))
    print("suite:", {o.name: o.passed for o in outcomes})
    print(
        f"curation {curated - start:.1f} s (peak RSS after curation {curation_mb:.0f} MB), "
        f"suite {end - curated:.1f} s, kept {result.kept.height}"
    )
    print(f"cpu seconds (all threads) {time.process_time() - cpu_start:.1f}")
    print(f"curation_seconds={end - start:.1f} peak_rss_mb={peak_mb:.0f}")


if __name__ == "__main__":
    main()
