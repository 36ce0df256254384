"""What one small change in the wording shifts: a sign, a scope, a target, a time.

Four of the pair model's features (``pair_model.features``), each read from the raw text
of the two questions, in English and the six Latin-script languages the lexicon covers
(fr, de, es, it, pt, nl; accents folded). Each names a change of fact that keeps nearly
every word, so the overlap features cannot see it, and each is evidence, not a verdict:

* ``sign_flipped``   a token differs only by a sign, operator or glob ("+7" / "-7",
  "[-1]" / "[1]", "build" / "build/*", ">=" / ">"), or one flag replaces another
  ("--save-dev" / "--global"): in code and numbers a changed fact;
* ``scope_changed``  one question is about all of something ("all", "every", "the whole",
  "everyone", "alle", "tous", "todos" ...) and the other is not (1.0 when the other
  names one of it: "a single", "my own", "a specific"; 0.5 when it just does not say);
* ``target_changed`` both convert, translate or move something (or name a number) and
  the targets ("to Fahrenheit" / "in kelvin", "in Euro", "en anglais") differ;
* ``time_shifted``   the two name a period relative to now on different sides ("last
  year" / "this yr", "next month", "yesterday" / "today", "l'année dernière"): 1.0, or
  0.5 when only one names such a period.

Pure Python over a few small tables, written from general knowledge of the languages,
not from any labelled pair.
"""

from __future__ import annotations

import re

from apps.gateway.cache_verifier.alignment import canonical, stem
from apps.gateway.cache_verifier.tokens import fold

_TOKEN = re.compile(r"\S+")
_EDGE = "?!.,;:\"'`)(\u201c\u201d\u2018\u2019\u00ab\u00bb"
# Characters that change what code or a number says when they alone differ.
_SIGNS = frozenset("+-*/<>=!~^&|[]")
# A hyphen between two letters or digits joins a word ("W-2", "e-mail"), a sign does not.
_JOINING_HYPHEN = re.compile(r"(?<=[a-z0-9])-(?=[a-z0-9])")
# Operators that prose uses too ("15% of 240 = ?", "A -> B", "sales & marketing").
_PROSE_OPERATORS = frozenset(("=", "-", "--", "->", "=>", "&", "/", "|"))
_FLAG = re.compile(r"--?[a-z][a-z0-9-]*")
_WORD = re.compile(r"[a-z0-9°]+")


def _words(spec: str) -> frozenset[str]:
    return frozenset(spec.split())


# All of something (accents folded).
ALL = _words(
    "all every everyone everybody everything whole entire across companywide orgwide "
    "organisationwide organizationwide workspacewide teamwide "
    "alle allen aller alles jede jeden jedem jeder jedes ganze ganzen ganzer gesamte "
    "gesamten gesamter samtliche samtlichen "
    "tous toutes chaque entier entiere ensemble "
    "todos todas cada entero entera inteiro inteira "
    "tutti tutte ogni intero intera "
    "elke ieder iedere iedereen geheel gehele hele"
)
# One of it, named as one.
ONE = _words(
    "single specific particular individual own "
    "einzelne einzelnen einzelner einzigen bestimmte bestimmten eigene eigenen eigenes "
    "seul seule unique specifique particulier propre "
    "solo sola unico unica especifico especifica propio propia "
    "proprio propria singolo singola specifico "
    "enkele specifieke eigen individuele"
)
# A conversion, translation or move: its target is the word after TARGET_BEFORE.
CONVERTING = _words(
    "convert converting converted conversion translate translating translation change "
    "switch turn transform cast express migrate move upgrade downgrade transfer rename "
    "umrechnen umwandeln konvertieren ubersetzen wechseln "
    "convertir traduire changer passer traducir cambiar converter traduzir mudar "
    "convertire tradurre cambiare omzetten converteren vertalen"
)
TARGET_BEFORE = _words("to into in nach ins en em para naar")
_SKIPPED = _words(
    "the a an my our your der die das den dem ein eine le la les l un une el los las "
    "o os um uma il lo gli de het een degrees degree grad grados graus gradi graden"
)
# Relative periods: modifier -> side; period words -> period; whole words -> both.
PAST = _words(
    "last previous past prior letzte letztes letzten letzter vorige vorigen vergangene "
    "vergangenen dernier derniere precedent precedente pasado pasada anterior passado "
    "passada scorso scorsa passato passata vorig vorige afgelopen"
)
THIS = _words(
    "this current this-year diese dieses diesem diesen dieser laufende laufenden cette ce "
    "cet este esta neste nesta questo questa quest dit deze"
)
NEXT = _words(
    "next coming upcoming nachste nachstes nachsten kommende kommenden prochain "
    "prochaine proximo proxima prossimo prossima volgend volgende komende"
)
PERIODS = {
    **dict.fromkeys(
        _words("year years yr yrs jahr jahres annee ano anos anno jaar fiscal-year fy"), "year"
    ),
    **dict.fromkeys(
        _words("month months mo mos mth monat monats mois mes meses mese maand"), "month"
    ),
    **dict.fromkeys(_words("week weeks wk wks woche semaine semana settimana"), "week"),
    **dict.fromkeys(_words("quarter qtr quartal trimestre kwartaal"), "quarter"),
}
DAYS = {
    **dict.fromkeys(_words("yesterday gestern ayer ontem ieri gisteren"), "past"),
    **dict.fromkeys(_words("today tonight heute aujourd hoy hoje oggi vandaag"), "this"),
    **dict.fromkeys(_words("tomorrow demain manana amanha domani"), "next"),
}


def sign_flipped(query: str, cached: str) -> float:
    """1.0 when a token of one question is a token of the other but for signs, operators
    or globs: "+7" / "-7", "[-1]" / "[1]", "build" / "build/*", ">=" / ">". Hyphens and
    slashes inside a word ("e-mail", "and/or") do not count."""
    only_q, only_c = _raw_tokens(query) - _PROSE_OPERATORS, _raw_tokens(cached) - _PROSE_OPERATORS
    only_q, only_c = only_q - only_c, only_c - only_q
    if not only_q or not only_c:
        return 0.0
    if any(_FLAG.fullmatch(t) for t in only_q) and any(_FLAG.fullmatch(t) for t in only_c):
        return 1.0  # one flag for another: "--save-dev" / "--global"
    stripped = {_unsigned(t): t for t in only_c}
    for token in only_q:
        other = stripped.get(_unsigned(token))
        if other is not None and _sign_matters(token, other):
            return 1.0
    return 0.0


def scope_changed(query: str, cached: str) -> float:
    """1.0 when one question says all of something and the other one of it; 0.5 when one
    says all and the other does not say; else 0.0."""
    q, c = set(_folded(query)), set(_folded(cached))
    all_q, all_c = bool(q & ALL), bool(c & ALL)
    if all_q == all_c:
        return 0.0
    one_other = bool((c if all_q else q) & ONE) or _a_single(cached if all_q else query)
    return 1.0 if one_other else 0.5


def target_changed(query: str, cached: str) -> float:
    """1.0 when both convert or move something and name no target in common (the words
    after "to", "into", "in" and the like)."""
    a, b = _target(_folded(query)), _target(_folded(cached))
    return float(bool(a and b and not a & b))


def time_shifted(query: str, cached: str) -> float:
    """1.0 when both name periods relative to now and they differ ("last year" / "this
    year"); 0.5 when only one does."""
    a, b = _relative_times(_folded(query)), _relative_times(_folded(cached))
    if a and b:
        return float(a != b)
    return 0.5 if a or b else 0.0


def _raw_tokens(text: str) -> set[str]:
    out = set()
    for token in _TOKEN.findall(text.lower()):
        token = token.strip(_EDGE)
        if token.endswith("'s"):
            token = token[:-2]
        if token:
            out.add(token)
    return out


def _unsigned(token: str) -> str:
    return "".join(ch for ch in token if ch not in _SIGNS)


def _sign_matters(a: str, b: str) -> bool:
    """The two differ by signs that change a fact: at an edge of the token, or in a token
    with digits, or the whole token is an operator; not by a hyphen inside a word."""
    if _JOINING_HYPHEN.sub("", a) == _JOINING_HYPHEN.sub("", b):
        return False
    if not _unsigned(a) and not _unsigned(b):
        return True
    if any(ch.isdigit() for ch in a + b):
        return True
    return a[0] != b[0] or a[-1] != b[-1]


def _folded(text: str) -> list[str]:
    return _WORD.findall(fold(text.lower()).replace("'s ", " ").replace("-wide", "wide"))


def _a_single(text: str) -> bool:
    """ "a single", "just one", "only one", "one specific": one of it, named as one."""
    return re.search(r"\b(?:a|just|only)\s+(?:one|single)\b", text.lower()) is not None


def _target(words: list[str]) -> frozenset[str]:
    """The targets of a conversion or a move: the question has a verb of CONVERTING or a
    number ("What is 70 kg in stone?")."""
    if not any(w in CONVERTING or stem(w) in CONVERTING or w.isdigit() for w in words):
        return frozenset()
    targets = set()
    for i, word in enumerate(words[:-1]):
        if word in TARGET_BEFORE:
            rest = [w for w in words[i + 1 : i + 4] if w not in _SKIPPED]
            if rest:
                targets.add(canonical(stem(rest[0])))
    return frozenset(targets)


def _relative_times(words: list[str]) -> frozenset[tuple[str, str]]:
    found: set[tuple[str, str]] = set()
    for i, word in enumerate(words):
        if word in DAYS:
            found.add((DAYS[word], "day"))
            continue
        period = PERIODS.get(word)
        if period is None:
            continue
        for near in words[max(0, i - 2) : i] + words[i + 1 : i + 3]:
            side = (
                "past"
                if near in PAST
                else "this"
                if near in THIS
                else "next"
                if near in NEXT
                else ""
            )
            if side:
                found.add((side, period))
                break
    return frozenset(found)
