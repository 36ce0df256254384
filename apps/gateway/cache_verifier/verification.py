"""Verification: may the answer cached for one question be served for another?

``verify(query, cached_query)`` extracts both questions' facets (memoised) and
``compare`` checks them in a fixed order, reporting the first group that differs in
``Verdict.reason``. Groups are compared three ways:

* equality       the written language (when both are guessed), named natural
                 languages, negation, numbers, programming languages, times, units;
* presence       entities and plans: every item of one question must be in the other's
                 group or among its words (any case, crude stemming), so "Stripe" vs
                 "stripe" agree while "Stripe" vs "PayPal" do not; emails and URLs only
                 exactly;
* per axis       directions and routes: a conflict only when both questions use the same
                 axis ("io", "from") with different sides, so a paraphrase that simply does
                 not use a direction word still agrees.

Process-wide state: the facets of recently verified questions, in ``functools.lru_cache``
(``_memoised_facets``). A query is verified against several candidates and a popular cached
question against many queries, so each is extracted once. Facets depend on the text alone,
so nothing needs invalidating; a process keeps its own (thread-safe, at most
MEMO_MAX_ENTRIES questions, the least recently used dropped first; longer texts than
MEMO_MAX_CHARS are extracted every time, not kept). ``clear_memo()`` empties it: the
benchmark calls it to time cold verifications; tests need not, as results do not depend
on it.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from apps.gateway.cache_verifier.extraction import Facets, extract_facets

MEMO_MAX_ENTRIES = 4096
MEMO_MAX_CHARS = 500


@dataclass(frozen=True)
class Verdict:
    ok: bool
    reason: str
    # A group has something on each side the other lacks: one fact in place of another
    # ("saturday" vs "sunday"), not only one added or left out ("3" vs "1, 3").
    replaced: bool = False


def verify(query: str, cached_query: str) -> Verdict:
    """Whether the cached answer to ``cached_query`` may be served for ``query``."""
    return compare(_facets(query), _facets(cached_query))


def compare(a: Facets, b: Facets) -> Verdict:
    """``ok`` when the two questions' facets agree; else the first group that differs,
    and whether any group has something on each side (``Verdict.replaced``)."""
    verdict = _first_difference(a, b)
    if verdict.ok or verdict.replaced:
        return verdict
    return Verdict(False, verdict.reason, _replaced(a, b))


def _replaced(a: Facets, b: Facets) -> bool:
    """Some group has an item on each side that the other lacks ("upload" for
    "download" behind a number written two ways)."""
    groups = (
        (a.natural_languages, b.natural_languages),
        (a.numbers, b.numbers),
        (a.prog_languages, b.prog_languages),
        (a.times, b.times),
        (a.units, b.units),
    )
    if any(_both(x, y) for x, y in groups):
        return True
    if a.directions != b.directions and _axis_conflict(a.directions, b.directions):
        return True
    if a.routes != b.routes and _axis_conflict(a.routes, b.routes):
        return True
    return bool(_absent(a.entities, b, b.entities) and _absent(b.entities, a, a.entities))


def _first_difference(a: Facets, b: Facets) -> Verdict:
    if a.language is not None and b.language is not None and a.language != b.language:
        return Verdict(
            False, f"written language differs: {a.language!r} vs {b.language!r}", replaced=True
        )
    if a.natural_languages != b.natural_languages:
        return Verdict(
            False,
            f"languages differ: {_fmt(a.natural_languages)} vs {_fmt(b.natural_languages)}",
            _both(a.natural_languages, b.natural_languages),
        )
    if a.negation != b.negation:
        return Verdict(False, f"negation differs: {a.negation} vs {b.negation}")
    if a.numbers != b.numbers:
        return Verdict(
            False,
            f"numbers differ: {_fmt(a.numbers)} vs {_fmt(b.numbers)}",
            _both(a.numbers, b.numbers),
        )
    if a.plans != b.plans and (_absent(a.plans, b, b.plans) or _absent(b.plans, a, a.plans)):
        return Verdict(
            False, f"plans differ: {_fmt(a.plans)} vs {_fmt(b.plans)}", _both(a.plans, b.plans)
        )
    if a.prog_languages != b.prog_languages:
        return Verdict(
            False,
            f"programming languages differ: {_fmt(a.prog_languages)} vs {_fmt(b.prog_languages)}",
            _both(a.prog_languages, b.prog_languages),
        )
    if a.entities != b.entities:
        only_a = _absent(a.entities, b, b.entities)
        only_b = _absent(b.entities, a, a.entities)
        if only_a or only_b:
            return Verdict(
                False,
                f"entities differ: {_fmt(only_a)} vs {_fmt(only_b)}",
                bool(only_a and only_b),
            )
    if a.directions != b.directions and _axis_conflict(a.directions, b.directions):
        return Verdict(
            False,
            f"directions differ: {_fmt(a.directions)} vs {_fmt(b.directions)}",
            replaced=True,
        )
    if a.routes != b.routes and _axis_conflict(a.routes, b.routes):
        return Verdict(False, f"routes differ: {_fmt(a.routes)} vs {_fmt(b.routes)}", replaced=True)
    if a.times != b.times:
        return Verdict(
            False, f"times differ: {_fmt(a.times)} vs {_fmt(b.times)}", _both(a.times, b.times)
        )
    if a.units != b.units:
        return Verdict(
            False, f"units differ: {_fmt(a.units)} vs {_fmt(b.units)}", _both(a.units, b.units)
        )
    return Verdict(True, "ok")


def clear_memo() -> None:
    """Forget every memoised question (see the module docstring)."""
    _memoised_facets.cache_clear()


def _facets(text: str) -> Facets:
    return _memoised_facets(text) if len(text) <= MEMO_MAX_CHARS else extract_facets(text)


@functools.lru_cache(maxsize=MEMO_MAX_ENTRIES)
def _memoised_facets(text: str) -> Facets:
    return extract_facets(text)


def _both(a: frozenset[str], b: frozenset[str]) -> bool:
    """Each side has an item the other lacks."""
    return bool(a - b) and bool(b - a)


def _fmt(values: frozenset[str] | set[str]) -> str:
    return "{" + ", ".join(repr(v) for v in sorted(values)) + "}"


def _absent(mine: frozenset[str], other: Facets, other_group: frozenset[str]) -> set[str]:
    """Items of ``mine`` that the other question neither has in its group nor mentions."""
    missing: set[str] = set()
    other_stems: set[str] | None = None
    for item in mine:
        if item in other_group:
            continue
        if "@" in item or "/" in item:  # emails and URLs: exact only
            missing.add(item)
            continue
        for part in item.split():
            if part in other.words:
                continue
            if other_stems is None:
                other_stems = {_stem(w) for w in other.words} | other.words
            if _stem(part) not in other_stems:
                missing.add(item)
                break
    return missing


def _axis_conflict(a: frozenset[str], b: frozenset[str]) -> bool:
    """True when both sets use an axis ("axis:side") with different sides."""
    sides_a: dict[str, set[str]] = {}
    for item in a:
        axis, _, side = item.partition(":")
        sides_a.setdefault(axis, set()).add(side)
    sides_b: dict[str, set[str]] = {}
    for item in b:
        axis, _, side = item.partition(":")
        sides_b.setdefault(axis, set()).add(side)
    return any(axis in sides_b and sides_b[axis] != sides for axis, sides in sides_a.items())


def _stem(word: str) -> str:
    """Crude suffix stripping, good enough for "invoices" ~ "invoice" ~ "invoicing"."""
    if len(word) <= 4:
        return word[:-1] if len(word) == 4 and word[-1] == "s" and word[-2] != "s" else word
    if word.endswith("ies"):
        return word[:-3] + "y"
    if word.endswith("ing") and len(word) > 5:
        word = word[:-3]
    elif word.endswith("ed"):
        word = word[:-2]
    elif word.endswith("s") and not word.endswith("ss"):
        word = word[:-1]
    if word.endswith("e") and len(word) > 4:
        word = word[:-1]
    return word
