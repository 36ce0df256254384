"""Personal data and secrets: find them, with their checksums, and redact them.

No library: the candidates are found by pattern and confirmed by their checksum, which
the standard formats publish (Luhn for card numbers, ISO 7064 mod 97-10 for IBANs, the
INSEE key for French social security numbers) or by their structure (US SSN and UK
National Insurance numbers exclude reserved ranges). python-stdnum and phonenumbers do
this and more, but are not dependencies here; the checks below are short and tested
(tests/guardrails/test_pii.py). Credentials are recognised by their published shapes
(provider key prefixes, PEM blocks, JWTs, URLs with a password).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from apps.guardrails.policy import Check


@dataclass(frozen=True)
class Finding:
    check: Check
    kind: str  # "email", "card", "aws_key", ...
    start: int
    end: int
    value: str

    @property
    def placeholder(self) -> str:
        return f"[{self.kind.upper()}]"


# -- checksums -----------------------------------------------------------------------------


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, char in enumerate(reversed(digits)):
        n = int(char)
        if i % 2:
            n = n * 2 - 9 if n > 4 else n * 2
        total += n
    return total % 10 == 0


IBAN_LENGTHS = {
    "AD": 24, "AT": 20, "BE": 16, "BG": 22, "CH": 21, "CY": 28, "CZ": 24, "DE": 22,
    "DK": 18, "EE": 20, "ES": 24, "FI": 18, "FR": 27, "GB": 22, "GR": 27, "HR": 21,
    "HU": 28, "IE": 22, "IS": 26, "IT": 27, "LI": 21, "LT": 20, "LU": 20, "LV": 21,
    "MC": 27, "MT": 31, "NL": 18, "NO": 15, "PL": 28, "PT": 25, "RO": 24, "SE": 24,
    "SI": 19, "SK": 24, "SM": 27,
}  # fmt: skip


def iban_ok(iban: str) -> bool:
    """ISO 13616: the country's length, then mod 97 of the rearranged number is 1."""
    if IBAN_LENGTHS.get(iban[:2]) != len(iban):
        return False
    rearranged = iban[4:] + iban[:4]
    return int("".join(str(int(c, 36)) for c in rearranged)) % 97 == 1


def insee_ok(number: str) -> bool:
    """A French NIR: 13 characters (Corsica: 2A/2B in the department) and a key of
    97 minus the number mod 97."""
    body, key = number[:13], number[13:]
    body = body.replace("2A", "19").replace("2B", "18")
    if not body.isdigit() or not key.isdigit():
        return False
    return 97 - int(body) % 97 == int(key)


def ssn_ok(area: str, group: str, serial: str) -> bool:
    return area not in ("000", "666") and area[0] != "9" and group != "00" and serial != "0000"


_NINO_BAD_PREFIX = frozenset({"BG", "GB", "KN", "NK", "NT", "TN", "ZZ"})


def nino_ok(prefix: str) -> bool:
    return prefix not in _NINO_BAD_PREFIX and prefix[1] != "O"


# -- patterns ------------------------------------------------------------------------------

_EMAIL_RE = re.compile(r"(?<![\w.+-])[\w.+-]{1,64}@[\w-]{1,63}(?:\.[\w-]{1,63})*\.[a-zA-Z]{2,24}\b")
_CARD_RE = re.compile(r"(?<![\d-])(?:\d[ -]?){12,18}\d(?![\d-])")
_IBAN_RE = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?\b")
_SSN_RE = re.compile(r"(?<![\d-])(\d{3})-(\d{2})-(\d{4})(?![\d-])")
_NINO_RE = re.compile(
    r"\b([A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z]) ?(\d{2}) ?(\d{2}) ?(\d{2}) ?([A-D])\b"
)
_INSEE_RE = re.compile(
    r"(?<!\d)([12]) ?(\d{2}) ?(0[1-9]|1[0-2]|[2-9]\d) ?(\d{2}|2A|2B) ?(\d{3}) ?(\d{3})"
    r" ?(\d{2})(?!\d)"
)
_PHONE_RE = re.compile(
    r"(?<![\w+/.-])(?:\+\d{1,3}[ .-]?|00\d{1,3}[ .-]?|\(\d{1,4}\)[ .-]?|0)"
    r"\d{1,4}(?:[ .-]?\d{2,4}){1,5}(?![\w/-])"
)

SECRET_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (kind, re.compile(pattern))
    for kind, pattern in (
        (
            "private_key",
            r"-----BEGIN (?:[A-Z]+ )*PRIVATE KEY-----[\s\S]*?(?:-----END (?:[A-Z]+ )*PRIVATE "
            r"KEY-----|$)",
        ),
        ("aws_key", r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),
        ("anthropic_key", r"\bsk-ant-[A-Za-z0-9_-]{20,}"),
        ("openai_key", r"\bsk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,}"),
        ("stripe_key", r"\b(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,}"),
        ("github_token", r"\b(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{40,})"),
        ("slack_token", r"\bxox[abposr]-[A-Za-z0-9-]{10,}"),
        ("google_key", r"\bAIza[0-9A-Za-z_-]{35}"),
        ("jwt", r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"),
        (
            "connection_string",
            r"\b[a-z][a-z0-9+.-]{1,20}://[^\s:/@]{1,100}:[^\s@/]{1,200}@[^\s/]{1,200}",
        ),
        (
            "password",
            r"(?i)\b(?:password|passwd|pwd|secret|api[_-]?key|token)\b\s*[:=]\s*[\"']?[^\s\"']{6,}",
        ),
    )
)

MAX_SCAN_CHARS = 200_000

# Gates: what every match of the patterns behind them needs (a character or a literal
# each pattern contains), so a text without it skips them with the same result. Most
# chat messages and answers hold no "@", few digits and no key prefix: a few fast scans
# instead of seven PII and eleven secret patterns (tests/guardrails/
# test_scan_fast_paths.py compares every verdict with the gates open).
_EMAIL_GATE = re.compile("@")
_DIGIT_GATE = re.compile(r"\d")
# Every PII pattern but the e-mail's needs digits: six or more for all but the IBAN (a UK
# NI number six, an SSN nine, a phone number nine to be kept, a card or a French social
# security number thirteen); an IBAN two, after two capitals. A message with a number or
# two in it ("#123", "in 2024") skips them.
_IBAN_GATE = re.compile(r"[A-Z]{2}\d{2}")
# The case-sensitive literals of every secret pattern but the password's...
_SECRET_LITERALS = (
    "-----BEGIN", "AKIA", "ASIA", "sk-", "sk_", "rk_", "ghp_", "gho_", "ghu_", "ghs_",
    "ghr_", "github_pat_", "xox", "AIza", "eyJ", "://",
)  # fmt: skip
# ...whose "=" or ":" comes first, then the pattern itself.
_ASSIGN_GATE = re.compile("[:=]")
_PASSWORD = SECRET_PATTERNS[-1][1]


def _may_hold_secret(text: str) -> bool:
    if any(literal in text for literal in _SECRET_LITERALS):
        return True
    return bool(_ASSIGN_GATE.search(text) and _PASSWORD.search(text))


def _may_hold_number(text: str) -> bool:
    digits = len(_DIGIT_GATE.findall(text))
    return digits >= 6 or (digits >= 2 and _IBAN_GATE.search(text) is not None)


def _digits(text: str) -> str:
    return re.sub(r"\D", "", text)


def find_pii(text: str) -> list[Finding]:
    text = text[:MAX_SCAN_CHARS]
    found: list[Finding] = []

    def add(kind: str, match: re.Match[str]) -> None:
        found.append(Finding(Check.PII, kind, match.start(), match.end(), match.group(0)))

    # In order of priority: an earlier kind wins an overlap (a French social security
    # number is 15 digits, which also passes Luhn one time in ten).
    if _EMAIL_GATE.search(text):
        for match in _EMAIL_RE.finditer(text):
            add("email", match)
    if not _may_hold_number(text):
        return without_overlaps(found)
    for match in _IBAN_RE.finditer(text):
        if iban_ok(match.group(0).replace(" ", "")):
            add("iban", match)
    for match in _INSEE_RE.finditer(text):
        if insee_ok("".join(match.groups())):
            add("fr_insee", match)
    for match in _CARD_RE.finditer(text):
        digits = _digits(match.group(0))
        if 13 <= len(digits) <= 19 and luhn_ok(digits) and len(set(digits)) > 1:
            add("card", match)
    for match in _SSN_RE.finditer(text):
        if ssn_ok(*match.groups()):
            add("us_ssn", match)
    for match in _NINO_RE.finditer(text):
        if nino_ok(match.group(1)):
            add("uk_nino", match)
    for match in _PHONE_RE.finditer(text):
        digits = _digits(match.group(0))
        if 9 <= len(digits) <= 15 and len(set(digits)) > 2:
            add("phone", match)
    return without_overlaps(found)


def find_secrets(text: str) -> list[Finding]:
    text = text[:MAX_SCAN_CHARS]
    if not _may_hold_secret(text):
        return []
    found = [
        Finding(Check.SECRETS, kind, m.start(), m.end(), m.group(0))
        for kind, pattern in SECRET_PATTERNS
        for m in pattern.finditer(text)
    ]
    return without_overlaps(found)


def without_overlaps(found: list[Finding]) -> list[Finding]:
    """The first finding of each overlapping group, in the patterns' order of priority
    (a card number is not also a phone number; a key inside a URL is one secret)."""
    kept: list[Finding] = []
    for finding in found:
        if all(finding.end <= k.start or finding.start >= k.end for k in kept):
            kept.append(finding)
    return sorted(kept, key=lambda f: f.start)


def redact(text: str, findings: list[Finding]) -> str:
    """``text`` with each finding replaced by its placeholder ("[EMAIL]", "[CARD]", ...)."""
    out: list[str] = []
    position = 0
    for finding in sorted(findings, key=lambda f: f.start):
        if finding.start < position:
            continue
        out.append(text[position : finding.start])
        out.append(finding.placeholder)
        position = finding.end
    out.append(text[position:])
    return "".join(out)


def mask(value: str) -> str:
    """Enough of a value for an admin to recognise it, not enough to use it."""
    value = " ".join(value.split())
    if len(value) <= 8:
        return "•" * len(value)
    return f"{value[:3]}…{value[-2:]}"
