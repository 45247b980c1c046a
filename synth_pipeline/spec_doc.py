"""docs/SPEC.md, generated from the spec's pydantic models: `python -m synth_pipeline.spec_doc`.

Every section of `spec.yaml` becomes a heading with a table of its fields (type, default,
meaning from the models' `Field(description=...)`), nested sections after their parent.
`make spec-doc` rewrites docs/SPEC.md; synth_pipeline_tests/test_spec_doc.py fails when the
file is out of date.
"""

from __future__ import annotations

import json
import sys
import types
import typing
from typing import Any, Literal, Union, get_args, get_origin

import yaml
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from synth_pipeline.report.metric_registry import FAMILY_WORDS
from synth_pipeline.report.score import THRESHOLDS
from synth_pipeline.spec import (
    AttributesStrategy,
    ClassBalanceStrategy,
    DatasetSpec,
    DistillationStrategy,
    EvolutionStrategy,
    SeedVariationStrategy,
)

REGENERATE = "make spec-doc  (or: .venv/bin/python -m synth_pipeline.spec_doc > docs/SPEC.md)"
STRATEGIES: tuple[type[BaseModel], ...] = (
    SeedVariationStrategy,
    ClassBalanceStrategy,
    AttributesStrategy,
    DistillationStrategy,
    EvolutionStrategy,
)
# Defaults longer than this go under the table as YAML instead of into a cell.
MAX_INLINE_DEFAULT = 60

INTRO = """\
# Dataset spec reference

<!-- Generated from the pydantic models by `python -m synth_pipeline.spec_doc`; do not edit.
     Regenerate with `make spec-doc`. -->

A dataset is a folder `data/<name>/` with a `spec.yaml`, a seed file and a holdout file.
The spec is validated by `synth_pipeline/spec.py` (sections from
`synth_pipeline/curation/config.py`, `synth_pipeline/report/config.py`,
`synth_pipeline/review/config.py` and `synth_pipeline/regression/config.py`). Unknown keys are
refused, so a typo stops with the field at fault. Every table below lists a section's keys
with their type, default and meaning; "required" means the key has no default. `null` in
YAML is `None`. Examples of whole specs for OpenAI, vLLM and Ollama endpoints are in
`docs/examples/`.
"""

DATA_FILES = """\
## Data files (`seeds_file`, `holdout_file`)

Real records, one per line (`.jsonl`, a JSON object per line) or one per row (`.csv`, UTF-8,
with a header line). Each record has exactly the spec's `fields`, by name: for a CSV file the
header names the columns, in any order, and no other column is allowed; every value must be
present and non-empty. CSV values are text; they are converted to the field's `type`
(`integer`, `number`, `boolean` as `true`/`false`). For a classification dataset the
`label_field` must hold one of `labels`. The holdout must not repeat a seed record (compared
on `text_field`, ignoring case and spacing): it judges the result and is never shown to the
generator. Errors name the file and line (line 1 of a CSV file is its header).

Example `seeds.csv` for a dataset with fields `text` and `label`:

```csv
text,label
"Where is my parcel? Order 4412, ordered last week.",order_status
I was charged twice for the same order,billing_issue
```
"""

TEMPLATES = """\
## Prompt templates (`generation.strategies[].template`)

Each strategy renders a built-in jinja2 user prompt (`synth_pipeline/generation/templates/`,
named after the strategy, e.g. `seed_variation.j2`). `template: my_prompt.j2` replaces it with
a file of the dataset's folder (a plain file name; a missing file stops the version before it
writes anything). The file may `{% import "_macros.j2" as m %}` the built-in macros. It is
rendered with `StrictUndefined` (an unknown variable is an error) and these variables:

| variable | what it holds |
|---|---|
| `task` | the spec's `task` |
| `label` | the label asked for (classification), else empty |
| `fields` | the fields the model writes (`name`, `type`, `description`, `min_length`, ...) |
| `examples` | the seeds shown in the prompt (empty when shown as earlier chat turns) |
| `n_examples` | how many seeds the call shows |
| `label_choices` | distillation: the labels the teacher chooses from |

Besides these, the attributes strategy passes the sampled value of each dimension and
`scenario`, evolution passes `operation` and `original`, and distillation the input row.
Changing a template changes the prompts and so the cache keys: a changed prompt pays again,
an unchanged one never does.
"""


def _type_name(tp: Any) -> str:
    """A YAML-minded rendering of a type annotation."""
    if tp is type(None):
        return "null"
    origin = get_origin(tp)
    if origin is typing.Annotated:
        return _type_name(get_args(tp)[0])
    if origin is Literal:
        return " | ".join(json.dumps(a) for a in get_args(tp))
    if origin in (Union, types.UnionType):
        return " | ".join(_type_name(a) for a in get_args(tp))
    if origin in (list, tuple):
        return f"list[{_type_name(get_args(tp)[0])}]"
    if origin is dict:
        key, value = get_args(tp)
        return f"map[{_type_name(key)}, {_type_name(value)}]"
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return "section"
    return {str: "string", int: "integer", float: "number", bool: "boolean"}.get(
        tp, getattr(tp, "__name__", str(tp))
    )


def _bounds(info: FieldInfo) -> str:
    parts = []
    for m in info.metadata:
        for attr, sign in (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<")):
            value = getattr(m, attr, None)
            if value is not None:
                parts.append(f"{sign} {value}")
        if getattr(m, "min_length", None):
            parts.append(f"at least {m.min_length} item(s)")
        if getattr(m, "pattern", None):
            parts.append(f"matches `{m.pattern}`")
    return ", ".join(parts)


def _default(info: FieldInfo) -> Any:
    if info.default_factory is not None:
        return info.default_factory()  # type: ignore[call-arg]
    return info.default


def _plain(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _models_in(tp: Any) -> list[type[BaseModel]]:
    """Models named by an annotation (through Optional, list and dict values)."""
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return [tp]
    out: list[type[BaseModel]] = []
    for arg in get_args(tp):
        out += _models_in(arg)
    return out


def _first_line(model: type[BaseModel]) -> str:
    doc = (model.__doc__ or "").strip()
    if not doc or doc.startswith(("Usage docs", "A base class")):
        return ""
    return " ".join(doc.split("\n\n")[0].split())


def canonical_paths() -> dict[type[BaseModel], str]:
    """Each section model's documented path: the shallowest key that holds it (breadth
    first), so `provider` is documented at the top and a strategy's `teacher` links to it."""
    from synth_pipeline.kinds import KIND_NAMES, get_kind

    paths: dict[type[BaseModel], str] = {DatasetSpec: ""}
    queue: list[tuple[type[BaseModel], str]] = [(DatasetSpec, "")]
    for name in KIND_NAMES:  # a kind's own section, under the key named after the kind
        options = get_kind(name).options_model
        if options is not None:
            paths[options] = name
            queue.append((options, name))
    while queue:
        model, path = queue.pop(0)
        for name, info in model.model_fields.items():
            child = f"{path}.{name}" if path else name
            for sub in _models_in(info.annotation):
                if sub in paths:
                    continue
                if sub in STRATEGIES:
                    paths[sub] = f"{child}[]"
                else:
                    paths[sub] = child + (".<model>" if get_origin(info.annotation) is dict else "")
                queue.append((sub, paths[sub]))
    return paths


def _meaning(info: FieldInfo) -> str:
    """The field's description; for a section without one, its model's first doc line."""
    if info.description:
        return info.description
    models = [m for m in _models_in(info.annotation) if m not in STRATEGIES]
    return _first_line(models[0]) if models else ""


class _Writer:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self.done: dict[type[BaseModel], str] = {}
        self.paths = canonical_paths()

    def section(self, model: type[BaseModel], path: str, level: int, title: str = "") -> None:
        if model in self.done:
            return
        self.done[model] = path
        heading = title or (f"`{path}`" if path else "Top level")
        self.lines += ["", f"{'#' * level} {heading}", ""]
        doc = _first_line(model)
        if doc:
            self.lines += [doc, ""]
        self.lines += ["| key | type | default | meaning |", "|---|---|---|---|"]
        long_defaults: list[tuple[str, Any]] = []
        nested: list[tuple[type[BaseModel], str]] = []
        for name, info in model.model_fields.items():
            if info.exclude:
                continue
            tp = _type_name(info.annotation)
            bounds = _bounds(info)
            models = _models_in(info.annotation)
            if models and all(m in STRATEGIES for m in models):
                tp = f"list[strategy: see `{self.paths[models[0]]}`]"
                models = []
            for sub in models:
                where = self.paths[sub]
                if model not in STRATEGIES and where.startswith(f"{path}.{name}" if path else name):
                    nested.append((sub, where))
                tp = tp.replace("section", f"section `{where}`", 1)
            default = _default(info)
            if default is PydanticUndefined:
                shown = "required"
            elif isinstance(default, BaseModel):
                shown = "(its defaults)"
            else:
                text = json.dumps(_plain(default), ensure_ascii=False)
                if len(text) > MAX_INLINE_DEFAULT:
                    long_defaults.append((name, _plain(default)))
                    shown = "(below)"
                else:
                    shown = f"`{text}`"
            meaning = _meaning(info)
            if model in STRATEGIES and name == "name":
                meaning = "Selects this strategy."
            if bounds:
                meaning = f"{meaning} ({bounds})" if meaning else f"({bounds})"
            self.lines.append(f"| `{name}` | {_cell(tp)} | {_cell(shown)} | {_cell(meaning)} |")
        for name, value in long_defaults:
            dumped = yaml.safe_dump({name: value}, sort_keys=False, allow_unicode=True, width=90)
            self.lines += ["", f"Default of `{name}`:", "", "```yaml", dumped.rstrip(), "```"]
        for sub, sub_path in nested:
            self.section(sub, sub_path, min(level + 1, 4))
        if model is DatasetSpec.model_fields["generation"].annotation:
            self.strategies(f"{path}.strategies[]", min(level + 1, 4))

    def strategies(self, path: str, level: int) -> None:
        self.lines += [
            "",
            f"{'#' * level} `{path}`: strategies",
            "",
            "Each entry names one strategy (`name:`), at most once; `weight` shares the target "
            "records out among them. The keys each strategy takes:",
        ]
        for strategy in STRATEGIES:
            name = get_args(strategy.model_fields["name"].annotation)[0]
            self.section(strategy, path, min(level + 1, 4), title=f"`name: {name}`")


def thresholds_section() -> list[str]:
    from synth_pipeline.report.config import ReportSpec

    lines = [
        "",
        "## Report thresholds (`report:` gate)",
        "",
        "The `report_thresholds` check compares each threshold that is set (not `null`) with a "
        "figure of the version's report; a version that fails one is never published. A "
        "threshold on figures a kind's records do not have (labels, tables) is not evaluated "
        "for that kind, and passes with a note when the spec sets it.",
        "",
        "| threshold | default | figure (`metrics.json`) | passes when | applies to |",
        "|---|---|---|---|---|",
    ]
    for name, entry in THRESHOLDS.items():
        default = ReportSpec.model_fields[name].default
        shown = "off (`null`)" if default is None else f"`{default}`"
        lines.append(
            f"| `{name}` | {shown} | `{entry.key}` | figure {_cell(entry.comparison)} threshold | "
            f"{FAMILY_WORDS[entry.family]} |"
        )
    return lines


def kind_sections(w: _Writer) -> None:
    """Each kind's own section (`chat:` ...), from the kind's options model."""
    from synth_pipeline.kinds import KIND_NAMES, get_kind

    w.lines += ["", "## Dataset kinds (`kind:`)", ""]
    for name in KIND_NAMES:
        kind = get_kind(name)
        extra = f"; its settings go under `{name}:`" if kind.options_model else ""
        w.lines.append(f"- `{name}`: {kind.summary}{extra}.")
    for name in KIND_NAMES:
        model = get_kind(name).options_model
        if model is not None:
            w.section(model, name, 3, title=f"`{name}:` (kind: {name})")


def render() -> str:
    w = _Writer()
    w.lines = INTRO.rstrip("\n").split("\n")
    w.section(DatasetSpec, "", 2)
    kind_sections(w)
    lines = [*w.lines, *thresholds_section(), ""]
    lines += TEMPLATES.rstrip("\n").split("\n") + [""]
    lines += DATA_FILES.rstrip("\n").split("\n")
    return "\n".join(lines) + "\n"


def undocumented_fields() -> list[str]:
    """`Model.field` for every documented field without a description (the test wants none)."""
    w = _Writer()
    w.section(DatasetSpec, "", 2)
    kind_sections(w)
    return [
        f"{model.__name__}.{name}"
        for model in w.done
        for name, info in model.model_fields.items()
        if not info.exclude and not _meaning(info) and name != "name"
    ]


if __name__ == "__main__":
    sys.stdout.buffer.write(render().encode("utf-8"))  # UTF-8 whatever the locale
