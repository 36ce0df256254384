"""Numbers (``Facets.numbers``): digits and spelled-out numbers, normalised.

"10" == "ten" == "10.0", "1,000" == "1000" == "1k", "5%" == "5 percent", "twenty-five"
== "25", "one hundred and fifty" == "150". A number's suffix says what it is: "10k" is
multiplied, "3pm" also records a time, "10GB" and "5min" a unit, "2FA" and "4o" are
identifiers (entities), "1st" an ordinal. A year (1900-2099, not an amount of money, not
before a unit) is a time, not a number; "one" is a pronoun in "which one", "a new one".

The scan hands number tokens to ``number_token`` and number words to ``number_word``, and
calls ``flush_spelled`` when a spelled-out number may have ended.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from apps.gateway.cache_verifier.lexicon import (
    COUNT_BEFORE,
    CURRENCY_SYMBOLS,
    NUMBER_SUFFIX_MULT,
    ONE_PRONOUN_BEFORE,
    ORDINAL_SUFFIXES,
    SCALE_WORDS,
    SHORT_UNIT_SUFFIXES,
    TENS_WORDS,
    UNIT_WORDS,
    UNITS_WORDS,
)
from apps.gateway.cache_verifier.tokens import Token

if TYPE_CHECKING:  # extraction imports this module
    from apps.gateway.cache_verifier.extraction import Scan


def number_token(scan: Scan, token: Token, prev: str, nxt: Token) -> bool:
    """Record a number token; False: it never takes the next token with it."""
    _, raw, low, suffix = token
    digits = raw[: len(raw) - len(suffix)]
    scan.at_start = False
    scan.last_was_number = True
    if suffix in NUMBER_SUFFIX_MULT:
        scan.numbers.append(_normalise(digits, NUMBER_SUFFIX_MULT[suffix]))
    elif suffix == "%":
        scan.numbers.append(_normalise(digits) + "%")
    elif suffix in ("am", "pm"):
        scan.numbers.append(_normalise(digits))
        scan.times.add(suffix)
    elif suffix in UNIT_WORDS or suffix in SHORT_UNIT_SUFFIXES:
        scan.numbers.append(_normalise(digits))
        scan.units.add(UNIT_WORDS.get(suffix) or SHORT_UNIT_SUFFIXES[suffix])
    elif suffix and suffix not in ORDINAL_SUFFIXES:
        # "2FA", "4o", "10x": an identifier rather than a quantity
        scan.entities.add(low)
        scan.words.add(low)
        scan.last_was_number = False
    elif (
        len(digits) == 4
        and digits.isdigit()
        and not suffix
        and 1900 <= int(digits) <= 2099
        and prev not in CURRENCY_SYMBOLS
        and nxt[2] not in UNIT_WORDS
    ):
        scan.record(scan.times, digits)
        scan.last_was_number = False
    else:
        scan.numbers.append(_normalise(digits))
    return False


def number_word(scan: Scan, low: str, prev: str, nxt: Token) -> None:
    """A number word: starts or continues a spelled-out number, unless "one" is a pronoun."""
    if low == "one" and (
        prev in ONE_PRONOUN_BEFORE
        or nxt[2] in ("of", "another", "by")
        # "a yearly one?", "the old one and": a pronoun closing the phrase
        or ((nxt[0] == "end" or nxt[2] in ("and", "or", "instead")) and prev not in COUNT_BEFORE)
    ):
        return
    scan.in_spelled = True
    if low in UNITS_WORDS:
        scan.spelled_cur += UNITS_WORDS[low]
    elif low in TENS_WORDS:
        scan.spelled_cur += TENS_WORDS[low]
    elif low == "hundred":
        scan.spelled_cur = max(scan.spelled_cur, 1) * 100
    else:
        scan.spelled += max(scan.spelled_cur, 1) * SCALE_WORDS[low]
        scan.spelled_cur = 0


def flush_spelled(scan: Scan) -> None:
    """The spelled-out number being read (if any) has ended: record it."""
    if scan.in_spelled:
        scan.numbers.append(str(scan.spelled + scan.spelled_cur))
        scan.last_was_number = True
    scan.spelled = scan.spelled_cur = 0
    scan.in_spelled = False


def _normalise(raw: str, mult: int = 1) -> str:
    raw = raw.replace(",", "")
    if "." in raw:
        whole, frac = raw.split(".", 1)
        frac = frac.rstrip("0")
        if mult != 1:
            value = float(f"{whole}.{frac or '0'}") * mult
            return str(int(value)) if value == int(value) else repr(value)
        whole = str(int(whole))
        return f"{whole}.{frac}" if frac else whole
    return str(int(raw) * mult)
