"""What changed since a dataset's latest decided version: the nightly schedule's reason to run.

A new version is worth making when one of its inputs differs from those of the version
before it: the spec (`DatasetSpec.spec_hash`), the seed or holdout file, the code
(`synth_pipeline.__version__`), or the provider kind or model. With all of them the same, a
new version repeats the old one's generation (the content-addressed cache answers most of
it) and gates, so the nightly schedule skips it.

The version compared with is the newest one whose run reached a decision: published, or
held by a gate (`awaiting_review`, `held_regression`, or `failed`, the status a failed gate
stores). A version that crashed, was interrupted, stopped on its budget or is still running
decided nothing and never blocks a new one; `synth materialize --version V` resumes it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from synth_pipeline.gates import AWAITING_REVIEW
from synth_pipeline.records import input_file_hashes
from synth_pipeline.regression.gate import HELD_STATUS

if TYPE_CHECKING:
    from synth_pipeline.spec import DatasetSpec
    from synth_pipeline.warehouse import Warehouse

# Statuses of a version whose run reached publication or was held by a gate.
DECIDED_STATUSES = ("published", AWAITING_REVIEW, HELD_STATUS, "failed")


@dataclass(frozen=True)
class VersionInputs:
    """What a version was made from, as the `versions` table records it."""

    spec_hash: str | None
    seed_files: dict[str, str] = field(default_factory=dict)  # file name -> sha256
    code_version: str | None = None
    provider: str | None = None
    model: str | None = None


@dataclass(frozen=True)
class ChangeReport:
    """The inputs of now against those of `baseline` (None: no decided version yet)."""

    baseline: str | None
    baseline_status: str | None
    changes: list[str]

    @property
    def changed(self) -> bool:
        return self.baseline is None or bool(self.changes)

    def summary(self) -> str:
        if self.baseline is None:
            return "no earlier version reached publication or a gate"
        if not self.changes:
            return (
                f"nothing changed since version {self.baseline} ({self.baseline_status}): "
                "same spec, seed and holdout files, code version, provider and model"
            )
        return f"changed since version {self.baseline}: " + "; ".join(self.changes)


def current_inputs(spec: DatasetSpec, env: Mapping[str, str] | None = None) -> VersionInputs:
    """The inputs a version started now would record (as `stages.load_seeds` does)."""
    from synth_pipeline import __version__
    from synth_pipeline.generation.providers import resolve_provider

    env = os.environ if env is None else env
    files = input_file_hashes(spec)
    provider = resolve_provider(spec.provider, env)
    return VersionInputs(
        spec_hash=spec.spec_hash(),
        seed_files=files,
        code_version=__version__,
        provider=provider.kind,
        model=provider.model,
    )


def latest_decided_version(wh: Warehouse, dataset: str) -> tuple[str, str, VersionInputs] | None:
    """(version, status, inputs) of the newest version that was published or held by a gate."""
    if not wh.path.exists():
        return None
    marks = ", ".join("?" * len(DECIDED_STATUSES))
    rows = wh.rows(
        "SELECT version, status, spec_hash, seed_files_sha256, code_version, provider, model "
        f"FROM versions WHERE dataset = ? AND status IN ({marks}) "
        "ORDER BY created_at DESC, version DESC LIMIT 1",
        [dataset, *DECIDED_STATUSES],
    )
    if not rows:
        return None
    version, status, spec_hash, seeds, code_version, provider, model = rows[0]
    files = json.loads(seeds) if isinstance(seeds, str) else dict(seeds or {})
    return version, status, VersionInputs(spec_hash, files, code_version, provider, model)


def compare(before: VersionInputs, now: VersionInputs) -> list[str]:
    """One line per input that differs, naming it and both values where they are short."""
    changes = []
    if before.spec_hash != now.spec_hash:
        changes.append(f"spec changed (hash {before.spec_hash} -> {now.spec_hash})")
    for name in sorted(set(before.seed_files) | set(now.seed_files)):
        old, new = before.seed_files.get(name), now.seed_files.get(name)
        if old != new:
            if name.startswith("published "):  # another dataset's published version
                changes.append(f"{name.removeprefix('published ')} published {new} (was {old})")
            elif old is None:
                changes.append(f"data file {name} is new")
            elif new is None:
                changes.append(f"data file {name} is no longer used")
            else:
                changes.append(f"data file {name} changed (sha256 {old[:12]} -> {new[:12]})")
    if before.code_version != now.code_version:
        changes.append(f"code version {before.code_version} -> {now.code_version}")
    if before.provider != now.provider:
        changes.append(f"provider {before.provider} -> {now.provider}")
    if before.model != now.model:
        changes.append(f"model {before.model} -> {now.model}")
    return changes


def changes_since_latest(
    spec: DatasetSpec, wh: Warehouse, env: Mapping[str, str] | None = None
) -> ChangeReport:
    """What differs between the inputs of now and those of the latest decided version."""
    latest = latest_decided_version(wh, spec.name)
    if latest is None:
        return ChangeReport(None, None, [])
    version, status, before = latest
    return ChangeReport(version, status, compare(before, current_inputs(spec, env)))
