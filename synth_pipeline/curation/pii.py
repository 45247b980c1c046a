"""PII detection and redaction.

Detection is two-stage so a million rows stay cheap: one polars regex pass (Rust) marks
rows that may hold PII; only those rows run the exact Python detectors, which validate
what a regex cannot (Luhn for cards, mod-97 for IBANs, SSN ranges, IP address syntax,
North-American phone numbering).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import polars as pl

PLACEHOLDERS: dict[str, str] = {
    "secret_url": "[SECRET_URL]",
    "email": "[EMAIL]",
    "iban": "[IBAN]",
    "credit_card": "[CREDIT_CARD]",
    "national_id": "[NATIONAL_ID]",
    "ip_address": "[IP_ADDRESS]",
    "phone": "[PHONE]",
}

_SECRET_PARAMS = (
    r"access_token|refresh_token|id_token|token|api_key|apikey|key|secret|client_secret|"
    r"password|passwd|pwd|sig|signature|auth|session|sessionid|code|x-amz-signature|x-amz-credential"
)

# Patterns are written in the common subset of Python `re` and Rust `regex` syntax
# (no look-around), so the same text screens rows in polars and matches in Python.
_PATTERNS: dict[str, str] = {
    "secret_url": r"(?i)\bhttps?://[^\s\"'<>]*[?&#](?:"
    + _SECRET_PARAMS
    + r")=[^\s\"'<>&#]+[^\s\"'<>]*",
    "email": r"(?i)\b[a-z0-9._%+-]+@[a-z0-9-]+(?:\.[a-z0-9-]+)*\.[a-z]{2,}\b",
    "iban": r"\b[A-Z]{2}[0-9]{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?\b",
    "credit_card": r"\b[0-9](?:[ -]?[0-9]){12,18}\b",
    "national_id": r"\b[0-9]{3}-[0-9]{2}-[0-9]{4}\b",
    "ip_address": (
        r"\b(?:[0-9]{1,3}\.){3}[0-9]{1,3}\b"
        r"|(?i:(?:\b[0-9a-f]{1,4})?(?::[0-9a-f]{0,4}){2,7}\b)"
    ),
    "phone": (
        r"(?:\+[0-9]{1,3}[ .-]?)?(?:\([0-9]{3}\)|\b[0-9]{3})[ .-]?[0-9]{3}[ .-]?[0-9]{4}\b"
        r"|\+[0-9]{1,3}(?:[ .-]?[0-9]{2,4}){2,5}\b"
    ),
}


def _luhn(number: str) -> bool:
    digits = [int(c) for c in number if c.isdigit()]
    if not 13 <= len(digits) <= 19 or len(set(digits)) == 1:
        return False
    total = 0
    for i, d in enumerate(reversed(digits)):
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def _iban_ok(value: str) -> bool:
    s = value.replace(" ", "")
    if not 15 <= len(s) <= 34:
        return False
    rearranged = s[4:] + s[:4]
    try:
        number = int("".join(str(int(c, 36)) for c in rearranged))
    except ValueError:
        return False
    return number % 97 == 1


def _ssn_ok(value: str) -> bool:
    area, group, serial = value.split("-")
    return (
        area not in {"000", "666"}
        and not area.startswith("9")
        and group != "00"
        and serial != "0000"
    )


def _ip_ok(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def _phone_ok(value: str) -> bool:
    digits = "".join(c for c in value if c.isdigit())
    if value.lstrip().startswith("+"):
        return 8 <= len(digits) <= 15
    if len(digits) == 11 and digits.startswith("1"):
        digits = digits[1:]
    # North American numbering: area code and exchange start with 2-9.
    return len(digits) == 10 and digits[0] in "23456789" and digits[3] in "23456789"


_VALIDATORS: dict[str, Callable[[str], bool]] = {
    "iban": _iban_ok,
    "credit_card": _luhn,
    "national_id": _ssn_ok,
    "ip_address": _ip_ok,
    "phone": _phone_ok,
}

_COMPILED = {name: re.compile(p) for name, p in _PATTERNS.items()}


@dataclass(frozen=True)
class PiiMatch:
    type: str
    start: int
    end: int
    value: str


def find_pii(text: str, types: Iterable[str]) -> list[PiiMatch]:
    """Validated PII matches in `text`, earliest first, without overlaps.

    Types are tried in the fixed order of PLACEHOLDERS, so a card number is not also
    reported as a phone number.
    """
    wanted = set(types)
    taken: list[tuple[int, int]] = []
    found: list[PiiMatch] = []
    for name in PLACEHOLDERS:
        if name not in wanted:
            continue
        check = _VALIDATORS.get(name)
        for m in _COMPILED[name].finditer(text):
            s, e = m.span()
            if any(s < te and ts < e for ts, te in taken):
                continue
            if check is not None and not check(m.group()):
                continue
            taken.append((s, e))
            found.append(PiiMatch(name, s, e, m.group()))
    return sorted(found, key=lambda x: x.start)


def redact(text: str, types: Iterable[str]) -> tuple[str, list[str]]:
    """`text` with every validated PII match replaced by its typed placeholder."""
    matches = find_pii(text, types)
    if not matches:
        return text, []
    out, pos = [], 0
    for m in matches:
        out.append(text[pos : m.start])
        out.append(PLACEHOLDERS[m.type])
        pos = m.end
    out.append(text[pos:])
    return "".join(out), [m.type for m in matches]


def screen_expr(expr: pl.Expr, types: Iterable[str]) -> pl.Expr:
    """Vectorised screen: true where a row may hold PII of the given types (superset)."""
    pattern = "|".join(f"(?:{_PATTERNS[t]})" for t in PLACEHOLDERS if t in set(types))
    if not pattern:
        return pl.lit(False)
    return expr.str.contains(pattern).fill_null(False)
