"""Prompt templates (jinja2 files in `templates/`) rendered into chat messages."""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from synth_pipeline.spec import DatasetSpec

TEMPLATE_DIR = Path(__file__).parent / "templates"


@lru_cache(maxsize=1)
def _env() -> Environment:
    return Environment(
        loader=FileSystemLoader(TEMPLATE_DIR),
        undefined=StrictUndefined,
        keep_trailing_newline=False,
        autoescape=False,  # prompts are plain text, not HTML
    )


def render(template: str, **context: Any) -> str:
    return _env().get_template(template).render(**context).strip()


def seed_variation_messages(
    spec: DatasetSpec, examples: list[dict[str, Any]], label: str | None
) -> list[dict[str, str]]:
    content = spec.content_fields
    shown = [{f.name: ex[f.name] for f in content if f.name in ex} for ex in examples]
    system = render("system.j2", task=spec.task, field_names=[f.name for f in content])
    user = render("seed_variation.j2", label=label, examples=shown, fields=content)
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


def messages_hash(messages: list[dict[str, str]]) -> str:
    return hashlib.sha256(json.dumps(messages, sort_keys=True).encode()).hexdigest()[:16]
