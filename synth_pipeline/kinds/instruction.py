"""`kind: instruction`: a request and its answer (or any record of free-text fields).

One quota for the whole plan (`generation.total_records`); curation also drops an answer
that only restates its question; exports give the first field as the user turn and the
others as the assistant's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from synth_pipeline.kinds.base import DatasetKind

if TYPE_CHECKING:
    from synth_pipeline.spec import DatasetSpec


class Instruction(DatasetKind):
    name: ClassVar[str] = "instruction"
    summary: ClassVar[str] = "free-text fields, e.g. a question and its answer"

    def spec_problems(self, spec: DatasetSpec) -> list[str]:
        if spec.label_field or spec.labels:
            return ["label_field and labels apply only to classification datasets"]
        if spec.generation.total_records is None:
            return ["generation.total_records is required for an instruction dataset"]
        return []

    def scaffold(self, name: str, todo: str) -> dict[str, Any]:
        return {
            "name": name,
            "kind": self.name,
            "task": f"{todo} say what the pairs are for (who asks, what a good answer gives), "
            "in two or three sentences. The generator reads this.",
            "fields": [
                {"name": "instruction", "description": f"{todo} the request, in a few words."},
                {"name": "response", "description": f"{todo} what a good answer gives."},
            ],
            "text_field": "instruction",
            "generation": {"total_records": 40},
            "quality": {"min_yield": 10},
        }


KIND = Instruction()
