"""`synth validate NAME`: check a dataset's spec and data files without running anything.

Lists every problem found, not only the first: the checks a version's input stages make
(`stages.check_inputs`: templates, plan size, seed and holdout files, holdout disjoint from
the seeds, seeds per label, distillation inputs), enough holdout rows to measure on, and a
provider that answers with the model the spec names. When everything is fine it says what
the first version will cost: requests, tokens, time on the embedded model, dollars when
`provider.prices` has the model. Nothing is written. Kept out of cli.py; cli.py registers it.
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import polars as pl
import typer
from rich.console import Console
from rich.markup import escape

from synth_pipeline.cli_errors import DatasetArg
from synth_pipeline.kinds import kind_of
from synth_pipeline.paths import data_dir
from synth_pipeline.spec import DatasetSpec, DistillationStrategy, SpecError, load_spec

console = Console()

# Fewer real held-out rows than this per label (classification) or in all (instruction) and
# the report's utility and fidelity figures are noise: one row moves TRTR macro-F1 by 0.1+.
MIN_HOLDOUT_PER_LABEL = 5
MIN_HOLDOUT_TOTAL = 10
# docs: DESIGN.md measured about 1.5 records/s at 4 parallel requests on a 2-core machine.
EMBEDDED_RECORDS_PER_SECOND = 1.5
PROVIDER_TIMEOUT_SECONDS = 5.0


@dataclass
class Validation:
    spec: DatasetSpec | None = None
    problems: list[str] = field(default_factory=list)
    seeds: pl.DataFrame | None = None
    holdout: pl.DataFrame | None = None
    cost: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems


def _collect(problems: list[str], check: Callable[[], Any]) -> Any:
    try:
        return check()
    except SpecError as e:
        problems.append(str(e))
        return None


def holdout_problems(spec: DatasetSpec, holdout: pl.DataFrame) -> list[str]:
    """Too few held-out rows to measure the synthetic data against."""
    return kind_of(spec).holdout_problems(
        spec,
        holdout["label"].to_list(),
        str(spec.path(spec.holdout_file)),
        MIN_HOLDOUT_TOTAL,
        MIN_HOLDOUT_PER_LABEL,
    )


def provider_problems(spec: DatasetSpec, get: Callable[..., Any] | None = None) -> list[str]:
    """Is the provider reachable, with the model the spec names? Never shows the API key."""
    from synth_pipeline.generation.embedded import EmbeddedModelError, weights_path
    from synth_pipeline.generation.providers import ProviderError, resolve_provider

    try:
        provider = resolve_provider(spec.provider)
    except ProviderError as e:
        return [f"provider: {e}"]
    if provider.kind == "embedded":
        out = []
        try:
            weights_path()
        except EmbeddedModelError as e:
            out.append(f"provider embedded: {e}")
        if importlib.util.find_spec("xllamacpp") is None:
            out.append(
                "provider embedded: the xllamacpp package is not installed; run `make setup`"
            )
        return out
    try:
        key = provider.api_key()
    except ProviderError as e:
        return [f"provider: {e}"]
    url = (provider.base_url or "").rstrip("/") + "/models"
    if get is None:
        import httpx

        get = httpx.get
    try:
        response = get(
            url,
            headers={"Authorization": f"Bearer {key}"},
            timeout=PROVIDER_TIMEOUT_SECONDS,
        )
    except Exception as e:  # noqa: BLE001 - any transport failure is the finding
        reason = type(e).__name__ + (f": {e}" if str(e) else "")
        return [f"provider {provider.kind}: GET {url} failed ({reason.replace(key, '***')})"]
    if response.status_code in (401, 403):
        return [
            f"provider {provider.kind}: GET {url} answered {response.status_code}: the key in "
            f"{provider.api_key_env} is not accepted"
        ]
    if response.status_code >= 400:
        return [f"provider {provider.kind}: GET {url} answered {response.status_code}"]
    try:
        ids = [m.get("id") for m in response.json().get("data", [])]
    except (ValueError, AttributeError):
        return []  # reachable; no model list to check against
    if ids and provider.model not in ids:
        shown = ", ".join(str(i) for i in ids[:8]) + (" ..." if len(ids) > 8 else "")
        return [
            f"provider {provider.kind}: model {provider.model!r} is not served at {url} ({shown})"
        ]
    return []


def _cached_requests(spec: DatasetSpec, provider: Any, requests: list[Any]) -> int:
    """How many of the plan's requests the generation cache already answers (a preview's,
    an earlier version's): the keys a version's engine computes, looked up read-only."""
    from synth_pipeline.generation.cache import ResponseCache
    from synth_pipeline.generation.engine import GenerationEngine
    from synth_pipeline.generation.schema import ResponseModels
    from synth_pipeline.paths import default_warehouse
    from synth_pipeline.warehouse import Warehouse

    if not default_warehouse().exists() or not requests:
        return 0
    cache = ResponseCache(Warehouse(default_warehouse()), spec.name)
    engine = GenerationEngine(provider, ResponseModels(spec), cache)
    try:
        return engine.uncached(requests)[1]
    except Exception:  # noqa: BLE001 - a busy or damaged warehouse: the estimate goes without
        return 0


def estimate_cost(spec: DatasetSpec, seeds: pl.DataFrame) -> dict[str, Any]:
    """What the first version's generation will cost: requests of the real plan, tokens,
    time on the embedded model, dollars when priced. Estimates, except the request count."""
    from synth_pipeline.generation.ledger import estimate_prompt_tokens
    from synth_pipeline.generation.planner import plan_generation
    from synth_pipeline.generation.providers import resolve_provider

    plan = plan_generation(spec, seeds)
    provider = resolve_provider(spec.provider)
    requests = len(plan.requests)
    prompt = sum(estimate_prompt_tokens(len(json.dumps(r.message_list))) for r in plan.requests)
    completion = requests * spec.provider.max_tokens
    out: dict[str, Any] = {
        "requests": requests,
        "per_strategy": plan.per_strategy,
        "prompt_tokens": prompt,
        "completion_tokens_max": completion,
        "provider": provider.kind,
        "model": provider.model,
        "top_up_factor": spec.generation.top_up_factor if kind_of(spec).tops_up else 0,
    }
    out["cached"] = _cached_requests(spec, provider, plan.requests)
    if provider.kind == "embedded":
        out["embedded_seconds"] = (requests - out["cached"]) / EMBEDDED_RECORDS_PER_SECOND
    if provider.price is not None and provider.kind != "embedded":
        out["usd_max"] = provider.cost(prompt, completion)
    return out


def validate_dataset(
    name: str, get: Callable[..., Any] | None = None, check_provider: bool = True
) -> Validation:
    """Every problem of dataset NAME's spec and files; the cost estimate when there are none."""
    from synth_pipeline.generation.planner import check_plan_size, load_inputs, seed_problems
    from synth_pipeline.records import load_real_records
    from synth_pipeline.spec import missing_templates
    from synth_pipeline.stages import check_holdout_disjoint, check_inputs

    v = Validation()
    try:
        v.spec = spec = load_spec(data_dir() / name)
    except SpecError as e:
        v.problems.append(str(e))  # nothing else can be read without the spec
        return v
    except OSError as e:
        v.problems.append(f"{data_dir() / name}: cannot be read: {e}")
        return v
    p = v.problems
    from synth_pipeline.init_command import placeholders_left

    left = placeholders_left(spec)
    if left:
        p.append(
            f"{spec.path('spec.yaml')}: still the placeholders of `synth init` in "
            f"{', '.join(left)}: replace them with your own"
        )
    p += missing_templates(spec)
    _collect(p, lambda: check_plan_size(spec))
    v.seeds = _collect(p, lambda: load_real_records(spec, spec.seeds_file, "seed"))
    v.holdout = _collect(p, lambda: load_real_records(spec, spec.holdout_file, "holdout"))
    if v.seeds is not None and v.holdout is not None:
        _collect(p, lambda: check_holdout_disjoint(spec, v.seeds, v.holdout))
    if v.seeds is not None:
        short = seed_problems(spec, v.seeds)
        if short:
            p.append(
                f"{spec.path(spec.seeds_file)}: too few seeds: {'; '.join(short)}. Add real "
                "examples to the seeds file, or lower the settings named"
            )
    if v.holdout is not None:
        p += holdout_problems(spec, v.holdout)
    for s in spec.generation.strategies:
        if isinstance(s, DistillationStrategy):
            _collect(p, lambda s=s: load_inputs(spec, s.inputs_file))
    if not p:  # what a version's input stage checks, in case it checks more than the above
        _collect(p, lambda: check_inputs(spec))
    if check_provider:
        p += provider_problems(spec, get)
    if not p and v.seeds is not None:
        try:
            v.cost = estimate_cost(spec, v.seeds)
        except SpecError as e:
            p.append(str(e))
    return v


def describe_cost(cost: dict[str, Any]) -> list[str]:
    strategies = ", ".join(f"{k} {n}" for k, n in cost["per_strategy"].items())
    lines = [
        f"requests: {cost['requests']} ({strategies}) to {cost['provider']} model {cost['model']}",
        f"tokens (estimate): about {cost['prompt_tokens']:,} prompt tokens, at most "
        f"{cost['completion_tokens_max']:,} completion tokens (provider.max_tokens per request)",
    ]
    if "embedded_seconds" in cost and cost["embedded_seconds"] == 0:
        lines.append("time: no generation (every request is answered from the cache)")
    elif "embedded_seconds" in cost:
        minutes = cost["embedded_seconds"] / 60
        lines.append(
            f"time (estimate): about {minutes:.1f} minutes of generation on the embedded model "
            f"(at ~{EMBEDDED_RECORDS_PER_SECOND} records/s on a 2-core machine), plus curation "
            "and the report"
        )
    if "usd_max" in cost:
        lines.append(f"dollars (estimate): at most {cost['usd_max']:.4f} USD (provider.prices)")
    elif cost["provider"] == "embedded":
        lines.append("dollars: 0 (the embedded model runs on this machine)")
    else:
        lines.append(f"dollars: unknown; add provider.prices for {cost['model']!r} to see them")
    if cost.get("cached"):
        lines.append(
            f"cache: {cost['cached']} of the {cost['requests']} requests are already answered "
            "(a preview or an earlier version) and cost nothing"
        )
    if cost["top_up_factor"]:
        lines.append(
            f"top-up: after curation, up to {cost['top_up_factor']}x each label's shortfall "
            "is requested once more (generation.top_up_factor)"
        )
    return lines


def validate(dataset: DatasetArg) -> None:
    """Check DATASET's spec, seeds, holdout and provider; say what a first version costs."""
    v = validate_dataset(dataset)
    if v.problems:
        console.print(
            f"[bold red]{len(v.problems)} problem(s)[/] in dataset {dataset}:", soft_wrap=True
        )
        for i, problem in enumerate(v.problems, 1):
            console.print(f"  {i}. {escape(problem)}", soft_wrap=True)
        raise typer.Exit(code=1)
    assert v.spec is not None and v.seeds is not None and v.holdout is not None
    console.print(
        f"[bold green]{dataset} is valid[/]: {v.seeds.height} seeds, {v.holdout.height} "
        f"holdout records, provider {v.cost['provider']} ({v.cost['model']}) ready.",
        soft_wrap=True,
    )
    console.print("A new version will cost:")
    for line in describe_cost(v.cost):
        console.print(f"  {escape(line)}", soft_wrap=True)
