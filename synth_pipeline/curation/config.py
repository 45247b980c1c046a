"""The spec's `curation:` section: which filters run, in what order, with what thresholds.

Every field has a default, so a spec without a `curation:` section runs the full default
chain. This module must not import `synth_pipeline.spec` (the spec imports it).

Example (every key optional):

    curation:
      filters: [schema_valid, empty_fields, degenerate, prompt_echo, length_bounds,
                label_not_allowed, exact_duplicate, seed_copy, eval_contamination,
                near_duplicate, pii, label_agreement]
      degenerate: {max_repeated_ngram_ratio: 0.4, min_script_share: 0.5}
      dedup: {near_duplicate_threshold: 0.8, seed_near_copy_threshold: 0.8}
      contamination: {near_duplicate_threshold: 0.7, ngram_run: 8}
      pii: {mode: redact}            # or drop
      judge: {enabled: false, max_margin: 0.5}
      gates: {length_mostly: 0.95, label_share_tolerance: 0.5, max_near_duplicate_rate: 0.05}

Reasons written to the audit, by filter: schema_valid: generation_failed:<error>,
schema_invalid; empty_fields: empty_field; degenerate: boilerplate, repeated_ngrams,
wrong_script, restates_question; prompt_echo: prompt_echo; length_bounds: too_short,
too_long; label_not_allowed: label_not_allowed; exact_duplicate: exact_duplicate;
seed_copy: seed_copy, seed_near_copy; eval_contamination: holdout_copy,
holdout_contamination; near_duplicate: near_duplicate; pii: pii_redacted (row kept) or
pii_detected (row dropped); label_agreement: label_disagreement.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from synth_pipeline.curation.judge_config import LlmJudgeSpec
from synth_pipeline.curation.patterns import ARTIFACT_PATTERNS, VOICE_PATTERNS

FilterName = Literal[
    "schema_valid",
    "empty_fields",
    "degenerate",
    "prompt_echo",
    "format_artifact",
    "voice",
    "length_bounds",
    "label_not_allowed",
    "exact_duplicate",
    "seed_copy",
    "near_duplicate",
    "eval_contamination",
    "pii",
    "label_agreement",
    "realism",
]

# Cheap, row-local checks first; set-wise checks on what survives, memorisation and eval
# overlap before within-candidate near-duplicates (so an overlapping row is reported as
# such, not as the near-duplicate of another overlapping row); PII after dedup so dedup
# sees the original text; the classifier judge last.
DEFAULT_FILTERS: tuple[FilterName, ...] = (
    "schema_valid",
    "empty_fields",
    "degenerate",
    "prompt_echo",
    "format_artifact",
    "voice",
    "length_bounds",
    "label_not_allowed",
    "exact_duplicate",
    "seed_copy",
    "eval_contamination",
    "near_duplicate",
    "pii",
    "label_agreement",
    "realism",
)

# Filters that judge what a record says (not its form, its overlap or its privacy): the report
# runs them again over a version's records to estimate the junk share it would publish.
CONTENT_FILTERS: tuple[FilterName, ...] = (
    "degenerate",
    "prompt_echo",
    "format_artifact",
    "voice",
    "label_agreement",
    "realism",
)

PiiType = Literal[
    "email", "phone", "credit_card", "iban", "national_id", "ip_address", "secret_url"
]
ALL_PII_TYPES: tuple[PiiType, ...] = (
    "secret_url",
    "email",
    "iban",
    "credit_card",
    "national_id",
    "ip_address",
    "phone",
)

# Case-insensitive regular expressions (Rust `regex` syntax, as polars runs them).
# Anchored at the start of a field where the phrase is only boilerplate there:
# "I cannot recommend it enough" is a review, "I cannot help with that" is a refusal.
DEFAULT_BOILERPLATE: tuple[str, ...] = (
    r"\bas an ai\b",
    r"\bas a (?:large )?language model\b",
    r"\bi(?:'m| am) (?:just )?an ai\b",
    r"^\W*(?:i'm sorry,? but |sorry,? but )?i (?:cannot|can't|can not|am unable to|won't|will not)"
    r" (?:help|assist|provide|comply|fulfill|create|generate|write|answer|do that)",
    r"^\W*(?:sure|certainly|of course|absolutely)[,!.]? here(?:'s| is| are)\b",
    r"^\W*here(?:'s| is| are) (?:a|an|the|some|your) (?:example|sample|review|response|answer"
    r"|rewritten|revised|new|possible|generated)\b",
    r"\bi hope this helps\b",
    r"\bknowledge cutoff\b",
)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DegenerateSpec(_Strict):
    """Degenerate model output: repetition loops, boilerplate, wrong script, restated questions."""

    repeated_ngram_size: int = Field(default=3, ge=1, description="Word n-gram size for loops.")
    max_repeated_ngram_ratio: float = Field(
        default=0.4,
        gt=0,
        le=1,
        description="Drop a field whose share of repeated word n-grams (1 - unique/total) "
        "exceeds this.",
    )
    min_ngrams: int = Field(
        default=4, ge=1, description="Fields with fewer n-grams are too short to judge repetition."
    )
    boilerplate_patterns: list[str] = Field(
        default_factory=lambda: list(DEFAULT_BOILERPLATE),
        description="Case-insensitive regexes (Rust regex syntax) that mark model boilerplate.",
    )
    check_script: bool = Field(
        default=True, description="Drop records written mostly in a script the seeds do not use."
    )
    min_script_share: float = Field(
        default=0.5,
        ge=0,
        le=1,
        description="Minimum share of a record's letters written in the seeds' scripts.",
    )
    seed_script_min_share: float = Field(
        default=0.1,
        gt=0,
        le=1,
        description="A script counts as one of the seeds' scripts when it holds this share "
        "of their letters.",
    )
    prompt_echo_ngram: int = Field(
        default=3,
        ge=2,
        description="Drop a record sharing a run of this many words with the task, a field "
        "description, a label or a prompt template, unless real records share that run too "
        "(the model echoed its prompt).",
    )
    check_restatement: bool = Field(
        default=True, description="Drop answers that restate the question (instruction datasets)."
    )
    restatement_threshold: float = Field(
        default=0.95,
        gt=0,
        le=1,
        description=(
            "Instruction datasets: drop when this share of a later field's words already appear "
            "in an earlier field (the answer restates the question)."
        ),
    )
    restatement_min_tokens: int = Field(
        default=3, ge=1, description="Shorter answers (e.g. 'Yes') are not judged as restatements."
    )

    @field_validator("boilerplate_patterns")
    @classmethod
    def _compile(cls, patterns: list[str]) -> list[str]:
        for p in patterns:
            try:
                re.compile(p)
            except re.error as e:
                raise ValueError(f"boilerplate pattern {p!r} is not a valid regex: {e}") from e
        return patterns


class DedupSpec(_Strict):
    """Near-duplicate detection: MinHash LSH (rensa) candidates, verified by exact Jaccard."""

    near_duplicate_threshold: float = Field(
        default=0.8,
        gt=0,
        le=1,
        description="Word-shingle Jaccard at which two candidates are near-duplicates.",
    )
    seed_near_copy_threshold: float = Field(
        default=0.8,
        gt=0,
        le=1,
        description="Jaccard at which a candidate is a near-copy of a seed.",
    )
    seed_overlap_share: float = Field(
        default=0.6,
        gt=0,
        le=1,
        description="Drop a candidate when this share of its word runs (seed_overlap_ngram "
        "words) occur in the seeds: a seed cut short, padded with filler, or two joined.",
    )
    seed_overlap_ngram: int = Field(
        default=3, ge=2, le=8, description="Words per run compared by seed_overlap_share."
    )
    shingle_size: int = Field(
        default=1, ge=1, le=5, description="Word n-gram size of shingles; 1 suits short texts."
    )
    num_perm: int = Field(default=192, ge=16, le=1024, description="MinHash permutations.")
    seed: int = Field(default=42, ge=0, description="Seed of the MinHash and token hashes.")


class ContaminationSpec(_Strict):
    """Overlap with the real holdout (and any extra eval frames)."""

    near_duplicate_threshold: float = Field(
        default=0.7,
        gt=0,
        le=1,
        description="Jaccard with any eval record that counts as contamination.",
    )
    ngram_run: int | None = Field(
        default=8,
        ge=3,
        description="Shared run of this many consecutive words with an eval record; null disables.",
    )


class PiiSpec(_Strict):
    """Personal data in generated records (`pii` filter)."""

    mode: Literal["redact", "drop"] = Field(
        default="redact", description="redact: mask the match and keep the row; drop: drop it."
    )
    types: list[PiiType] = Field(
        default_factory=lambda: list(ALL_PII_TYPES), description="Kinds of personal data sought."
    )


class JudgeSpec(_Strict):
    """Label agreement: a TF-IDF + logistic-regression classifier trained on the seeds.

    Off by default: with few seeds and candidates from a small model the classifier is
    noisy, and a strict margin would throw away good rows. When enabled, the default margin
    is lenient: a row is dropped only when the classifier prefers another label by more than
    `max_margin` in probability.
    """

    enabled: bool = Field(default=False, description="Run label agreement (`label_agreement`).")
    max_margin: float = Field(
        default=0.5,
        ge=0,
        le=1,
        description="Drop a row when another label is more probable by more than this.",
    )
    min_seeds_per_label: int = Field(
        default=2, ge=1, description="Seeds each label needs when label agreement is on."
    )


_PATTERNS_DOC = (
    "Named case-insensitive regexes (Python re); a pattern that matches any seed is switched "
    "off for the dataset."
)


class _PatternFamily(_Strict):
    """A spec section holding one family of named patterns (patterns.py has the defaults)."""

    patterns: dict[str, str]

    @field_validator("patterns")
    @classmethod
    def _compile(cls, patterns: dict[str, str]) -> dict[str, str]:
        for name, p in patterns.items():
            try:
                re.compile(p)
            except re.error as e:
                raise ValueError(f"pattern {name!r} ({p!r}) is not a valid regex: {e}") from e
        return patterns


class ArtifactSpec(_PatternFamily):
    """Prompt scaffolding in a record (`format_artifact` filter)."""

    patterns: dict[str, str] = Field(
        default_factory=lambda: dict(ARTIFACT_PATTERNS), description=_PATTERNS_DOC
    )


class VoiceSpec(_PatternFamily):
    """An assistant's or agent's voice, or text about a record (`voice` filter)."""

    patterns: dict[str, str] = Field(
        default_factory=lambda: dict(VOICE_PATTERNS), description=_PATTERNS_DOC
    )


class RealismSpec(_Strict):
    """A cross-fitted real-vs-candidate classifier (`realism` filter)."""

    enabled: bool = Field(default=True, description="Run the realism filter.")
    seed_quantile: float = Field(
        default=0.05,
        ge=0,
        le=0.5,
        description="Drop a row whose out-of-fold probability of being real is below this "
        "quantile of the seeds' own out-of-fold probabilities.",
    )
    folds: int = Field(default=5, ge=2, le=20, description="Cross-fitting folds.")
    min_real: int = Field(
        default=20, ge=4, description="Fewer real records than this: the filter is skipped."
    )
    min_candidates: int = Field(
        default=20, ge=4, description="Fewer rows than this: the filter is skipped."
    )


class JunkRatesWithoutRealismSpec(_Strict):
    """The junk benchmark's figures for the chain without realism
    (`bench/junk_filter.py --without realism`): what applies to a version where realism did
    not run (too few rows to cross-fit, or switched off), whose other filters catch far less."""

    recall: float = Field(default=0.287, gt=0, le=1, description="Share of junk rows dropped.")
    recall_low: float = Field(default=0.261, gt=0, le=1, description="95% interval, low end.")
    recall_high: float = Field(default=0.315, gt=0, le=1, description="95% interval, high end.")
    precision: float = Field(
        default=0.987, gt=0, le=1, description="Share of dropped rows that were junk."
    )

    @model_validator(mode="after")
    def _ordered(self) -> JunkRatesWithoutRealismSpec:
        if not self.recall_low <= self.recall <= self.recall_high:
            raise ValueError("junk_estimate.without_realism: recall_low <= recall <= recall_high")
        return self


class JunkEstimateSpec(_Strict):
    """How well the content filters catch junk, as the junk benchmark measured them against
    reviewers (`bench/junk_filter.py`; docs/BENCHMARKS.md): the report uses these figures
    to estimate the junk that got past the filters. Re-measure and set them when a dataset
    has reviewed rows of its own."""

    recall: float = Field(default=0.81, gt=0, le=1, description="Share of junk rows dropped.")
    recall_low: float = Field(default=0.79, gt=0, le=1, description="95% interval, low end.")
    recall_high: float = Field(default=0.84, gt=0, le=1, description="95% interval, high end.")
    precision: float = Field(
        default=0.91, gt=0, le=1, description="Share of dropped rows that were junk."
    )
    without_realism: JunkRatesWithoutRealismSpec = Field(
        default_factory=JunkRatesWithoutRealismSpec,
        description="The same figures for a version where realism dropped nothing (it did not "
        "run): the other filters catch about a third of the junk, so the estimate of what they "
        "missed must not assume realism's recall.",
    )

    @model_validator(mode="after")
    def _ordered(self) -> JunkEstimateSpec:
        if not self.recall_low <= self.recall <= self.recall_high:
            raise ValueError("junk_estimate: recall_low <= recall <= recall_high")
        return self


class GatesSpec(_Strict):
    """Thresholds of the blocking quality suite (row count and lengths come from `quality:`)."""

    length_mostly: float = Field(
        default=0.95,
        gt=0,
        le=1,
        description="Share of rows whose text length must be within bounds.",
    )
    label_share_tolerance: float = Field(
        default=0.5,
        ge=0,
        description="Each label's share may differ from uniform by this fraction of the "
        "uniform share.",
    )
    max_near_duplicate_rate: float = Field(
        default=0.05, ge=0, le=1, description="Most share of curated rows flagged near-duplicate."
    )


class CurationSpec(_Strict):
    filters: list[FilterName] = Field(
        default_factory=lambda: list(DEFAULT_FILTERS), description="Filters to run, in order."
    )
    degenerate: DegenerateSpec = Field(default_factory=DegenerateSpec)
    dedup: DedupSpec = Field(default_factory=DedupSpec)
    contamination: ContaminationSpec = Field(default_factory=ContaminationSpec)
    pii: PiiSpec = Field(default_factory=PiiSpec)
    artifacts: ArtifactSpec = Field(default_factory=ArtifactSpec)
    voice: VoiceSpec = Field(default_factory=VoiceSpec)
    realism: RealismSpec = Field(default_factory=RealismSpec)
    junk_estimate: JunkEstimateSpec = Field(default_factory=JunkEstimateSpec)
    judge: JudgeSpec = Field(default_factory=JudgeSpec)
    gates: GatesSpec = Field(default_factory=GatesSpec)
    llm_judge: LlmJudgeSpec = Field(default_factory=LlmJudgeSpec)

    @field_validator("filters")
    @classmethod
    def _unique(cls, filters: list[str]) -> list[str]:
        dupes = sorted({f for f in filters if filters.count(f) > 1})
        if dupes:
            raise ValueError(f"curation.filters: each filter may appear once; repeated: {dupes}")
        return filters
