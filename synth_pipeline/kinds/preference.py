"""`kind: preference`: pairs for DPO and reward models, `prompt`, `chosen`, `rejected`.

Built as such pairs usually are: every prompt (from `preference.prompts_file`, else the seeds'
prompts) is answered once per sampler of `preference.samplers` (the same model at different
settings); a judge then scores the two answers against `preference.rubric`, in both orders
(A then B, and B then A), and the better-scored answer becomes `chosen`. A pair keeps its
scores and whether the two orders agreed, so curation can drop pairs whose verdict flips with
the order (position bias) or whose margin is below `preference.min_margin`, and pairs whose
answers are the same. Seed and holdout records are real pairs; the seeds show the generator
good answers and the judge scored examples.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import polars as pl
from pydantic import BaseModel, ConfigDict, Field, create_model

from synth_pipeline.generation.planner import GenerationRequest, pick_seeds
from synth_pipeline.generation.prompts import render
from synth_pipeline.kinds.base import DatasetKind, RecordError
from synth_pipeline.paths import default_warehouse
from synth_pipeline.pipeline import DATASET_TABLE
from synth_pipeline.records import CANDIDATE_SCHEMA, load_real_records, read_rows, record_id
from synth_pipeline.spec import ProviderSpec, SpecError
from synth_pipeline.warehouse import Warehouse

if TYPE_CHECKING:
    from synth_pipeline.spec import DatasetSpec

FIELDS = ("prompt", "chosen", "rejected")
RESPONSE = "preference_response"  # the strategy name of an answer request
JUDGE = "preference_judge"  # ... and of a judge request
PROMPT = "preference_prompt"  # ... and of a request for a prompt (`generate_prompts`)
ORDERS = ("ab", "ba")


class Sampler(BaseModel):
    """How one of a prompt's answers is sampled."""

    model_config = ConfigDict(extra="forbid")

    temperature: float = Field(ge=0, le=2, description="Sampling temperature of this answer.")
    provider: ProviderSpec | None = Field(
        default=None,
        description="Where this answer is generated, as the spec's `provider` section; None: "
        "the spec's provider. Two providers make pairs of a stronger and a weaker model.",
    )


class PreferenceOptions(BaseModel):
    """The `preference:` section of a preference dataset's spec."""

    model_config = ConfigDict(extra="forbid")

    prompts_file: str | None = Field(
        default=None,
        description="A JSONL or CSV file in the dataset folder with a `prompt` per record: the "
        "prompts answered. None: the seeds' prompts.",
    )
    prompts_dataset: str | None = Field(
        default=None,
        description="Another dataset whose published version gives the prompts: its text "
        "field's values (e.g. an instruction dataset's questions). Instead of prompts_file.",
    )
    generate_prompts: bool = Field(
        default=False,
        description="The model writes the prompts first (generation.total_records of them), "
        "with the seeds' prompts as examples. Instead of prompts_file and prompts_dataset.",
    )
    samplers: list[Sampler] = Field(
        default_factory=lambda: [Sampler(temperature=0.3), Sampler(temperature=1.0)],
        min_length=2,
        max_length=2,
        description="How the two answers of a prompt are sampled (one entry each).",
    )
    rubric: list[str] = Field(
        default_factory=lambda: [
            "The answer is correct.",
            "The answer is specific and gives concrete details where they help.",
            "The answer addresses the question asked.",
        ],
        min_length=1,
        description="What the judge scores each answer against, 1 (poor) to 5 (excellent).",
    )
    min_margin: float = Field(
        default=1.0,
        ge=0,
        le=4,
        description="Fewest score points the chosen answer must lead by (mean of both orders); "
        "pairs below it are dropped as ties.",
    )
    judge: ProviderSpec | None = Field(
        default=None,
        description="Where the judge's calls go, as the spec's `provider` section; None: the "
        "spec's provider. A small model judges by position, not content: name a stronger one.",
    )
    judge_examples: int = Field(
        default=2, ge=0, le=8, description="Seed pairs shown to the judge as scored examples."
    )
    max_chosen_longer_share: float | None = Field(
        default=None,
        ge=0,
        le=1,
        description="Length bias bound: the share of pairs whose chosen answer is longer than "
        "the rejected one may not exceed this (a blocking expectation); None: reported only.",
    )


class Preference(DatasetKind):
    name: ClassVar[str] = "preference"
    summary: ClassVar[str] = "a prompt with a chosen and a rejected answer, scored by a judge"
    options_model: ClassVar[type[BaseModel] | None] = PreferenceOptions
    families: ClassVar[frozenset[str]] = frozenset({"text", "pairs"})
    flat_records: ClassVar[bool] = False
    extra_filters: ClassVar[tuple[str, ...]] = ("pair_identical", "pair_verdict")
    export_formats: ClassVar[tuple[str, ...]] = ("trl-dpo", "openai-chat", "jsonl", "parquet", "hf")

    def spec_defaults(self, data: dict[str, Any]) -> dict[str, Any]:
        data = super().spec_defaults(data)
        data.setdefault(
            "fields",
            [
                {"name": "prompt", "description": "The question or instruction."},
                {"name": "chosen", "description": "The better answer."},
                {"name": "rejected", "description": "The worse answer."},
            ],
        )
        data.setdefault("text_field", "chosen")
        return data

    def spec_problems(self, spec: DatasetSpec) -> list[str]:
        names = [f.name for f in spec.fields]
        if sorted(names) != sorted(FIELDS) or any(f.type != "string" for f in spec.fields):
            return [f"a preference dataset's fields are the strings {list(FIELDS)}, got {names}"]
        if spec.text_field != "chosen":
            return ["text_field of a preference dataset is `chosen`"]
        if spec.label_field or spec.labels:
            return ["label_field and labels apply only to labelled dataset kinds"]
        if spec.generation.total_records is None:
            return ["generation.total_records (the pairs to make) is required"]
        opts = self.pref(spec)
        file = opts.prompts_file
        if sum(map(bool, (file, opts.prompts_dataset, opts.generate_prompts))) > 1:
            return ["preference: give one of prompts_file, prompts_dataset, generate_prompts"]
        if opts.prompts_dataset == spec.name:
            return ["preference.prompts_dataset names this dataset itself"]
        if file and ("/" in file or "\\" in file or file.startswith(".")):
            return [f"preference.prompts_file {file!r} must be a plain file name"]
        return []

    def pref(self, spec: DatasetSpec) -> PreferenceOptions:
        options = self.options(spec)
        assert isinstance(options, PreferenceOptions)
        return options

    # --- records ----------------------------------------------------------------------

    def text_of(self, spec: DatasetSpec, record: dict[str, Any]) -> str:
        """The chosen answer (an answer before judging): copies, lengths and similarity."""
        return str(record.get("chosen", record.get("response", "")))

    def record_problem(self, spec: DatasetSpec, record: dict[str, Any]) -> str | None:
        for name in FIELDS:
            value = record.get(name)
            if not isinstance(value, str) or not value.strip():
                return f"field {name!r} is missing or empty"
            problem = spec.field(name).length_problem(value)
            if problem:
                return problem
        return None

    def validate_record(self, spec: DatasetSpec, obj: dict[str, Any], where: str) -> dict[str, Any]:
        out = super().validate_record(spec, obj, where)
        if " ".join(out["chosen"].split()) == " ".join(out["rejected"].split()):
            raise RecordError(f"{where}: chosen and rejected are the same answer")
        return out

    # --- generation -------------------------------------------------------------------

    def response_model(self, spec: DatasetSpec, name: str | None) -> type[BaseModel] | None:
        if name == "prompt":
            return create_model(
                "".join(p.capitalize() for p in spec.name.split("_")) + "Prompt",
                __config__=ConfigDict(extra="forbid"),
                prompt=(str, Field(description="The question or instruction.")),
            )
        if name == "verdict":
            score = Literal[1, 2, 3, 4, 5]
            return create_model(
                "PairVerdict",
                __config__=ConfigDict(extra="forbid"),
                score_a=(score, Field(description="Answer A's score, 1 to 5.")),
                score_b=(score, Field(description="Answer B's score, 1 to 5.")),
            )
        return create_model(
            "".join(p.capitalize() for p in spec.name.split("_")) + "Answer",
            __config__=ConfigDict(extra="forbid"),
            response=(str, Field(description="The answer.")),
        )

    def prompts(self, spec: DatasetSpec, seeds: pl.DataFrame) -> list[str]:
        """The prompts to answer, in order, without repeats."""
        opts = self.pref(spec)
        file = opts.prompts_file
        if opts.prompts_dataset:
            found = published_texts(opts.prompts_dataset)
        elif file:
            path = spec.path(file)
            if not path.is_file():
                raise SpecError(f"{path}: file not found (preference.prompts_file)")
            found = []
            for line, obj in read_rows(path):
                prompt = obj.get("prompt")
                if not isinstance(prompt, str) or not prompt.strip():
                    raise SpecError(f"{path}:{line}: no `prompt` (a non-empty string) in {obj}")
                found.append(prompt)
        else:
            found = [json.loads(r)["prompt"] for r in seeds["record"].to_list()]
        return list(dict.fromkeys(found))

    def plan_requests(self, spec: DatasetSpec, seeds: pl.DataFrame) -> list[Any] | None:
        """One answer request per prompt and sampler (or, with `generate_prompts`, the
        requests for the prompts first: their answers follow in the next round)."""
        if self.pref(spec).generate_prompts:
            return self._prompt_requests(spec, seeds)
        return self._answer_requests(spec, seeds, self.prompts(spec, seeds)[: spec.target_total])

    def _prompt_requests(self, spec: DatasetSpec, seeds: pl.DataFrame) -> list[Any]:
        """`generation.total_records` requests for a prompt, the seeds' prompts as earlier
        turns (a different few per request)."""
        by_id = {r["record_id"]: json.loads(r["record"]) for r in seeds.iter_rows(named=True)}
        k = min(max(spec.generation.seeds_per_prompt, 1), len(by_id))
        kind_dir = self.template_dir()
        system = render("prompt_system.j2", kind_dir=kind_dir, task=spec.task)
        ask = render("prompt_ask.j2", kind_dir=kind_dir)
        out: list[GenerationRequest] = []
        for j in range(spec.target_total):
            chosen = tuple(pick_seeds(list(by_id), k, f"{PROMPT}|{j}"))
            turns = [{"role": "system", "content": system}]
            for s in chosen:
                turns += [
                    {"role": "user", "content": ask},
                    {"role": "assistant", "content": json.dumps({"prompt": by_id[s]["prompt"]})},
                ]
            turns.append({"role": "user", "content": ask})
            out.append(
                GenerationRequest(
                    strategy=PROMPT,
                    label=None,
                    seed_ids=chosen,
                    messages=tuple(tuple(sorted(m.items())) for m in turns),
                    sample_index=j,
                    response="prompt",
                )
            )
        return out

    def _answer_requests(
        self, spec: DatasetSpec, seeds: pl.DataFrame, prompts: list[str]
    ) -> list[Any]:
        """One answer request per prompt and sampler; the seeds' good answers as examples."""
        opts = self.pref(spec)
        by_id = {r["record_id"]: json.loads(r["record"]) for r in seeds.iter_rows(named=True)}
        k = min(spec.generation.seeds_per_prompt, len(by_id))
        system = render(
            "answer_system.j2", kind_dir=self.template_dir(), task=spec.task, fields=spec.fields
        )
        out: list[GenerationRequest] = []
        for p_index, prompt in enumerate(prompts):
            pid = record_id("prompt", {"prompt": prompt})
            chosen = tuple(
                s for s in pick_seeds(list(by_id), k + 1, pid) if by_id[s]["prompt"] != prompt
            )[:k]
            turns: list[dict[str, str]] = [{"role": "system", "content": system}]
            for s in chosen:
                turns.append({"role": "user", "content": by_id[s]["prompt"]})
                turns.append(
                    {"role": "assistant", "content": json.dumps({"response": by_id[s]["chosen"]})}
                )
            turns.append({"role": "user", "content": prompt})
            for s_index, sampler in enumerate(opts.samplers):
                out.append(
                    GenerationRequest(
                        strategy=RESPONSE,
                        label=None,
                        seed_ids=chosen,
                        messages=tuple(tuple(sorted(m.items())) for m in turns),
                        sample_index=p_index * len(opts.samplers) + s_index,
                        attributes=(("prompt_id", pid), ("sampler", str(s_index))),
                        fixed=(("prompt", prompt),),
                        params=(("temperature", sampler.temperature),),
                    )
                )
        return out

    def input_files(self, spec: DatasetSpec) -> list[str]:
        file = self.pref(spec).prompts_file
        return [file] if file else []

    def input_versions(self, spec: DatasetSpec) -> dict[str, str]:
        dataset = self.pref(spec).prompts_dataset
        if not dataset:
            return {}
        path = default_warehouse()
        version = Warehouse(path).published_version(dataset) if path.exists() else None
        return {f"published {dataset}": version or "<none>"}

    def request_provider(self, spec: DatasetSpec, request: Any) -> ProviderSpec | None:
        opts = self.pref(spec)
        if request.strategy == JUDGE:
            return opts.judge
        if request.strategy == RESPONSE:
            return opts.samplers[int(dict(request.attributes)["sampler"])].provider
        return None

    def record_from_response(
        self,
        spec: DatasetSpec,
        response: dict[str, Any],
        fixed: dict[str, Any],
        label: str | None,
    ) -> dict[str, Any]:
        if "prompt" in response and "response" not in response:  # a generated prompt
            return {"prompt": str(response["prompt"])}
        return {**fixed, "response": str(response.get("response", ""))}

    def _judge_messages(
        self, spec: DatasetSpec, prompt: str, a: str, b: str, examples: Sequence[dict[str, Any]]
    ) -> list[dict[str, str]]:
        opts = self.pref(spec)
        kind_dir = self.template_dir()
        system = render("judge_system.j2", kind_dir=kind_dir, task=spec.task, rubric=opts.rubric)
        turns = [{"role": "system", "content": system}]
        for i, ex in enumerate(examples):  # a real pair, the chosen answer first, then second
            first, second = (
                (ex["chosen"], ex["rejected"]) if i % 2 == 0 else (ex["rejected"], ex["chosen"])
            )
            scores = {"score_a": 5, "score_b": 2} if i % 2 == 0 else {"score_a": 2, "score_b": 5}
            turns.append(
                {
                    "role": "user",
                    "content": render(
                        "judge_ask.j2", kind_dir=kind_dir, prompt=ex["prompt"], a=first, b=second
                    ),
                }
            )
            turns.append({"role": "assistant", "content": json.dumps(scores)})
        turns.append(
            {
                "role": "user",
                "content": render("judge_ask.j2", kind_dir=kind_dir, prompt=prompt, a=a, b=b),
            }
        )
        return turns

    def follow_up(self, spec: DatasetSpec, frame: pl.DataFrame) -> list[Any]:
        """After generated prompts, their answers; after answers, two judge requests per
        prompt with both answers: A then B, and B then A; after verdicts, nothing."""
        strategies = set(frame["strategy"].to_list()) if frame.height else set()
        if strategies == {PROMPT}:
            seeds = load_real_records(spec, spec.seeds_file, "seed")
            ok = frame.filter(pl.col("status") == "ok")["record"].to_list()
            seen = {" ".join(json.loads(r)["prompt"].lower().split()) for r in seeds["record"]}
            prompts = []
            for raw in ok:  # new prompts only: not a seed's, not one asked already
                prompt = json.loads(raw)["prompt"].strip()
                key = " ".join(prompt.lower().split())
                if prompt and key not in seen:
                    seen.add(key)
                    prompts.append(prompt)
            return self._answer_requests(spec, seeds, prompts)
        if strategies != {RESPONSE}:
            return []
        opts = self.pref(spec)
        examples = self._judge_examples(spec, opts.judge_examples)
        out: list[GenerationRequest] = []
        for j, (pid, rows) in enumerate(_by_prompt(frame)):
            ok = [r for r in rows if r["status"] == "ok"]
            if len(ok) < 2:
                continue
            rec_a, rec_b = json.loads(ok[0]["record"]), json.loads(ok[1]["record"])
            prompt = rec_a["prompt"]
            for order in ORDERS:
                a, b = (rec_a, rec_b) if order == "ab" else (rec_b, rec_a)
                messages = self._judge_messages(
                    spec, prompt, a["response"], b["response"], examples
                )
                out.append(
                    GenerationRequest(
                        strategy=JUDGE,
                        label=None,
                        seed_ids=(),
                        messages=tuple(tuple(sorted(m.items())) for m in messages),
                        sample_index=j,
                        attributes=(("prompt_id", pid), ("order", order)),
                        params=(("temperature", 0.0),),
                        response="verdict",
                    )
                )
        return out

    def _judge_examples(self, spec: DatasetSpec, n: int) -> list[dict[str, Any]]:
        seeds = load_real_records(spec, spec.seeds_file, "seed")
        return [json.loads(r) for r in seeds["record"].to_list()[:n]]

    def assemble(
        self,
        spec: DatasetSpec,
        frame: pl.DataFrame,
        requests: list[Any],
        outcomes: list[Any],
        answered: pl.DataFrame,
    ) -> pl.DataFrame:
        """After the answers' round, the answers; after the judge's, one candidate row per
        prompt: its pair, ordered by the judge's mean scores."""
        if requests and requests[0].strategy == RESPONSE:
            return answered
        verdicts = {
            (dict(r.attributes)["prompt_id"], dict(r.attributes)["order"]): o
            for r, o in zip(requests, outcomes, strict=True)
        }
        rows = []
        for index, (pid, group) in enumerate(_by_prompt(frame)):
            rows.append(_pair_row(index, pid, group, verdicts))
        return pl.DataFrame(rows, schema=CANDIDATE_SCHEMA)

    def restatement_pairs(self, fields: list[str]) -> list[tuple[str, str]]:
        """Each answer against the prompt; the two answers against each other are the
        `pair_identical` filter's."""
        return [(f, "prompt") for f in ("chosen", "rejected") if f in fields and "prompt" in fields]

    def flag_bounds(self, spec: DatasetSpec) -> dict[str, float]:
        bound = self.pref(spec).max_chosen_longer_share
        return {} if bound is None else {"chosen_longer": bound}

    def row_flags(
        self, spec: DatasetSpec, records: list[dict[str, Any]], real: dict[str, Any]
    ) -> dict[str, list[float]]:
        return {
            "chosen_longer": [
                float(len(str(r.get("chosen", ""))) > len(str(r.get("rejected", ""))))
                for r in records
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
        """Length bias (the chosen answer is the longer one), the judge's mean margin and how
        often its verdict held in both orders."""
        pairs = [r for r in records if isinstance(r.get("chosen"), str)]
        if not pairs:
            return {}
        longer = self.row_flags(spec, pairs)["chosen_longer"]
        out = {"preference.chosen_longer_share": sum(longer) / len(longer)}
        scored = [r for r in pairs if "chosen_score" in r and "rejected_score" in r]
        if scored:
            margins = [float(r["chosen_score"]) - float(r["rejected_score"]) for r in scored]
            out["preference.mean_margin"] = sum(margins) / len(margins)
            agree = [bool(r.get("verdicts_agree")) for r in scored]
            out["preference.verdict_agreement"] = sum(agree) / len(agree)
        return out

    def figure_rows(self) -> list[tuple[str, str, str | None]]:
        return [
            ("chosen longer than rejected (share)", "preference.chosen_longer_share", None),
            ("judge margin (mean score points)", "preference.mean_margin", None),
            ("verdict held in both orders", "preference.verdict_agreement", None),
        ]

    # --- exports and the scaffold -----------------------------------------------------

    def chat_turns(self, spec: DatasetSpec) -> tuple[str, list[str]]:
        """A chat line answers the prompt with the chosen answer (supervised fine-tuning)."""
        return "prompt", ["chosen"]

    def export_row(self, spec: DatasetSpec, record: dict[str, Any]) -> dict[str, Any]:
        return {name: record.get(name) for name in FIELDS}

    def scaffold(self, name: str, todo: str) -> dict[str, Any]:
        return {
            "name": name,
            "kind": self.name,
            "task": f"{todo} say who asks what and what makes an answer better, in two or three "
            "sentences. The generator and the judge read this.",
            "preference": {"rubric": [f"{todo} what a better answer does."]},
            "generation": {"total_records": 20},
            "quality": {"min_yield": 5},
        }


def published_texts(dataset: str) -> list[str]:
    """The `text` column of DATASET's published version, in record order."""
    path = default_warehouse()
    wh = Warehouse(path)
    version = wh.published_version(dataset) if path.exists() else None
    if version is None:
        raise SpecError(
            f"preference.prompts_dataset: {dataset!r} has no published version to take "
            "prompts from; publish one first (synth materialize " + dataset + ")"
        )
    frame = wh.stage(DATASET_TABLE, dataset, version)
    return [t for t in frame["text"].to_list() if t and t.strip()]


def _by_prompt(frame: pl.DataFrame) -> list[tuple[str, list[dict[str, Any]]]]:
    """Answer rows per prompt id, in plan order, each group's rows in sampler order."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for row in frame.iter_rows(named=True):
        attrs = json.loads(row["params"]).get("attributes", {})
        groups.setdefault(attrs.get("prompt_id", row["record_id"]), []).append(
            {**row, "_sampler": int(attrs.get("sampler", 0))}
        )
    return [(pid, sorted(rows, key=lambda r: r["_sampler"])) for pid, rows in groups.items()]


def _pair_row(
    index: int, pid: str, group: list[dict[str, Any]], verdicts: dict[tuple[str, str], Any]
) -> dict[str, Any]:
    first = group[0]
    ok = [r for r in group if r["status"] == "ok"]
    judged = [verdicts.get((pid, order)) for order in ORDERS]
    keys = [r["cache_key"] for r in group] + [o.key for o in judged if o is not None]
    row: dict[str, Any] = {
        "record_id": "c-" + hashlib.sha256("|".join(keys).encode()).hexdigest()[:16],
        "text": None,
        "label": None,
        "record": None,
        "status": "ok",
        "error": None,
        "strategy": "preference",
        "requested_label": None,
        "seed_ids": first["seed_ids"],
        "sample_index": index,
        "cache_key": first["cache_key"],
        "prompt_hash": first["prompt_hash"],
        "provider": first["provider"],
        "model": first["model"],
        "params": json.dumps(
            {
                "samplers": [json.loads(r["params"]) for r in group],
                "models": [r["model"] for r in group],  # each answer's model, in sampler order
                "attributes": {"prompt_id": pid},
            },
            sort_keys=True,
        ),
        "raw_response": json.dumps([o.raw for o in judged if o is not None]),
        "from_cache": all(r["from_cache"] for r in group)
        and all(o is not None and o.from_cache for o in judged),
        "prompt_tokens": sum(r["prompt_tokens"] or 0 for r in group)
        + sum(o.prompt_tokens for o in judged if o is not None),
        "completion_tokens": sum(r["completion_tokens"] or 0 for r in group)
        + sum(o.completion_tokens for o in judged if o is not None),
    }
    if len(ok) < 2:
        errors = sorted({r["error"] or "failed" for r in group if r["status"] != "ok"})
        return {**row, "status": "failed", "error": "answer_" + "_".join(errors)}
    bad = [o for o in judged if o is None or o.status != "ok"]
    if bad:
        reason = next((o.error for o in bad if o is not None), None) or "not_run"
        return {**row, "status": "failed", "error": f"judge_{reason}"}
    ab, ba = (o.response for o in judged)
    score_first = (ab["score_a"] + ba["score_b"]) / 2
    score_second = (ab["score_b"] + ba["score_a"]) / 2
    # The verdict holds when the same answer leads in both orders, or both are ties (then
    # the margin filter drops the pair); it flips with the order otherwise.
    lead_ab, lead_ba = ab["score_a"] - ab["score_b"], ba["score_b"] - ba["score_a"]
    agree = (lead_ab > 0) == (lead_ba > 0) and (lead_ab < 0) == (lead_ba < 0)
    answers = [json.loads(r["record"]) for r in ok[:2]]
    better = 0 if score_first >= score_second else 1
    record = {
        "prompt": answers[0]["prompt"],
        "chosen": answers[better]["response"],
        "rejected": answers[1 - better]["response"],
        "chosen_score": max(score_first, score_second),
        "rejected_score": min(score_first, score_second),
        "verdicts_agree": agree,
        "chosen_sampler": better,
    }
    return {
        **row,
        "text": record["chosen"],
        "record": json.dumps(record, ensure_ascii=False, sort_keys=True),
        "raw_response": json.dumps([ab, ba]),
    }


KIND = Preference()
