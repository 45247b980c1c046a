"""Plan the generation requests of a version from the spec and the seeds.

Seeds are picked per sample by rendezvous hashing (highest hash of seed id and
sample index): the pick for a sample depends only on which seeds exist, so
adding seeds re-plans only the samples a new seed wins, and the cache answers
the rest.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

import polars as pl

from synth_pipeline.generation.prompts import seed_variation_messages
from synth_pipeline.spec import DatasetSpec


@dataclass(frozen=True)
class GenerationRequest:
    strategy: str
    label: str | None
    seed_ids: tuple[str, ...]
    messages: tuple[tuple[tuple[str, str], ...], ...]
    sample_index: int

    @property
    def message_list(self) -> list[dict[str, str]]:
        return [dict(m) for m in self.messages]


def _rank(seed_id: str, key: str) -> str:
    return hashlib.sha256(f"{key}|{seed_id}".encode()).hexdigest()


def pick_seeds(seed_ids: list[str], k: int, key: str) -> list[str]:
    return sorted(seed_ids, key=lambda s: _rank(s, key), reverse=True)[:k]


def _freeze(messages: list[dict[str, str]]) -> tuple[tuple[tuple[str, str], ...], ...]:
    return tuple(tuple(sorted(m.items())) for m in messages)


def plan_requests(spec: DatasetSpec, seeds: pl.DataFrame) -> list[GenerationRequest]:
    """Seed-variation requests: per label for labelled datasets, else over all seeds."""
    k = spec.generation.seeds_per_prompt
    by_id: dict[str, dict[str, Any]] = {
        r["record_id"]: json.loads(r["record"]) for r in seeds.iter_rows(named=True)
    }
    groups: list[tuple[str | None, list[str], int]] = []
    if spec.is_labelled:
        assert spec.generation.records_per_label is not None
        for label in spec.labels:
            ids = seeds.filter(pl.col("label") == label)["record_id"].to_list()
            groups.append((label, ids, spec.generation.records_per_label))
    else:
        assert spec.generation.total_records is not None
        groups.append((None, seeds["record_id"].to_list(), spec.generation.total_records))

    requests: list[GenerationRequest] = []
    for label, ids, count in groups:
        for i in range(count):
            chosen = pick_seeds(ids, k, f"seed_variation|{label}|{i}")
            messages = seed_variation_messages(spec, [by_id[s] for s in chosen], label)
            requests.append(
                GenerationRequest(
                    strategy="seed_variation",
                    label=label,
                    seed_ids=tuple(chosen),
                    messages=_freeze(messages),
                    sample_index=i,
                )
            )
    return requests
