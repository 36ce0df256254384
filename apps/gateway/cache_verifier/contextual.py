"""Contextual words: words whose facet depends on their neighbours.

"May" is a month in "in May" or "May 3" and a verb in "May I ...?"; "Go" is a programming
language in "a Go SDK", not in "go to Settings"; "Team" is a plan in "the Team plan", not
in "invite my team". ``CONTEXTUAL`` maps each such word to a resolver that looks at the
word's neighbours (``Around``) and records its fact in the ``Scan`` or not. A resolver
returns True when it settled the word (recorded it, or decided it says nothing), False to
let ``Scan.word`` read it as an ordinary word (lexicon tables, capitalisation).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, NamedTuple

from apps.gateway.cache_verifier.lexicon import (
    AMBIGUOUS_TZ,
    CREDENTIAL_BEFORE,
    GO_CONTEXT,
    MONTH_ABBR,
    PLAN_CONTEXT_WORDS,
    PLANS_CONTEXTUAL,
    PROG_CONTEXT_BEFORE,
    TIME_WORDS,
)

if TYPE_CHECKING:  # extraction imports this module
    from apps.gateway.cache_verifier.extraction import Scan


class Around(NamedTuple):
    """A contextual word and its neighbours (``nxt``: the next token's folded text)."""

    raw: str
    low: str
    prev: str
    nxt: str
    nxt_kind: str
    mid_cap: bool  # capitalised, not at a sentence start
    after_number: bool


def _may(scan: Scan, w: Around) -> bool:
    """The month, not the verb: "in May", "May 3", "3 May"."""
    if w.mid_cap or w.nxt_kind == "num" or w.after_number:
        scan.record(scan.times, "may")
    return True


def _min(scan: Scan, w: Around) -> bool:
    """A duration after a number ("5 min"), else the extreme ("the min price")."""
    if w.after_number:
        scan.units.add("minute")
    else:
        scan.directions.add("extreme:min")
    return True


def _second(scan: Scan, w: Around) -> bool:
    """A duration after a number ("1 second"); else an ordinary word ("a second seat")."""
    if w.after_number:
        scan.units.add("second")
        return True
    return False


def _month_abbreviation(scan: Scan, w: Around) -> bool:
    """A month only next to a number ("Mar 3", "3 Dec")."""
    if w.after_number or w.nxt_kind == "num":
        scan.record(scan.times, MONTH_ABBR[w.low])
        return True
    return False


def _go(scan: Scan, w: Around) -> bool:
    """The language only capitalised mid-sentence or before "SDK", "code", ..."""
    if w.mid_cap or w.nxt in GO_CONTEXT:
        scan.record(scan.progs, "go")
    return True


def _c_or_r(scan: Scan, w: Around) -> bool:
    """The languages C and R only capitalised, after "in", "with", ... or before "code",
    "SDK", ... ("in C", "R code")."""
    if w.raw in ("C", "R") and (w.prev in PROG_CONTEXT_BEFORE or w.nxt in GO_CONTEXT):
        scan.record(scan.progs, w.low)
        return True
    return False


def _time_zone(scan: Scan, w: Around) -> bool:
    """EST, IST, CET only in capitals: "est", "ist", "cet" are French and German words."""
    if w.raw.isupper():
        scan.record(scan.times, TIME_WORDS[w.low])
    return True


def _token(scan: Scan, w: Around) -> bool:
    """Nothing in "API token", "token key" (a credential); else the unit."""
    return w.prev in CREDENTIAL_BEFORE or w.nxt in ("key", "keys")


def _plan_word(scan: Scan, w: Around) -> bool:
    """free, basic, team ...: a plan before "plan", "tier", ..., capitalised mid-sentence,
    or ending a phrase after to/from/on ("move to Business?")."""
    if (
        w.nxt in PLAN_CONTEXT_WORDS
        or w.mid_cap
        or (w.prev in ("to", "from", "on") and (w.nxt_kind == "end" or w.nxt in ("and", "or")))
    ):
        scan.record(scan.plans, PLANS_CONTEXTUAL[w.low])
    return True


CONTEXTUAL: Mapping[str, Callable[[Scan, Around], bool]] = {
    "may": _may,
    "min": _min,
    "mins": _min,
    "second": _second,
    **dict.fromkeys(MONTH_ABBR, _month_abbreviation),
    "go": _go,
    "c": _c_or_r,
    "r": _c_or_r,
    **dict.fromkeys(AMBIGUOUS_TZ, _time_zone),
    "token": _token,
    "tokens": _token,
    **dict.fromkeys(PLANS_CONTEXTUAL, _plan_word),
}
