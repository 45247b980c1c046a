"""`synth init NAME --kind classification|instruction`: a new dataset folder to fill in.

Writes `<data>/<name>/spec.yaml` with every field of the spec present at its default and one
line saying what it means, empty seed and holdout files, and a README.md showing the shape
of one record. The comments come from the spec models themselves (a field's `description`,
else the comment above it in the model's source, else its section's docstring), so they
never drift from what `load_spec` accepts. Kept out of cli.py; cli.py only registers it.
"""

from __future__ import annotations

import ast
import inspect
import json
import textwrap
from functools import cache
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from rich.console import Console
from rich.markup import escape

from synth_pipeline.datasets import DatasetError, known_datasets
from synth_pipeline.field_types import PLACEHOLDERS
from synth_pipeline.kinds import KIND_NAMES, UnknownKindError, get_kind, kind_of
from synth_pipeline.paths import data_dir
from synth_pipeline.spec import (
    NAME_PATTERN,
    SPEC_FILE,
    DatasetSpec,
    load_spec,
)

console = Console()
KINDS = KIND_NAMES
MAX_COMMENT = 150  # characters of one comment line
TODO_MARK = "TODO:"  # what the scaffold leaves for a person to replace


# --- the scaffold's spec -----------------------------------------------------------------


def scaffold_spec(name: str, kind: str) -> DatasetSpec:
    """The starting spec of a new dataset of KIND: placeholders to replace, defaults elsewhere."""
    try:
        return DatasetSpec.model_validate(get_kind(kind).scaffold(name, TODO_MARK))
    except UnknownKindError as e:
        raise DatasetError(str(e)) from None


# --- comments from the models -------------------------------------------------------------


@cache
def _source_comments(cls: type) -> dict[str, str]:
    """Field name -> the `#` comment lines right above its annotation in CLS's own source."""
    try:
        source = textwrap.dedent(inspect.getsource(cls))
    except (OSError, TypeError):
        return {}
    lines = source.splitlines()
    out: dict[str, str] = {}
    tree = ast.parse(source)
    body = tree.body[0].body if tree.body and isinstance(tree.body[0], ast.ClassDef) else []
    for node in body:
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            above = []
            i = node.lineno - 2
            while i >= 0 and lines[i].strip().startswith("#"):
                above.insert(0, lines[i].strip().lstrip("#").strip())
                i -= 1
            if above:
                out[node.target.id] = " ".join(above)
    return out


def _one_line(text: str) -> str:
    """The first sentence, cut at a word if still long."""
    text = " ".join(w for w in text.split() if w.strip("-"))  # no `# --- section ---` rules
    if len(text) > MAX_COMMENT:
        text = text.split(". ")[0].rstrip(".") + "."
    if len(text) > MAX_COMMENT:
        text = text[: MAX_COMMENT - 4].rsplit(" ", 1)[0] + " ..."
    return text


def field_meaning(cls: type[BaseModel], name: str, info: FieldInfo, value: Any) -> str:
    """One line for field NAME of model CLS: its description, else the comment above it in the
    source (of CLS or a base class), else the docstring of its section's model."""
    if info.description:
        return _one_line(info.description)
    for klass in cls.__mro__:
        comment = _source_comments(klass).get(name) if isinstance(klass, type) else None
        if comment:
            return _one_line(comment)
    if isinstance(value, BaseModel) and type(value).__doc__:
        return _one_line(inspect.cleandoc(type(value).__doc__ or "").split("\n\n")[0])
    return ""


# --- rendering -----------------------------------------------------------------------------


def _scalar_yaml(name: str, value: Any, pad: str) -> list[str]:
    text = yaml.safe_dump(
        {name: value}, sort_keys=False, allow_unicode=True, default_flow_style=False, width=90
    )
    return [pad + line for line in text.rstrip("\n").splitlines()]


def _render(model: BaseModel, indent: int) -> list[str]:
    pad = " " * indent
    cls = type(model)
    dumped = model.model_dump(mode="json")
    lines: list[str] = []
    names = sorted(cls.model_fields, key=lambda n: n != "name")  # a list item's name first
    for name in names:
        info = cls.model_fields[name]
        if info.exclude:
            continue
        value = getattr(model, name)
        if isinstance(model, DatasetSpec) and name == "kind_options":
            # The kind's own settings, shown under the section named after the kind.
            value = kind_of(model).options(model)
            if value is None:
                continue
            name = model.kind
        meaning = field_meaning(cls, name, info, value)
        if meaning:
            lines.append(f"{pad}# {meaning}")
        if isinstance(value, BaseModel):
            lines.append(f"{pad}{name}:")
            lines += _render(value, indent + 2)
        elif isinstance(value, list) and value and all(isinstance(v, BaseModel) for v in value):
            lines.append(f"{pad}{name}:")
            for item in value:
                if type(item).__doc__:  # what the item is (a strategy's docstring)
                    lines.append(f"{pad}  # {_one_line(inspect.cleandoc(type(item).__doc__))}")
                sub = _render(item, indent + 4)
                first = next(i for i, line in enumerate(sub) if not line.lstrip().startswith("#"))
                sub[first] = f"{pad}  - " + sub[first].lstrip()
                lines += sub
        else:
            lines += _scalar_yaml(name, dumped[name], pad)
    return lines


def render_spec(spec: DatasetSpec) -> str:
    """SPEC as YAML with every field and one comment line per field."""
    head = [
        f"# The spec of dataset {spec.name!r}: what to generate, from what, and how to judge it.",
        "# Every field is shown with its default; replace the TODO lines, then run",
        f"#   synth validate {spec.name}",
        "",
    ]
    return "\n".join(head + _render(spec, 0)) + "\n"


def placeholders_left(spec: DatasetSpec) -> list[str]:
    """The spec fields still holding a scaffold placeholder (`TODO:` text, label_a/label_b)."""
    found = []
    if TODO_MARK in spec.task:
        found.append("task")
    found += [f"fields.{f.name}.description" for f in spec.fields if TODO_MARK in f.description]
    if {"label_a", "label_b"} & set(spec.labels):
        found.append("labels (label_a, label_b)")
    return found


def record_example(spec: DatasetSpec) -> dict[str, Any]:
    """One record's shape, as the kind shows it (placeholders, a real label for a label)."""
    return kind_of(spec).record_example(spec, PLACEHOLDERS)


def readme(spec: DatasetSpec) -> str:
    shape = json.dumps(record_example(spec), ensure_ascii=False)
    labels = (
        f"\nThe label field `{spec.label_field}` holds one of the spec's `labels`.\n"
        if kind_of(spec).has("labels")
        else ""
    )
    return (
        f"# {spec.name}\n\n"
        f"`{spec.seeds_file}` holds real examples the generator is shown; "
        f"`{spec.holdout_file}` holds other real examples, never shown to it, that the report "
        "judges the synthetic data against. No record may be in both. One JSON object per "
        "line:\n\n"
        f"```\n{shape}\n```\n{labels}\n"
        f"Check with `synth validate {spec.name}`, look at a few records with "
        f"`synth preview {spec.name}`, then make a version with "
        f"`synth materialize {spec.name}`.\n"
    )


def init_dataset(name: str, kind: str, data: Path | None = None) -> Path:
    """Create `<data>/<name>/` with spec.yaml, empty seed and holdout files and a README.

    Refuses an invalid name and an existing folder (DatasetError)."""
    folder_root = data or data_dir()
    if not NAME_PATTERN.match(name or ""):
        raise DatasetError(
            f"invalid dataset name {name!r}: use lowercase letters, digits and '_', starting "
            "with a letter, at most 63 characters"
        )
    folder = folder_root / name
    if folder.exists() or folder.is_symlink():
        raise DatasetError(f"{folder} already exists; choose another name or remove it first")
    spec = scaffold_spec(name, kind)
    text = render_spec(spec)
    folder.mkdir(parents=True)
    (folder / SPEC_FILE).write_text(text, encoding="utf-8")
    (folder / spec.seeds_file).write_text("", encoding="utf-8")
    (folder / spec.holdout_file).write_text("", encoding="utf-8")
    (folder / "README.md").write_text(readme(spec), encoding="utf-8")
    load_spec(folder)  # the scaffold must load as it is
    return folder


def next_steps(spec: DatasetSpec) -> list[str]:
    from synth_pipeline.generation.planner import seed_requirements

    folder = spec.folder
    assert folder is not None
    shape = json.dumps(record_example(spec), ensure_ascii=False)
    needs = seed_requirements(spec)
    per = max((n for lab, (n, _) in needs.items() if lab != "*"), default=0)
    how_many = kind_of(spec).seeds_wanted(spec, per)
    if "*" in needs:
        how_many += f" and {needs['*'][0]} in all"
    return [
        f"1. In {folder / SPEC_FILE}: replace the TODO lines (task, field descriptions)"
        + (" and `labels` with your labels." if kind_of(spec).has("labels") else "."),
        f"2. Put real examples in {folder / spec.seeds_file} ({how_many}), one JSON object "
        f"a line: {shape}",
        f"3. Put other real examples in {folder / spec.holdout_file} (never a copy of a seed).",
        f"4. synth validate {spec.name}   checks it all and says what a version will cost",
        f"5. synth preview {spec.name}    a few records, their prompts and filter verdicts",
        f"6. synth materialize {spec.name}",
    ]


def init(
    name: Annotated[str, typer.Argument(help="The new dataset's name (its folder's name).")],
    kind: Annotated[
        str, typer.Option("--kind", help="The dataset kind: " + ", ".join(KIND_NAMES) + ".")
    ] = "classification",
) -> None:
    """Create a new dataset folder: a commented spec.yaml and empty seed and holdout files."""
    if kind not in KINDS:
        console.print(f"[bold red]error:[/] unknown kind {kind!r}: use one of {', '.join(KINDS)}")
        raise typer.Exit(code=1)
    folder = init_dataset(name, kind)
    spec = load_spec(folder)
    console.print(f"Created [bold]{escape(str(folder))}[/] ({kind}). Next:", soft_wrap=True)
    for line in next_steps(spec):
        console.print(escape(line), soft_wrap=True)
    others = [d for d in known_datasets(folder.parent) if d != name]
    if others:
        console.print(f"Examples to copy from: {', '.join(others)}", soft_wrap=True)
