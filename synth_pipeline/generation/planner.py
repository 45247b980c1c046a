"""Plan the generation requests of a version from the spec, the seeds and (distillation) inputs.

Every request has a stable identity: (strategy, label, sample index). Raising
the target count only adds indices, so the cache answers every request of the
smaller plan and only the new ones are paid for.

- **Strategy mix.** The target total is split over the spec's strategies by
  weight (largest remainder); labelled strategies split their share over the
  labels following the target distribution (uniform, or the class_balance
  strategy's proportions).
- **Class balancing** fills per-label quotas so that seeds plus everything
  generated reach the target distribution: its records go to the labels with
  the largest deficit (water-filling), which corrects the seeds' imbalance.
- **Seeds** are picked per sample by rendezvous hashing (highest hash of seed id
  and sample key): the pick depends only on which seeds exist, so adding a seed
  re-plans only the samples it wins. A coverage pass over a window of leading
  samples (sized by the number of seeds, never by the count) then gives every
  seed the hashing left out the window sample it ranks highest on, replacing
  that sample's lowest-ranked example: every seed is shown at least once.
- **Attributes** (and scenarios, as the dimension `scenario`) are assigned per
  position in blocks: each block of m consecutive positions uses each of a
  dimension's m values once, in a per-block hashed order, so every value's
  coverage stays within one of the others and combinations vary.
- **Evolution** rewrites one seed per request (every seed used, as above) with
  an operation assigned like an attribute.
- **Distillation** takes the inputs file in file order (appending inputs keeps
  earlier requests), one request per input.
"""

from __future__ import annotations

import hashlib
import heapq
import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from synth_pipeline.generation.prompts import (
    TURN_STRATEGIES,
    document_field,
    document_prompt,
    strategy_messages,
)
from synth_pipeline.kinds import kind_of
from synth_pipeline.records import read_rows
from synth_pipeline.spec import (
    SPEC_FILE,
    AttributesStrategy,
    ClassBalanceStrategy,
    DatasetSpec,
    DistillationStrategy,
    EvolutionStrategy,
    SpecError,
    plan_size_problem,
)

Frozen = tuple[tuple[tuple[str, str], ...], ...]


@dataclass(frozen=True)
class GenerationRequest:
    strategy: str
    label: str | None  # the requested label; None when unlabelled or the model chooses it
    seed_ids: tuple[str, ...]
    messages: Frozen
    sample_index: int
    # Strategy details recorded per row: attribute values, scenario, evolution operation,
    # distillation input id.
    attributes: tuple[tuple[str, str], ...] = ()
    # Fields taken as given from a distillation input; the model writes the others.
    fixed: tuple[tuple[str, Any], ...] = ()
    output_fields: tuple[str, ...] | None = None  # None: every content field
    label_choices: tuple[str, ...] = ()  # non-empty: the model picks the label among these
    # Set for a document prompt: the model continues `messages[0]` as plain text, and its
    # one line is this field of the record.
    document_field: str | None = None
    # Sampling settings of this request over the provider's (a preference sampler's
    # temperature); part of its cache key.
    params: tuple[tuple[str, Any], ...] = ()
    # The kind's own answer schema this request wants (`DatasetKind.response_model`); None:
    # the record's.
    response: str | None = None

    @property
    def message_list(self) -> list[dict[str, str]]:
        return [dict(m) for m in self.messages]

    @property
    def attribute_dict(self) -> dict[str, str]:
        return dict(self.attributes)

    @property
    def fixed_dict(self) -> dict[str, Any]:
        return dict(self.fixed)


@dataclass
class Plan:
    requests: list[GenerationRequest]
    target_total: int
    per_strategy: dict[str, int]
    # strategy -> label -> planned requests (labelled strategies only)
    per_label: dict[str, dict[str, int]] = field(default_factory=dict)
    target_shares: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


# --- allocation --------------------------------------------------------------------


def apportion(total: int, weights: dict[str, float]) -> dict[str, int]:
    """Split `total` by weight, largest remainder; ties go to the earlier key."""
    keys = list(weights)
    wsum = sum(weights.values())
    if total <= 0 or wsum <= 0:
        return dict.fromkeys(keys, 0)
    exact = {k: total * weights[k] / wsum for k in keys}
    out = {k: int(exact[k]) for k in keys}
    rest = total - sum(out.values())
    order = sorted(keys, key=lambda k: (-(exact[k] - out[k]), keys.index(k)))
    for k in order[:rest]:
        out[k] += 1
    return out


def target_shares(spec: DatasetSpec) -> dict[str, float]:
    """The label distribution the final data aims at (uniform unless class_balance says)."""
    labels = [lab for lab in kind_of(spec).label_groups(spec) if lab is not None]
    if not labels:
        return {}
    cb = _strategy(spec, ClassBalanceStrategy)
    raw: dict[str, float]
    if cb is not None and isinstance(cb.target, dict):
        raw = {label: float(cb.target.get(label, 0.0)) for label in spec.labels}
    else:
        raw = dict.fromkeys(spec.labels, 1.0)
    total = sum(raw.values())
    return {k: v / total for k, v in raw.items()}


def class_quotas(
    count: int,
    shares: dict[str, float],
    seed_counts: dict[str, int],
    other_planned: dict[str, float],
    final_total: float,
) -> dict[str, int]:
    """Water-filling: each record goes to the label furthest below its target count.

    target[l] = share[l] * final_total; deficit = target - seeds - other strategies'
    planned records. The deficits sum to `count` when final_total counts everything,
    so the quotas hit the target exactly unless a label already overshoots it.
    """
    labels = list(shares)
    deficit = {
        lab: shares[lab] * final_total - seed_counts.get(lab, 0) - other_planned.get(lab, 0.0)
        for lab in labels
    }
    quotas = dict.fromkeys(labels, 0)
    heap = [(-deficit[lab], i, lab) for i, lab in enumerate(labels) if shares[lab] > 0]
    heapq.heapify(heap)
    for _ in range(count if heap else 0):
        d, i, lab = heapq.heappop(heap)
        quotas[lab] += 1
        heapq.heappush(heap, (d + 1.0, i, lab))
    return quotas


# --- seeds -------------------------------------------------------------------------


def _rank(seed_id: str, key: str) -> str:
    return hashlib.sha256(f"{key}|{seed_id}".encode()).hexdigest()


def pick_seeds(seed_ids: list[str], k: int, key: str) -> list[str]:
    return heapq.nlargest(k, seed_ids, key=lambda s: _rank(s, key))


def coverage_window(n_seeds: int, k: int) -> int:
    """How many leading samples the coverage pass may touch: enough room (2 slots per seed)
    to show every seed, fixed by the seeds alone so raising the count keeps earlier samples."""
    return min(n_seeds, 2 * -(-n_seeds // k)) if k else 0


def seed_sets(seed_ids: list[str], k: int, prefix: str, n: int) -> list[tuple[str, ...]]:
    """k seeds for each of n samples: rendezvous hashing, then the coverage pass.

    The coverage pass works on the first `coverage_window` samples, a number that depends on
    the seeds only: sample j's seeds never depend on n, so a larger count adds samples and
    keeps the others. Each seed the window's rendezvous picks left out replaces the
    lowest-ranked example (one shown elsewhere too) of the window sample it ranks highest on.
    Every seed is shown once n reaches the window (at most the number of seeds).
    """
    if k == 0 or not seed_ids:
        return [() for _ in range(n)]
    window = coverage_window(len(seed_ids), k)
    sets = [pick_seeds(seed_ids, k, f"{prefix}|{j}") for j in range(max(n, window))]
    usage = Counter(s for chosen in sets[:window] for s in chosen)
    unused = sorted((s for s in seed_ids if s not in usage), key=lambda s: _rank(s, prefix))
    touched: set[int] = set()
    for seed in unused:
        by_affinity = sorted(
            range(window), key=lambda j: _rank(seed, f"{prefix}|{j}"), reverse=True
        )
        for j in by_affinity:
            if j in touched:
                continue
            victims = [i for i in range(len(sets[j]) - 1, -1, -1) if usage[sets[j][i]] > 1]
            if not victims:
                continue
            i = victims[0]
            usage[sets[j][i]] -= 1
            sets[j][i] = seed
            usage[seed] += 1
            touched.add(j)
            break
    return [tuple(s) for s in sets[:n]]


# --- attributes --------------------------------------------------------------------


def balanced_value(values: list[str], dimension: str, position: int) -> str:
    """The value of `dimension` at `position`: each block of len(values) positions uses
    every value once, in an order hashed from the block, so coverage is balanced."""
    m = len(values)
    block, offset = divmod(position, m)
    order = sorted(
        values, key=lambda v: hashlib.sha256(f"{dimension}|{block}|{v}".encode()).hexdigest()
    )
    return order[offset]


def attribute_dimensions(strategy: AttributesStrategy) -> dict[str, list[str]]:
    dims = dict(strategy.attributes)
    if strategy.scenarios:
        dims["scenario"] = list(strategy.scenarios)
    return dims


# --- distillation inputs -------------------------------------------------------------


def load_inputs(spec: DatasetSpec, file_name: str) -> list[tuple[str, dict[str, Any]]]:
    """(input id, fields) per row of a distillation inputs file (JSONL or CSV)."""
    path = spec.path(file_name)
    if not path.is_file():
        raise SpecError(f"{path}: distillation inputs file not found (dataset {spec.name!r})")
    content = {f.name: f for f in spec.content_fields}
    rows = read_rows(path)  # the same reader as seed files: errors name file and line
    out = []
    for lineno, obj in rows:
        where = f"{path}:{lineno}"
        if spec.label_field and spec.label_field in obj:
            raise SpecError(
                f"{where}: distillation inputs are unlabelled; remove {spec.label_field!r}"
            )
        unknown = set(obj) - set(content)
        if unknown:
            raise SpecError(f"{where}: unknown field(s) {sorted(unknown)}; use {sorted(content)}")
        if spec.text_field not in obj or obj[spec.text_field] in (None, ""):
            raise SpecError(f"{where}: field {spec.text_field!r} is missing or empty")
        fields = {k: v for k, v in obj.items() if v not in (None, "")}
        for name, value in fields.items():
            if content[name].type == "string" and not isinstance(value, str):
                raise SpecError(f"{where}: field {name!r} must be a string")
        blob = json.dumps(fields, sort_keys=True, ensure_ascii=False)
        out.append((f"input-{hashlib.sha256(blob.encode()).hexdigest()[:12]}", fields))
    if not out:
        raise SpecError(f"{path}: the file holds no inputs")
    return out


# --- planning ------------------------------------------------------------------------


def _strategy(spec: DatasetSpec, kind: type) -> Any:
    return next((s for s in spec.generation.strategies if isinstance(s, kind)), None)


def _freeze(messages: list[dict[str, str]]) -> Frozen:
    return tuple(tuple(sorted(m.items())) for m in messages)


def _k(spec: DatasetSpec, strategy: Any) -> int:
    return (
        strategy.seeds_per_prompt
        if strategy.seeds_per_prompt is not None
        else spec.generation.seeds_per_prompt
    )


def seed_requirements(spec: DatasetSpec) -> dict[str | None, tuple[int, list[str]]]:
    """The fewest seeds generation and curation need, per label (None: unlabelled, all
    seeds), with the spec settings that ask for them.

    - every seed-based strategy shows `seeds_per_prompt` seeds of the requested label per
      call (evolution rewrites one), so a label with fewer gets prompts with fewer or no
      examples: records of a label the model never saw;
    - label agreement (`curation.judge`, when enabled) trains on at least
      `min_seeds_per_label` seeds of each label;
    - realism (`curation.realism`, when enabled) needs `min_real` real records in all,
      or it is skipped.
    """
    needs: dict[str | None, tuple[int, list[str]]] = {}

    def need(label: str | None, n: int, why: str) -> None:
        if n <= 0:
            return
        have, reasons = needs.get(label, (0, []))
        needs[label] = (max(have, n), [*reasons, why])

    shares = target_shares(spec)
    labels = [
        lab for lab in kind_of(spec).label_groups(spec) if lab is None or shares.get(lab, 0) > 0
    ]
    for i, s in enumerate(spec.generation.strategies):
        if isinstance(s, DistillationStrategy):
            continue  # its examples come from every label's seeds
        if isinstance(s, EvolutionStrategy):
            k, why = 1, f"{s.name} rewrites one seed per call"
        else:
            k = _k(spec, s)
            setting = (
                f"generation.strategies[{i}].seeds_per_prompt"
                if s.seeds_per_prompt is not None
                else "generation.seeds_per_prompt"
            )
            why = f"{s.name} shows {k} per call ({setting})"
        for lab in labels:
            need(lab, k, why)
    judge = spec.curation.judge
    if judge.enabled:
        for lab in shares:  # labels only: label agreement has nothing to check otherwise
            need(
                lab,
                judge.min_seeds_per_label,
                f"label agreement trains on {judge.min_seeds_per_label}+ per label "
                "(curation.judge.min_seeds_per_label)",
            )
    realism = spec.curation.realism
    if realism.enabled:
        need(
            "*",
            realism.min_real,
            f"the realism filter needs {realism.min_real}+ real records "
            "(curation.realism.min_real)",
        )
    return needs


def seed_problems(spec: DatasetSpec, seeds: pl.DataFrame) -> list[str]:
    """What the seeds lack for this spec's generation and curation; empty when enough.
    Labels short of the same need are named together, with what they have."""
    short: dict[tuple[int, tuple[str, ...]], list[str]] = {}
    out = []
    for label, (n, reasons) in seed_requirements(spec).items():
        why = ", ".join(reasons)
        if label in (None, "*"):
            if seeds.height < n:
                what = "in all" if label == "*" else "in the file"
                out.append(f"{seeds.height} seeds {what}, need at least {n}: {why}")
            continue
        have = seeds.filter(pl.col("label") == label).height
        if have < n:
            short.setdefault((n, tuple(reasons)), []).append(f"{label} {have}")
    for (n, reasons), labels in short.items():
        out.insert(
            0,
            f"seeds per label: {', '.join(labels)}; each label needs at least {n}: "
            + ", ".join(reasons),
        )
    return out


def check_seeds(spec: DatasetSpec, seeds: pl.DataFrame) -> None:
    """Raise SpecError naming the seeds file, each label short of seeds, and what to do."""
    problems = seed_problems(spec, seeds)
    if problems:
        raise SpecError(
            f"{spec.path(spec.seeds_file)}: too few seeds: "
            + "; ".join(problems)
            + ". Add real examples to the seeds file, or lower the settings named"
        )


def check_plan_size(spec: DatasetSpec) -> None:
    """Refuse a plan larger than a version may plan, before a single request is built."""
    problem = plan_size_problem(spec)
    if problem:
        where = spec.path(SPEC_FILE) if spec.folder is not None else spec.name
        raise SpecError(f"{where}: {problem}")


def plan_generation(
    spec: DatasetSpec,
    seeds: pl.DataFrame,
    inputs: list[tuple[str, dict[str, Any]]] | None = None,
) -> Plan:
    kind = kind_of(spec)
    problems = spec.generation.problems(kind.labelled, spec.labels)
    if problems:
        raise SpecError(f"{spec.name}: " + "; ".join(problems))
    check_plan_size(spec)  # the spec may have been changed since it was validated
    own = kind.plan_requests(spec, seeds)
    if own is not None:  # the kind plans its records itself (preference: prompts x samplers)
        planned = Counter(r.strategy for r in own)
        return Plan(requests=own, target_total=spec.target_total, per_strategy=dict(planned))
    strategies = spec.generation.strategies
    total = spec.target_total
    counts = apportion(total, {s.name: s.weight for s in strategies})
    notes: list[str] = []

    distill = _strategy(spec, DistillationStrategy)
    if distill is not None:
        if inputs is None:
            inputs = load_inputs(spec, distill.inputs_file)
        short = counts["distillation"] - len(inputs)
        others = {s.name: s.weight for s in strategies if s.name != "distillation"}
        if short > 0:
            counts["distillation"] = len(inputs)
            if others:
                for name, extra in apportion(short, others).items():
                    counts[name] += extra
                notes.append(
                    f"distillation: only {len(inputs)} inputs; {short} records moved to "
                    f"{sorted(others)}"
                )
            else:
                notes.append(f"distillation: only {len(inputs)} inputs for {short + len(inputs)}")

    by_id: dict[str, dict[str, Any]] = {
        r["record_id"]: json.loads(r["record"]) for r in seeds.iter_rows(named=True)
    }
    labels = kind.label_groups(spec)
    ids_by_label: dict[str | None, list[str]] = {}
    for lab in labels:
        frame = seeds if lab is None else seeds.filter(pl.col("label") == lab)
        ids_by_label[lab] = frame["record_id"].to_list()

    shares = target_shares(spec)
    per_label: dict[str, dict[str, int]] = {}
    if shares:
        for s in strategies:
            if s.name not in ("class_balance", "distillation"):
                per_label[s.name] = apportion(counts[s.name], shares)
        cb = _strategy(spec, ClassBalanceStrategy)
        if cb is not None:
            other: dict[str, float] = {lab: 0.0 for lab in spec.labels}
            for alloc in per_label.values():
                for lab, n in alloc.items():
                    other[lab] += n
            for lab in spec.labels:  # the teacher picks labels: expect the target mix
                other[lab] += counts.get("distillation", 0) * shares[lab]
            seed_counts = (
                {lab: len(ids_by_label[lab]) for lab in spec.labels} if cb.include_seeds else {}
            )
            final_total = total + (seeds.height if cb.include_seeds else 0)
            per_label["class_balance"] = class_quotas(
                counts["class_balance"], shares, seed_counts, other, final_total
            )
    else:
        for s in strategies:
            if s.name != "distillation":
                per_label[s.name] = {"": counts[s.name]}

    # Requests interleave strategies in proportion (and labels within a strategy, round by
    # round), so a budget stop leaves a balanced prefix.
    keyed: list[tuple[tuple[float, int], GenerationRequest]] = []
    n_labels = len(labels)
    for si, s in enumerate(strategies):
        own: list[tuple[tuple[int, int], GenerationRequest]] = []
        if s.name == "distillation":
            assert inputs is not None
            n = counts["distillation"]
            group = _distillation_requests(spec, s, inputs[:n], by_id)
            own = [((j, 0), req) for j, req in enumerate(group)]
        else:
            for li, lab in enumerate(labels):
                n = per_label[s.name].get(lab if lab is not None else "", 0)
                if n == 0:
                    continue
                group = _group_requests(spec, s, lab, li, n_labels, n, ids_by_label[lab], by_id)
                own += [((j, li), req) for j, req in enumerate(group)]
        own.sort(key=lambda jr: jr[0])
        keyed += [(((r + 0.5) / len(own), si), req) for r, (_, req) in enumerate(own)]
    keyed.sort(key=lambda kr: kr[0])
    requests = [r for _, r in keyed]
    planned = Counter(r.strategy for r in requests)
    return Plan(
        requests=requests,
        target_total=total,
        per_strategy={s.name: planned.get(s.name, 0) for s in strategies},
        per_label=per_label if shares else {},
        target_shares=shares,
        notes=notes,
    )


def plan_requests(spec: DatasetSpec, seeds: pl.DataFrame) -> list[GenerationRequest]:
    return plan_generation(spec, seeds).requests


def _group_requests(
    spec: DatasetSpec,
    s: Any,
    label: str | None,
    label_index: int,
    n_labels: int,
    n: int,
    ids: list[str],
    by_id: dict[str, dict[str, Any]],
) -> list[GenerationRequest]:
    """The n requests of one (seed-based strategy, label) group."""
    k = 1 if isinstance(s, EvolutionStrategy) else _k(spec, s)
    chosen = seed_sets(ids, k, f"{s.name}|{label}", n)
    dims = attribute_dimensions(s) if isinstance(s, AttributesStrategy) else {}
    out = []
    for j in range(n):
        # Positions interleave labels, so attribute coverage balances across the whole strategy.
        position = j * n_labels + label_index
        examples = [by_id[i] for i in chosen[j]]
        attrs: dict[str, str] = {}
        extra: dict[str, Any] = {}
        if dims:
            attrs = {d: balanced_value(vals, f"{s.name}|{d}", position) for d, vals in dims.items()}
            extra["attributes"] = attrs
        if isinstance(s, EvolutionStrategy):
            op = balanced_value(list(s.operations), "evolution|operation", position)
            attrs = {"operation": op}
            extra.update(operation=op, original=examples[0] if examples else {})
            if not examples:
                continue  # nothing to evolve for a label without seeds
        doc_field = document_field(spec) if s.name in TURN_STRATEGIES else None
        if doc_field is not None and not s.template:
            messages = [
                {"role": "document", "content": document_prompt(spec, label, examples, attrs)}
            ]
        else:
            doc_field = None
            messages = strategy_messages(
                spec,
                s.name,
                override=s.template,
                label=label,
                examples=examples,
                **extra,
            )
        out.append(
            GenerationRequest(
                strategy=s.name,
                label=label,
                seed_ids=chosen[j],
                messages=_freeze(messages),
                sample_index=j,
                attributes=tuple(attrs.items()),
                document_field=doc_field,
            )
        )
    return out


def _distillation_requests(
    spec: DatasetSpec,
    s: DistillationStrategy,
    inputs: list[tuple[str, dict[str, Any]]],
    by_id: dict[str, dict[str, Any]],
) -> list[GenerationRequest]:
    all_ids = list(by_id)
    k = _k(spec, s)
    # A labelled kind's teacher also picks the label among the spec's.
    choices = tuple(lab for lab in kind_of(spec).label_groups(spec) if lab is not None)
    out = []
    for j, (input_id, fixed) in enumerate(inputs):
        missing = [f for f in spec.content_fields if f.name not in fixed]
        if not choices and not missing:
            raise SpecError(
                f"{spec.path(s.inputs_file)}: input {j + 1} already has every field; "
                "distillation needs something for the teacher to write"
            )
        chosen = tuple(pick_seeds(all_ids, k, f"distillation|{input_id}"))
        messages = strategy_messages(
            spec,
            "distillation",
            override=s.template,
            examples=[by_id[i] for i in chosen],
            output_fields=missing,
            label_choices=list(choices),
            inputs=fixed,
        )
        out.append(
            GenerationRequest(
                strategy="distillation",
                label=None,
                seed_ids=chosen,
                messages=_freeze(messages),
                sample_index=j,
                attributes=(("input_id", input_id),),
                fixed=tuple(sorted(fixed.items())),
                output_fields=tuple(f.name for f in missing),
                label_choices=choices,
            )
        )
    return out
