"""`kind: chat`: multi-turn conversations, an optional system prompt and alternating user and
assistant turns, as OpenAI's chat fine-tuning format holds them.

A record is `{"messages": [{"role": ..., "content": ...}, ...]}`: the system message (when the
spec's `chat.system_prompt` is set) and 1 to `chat.max_exchanges` exchanges of a user turn and
the assistant's reply. The spec's fields are the two roles (`user`, `assistant`): their
descriptions guide the generator and their length bounds apply to every turn of that role.
Filters and figures read a conversation per role (`view`: the role's turns, one per line) and
as one transcript (the `text` column). Exports write the `messages` as they are.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, create_model, model_validator

from synth_pipeline.kinds.base import DatasetKind, RecordError

if TYPE_CHECKING:
    from synth_pipeline.spec import DatasetSpec

ROLES = ("user", "assistant")


class ChatOptions(BaseModel):
    """The `chat:` section of a chat dataset's spec."""

    model_config = ConfigDict(extra="forbid")

    system_prompt: str | None = Field(
        default=None,
        description="The system message every conversation starts with (generated and "
        "exported); none when empty. Seed conversations with another system message are "
        "refused.",
    )
    min_exchanges: int = Field(
        default=1, ge=1, description="Fewest user/assistant exchanges a conversation has."
    )
    max_exchanges: int = Field(
        default=3, ge=1, le=20, description="Most user/assistant exchanges a conversation has."
    )

    @model_validator(mode="after")
    def _check_bounds(self) -> ChatOptions:
        if self.min_exchanges > self.max_exchanges:
            raise ValueError("chat.min_exchanges must not exceed chat.max_exchanges")
        return self


DEFAULT_FIELDS = [
    {"name": "user", "description": "What the user writes in one turn."},
    {"name": "assistant", "description": "The assistant's reply in one turn."},
]


def transcript(messages: list[dict[str, Any]]) -> str:
    """The conversation as one text, a line per turn (`user: ...`), system message left out."""
    return "\n".join(
        f"{m.get('role')}: {m.get('content')}" for m in messages if m.get("role") in ROLES
    )


def exchanges_of(text: str) -> int:
    """User turns in a conversation's transcript (its `text` column)."""
    return sum(1 for line in text.split("\n") if line.startswith("user: "))


def role_turns(text: str, role: str) -> list[str]:
    """The turns of ROLE in a transcript (a line per turn, `role: text`)."""
    prefix = f"{role}: "
    return [line[len(prefix) :] for line in text.split("\n") if line.startswith(prefix)]


_WORD = re.compile(r"[^\W_]+")


def _distinct_2(turns: list[str]) -> float:
    """Distinct word pairs / word pairs over the turns (0 when there are none)."""
    seen: set[tuple[str, str]] = set()
    total = 0
    for turn in turns:
        words = _WORD.findall(turn.casefold())
        pairs = list(zip(words, words[1:], strict=False))
        total += len(pairs)
        seen.update(pairs)
    return len(seen) / total if total else 0.0


class Chat(DatasetKind):
    name: ClassVar[str] = "chat"
    summary: ClassVar[str] = "a conversation of alternating user and assistant turns"
    options_model: ClassVar[type[BaseModel] | None] = ChatOptions
    families: ClassVar[frozenset[str]] = frozenset({"text", "turns"})
    flat_records: ClassVar[bool] = False
    hf_task: ClassVar[str] = "text-generation"
    extra_filters: ClassVar[tuple[str, ...]] = ("repeated_turn",)

    def spec_defaults(self, data: dict[str, Any]) -> dict[str, Any]:
        data = super().spec_defaults(data)
        data.setdefault("fields", [dict(f) for f in DEFAULT_FIELDS])
        data.setdefault("text_field", "user")
        return data

    def spec_problems(self, spec: DatasetSpec) -> list[str]:
        names = sorted(f.name for f in spec.fields)
        if names != sorted(ROLES):
            return [f"a chat dataset's fields are the roles {list(ROLES)}, got {names}"]
        if any(f.type != "string" for f in spec.fields):
            return ["a chat dataset's role fields are strings"]
        if spec.label_field or spec.labels:
            return ["label_field and labels apply only to labelled dataset kinds"]
        if spec.generation.total_records is None:
            return ["generation.total_records is required for a chat dataset"]
        return []

    def chat_options(self, spec: DatasetSpec) -> ChatOptions:
        options = self.options(spec)
        assert isinstance(options, ChatOptions)
        return options

    # --- records ----------------------------------------------------------------------

    def validate_record(self, spec: DatasetSpec, obj: dict[str, Any], where: str) -> dict[str, Any]:
        opts = self.chat_options(spec)
        unknown = set(obj) - {"messages"}
        if unknown:
            raise RecordError(
                f"{where}: unknown field(s) {sorted(unknown)}; a chat record holds `messages` alone"
            )
        messages = obj.get("messages")
        if not isinstance(messages, list) or not messages:
            raise RecordError(f"{where}: `messages` must be a non-empty list of turns")
        out: list[dict[str, str]] = []
        for i, m in enumerate(messages):
            if not isinstance(m, dict) or set(m) - {"role", "content"}:
                raise RecordError(f"{where}: messages[{i}] must be {{role, content}}")
            role, content = m.get("role"), m.get("content")
            if not isinstance(content, str) or not content.strip():
                raise RecordError(f"{where}: messages[{i}] ({role}) has no text")
            out.append({"role": str(role), "content": content})
        system = [m for m in out if m["role"] == "system"]
        if system:
            if out[0]["role"] != "system" or len(system) > 1:
                raise RecordError(f"{where}: a system message may only come first, once")
            if opts.system_prompt is not None and system[0]["content"] != opts.system_prompt:
                raise RecordError(
                    f"{where}: the system message differs from the spec's chat.system_prompt"
                )
        turns = [m for m in out if m["role"] != "system"]
        for i, m in enumerate(turns):
            want = ROLES[i % 2]
            if m["role"] != want:
                raise RecordError(
                    f"{where}: turn {i + 1} is {m['role']!r}, expected {want!r} (turns alternate "
                    "user, assistant, starting with the user)"
                )
        if len(turns) % 2:
            raise RecordError(f"{where}: the conversation must end with the assistant's reply")
        exchanges = len(turns) // 2
        if not opts.min_exchanges <= exchanges <= opts.max_exchanges:
            raise RecordError(
                f"{where}: {exchanges} exchanges; chat.min_exchanges..max_exchanges is "
                f"{opts.min_exchanges}..{opts.max_exchanges}"
            )
        return {"messages": out}

    def text_of(self, spec: DatasetSpec, record: dict[str, Any]) -> str:
        return transcript(record.get("messages") or [])

    def view(self, spec: DatasetSpec, record: dict[str, Any]) -> dict[str, Any]:
        """Each role's turns, one per line."""
        messages = record.get("messages") or []
        return {
            role: "\n".join(
                str(m.get("content", ""))
                for m in messages
                if isinstance(m, dict) and m.get("role") == role
            )
            or None
            for role in ROLES
        }

    def record_problem(self, spec: DatasetSpec, record: dict[str, Any]) -> str | None:
        """Why a generated record is not a well-formed conversation of this spec."""
        try:
            self.validate_record(spec, record, "record")
        except RecordError as e:
            return str(e).removeprefix("record: ")
        turns = [m for m in record["messages"] if m["role"] in ROLES]
        for i, m in enumerate(turns):
            problem = spec.field(m["role"]).length_problem(
                m["content"], f"turn {i + 1} ({m['role']})"
            )
            if problem:
                return problem
        return None

    # --- generation -------------------------------------------------------------------

    def prompt_context(self, spec: DatasetSpec) -> dict[str, Any]:
        opts = self.chat_options(spec)
        return {
            "system_prompt": opts.system_prompt,
            "min_exchanges": opts.min_exchanges,
            "max_exchanges": opts.max_exchanges,
        }

    def response_model(self, spec: DatasetSpec, name: str | None) -> type[BaseModel] | None:
        """What the generator writes: the exchanges, each a user turn and the reply."""
        opts = self.chat_options(spec)
        fields = {f.name: f for f in spec.fields}
        exchange = create_model(
            "Exchange",
            __config__=ConfigDict(extra="forbid"),
            user=(str, Field(description=fields["user"].description)),
            assistant=(str, Field(description=fields["assistant"].description)),
        )
        name = "".join(p.capitalize() for p in spec.name.split("_")) + "Conversation"
        return create_model(
            name,
            __config__=ConfigDict(extra="forbid"),
            exchanges=(
                list[exchange],  # type: ignore[valid-type]
                Field(min_length=opts.min_exchanges, max_length=opts.max_exchanges),
            ),
        )

    def record_from_response(
        self,
        spec: DatasetSpec,
        response: dict[str, Any],
        fixed: dict[str, Any],
        label: str | None,
    ) -> dict[str, Any]:
        opts = self.chat_options(spec)
        messages: list[dict[str, str]] = []
        if opts.system_prompt:
            messages.append({"role": "system", "content": opts.system_prompt})
        for ex in response.get("exchanges") or []:
            messages.append({"role": "user", "content": str(ex.get("user", ""))})
            messages.append({"role": "assistant", "content": str(ex.get("assistant", ""))})
        return {"messages": messages}

    def shown_example(self, spec: DatasetSpec, record: dict[str, Any]) -> dict[str, Any]:
        """A seed conversation as the generator's answer would hold it."""
        turns = [m for m in record.get("messages") or [] if m.get("role") in ROLES]
        return {
            "exchanges": [
                {"user": turns[i]["content"], "assistant": turns[i + 1]["content"]}
                for i in range(0, len(turns) - 1, 2)
            ]
        }

    # --- the report -------------------------------------------------------------------

    def figures(
        self,
        spec: DatasetSpec,
        texts: list[str],
        records: list[dict[str, Any]],
        real_texts: list[str],
    ) -> dict[str, float]:
        """Exchanges per conversation against the holdout's: the mean of each and the
        total-variation distance of their counts."""
        syn = [exchanges_of(t) for t in texts]
        real = [exchanges_of(t) for t in real_texts]
        if not syn or not real:
            return {}
        values = sorted(set(syn) | set(real))
        tv = 0.5 * sum(abs(syn.count(v) / len(syn) - real.count(v) / len(real)) for v in values)
        out = {
            "fidelity.mean_exchanges": sum(syn) / len(syn),
            "fidelity.real_mean_exchanges": sum(real) / len(real),
            "fidelity.exchanges_tv_distance": tv,
        }
        # Diversity per role: distinct word pairs of each role's turns over as many
        # conversations on each side, against the holdout's.
        n = min(len(texts), len(real_texts))
        for role in ROLES:
            mine = _distinct_2([t for x in texts[:n] for t in role_turns(x, role)])
            theirs = _distinct_2([t for x in real_texts[:n] for t in role_turns(x, role)])
            if theirs > 0:
                out[f"diversity.distinct_2_vs_real.{role}"] = mine / theirs
        return out

    def figure_rows(self) -> list[tuple[str, str, str | None]]:
        return [
            (
                "exchanges per conversation",
                "fidelity.mean_exchanges",
                "fidelity.real_mean_exchanges",
            ),
            ("exchanges TV distance", "fidelity.exchanges_tv_distance", None),
            *(
                (
                    f"distinct-2 of {role} turns vs real",
                    f"diversity.distinct_2_vs_real.{role}",
                    None,
                )
                for role in ROLES
            ),
        ]

    # --- exports and the scaffold -----------------------------------------------------

    def chat_line(
        self, spec: DatasetSpec, record: dict[str, Any], system: str | None
    ) -> dict[str, Any]:
        """The conversation as an OpenAI chat fine-tuning line: its own messages (the
        export's system mode may drop the system message)."""
        messages = [m for m in record.get("messages") or [] if m.get("role") != "system"]
        if system is not None:
            own = [m for m in record.get("messages") or [] if m.get("role") == "system"]
            messages = own[:1] + messages if own else messages
        return {"messages": messages}

    def export_row(self, spec: DatasetSpec, record: dict[str, Any]) -> dict[str, Any]:
        return {"messages": json.loads(json.dumps(record.get("messages") or []))}

    def export_schema(self, spec: DatasetSpec) -> dict[str, Any]:
        import polars as pl

        return {"messages": pl.List(pl.Struct({"role": pl.String, "content": pl.String}))}

    def hf_columns(self, spec: DatasetSpec) -> list[dict[str, Any]]:
        return [
            {
                "name": "messages",
                "list": [
                    {"name": "role", "dtype": "string"},
                    {"name": "content", "dtype": "string"},
                ],
            }
        ]

    def column_docs(self, spec: DatasetSpec) -> list[tuple[str, str]]:
        return [("messages", "the conversation: {role, content} turns, system first when set")]

    def scaffold(self, name: str, todo: str) -> dict[str, Any]:
        return {
            "name": name,
            "kind": self.name,
            "task": f"{todo} say who talks to whom and about what (who the user is, what the "
            "assistant does well), in two or three sentences. The generator reads this.",
            "chat": {
                "system_prompt": f"{todo} the assistant's system message.",
                "min_exchanges": 1,
                "max_exchanges": 3,
            },
            "generation": {"total_records": 40},
            "quality": {"min_yield": 10},
        }

    def record_example(self, spec: DatasetSpec, placeholders: dict[str, Any]) -> dict[str, Any]:
        opts = self.chat_options(spec)
        messages = [{"role": "system", "content": opts.system_prompt}] if opts.system_prompt else []
        messages += [{"role": "user", "content": "..."}, {"role": "assistant", "content": "..."}]
        return {"messages": messages}


KIND = Chat()
