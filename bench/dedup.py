"""Near-duplicate step vs datasketch MinHash LSH on the same 200,000 short texts.

Both sides get the same texts (English-like, Zipf word frequencies, 8-30 words, with
planted near-duplicate pairs), the same tokenisation (lower-cased letter/digit runs, word
shingles), the same threshold and the same number of permutations (the project's DedupSpec
defaults). Each is timed end to end from raw strings to a keep-first duplicate decision:

- project: `near_duplicate_filter` (polars tokenising, rensa MinHash + LSH flags, a rensa
  index over the flagged rows, exact-Jaccard verification, keep-first resolution);
- datasketch: `MinHash.bulk` over Python token sets, then the usual greedy loop
  (query `MinHashLSH`; a row with an estimated-Jaccard match above the threshold is a
  duplicate, otherwise it is inserted).

Recall is measured on a sample of planted pairs whose exact Jaccard is >= the threshold:
the share whose later row was flagged as a duplicate. Each side runs --repeat times and
its fastest run counts (the machine is shared; the minimum is the least disturbed run).

    .venv/bin/python bench/dedup.py [--rows 200000] [--pairs 10000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import re
import time

import numpy as np
import polars as pl

from synth_pipeline.curation.filters import FILTERS, CurationContext
from synth_pipeline.spec import DatasetSpec

_STOPWORD_TEXT = (
    "the a and of to is in it this was i that for with as but on film movie not be are you "
    "all at his so have one by an they like from who just her more about out if what some "
    "there its good very even can when my has would story only really see no which much time"
)
STOPWORDS = _STOPWORD_TEXT.split()
TOKEN = re.compile(r"[^\W_]+")


def make_texts(n: int, n_pairs: int, seed: int = 0) -> tuple[list[str], list[tuple[int, int]]]:
    rng = np.random.default_rng(seed)
    vocab = np.array(STOPWORDS + [f"w{i}" for i in range(40_000)])
    p = 1.0 / np.arange(1, len(vocab) + 1) ** 1.05
    p /= p.sum()
    lengths = rng.integers(8, 31, n)
    words = vocab[rng.choice(len(vocab), int(lengths.sum()), p=p)]
    frame = pl.DataFrame({"w": words, "i": np.repeat(np.arange(n), lengths)})
    texts = frame.group_by("i", maintain_order=True).agg(pl.col("w").str.join(" "))["w"].to_list()
    # Planted pairs: a later row is an edited copy of an earlier one (1-2 substitutions,
    # an insertion or a deletion).
    sources = rng.choice(n // 2, n_pairs, replace=False)
    targets = n // 2 + rng.choice(n - n // 2, n_pairs, replace=False)
    pairs = []
    for k, (s, t) in enumerate(zip(sources.tolist(), targets.tolist(), strict=True)):
        w = texts[s].split()
        edit = k % 4
        if edit == 0:
            w[rng.integers(len(w))] = f"edit{k}"
        elif edit == 1:
            w[rng.integers(len(w))] = f"edit{k}"
            w[rng.integers(len(w))] = f"alt{k}"
        elif edit == 2:
            w.insert(int(rng.integers(len(w) + 1)), f"extra{k}")
        else:
            del w[int(rng.integers(len(w)))]
        texts[t] = " ".join(w).capitalize() + "."
        pairs.append((s, t))
    return texts, pairs


def token_set(text: str) -> set[str]:
    return set(TOKEN.findall(text.lower()))


def exact_jaccard(a: str, b: str) -> float:
    x, y = token_set(a), token_set(b)
    return len(x & y) / len(x | y) if x | y else 0.0


def bench_spec() -> DatasetSpec:
    return DatasetSpec.model_validate(
        {
            "name": "bench",
            "kind": "instruction",
            "task": "bench",
            "fields": [{"name": "text", "description": "t"}],
            "text_field": "text",
            "generation": {"total_records": 1},
            "quality": {"min_yield": 0},
        }
    )


def run_project(texts: list[str], spec: DatasetSpec) -> tuple[np.ndarray, float, float]:
    frame = pl.DataFrame(
        {
            "record_id": [f"r{i}" for i in range(len(texts))],
            "text": texts,
            "label": pl.Series([None] * len(texts), dtype=pl.String),
            "record": pl.Series([""] * len(texts)),
        }
    )
    empty = frame.clear()
    ctx = CurationContext(spec=spec, seeds=empty, holdout=empty)
    start, cpu = time.perf_counter(), time.process_time()
    verdict = FILTERS["near_duplicate"](frame, ctx)
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    print(f"project near_duplicate: {elapsed:.2f} s wall, {cpu:.2f} s cpu")
    return ~verdict.decisions["keep"].to_numpy(), elapsed, cpu


def run_datasketch(
    texts: list[str], threshold: float, num_perm: int
) -> tuple[np.ndarray, float, float]:
    from datasketch import MinHash, MinHashLSH

    start, cpu = time.perf_counter(), time.process_time()
    sets = [[t.encode() for t in token_set(text)] for text in texts]
    hashes = MinHash.bulk(sets, num_perm=num_perm)
    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
    dup = np.zeros(len(texts), dtype=bool)
    for i, m in enumerate(hashes):
        if not sets[i]:
            continue
        if any(m.jaccard(hashes[j]) >= threshold for j in lsh.query(m)):
            dup[i] = True
        else:
            lsh.insert(i, m)
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    print(f"datasketch MinHashLSH: {elapsed:.2f} s wall, {cpu:.2f} s cpu (b={lsh.b}, r={lsh.r})")
    return dup, elapsed, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--pairs", type=int, default=10_000)
    parser.add_argument(
        "--sample", type=int, default=2_000, help="planted pairs checked for recall"
    )
    parser.add_argument(
        "--repeat", type=int, default=3, help="runs per side; the fastest counts (shared machine)"
    )
    args = parser.parse_args()

    spec = bench_spec()
    cfg = spec.curation.dedup
    texts, pairs = make_texts(args.rows, args.pairs)
    print(
        f"{len(texts)} texts, {len(pairs)} planted pairs, "
        f"threshold {cfg.near_duplicate_threshold}, {cfg.num_perm} permutations, "
        f"shingle size {cfg.shingle_size}"
    )
    runs_ours = [run_project(texts, spec) for _ in range(args.repeat)]
    runs_theirs = [
        run_datasketch(texts, cfg.near_duplicate_threshold, cfg.num_perm)
        for _ in range(args.repeat)
    ]
    ours, t_ours, cpu_ours = min(runs_ours, key=lambda r: r[1])
    theirs, t_theirs, cpu_theirs = min(runs_theirs, key=lambda r: r[1])

    rng = np.random.default_rng(1)
    sample = [pairs[i] for i in rng.choice(len(pairs), min(args.sample, len(pairs)), replace=False)]
    eligible = [
        (s, t)
        for s, t in sample
        if exact_jaccard(texts[s], texts[t]) >= cfg.near_duplicate_threshold
    ]
    recall = sum(bool(ours[t]) for _, t in eligible) / max(len(eligible), 1)
    recall_ds = sum(bool(theirs[t]) for _, t in eligible) / max(len(eligible), 1)
    speedup = t_theirs / t_ours
    summary = {
        "rows": len(texts),
        "planted_pairs": len(pairs),
        "recall_sample": len(eligible),
        "project_seconds": round(t_ours, 3),
        "datasketch_seconds": round(t_theirs, 3),
        "project_cpu_seconds": round(cpu_ours, 3),
        "datasketch_cpu_seconds": round(cpu_theirs, 3),
        "cpu_speedup": round(cpu_theirs / cpu_ours, 1),
        "project_flagged": int(ours.sum()),
        "datasketch_flagged": int(theirs.sum()),
        "datasketch_recall": round(recall_ds, 4),
    }
    print(json.dumps(summary))
    print(f"dedup_speedup_vs_datasketch={speedup:.1f} recall={recall:.4f}")


if __name__ == "__main__":
    main()
