"""Pattern families a record of any dataset should not contain unless its real records do.

Each family is a list of named, case-insensitive regular expressions (Python `re`), checked
over every string content field. A pattern that matches any seed is switched off for that
dataset: a support-agent dataset may say "how can I help", a dataset of templates may hold
"[name]"; the real records decide. The families are the spec's defaults
(`curation.artifacts.patterns`, `curation.voice.patterns`) and can be replaced there.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

import numpy as np
import polars as pl

from synth_pipeline.curation.base import CurationContext, Verdict, _decisions, keep_all
from synth_pipeline.curation.text import string_content_fields

# Format and prompt artifacts: the record carries pieces of its prompt's scaffolding.
ARTIFACT_PATTERNS: dict[str, str] = {
    "placeholder": r"\[[^\]\n]{1,60}\]|\{\{?[^}\n]{0,60}\}\}?|<[a-z_ ]{1,30}>",
    "count_note": r"\b\d+\s*(?:words?|characters?|chars|sentences?|tokens?|lines?)\b",
    "example_marker": r"\bexamples?\s*#?\s*\d+\b|\((?:example|sample|output|input)[^)]*\)",
    "editor_note": r"\((?:revised|edited|updated|note|source|translated|rewritten)\b[^)]*\)",
    "field_prefix": r"^\W*(?:text|output|input|answer|response|record|example|sample|label"
    r"|message|review|question|reply|result)\s*:",
    "json_debris": r"[\"']\s*:\s*[\"{\[]|\{\s*[\"']|\\[n\"]|```",
    "markup": r"^\s*(?:#{1,6}\s|[*-]\s|\d+[.)]\s)|\*\*[^*]+\*\*",
}

# The wrong voice: an assistant or agent answering, refusing or apologising, or text that
# talks about a record (its writer, the message, the review) instead of being one.
VOICE_PATTERNS: dict[str, str] = {
    "assistant_offer": r"\bhow (?:can|may|could) (?:i|we) (?:help|assist)\b"
    r"|\b(?:i'm|i am|we're|we are) (?:here|happy|glad) to (?:help|assist)\b"
    r"|\bfeel free to\b|\bi hope this helps\b|\bis there anything else\b",
    "assistant_apology": r"\b(?:sorry|apologi[sz]e) for (?:any|the) (?:inconvenience|confusion"
    r"|misunderstanding|trouble|delay)\b|\bwe apologi[sz]e\b|\bi apologi[sz]e\b",
    # Only verbs of serving someone: a customer is "unable to cancel" or "not able to access"
    # an account, an assistant is "unable to assist".
    "assistant_refusal": r"\b(?:i'm|i am|we're|we are) (?:unable|not able) to (?:assist|help"
    r"|fulfill)\b"
    r"|\bi (?:can't|cannot|can not) (?:help|assist)\b|\bunable to assist\b",
    "assistant_identity": r"\b(?:i'm|i am) (?:an? |the )?(?:ai|chatbot|bot|assistant|language"
    r" model|virtual)\b|\bas an ai\b",
    "service_referral": r"\b(?:please )?(?:contact|reach out to|call) (?:our|the|a|your)"
    r" (?:customer )?(?:service|support|help ?desk|team)\b|\bthank you for (?:contacting"
    r"|reaching out|your (?:patience|message|order|purchase))\b",
    "about_the_record": r"\b(?:the|this|that|a|each) (?:customer|user|reviewer|shopper"
    r"|brewer|writer|author|asker|buyer)(?:'s)? (?:wrote|writes|said|says|asked|asks|wants"
    r"|wanted|is asking|message|review|question|request)\b"
    r"|^\W*(?:this|here is|here's) (?:is )?(?:a |an |the |your )?(?:\w+ ){0,2}(?:message"
    r"|review|record|example|sample|text|request|response)\b"
    r"|\bthe (?:message|review|record|example|sample|text) (?:contains|includes|describes"
    r"|expresses|mentions|shows|is (?:positive|negative|mixed|about|written))\b",
}


def compile_family(patterns: Mapping[str, str]) -> dict[str, re.Pattern[str]]:
    return {name: re.compile(p, re.I | re.M) for name, p in patterns.items()}


def active_patterns(
    patterns: Mapping[str, str], real_texts: Iterable[str]
) -> dict[str, re.Pattern[str]]:
    """The patterns that no real text matches."""
    compiled = compile_family(patterns)
    real = [t for t in real_texts if t]
    return {n: p for n, p in compiled.items() if not any(p.search(t) for t in real)}


def _real_texts(ctx: CurationContext) -> list[str]:
    fields = ctx.fields(ctx.seeds) if ctx.seeds.height else pl.DataFrame()
    out = [t for c in fields.columns for t in fields[c].drop_nulls().to_list()]
    return out or ctx.seeds["text"].drop_nulls().to_list()


def pattern_filter(
    frame: pl.DataFrame, ctx: CurationContext, patterns: Mapping[str, str], reason: str
) -> Verdict:
    """Drop rows where any active pattern matches a string field; score: patterns matched,
    detail: their names and the first text matched."""
    n = frame.height
    if n == 0:
        return keep_all(0)
    active = active_patterns(patterns, _real_texts(ctx))
    if not active:
        return keep_all(n, "every pattern matches a real record")
    fields = ctx.fields(frame)
    columns = [c for c in string_content_fields(ctx.spec) if c in fields.columns]
    values = list(zip(*[fields[c].fill_null("").to_list() for c in columns], strict=True))
    if not columns:
        values = [(t,) for t in frame["text"].fill_null("").to_list()]
    score = np.zeros(n)
    detail = np.full(n, None, dtype=object)
    for i, texts in enumerate(values):
        hits = []
        for name, rx in active.items():
            m = next((m for t in texts if (m := rx.search(t))), None)
            if m is not None:
                hits.append(f'{name} "{m.group(0).strip()[:40]}"')
        if hits:
            score[i] = len(hits)
            detail[i] = "; ".join(hits)
    return Verdict(_decisions(n, score > 0, reason, score, detail))


def format_artifact_filter(frame: pl.DataFrame, ctx: CurationContext) -> Verdict:
    """Drop ("format_artifact") records carrying prompt scaffolding: placeholders, word or
    character counts, example markers, editor notes, field-name prefixes, JSON or markdown
    debris; each pattern only where no seed matches it (`curation.artifacts`)."""
    cfg = ctx.config.artifacts
    return pattern_filter(frame, ctx, cfg.patterns, "format_artifact")


def voice_filter(frame: pl.DataFrame, ctx: CurationContext) -> Verdict:
    """Drop ("wrong_voice") records in an assistant's or agent's voice (offers of help,
    apologies, refusals, referrals) or about a record instead of being one; each pattern
    only where no seed matches it (`curation.voice`)."""
    cfg = ctx.config.voice
    return pattern_filter(frame, ctx, cfg.patterns, "wrong_voice")
