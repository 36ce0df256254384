"""Extraction: a question -> its ``Facets``, the facts that change its answer.

``extract_facets(text)`` is pure (no I/O, nothing kept between calls) and takes ~20 us.
Every value is lower-case and normalised, so that two questions can be compared facet by
facet (``verification.py``):

* numbers        normalised ("10" == "ten" == "10.0", "1,000" == "1000" == "1k",
                 "5%" == "5 percent", "twenty-five" == "25"); a year goes to times;
* negation       not, no, never, n't, without, cannot, none, nobody, ..., plus the common
                 French/German/Spanish/Italian/Portuguese/Dutch words;
* plans          free, pro, premium, enterprise, basic, starter, team, business (the
                 everyday words free/basic/team/business only next to plan/tier/... or
                 capitalised mid-sentence);
* prog_languages python, javascript/js, typescript/ts, go/golang, rust, c, c++, c#, ...;
* natural_languages  english, french/francais, german/deutsch, ... (named in the text);
* language       the language the question is written in, guessed from stopwords
                 (en/fr/de/es/it/pt/nl) or the script (zh/ja/ko/ru/ar/hi/el/he/th);
* times          today/tomorrow/yesterday, weekdays, months, years (2024), this/next/last
                 week..., daily/monthly/yearly (== "per month", "annual"), am/pm, Q1..Q4,
                 time zones;
* units          currencies ($ == usd == dollars, EUR, GBP...), storage (kb..tb), durations
                 (ms..year), tokens/characters/words;
* entities       capitalised words not at sentence start (or at sentence start if not a
                 function word), ALL-CAPS acronyms, quoted strings, versions (v2, 2.0.1),
                 emails/URLs, and a small gazetteer of product names matched in any case.
                 In German text capitalisation says nothing (every noun has it): there only
                 the gazetteer, acronyms, quotes, versions and URLs count;
* directions     "axis:side" of antonym axes (before/after, increase/decrease, min/max,
                 enable/disable, add/remove, import/export, ...);
* routes         "from:x" / "to:y", what follows from/to/into ("CSV to JSON");
* words          every word, for the presence checks.

How: ``tokens.py`` cuts the text into tokens and one left-to-right ``Scan`` records the
facts. Each token kind has a handler (``_ON_TOKEN``; numbers are ``numbers.py``'s). A word
is, in the order tried: a negation, part of a spelled-out number, a percent word, the
first word of a two-word phrase ("turn on", "next month"), a contextual word whose facet
depends on its neighbours (``contextual.py``: "May", "Go", "min", "Team" ...), a word of a
lexicon table (``_ON_WORD``: the facet that table feeds), or else, when capitalised, an
acronym or a name. ``language.py`` guesses the written language at the end.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from apps.gateway.cache_verifier import tokens
from apps.gateway.cache_verifier.contextual import CONTEXTUAL, Around
from apps.gateway.cache_verifier.language import written_language
from apps.gateway.cache_verifier.lexicon import (
    CURRENCY_SYMBOLS,
    DETERMINERS,
    DIRECTION_BIGRAMS,
    DIRECTIONS,
    FREQUENCY_BEFORE,
    FUNCTION_WORDS,
    GAZETTEER,
    LANG_OF_WORD,
    NATURAL_LANGUAGES,
    NEGATIONS,
    NOT_ACRONYMS,
    NOT_FREQUENCY_BEFORE,
    NUMBER_WORDS,
    PERCENT_WORDS,
    PERIODS,
    PLANS_ALWAYS,
    PROG_LANGUAGES,
    RELATIVE,
    ROUTE_WORDS,
    TIME_WORDS,
    UNIT_WORDS,
)
from apps.gateway.cache_verifier.numbers import flush_spelled, number_token, number_word
from apps.gateway.cache_verifier.tokens import Token


@dataclass(frozen=True)
class Facets:
    """The answer-changing facts of one question (all values lower-case, normalised)."""

    numbers: frozenset[str] = frozenset()
    entities: frozenset[str] = frozenset()
    negation: bool = False
    plans: frozenset[str] = frozenset()
    prog_languages: frozenset[str] = frozenset()
    natural_languages: frozenset[str] = frozenset()
    directions: frozenset[str] = frozenset()  # "axis:side"
    times: frozenset[str] = frozenset()
    units: frozenset[str] = frozenset()
    routes: frozenset[str] = frozenset()  # "from:x" / "to:y"
    language: str | None = None  # language the question is written in (guess)
    words: frozenset[str] = frozenset()  # every word (lower-case, folded)


_EMPTY: frozenset[str] = frozenset()
_END: Token = ("end", "", "", "")  # what follows the last token
# Words that may start a two-word phrase: only these pay for the phrase lookups.
_PHRASE_STARTERS = frozenset(
    {first for first, _ in DIRECTION_BIGRAMS} | RELATIVE.keys() | FREQUENCY_BEFORE
)


def extract_facets(text: str) -> Facets:
    """Extract the answer-changing facts of ``text`` (see the module docstring)."""
    text, literals = tokens.prepare(text)
    scan = Scan(shouting=text.isupper())
    scan.entities |= literals
    scan.run(tokens.tokenize(text))
    language = written_language(text, scan.lang_scores)
    entities = scan.entities
    if language == "de" and scan.cap_entities:
        # German capitalises every noun: capitalisation says nothing about names there.
        entities = entities - scan.cap_entities
    # One shared empty frozenset for the many empty facets.
    return Facets(
        numbers=frozenset(scan.numbers) if scan.numbers else _EMPTY,
        entities=frozenset(entities) if entities else _EMPTY,
        negation=scan.negation,
        plans=frozenset(scan.plans) if scan.plans else _EMPTY,
        prog_languages=frozenset(scan.progs) if scan.progs else _EMPTY,
        natural_languages=frozenset(scan.naturals) if scan.naturals else _EMPTY,
        directions=frozenset(scan.directions) if scan.directions else _EMPTY,
        times=frozenset(scan.times) if scan.times else _EMPTY,
        units=frozenset(scan.units) if scan.units else _EMPTY,
        routes=frozenset(scan.routes) if scan.routes else _EMPTY,
        language=language,
        words=frozenset(scan.words),
    )


class Scan:
    """One pass over the tokens of one question (``run``), recording its facts as it goes.
    Lives for one ``extract_facets`` call; ``numbers.py`` and ``contextual.py`` record
    into it too."""

    __slots__ = (
        "at_start",
        "cap_entities",
        "directions",
        "entities",
        "in_spelled",
        "lang_scores",
        "last_was_number",
        "naturals",
        "negation",
        "numbers",
        "plans",
        "progs",
        "route_mode",
        "routes",
        "shouting",
        "spelled",
        "spelled_cur",
        "times",
        "units",
        "words",
    )

    def __init__(self, *, shouting: bool) -> None:
        self.entities: set[str] = set()
        self.cap_entities: set[str] = set()  # entities known only from capitalisation
        self.words: set[str] = set()
        self.numbers: list[str] = []
        self.plans: set[str] = set()
        self.progs: set[str] = set()
        self.naturals: set[str] = set()
        self.directions: set[str] = set()
        self.times: set[str] = set()
        self.units: set[str] = set()
        self.routes: set[str] = set()
        self.negation = False
        self.lang_scores: dict[str, int] = {}
        self.shouting = shouting  # an all-caps text: capitalisation carries no information
        self.at_start = True
        self.last_was_number = False
        self.route_mode: str | None = None  # "from" / "to": the next fact is a route's end
        # a spelled-out number being read: the total so far and its current group
        self.in_spelled = False
        self.spelled = 0
        self.spelled_cur = 0

    def run(self, tokens: list[Token]) -> None:
        n = len(tokens)
        i = 0
        while i < n:
            token = tokens[i]
            nxt = tokens[i + 1] if i + 1 < n else _END
            prev = tokens[i - 1][2] if i else ""
            if self.in_spelled and (token[0] != "word" or token[2] not in NUMBER_WORDS):
                if token[0] == "word" and token[2] == "and" and nxt[2] in NUMBER_WORDS:
                    i += 1  # "one hundred and fifty": the number goes on
                    continue
                flush_spelled(self)
            consumed_next = _ON_TOKEN[token[0]](self, token, prev, nxt)
            i += 2 if consumed_next else 1
        flush_spelled(self)

    def record(self, facet: set[str], value: str) -> None:
        """Add a fact; right after "from"/"to" it is also that end of a route."""
        facet.add(value)
        if self.route_mode is not None:
            self.routes.add(f"{self.route_mode}:{value}")
            self.route_mode = None

    # -- token handlers (_ON_TOKEN): True when the next token was consumed too

    def sentence_end(self, token: Token, prev: str, nxt: Token) -> bool:
        self.at_start = True
        self.last_was_number = False
        self.route_mode = None
        return False

    def currency(self, token: Token, prev: str, nxt: Token) -> bool:
        self.units.add(CURRENCY_SYMBOLS[token[1]])
        return False

    def percent_sign(self, token: Token, prev: str, nxt: Token) -> bool:
        self.percent()
        return False

    def arrow(self, token: Token, prev: str, nxt: Token) -> bool:
        self.route_mode = "to"
        return False

    def version(self, token: Token, prev: str, nxt: Token) -> bool:
        low = token[2]
        self.words.add(low)
        self.record(self.entities, low)
        self.at_start = False
        self.last_was_number = False
        return False

    def word(self, token: Token, prev: str, nxt: Token) -> bool:
        """A word, tried as the module docstring lists; True when it was the first of a
        two-word phrase."""
        _, raw, low, _ = token
        was_start = self.at_start
        self.at_start = False
        if "'" in low:  # a contraction: "n't" negates, each part counts for the language
            if low.endswith("n't") or (low.startswith("n'") and len(low) > 2):
                self.negation = True
            for part in low.split("'"):
                self.score_language(part)
        else:
            self.score_language(low)
        self.words.add(low)

        if low in NEGATIONS:
            self.negation = True
            self.last_was_number = False
            return False
        if low in NUMBER_WORDS:
            number_word(self, low, prev, nxt)
            return False
        if low in PERCENT_WORDS:
            self.percent()
            return False
        after_number = self.last_was_number
        self.last_was_number = False
        if low in _PHRASE_STARTERS and self.phrase(low, prev, nxt[2]):
            return True

        is_cap = raw[0].isupper()
        resolve = CONTEXTUAL.get(low)
        if resolve is not None:
            around = Around(raw, low, prev, nxt[2], nxt[0], is_cap and not was_start, after_number)
            if resolve(self, around):
                return False
        found = _ON_WORD.get(low)
        if found is not None:
            on_word, value = found
            on_word(self, value)
            return False
        if is_cap and not self.shouting and self.name(raw, low, was_start):
            return False
        if low not in DETERMINERS:
            self.route_mode = None
        return False

    # -- parts of a word's handling

    def score_language(self, word: str) -> None:
        langs = LANG_OF_WORD.get(word)
        if langs:
            scores = self.lang_scores
            for lang in langs:
                scores[lang] = scores.get(lang, 0) + 1

    def percent(self) -> None:
        """After "%" or "percent": the number just read is a percentage."""
        if self.last_was_number and self.numbers:
            self.numbers[-1] += "%"
        self.last_was_number = False

    def phrase(self, low: str, prev: str, nxt: str) -> bool:
        """A two-word phrase starting at ``low``: a direction ("turn on", "at least"), a
        relative time ("next month") or a frequency ("per year"). True when it was one."""
        bigram = DIRECTION_BIGRAMS.get((low, nxt))
        if bigram is not None:
            self.directions.add(bigram)
            self.route_mode = None
            return True
        if low in RELATIVE and (nxt in PERIODS or nxt in TIME_WORDS):
            self.times.add(f"{RELATIVE[low]}_{TIME_WORDS.get(nxt, nxt)}")
            return True
        if low in FREQUENCY_BEFORE and nxt in PERIODS and prev not in NOT_FREQUENCY_BEFORE:
            self.times.add(PERIODS[nxt])
            return True
        return False

    def name(self, raw: str, low: str, was_start: bool) -> bool:
        """A capitalised word: an acronym or a name? True when recorded as an entity."""
        if len(raw) >= 2 and raw.isupper():
            # acronyms, including those spelled like function words: US, IT, EU
            if raw not in NOT_ACRONYMS:
                self.record(self.entities, low)
                return True
        elif low in FUNCTION_WORDS or low in LANG_OF_WORD:
            pass
        elif (not was_start and raw != "A") or (was_start and len(raw) > 2):
            # Mid-sentence capitals are names. A capitalised opener that is not a function
            # word is a name ("Stripe payouts failing?") or a verb ("Export data?"):
            # entities are compared by presence, so a verb the other question also uses
            # costs nothing.
            self.cap_entities.add(low)
            self.record(self.entities, low)
            return True
        return False

    # -- what a word of a lexicon table records (_ON_WORD)

    def entity(self, value: str) -> None:
        self.record(self.entities, value)

    def route_end(self, value: str) -> None:
        self.route_mode = value

    def direction(self, value: str) -> None:
        self.directions.add(value)
        self.route_mode = None

    def unit(self, value: str) -> None:
        self.record(self.units, value)

    def time(self, value: str) -> None:
        self.record(self.times, value)

    def natural_language(self, value: str) -> None:
        self.record(self.naturals, value)

    def prog_language(self, value: str) -> None:
        self.record(self.progs, value)

    def plan(self, value: str) -> None:
        self.record(self.plans, value)


_ON_TOKEN: Mapping[str, Callable[[Scan, Token, str, Token], bool]] = {
    "word": Scan.word,
    "num": number_token,
    "end": Scan.sentence_end,
    "ver": Scan.version,
    "cur": Scan.currency,
    "pct": Scan.percent_sign,
    "arrow": Scan.arrow,
}


def _word_table(
    *tables: tuple[Mapping[str, str], Callable[[Scan, str], None]],
) -> dict[str, tuple[Callable[[Scan, str], None], str]]:
    """word -> (what it records, its normalised value); a later table wins a word."""
    return {word: (on_word, value) for table, on_word in tables for word, value in table.items()}


_ON_WORD = _word_table(
    ({word: word for word in GAZETTEER}, Scan.entity),
    (ROUTE_WORDS, Scan.route_end),
    (DIRECTIONS, Scan.direction),
    (UNIT_WORDS, Scan.unit),
    (TIME_WORDS, Scan.time),
    (NATURAL_LANGUAGES, Scan.natural_language),
    (PROG_LANGUAGES, Scan.prog_language),
    (PLANS_ALWAYS, Scan.plan),
)
