"""`kind: classification`: a text and one label from the spec's labels.

Generation is conditioned on the label (per-label quotas, class balance); curation checks
the label and whether the text agrees with it; the report adds label fidelity, per-label
counts and train-on-synthetic / test-on-real classifier figures; exports give the label as
a `ClassLabel`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from synth_pipeline.kinds.base import DatasetKind, RecordError

if TYPE_CHECKING:
    from synth_pipeline.spec import DatasetSpec


class Classification(DatasetKind):
    name: ClassVar[str] = "classification"
    summary: ClassVar[str] = "a text and one label from the spec's labels"
    labelled: ClassVar[bool] = True
    families: ClassVar[frozenset[str]] = frozenset({"text", "labels"})
    tops_up: ClassVar[bool] = True
    hf_task: ClassVar[str] = "text-classification"

    def spec_problems(self, spec: DatasetSpec) -> list[str]:
        names = [f.name for f in spec.fields]
        if not spec.label_field:
            return ["label_field is required for a classification dataset"]
        if spec.label_field not in names:
            return [f"label_field {spec.label_field!r} is not one of the fields {names}"]
        if len(spec.labels) < 2:
            return ["labels: a classification dataset needs at least two labels"]
        if len(set(spec.labels)) != len(spec.labels):
            return ["labels: labels must be unique"]
        if spec.generation.records_per_label is None:
            return ["generation.records_per_label is required for classification"]
        return []

    def target_total(self, spec: DatasetSpec) -> int:
        assert spec.generation.records_per_label is not None
        return spec.generation.records_per_label * len(spec.labels)

    def size_setting(self, spec: DatasetSpec) -> tuple[str, str]:
        per = spec.generation.records_per_label
        return (
            "generation.records_per_label",
            f"{per:,} per label x {len(spec.labels)} labels = {self.target_total(spec):,}",
        )

    def label_groups(self, spec: DatasetSpec) -> list[str | None]:
        return list(spec.labels)

    def validate_record(self, spec: DatasetSpec, obj: dict[str, Any], where: str) -> dict[str, Any]:
        out = super().validate_record(spec, obj, where)
        assert spec.label_field is not None
        if out[spec.label_field] not in spec.labels:
            raise RecordError(
                f"{where}: unknown label {out[spec.label_field]!r} in field "
                f"{spec.label_field!r}; allowed labels are {spec.labels}"
            )
        return out

    def label_of(self, spec: DatasetSpec, record: dict[str, Any]) -> str | None:
        assert spec.label_field is not None
        return record.get(spec.label_field)

    def shortfall(self, spec: DatasetSpec, kept_labels: list[str | None]) -> dict[str, int]:
        """Rows each label still lacks against generation.records_per_label."""
        target = spec.generation.records_per_label or 0
        have: dict[str, int] = {}
        for label in kept_labels:
            if label is not None:
                have[label] = have.get(label, 0) + 1
        return {label: max(0, target - have.get(label, 0)) for label in spec.labels}

    def holdout_problems(
        self,
        spec: DatasetSpec,
        labels: list[str | None],
        where: str,
        minimum_total: int,
        minimum_per_label: int,
    ) -> list[str]:
        counts = {lab: labels.count(lab) for lab in spec.labels}
        short = [f"{lab} {n}" for lab, n in counts.items() if n < minimum_per_label]
        if not short:
            return []
        return [
            f"{where}: holdout records per label: {', '.join(short)}; each label needs at "
            f"least {minimum_per_label} to measure a version against (fewer make the report's "
            "per-label figures noise)"
        ]

    def chat_turns(self, spec: DatasetSpec) -> tuple[str, list[str]]:
        """The label answers the text."""
        assert spec.label_field is not None
        return spec.text_field, [spec.label_field]

    def system_prompt(self, spec: DatasetSpec, mode: str) -> str:
        labels = ", ".join(spec.labels)
        if mode == "short":
            return f"Labels: {labels}."
        return f"{' '.join(spec.task.split())}\nAnswer with exactly one of these labels: {labels}."

    def hf_dtype(self, spec: DatasetSpec, field_name: str, default: Any) -> Any:
        """The label as a `ClassLabel` in the spec's label order (names keyed by quoted
        indices, as the Hub writes them)."""
        if field_name != spec.label_field:
            return default
        return {"class_label": {"names": {str(i): lab for i, lab in enumerate(spec.labels)}}}

    def scaffold(self, name: str, todo: str) -> dict[str, Any]:
        return {
            "name": name,
            "kind": self.name,
            "task": f"{todo} say what the records are and what they are for, in two or three "
            "sentences (who writes them, how long, in what tone). The generator reads this.",
            "fields": [
                {
                    "name": "text",
                    "description": f"{todo} the text, in a few words.",
                    "max_length": 400,
                },
                {"name": "label", "description": "The one label of the text."},
            ],
            "text_field": "text",
            "label_field": "label",
            "labels": ["label_a", "label_b"],
            "generation": {"records_per_label": 20},
            "quality": {"min_yield": 10, "max_length": 400},
        }

    def record_example(self, spec: DatasetSpec, placeholders: dict[str, Any]) -> dict[str, Any]:
        example = super().record_example(spec, placeholders)
        assert spec.label_field is not None
        example[spec.label_field] = spec.labels[0]
        return example

    def seeds_wanted(self, spec: DatasetSpec, per_group: int) -> str:
        return f"at least {per_group} per label"


KIND = Classification()
