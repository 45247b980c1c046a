"""The review sample: a fixed, seeded random draw of a version's `dataset_records` rows."""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from synth_pipeline.pipeline import DATASET_TABLE
from synth_pipeline.warehouse import Warehouse


@dataclass(frozen=True)
class SampleRow:
    position: int  # 1-based place in the review order
    record_id: str
    label: str | None
    text: str | None
    record: dict[str, Any] = field(default_factory=dict)  # the spec's fields


def sample_ids(record_ids: Sequence[str], sample_size: int, seed: int) -> list[str]:
    """`sample_size` ids drawn with `seed`, in review order (all of them when fewer).

    The ids are sorted before the draw, so the sample depends on the version's records and
    the seed only, never on the order rows were written in.
    """
    population = sorted(set(record_ids))
    k = min(sample_size, len(population))
    # random.Random(int).sample is stable across processes and platforms.
    return random.Random(seed).sample(population, k)


def review_sample(
    wh: Warehouse, dataset: str, version: str, sample_size: int, seed: int
) -> list[SampleRow]:
    """The version's sampled records in review order; empty when it has no records."""
    rows = wh.stage(DATASET_TABLE, dataset, version)
    if rows.is_empty():
        return []
    by_id = {r["record_id"]: r for r in rows.iter_rows(named=True)}
    return [
        SampleRow(
            position=i,
            record_id=rid,
            label=by_id[rid].get("label"),
            text=by_id[rid].get("text"),
            record=json.loads(by_id[rid]["record"]) if by_id[rid].get("record") else {},
        )
        for i, rid in enumerate(sample_ids(list(by_id), sample_size, seed), start=1)
    ]
