"""Prompt templates (jinja2 files in `templates/`) rendered into chat messages.

Each strategy has a user template named after it (`seed_variation.j2`,
`attributes.j2`, ...). A dataset may replace one with a file of its own folder
(`strategies[].template` in the spec); that file can still import the built-in
`_macros.j2`. Changing a template changes the messages and so the cache keys:
a new prompt pays again, an unchanged one never does.
"""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import ChoiceLoader, Environment, FileSystemLoader, StrictUndefined

from synth_pipeline.kinds import kind_of
from synth_pipeline.spec import DatasetSpec, FieldSpec, SpecError

TEMPLATE_DIR = Path(__file__).parent / "templates"


def _make_env(dirs: tuple[str, ...]) -> Environment:
    return Environment(
        loader=ChoiceLoader([FileSystemLoader(d) for d in dirs]),
        undefined=StrictUndefined,
        keep_trailing_newline=False,
        autoescape=False,  # prompts are plain text, not HTML
        trim_blocks=False,
    )


@lru_cache(maxsize=8)
def _env(kind_dir: str | None = None) -> Environment:
    # The kind's own templates (kinds/templates/<kind>/) first, then the shared ones.
    return _make_env((*([kind_dir] if kind_dir else []), str(TEMPLATE_DIR)))


@lru_cache(maxsize=16)
def _dataset_env(folder: str, kind_dir: str | None = None) -> Environment:
    # The dataset folder first for the override itself, built-ins for what it imports.
    return _make_env((folder, *([kind_dir] if kind_dir else []), str(TEMPLATE_DIR)))


def _tidy(text: str) -> str:
    """Strip each line's trailing spaces and collapse runs of blank lines."""
    lines = [line.rstrip() for line in text.strip().splitlines()]
    out: list[str] = []
    for line in lines:
        if not line and out and not out[-1]:
            continue
        out.append(line)
    return "\n".join(out)


def render(
    template: str, *, folder: Path | None = None, kind_dir: str | None = None, **context: Any
) -> str:
    """TEMPLATE rendered: from the dataset FOLDER (an override), else the kind's own
    templates (KIND_DIR), else the shared ones."""
    if folder is None:
        env = _env(kind_dir)
    else:
        if not (folder / template).is_file():
            raise SpecError(f"{folder / template}: prompt template not found")
        env = _dataset_env(str(folder), kind_dir)
    return _tidy(env.get_template(template).render(**context))


def _shown(fields: list[FieldSpec], record: dict[str, Any]) -> dict[str, Any]:
    return {f.name: record[f.name] for f in fields if f.name in record}


# Strategies whose examples are shown as earlier turns of the conversation (a request, the
# example record as the model's own answer) rather than quoted inside one instruction: a
# small model imitates a conversation far better than it follows a description of one.
TURN_STRATEGIES = frozenset({"seed_variation", "class_balance", "attributes"})


def example_turns(
    examples: list[dict[str, Any]], label: str | None, kind_dir: str | None = None, **context: Any
) -> list[dict[str, str]]:
    """A user request and the example as the assistant's JSON answer, per example."""
    ask = render("ask.j2", label=label, kind_dir=kind_dir, **context)
    turns: list[dict[str, str]] = []
    for ex in examples:
        turns.append({"role": "user", "content": ask})
        turns.append({"role": "assistant", "content": json.dumps(ex, ensure_ascii=False)})
    return turns


def strategy_messages(
    spec: DatasetSpec,
    strategy: str,
    *,
    override: str | None = None,
    label: str | None = None,
    examples: list[dict[str, Any]] | None = None,
    output_fields: list[FieldSpec] | None = None,
    label_choices: list[str] | None = None,
    **extra: Any,
) -> list[dict[str, str]]:
    """System message, example turns where the strategy uses them, and the user message.

    `examples` are seed records (only the fields the model writes are shown,
    plus the label for distillation, where choosing it is the job).
    """
    content = spec.content_fields
    fields = output_fields if output_fields is not None else content
    kind = kind_of(spec)
    kind_dir = kind.template_dir()
    if strategy == "distillation":
        shown_fields = [*content, *([spec.field(spec.label_field)] if label_choices else [])]
        names = [f.name for f in fields] + ([spec.label_field] if label_choices else [])
        system = render(
            "distillation_system.j2", task=spec.task, field_names=names, kind_dir=kind_dir
        )
    else:
        shown_fields = content
        system = render(
            "system.j2",
            task=spec.task,
            field_names=[f.name for f in fields],
            fields=fields,
            kind_dir=kind_dir,
            **kind.prompt_context(spec),
        )
    shown = [
        _shown(shown_fields, ex) if strategy == "distillation" else kind.shown_example(spec, ex)
        for ex in (examples or [])
    ]
    if "original" in extra:  # the record evolution rewrites: content fields only
        extra["original"] = _shown(content, extra["original"])
    as_turns = strategy in TURN_STRATEGIES
    context = {
        "label": label,
        "examples": [] if as_turns else shown,
        "n_examples": len(shown),
        "fields": fields,
        "label_choices": label_choices or [],
        "task": spec.task,
        **extra,
    }
    if override:
        assert spec.folder is not None, "spec was not loaded from a folder"
        user = render(override, folder=spec.folder, kind_dir=kind_dir, **context)
    else:
        user = render(f"{strategy}.j2", kind_dir=kind_dir, **context)
    turns = example_turns(shown, label, kind_dir) if as_turns else []
    return [{"role": "system", "content": system}, *turns, {"role": "user", "content": user}]


def document_field(spec: DatasetSpec) -> str | None:
    """The field a document prompt writes, or None when the spec's requests are chat.

    Document prompts need one free-text field (the line the model writes is the record)
    and a completion endpoint: `auto` takes them for the embedded model only.
    """
    fmt = spec.generation.prompt_format
    strings = [f for f in spec.content_fields if f.type == "string"]
    if fmt == "chat" or len(spec.content_fields) != 1 or len(strings) != 1:
        return None
    if fmt == "auto" and spec.provider.kind != "embedded":
        return None
    return strings[0].name


def document_prompt(
    spec: DatasetSpec,
    label: str | None,
    examples: list[dict[str, Any]],
    attributes: dict[str, str] | None = None,
) -> str:
    """A numbered list of the seed records under a title; the model writes the next item."""
    field = document_field(spec) or spec.text_field
    lines = [" ".join(str(ex.get(field, "")).split()) for ex in examples]
    return render(
        "document.j2",
        title=(spec.generation.examples_title or spec.task).strip().rstrip("."),
        label=label,
        attributes=attributes or {},
        lines=[line for line in lines if line],
    )


def seed_variation_messages(
    spec: DatasetSpec, examples: list[dict[str, Any]], label: str | None
) -> list[dict[str, str]]:
    return strategy_messages(spec, "seed_variation", label=label, examples=examples)


def messages_hash(messages: list[dict[str, str]]) -> str:
    return hashlib.sha256(json.dumps(messages, sort_keys=True).encode()).hexdigest()[:16]
