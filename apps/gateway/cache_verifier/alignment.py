"""Alignment: do two questions use the same content words, in the same roles?

The facet check (``verification.py``) compares named facts: numbers, names, plans,
languages. Near-misses that share every named fact slip past it: the same words with
the arguments swapped ("convert USD to EUR" vs "convert EUR to USD", "how many cups in a
litre" vs "how many litres in a cup"), a preposition that flips the meaning ("within 30
days" vs "after 30 days"), a qualifier that changes the answer ("ascending" vs
"descending", "the second largest" vs "the largest"). This module reads a question as:

* ``content``    its content words in order, lower-cased, stemmed and mapped to a
                 canonical synonym (``contrasts.SYNONYMS``), fillers dropped;
* ``relations``  (head, preposition, governed word) triples: "convert usd to eur" gives
                 ("usd", "to", "eur");
* ``contrasts``  the (class, side) of every contrast word ("ascending" -> sort:ascending);
* ``decisive``   the classes of words that change an answer on their own ("second").

``conflict(a, b)`` names the first way two questions differ in role or qualifier (or
None), and ``overlap(a, b)`` gives the shares of content the two have in common, which
the decision's scorer (``decision.py``) weighs with the cosine similarity.

Pure Python, no I/O; the analysis of recent questions is memoised like the facets.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from apps.gateway.cache_verifier import tokens
from apps.gateway.cache_verifier.contrasts import (
    CONTRAST_OF,
    DECISIVE,
    FILLERS,
    REVERSING_PREFIXES,
    SYNONYMS,
)

# Prepositions whose object is an argument: who converts into what, what is in what.
RELATION_WORDS = frozenset(
    [
        "to",
        "into",
        "from",
        "in",
        "of",
        "per",
        "than",
        "vs",
        "versus",
        "over",
        "for",
        "on",
        "by",
        "between",
        "at",
        "as",
        "onto",
        "out",
        "within",
        "after",
        "before",
    ]
)
_COMPOUNDS = re.compile(
    r"\b(third|short|long|full|part|pre|after|front|back|e|sign|log)[\s-]"
    r"(party|term|time|tax|end|mail|in|on|out)\b",
    re.I,
)
# Hyphenated words are one word: "in-network" is not "in" and "network".
_HYPHENATED = re.compile(r"\b([^\W\d_]+)-([^\W\d_]+)(?:-([^\W\d_]+))?\b")
# Comparison operators change a question about code: "age > 30" vs "age >= 30", and so
# does floor division ("5 // 2" vs "5 / 2"; not the "//" of a URL).
_OPERATORS = re.compile(r"[<>!=]=|[<>]|===|!==|\+\+|--|&&|\|\||(?<![:/])//")

MEMO_MAX_ENTRIES = 4096
# A passive verb ("is owned by", "was painted by", "is included in"): the same words in
# the opposite order may then ask the same thing.
_PASSIVE = re.compile(
    r"\b(?:is|are|was|were|be|been|being|gets?|got)\s+(?:\w+ly\s+)?"
    r"(?:\w+ed|\w+en|made|paid|built|held|kept|sold|done|known|run|set|put|led|won|hit|cut)"
    r"\b(?:\s+\w+){0,3}?\s+(?:by|in|on|to|for|with|from|at)\b",
    re.I,
)


def stem(word: str) -> str:
    """A crude English stem: enough for "deleting" == "deleted" == "delete"."""
    if len(word) <= 3 or not word.isascii() or not word.isalpha():
        return word
    if word.endswith("ies") and len(word) > 4:
        word = word[:-3] + "y"
    elif word.endswith("ing") and len(word) > 5:
        word = word[:-3]
    elif (word.endswith("ed") and len(word) > 4) or word.endswith(
        ("ches", "shes", "sses", "xes", "zes")
    ):
        word = word[:-2]
    elif word.endswith("s") and not word.endswith(("ss", "us", "is")):
        word = word[:-1]
    if len(word) > 3 and word[-1] == word[-2] and word[-1] in "bdgmnprt":
        word = word[:-1]  # "stopp" -> "stop"
    if word.endswith("e") and len(word) > 4:
        word = word[:-1]
    return word


def _canonical_table() -> dict[str, str]:
    table: dict[str, str] = {}
    for alias, canonical in SYNONYMS.items():
        table.setdefault(alias, canonical)
        table.setdefault(stem(alias), canonical)
    return table


_CANONICAL = _canonical_table()


def canonical(word: str) -> str:
    found = _CANONICAL.get(word)
    if found is not None:
        return found
    stemmed = stem(word)
    return _CANONICAL.get(stemmed, stemmed)


# Words that never change what a question asks: "How do I ..." == "How can I ...".
EMPTY = frozenset(
    {
        "how",
        "what",
        "do",
        "does",
        "did",
        "can",
        "could",
        "would",
        "will",
        "i",
        "i'm",
        "me",
        "please",
        "the",
        "a",
        "an",
        "is",
        "are",
        "there",
        "hi",
        "hello",
        "hey",
        "thanks",
        "thank",
        "just",
        "quick",
        "question",
        "tell",
        "know",
        "way",
        "possible",
        "able",
    }
)


@dataclass(frozen=True)
class Reading:
    content: tuple[str, ...]
    relations: frozenset[tuple[str, str, str]]
    contrasts: frozenset[tuple[str, str]]
    decisive: frozenset[tuple[str, str]]
    passive: bool = False
    # Every word but EMPTY ones, stemmed and mapped to synonyms, in order: two questions
    # with the same wording ask the same thing.
    wording: tuple[str, ...] = ()
    # What the question asks for (``asked``): "who", or the word after "which", "what" or
    # "whose" ("Which partners own ..." -> "partner"); "" when it asks no such thing.
    asked: str = ""
    # "i" when the asker is only the subject ("Who do I contact?"), "me" when only the
    # object ("Who contacts me?"), else "": both are EMPTY in the wording.
    person: str = ""

    @property
    def words(self) -> frozenset[str]:
        return frozenset(self.content)


def read(text: str) -> Reading:
    """The content, relations, contrasts and decisive words of one question."""
    return _memoised(text) if len(text) <= 500 else _read(text)


@functools.lru_cache(maxsize=MEMO_MAX_ENTRIES)
def _memoised(text: str) -> Reading:
    return _read(text)


def _read(text: str) -> Reading:
    joined = _HYPHENATED.sub(
        lambda m: "".join(g for g in m.groups() if g), _COMPOUNDS.sub(r"\1\2", text)
    )
    prepared, _ = tokens.prepare(joined)
    content: list[str] = [f"op{op}" for op in _OPERATORS.findall(text)]
    wording: list[str] = list(content)
    relations: set[tuple[str, str, str]] = set()
    contrasts: set[tuple[str, str]] = set()
    decisive: set[tuple[str, str]] = set()
    head = ""
    pending: str | None = None  # a relation word waiting for its object
    tokenized = list(tokens.tokenize(prepared))
    for kind, _raw, low, suffix in tokenized:
        if kind == "end":
            head, pending = "", None
            continue
        if kind not in ("word", "num", "ver"):
            continue
        word = low + suffix if kind == "num" else low
        found = CONTRAST_OF.get(word) or CONTRAST_OF.get(stem(word))
        if found is not None:
            contrasts.add(found)
        if word in DECISIVE:
            decisive.add(found or (word, word))
        if word not in EMPTY:
            wording.append(canonical(word) if kind == "word" else word)
        if word in RELATION_WORDS:
            pending = word
            continue
        if kind == "word" and word in FILLERS and _raw != "US":
            continue
        canon = canonical(word) if kind == "word" else word
        content.append(canon)
        if pending is not None:
            relations.add((head, pending, canon))
            pending = None
        head = canon
    return Reading(
        tuple(content),
        frozenset(relations),
        frozenset(contrasts),
        frozenset(decisive),
        passive=_PASSIVE.search(prepared) is not None,
        wording=tuple(wording),
        asked=_asked([(kind, low) for kind, _raw, low, _suffix in tokenized]),
        person=_person({low for kind, _raw, low, _suffix in tokenized if kind == "word"}),
    )


def _person(words: set[str]) -> str:
    if "i" in words and "me" not in words:
        return "i"
    if "me" in words and "i" not in words:
        return "me"
    return ""


def same_wording(a: Reading, b: Reading) -> bool:
    """The same words in the same order but EMPTY ones, and the asker in the same role:
    "Who do I contact for a refund?" is not "Who contacts me for a refund?"."""
    return a.wording == b.wording and not (a.person and b.person and a.person != b.person)


# Question words that name what is asked for: "who", or the thing after "which", "what"
# or "whose". A word after them that is an auxiliary or a preposition ("What is ...",
# "Which of ...") names nothing.
_ASKING = frozenset({"who", "whom", "whose", "which", "what"})
_NOT_ASKED = frozenset(
    {"was", "were", "should", "has", "have", "had", "my", "your", "our", "their", "his", "her"}
)


def _asked(words: list[tuple[str, str]]) -> str:
    """What a question asks for: "who" for a person ("Who approves ...?"), the word after
    "which", "what" or "whose", canonical ("Which partners ..." -> "partner", "Whose
    expense reports ..." -> "expense"), the question word itself when an auxiliary
    follows ("What is ..."), "" without one. Two questions over the same words that ask
    for different ones exchange roles ("Which accounts are owned by the partner?" /
    "Which partners own the accounts?")."""
    for i, (kind, low) in enumerate(words):
        if kind != "word" or low not in _ASKING:
            continue
        following = words[i + 1] if i + 1 < len(words) else ("end", "")
        if low in ("who", "whom"):
            return "who"
        nxt = following[1]
        if following[0] != "word" or nxt in EMPTY or nxt in RELATION_WORDS or nxt in _NOT_ASKED:
            return "who" if low == "whose" else low
        return canonical(nxt)
    return ""


def asked_swapped(a: Reading, b: Reading) -> bool:
    """The two ask for different things, one of them named in the other question: the
    same words with the roles exchanged ("Which orders contain product 12?" / "Which
    products are in order 12?", "Who approved Dana's promotion?" / "Whose promotion did
    Dana approve?")."""
    if not a.asked or not b.asked or a.asked == b.asked:
        return False
    return a.asked in b.wording or b.asked in a.wording


def conflict(a: Reading, b: Reading) -> str | None:
    """Why the two questions ask different things, or None when no role or qualifier
    differs. The checks walk their sets sorted: a reason names the first conflict found,
    and a set's own order changes from one process to the next (string hashing is salted)."""
    swapped = _swapped_roles(a, b)
    if swapped is not None:
        return swapped
    if not (a.passive or b.passive):
        exchanged = _exchanged(a, b)
        if exchanged is not None:
            return exchanged
    contrast = _contrast(a, b)
    if contrast is not None:
        return contrast
    reversed_pair = _reversed(a, b)
    if reversed_pair is not None:
        return reversed_pair
    for x, y in ((a, b), (b, a)):
        for found in sorted(x.decisive):
            if found not in y.contrasts and found not in y.decisive:
                return f"qualifier only in one question: {found[1]!r}"
    return None


def two_sided(a: Reading, b: Reading) -> bool:
    """A conflict with something on each side: roles swapped around a preposition, the
    opposite sides of a contrast, or a word and its reverse ("import" / "export"); not a
    qualifier in one question only nor words in another order, which rewordings trip more
    often."""
    return (
        _swapped_roles(a, b) is not None
        or _contrast(a, b) is not None
        or _reversed(a, b) is not None
    )


def _contrast(a: Reading, b: Reading) -> str | None:
    """The two use opposite sides of one contrast ("within" vs "after")."""
    for cls in sorted({c for c, _ in a.contrasts}):
        mine = {s for c, s in a.contrasts if c == cls}
        other = {s for c, s in b.contrasts if c == cls}
        if other and (mine - other) and (other - mine):
            return f"{cls} differs: {sorted(mine)} vs {sorted(other)}"
    return None


def _reversed(a: Reading, b: Reading) -> str | None:
    """A word only in one question whose reverse is only in the other: the same rest
    behind another ``REVERSING_PREFIXES`` prefix, or behind none ("tracked" vs
    "untracked", "import" vs "export", "inflate" vs "deflate")."""
    only_b = b.words - a.words
    if not only_b:
        return None
    for x in sorted(a.words - b.words):
        for y in sorted(only_b):
            if _rests(x) & _rests(y):
                return f"opposite words: {x!r} vs {y!r}"
    return None


@functools.lru_cache(maxsize=MEMO_MAX_ENTRIES)
def _rests(word: str) -> frozenset[str]:
    """The word, and what is left of it behind each reversing prefix it starts with (at
    least three letters): two different words that share one differ by a prefix."""
    return frozenset(
        {word}
        | {
            word[len(prefix) :]
            for prefix in REVERSING_PREFIXES
            if word.startswith(prefix) and len(word) - len(prefix) >= 3
        }
    )


def _swapped_roles(a: Reading, b: Reading) -> str | None:
    """Both questions have the same words around one relation word, in other roles."""
    words_a, words_b = a.words, b.words
    for head, prep, obj in sorted(a.relations):
        for head_b, prep_b, obj_b in sorted(b.relations):
            if prep != prep_b or obj == obj_b:
                continue
            if obj in words_b and obj_b in words_a:
                return f"roles swapped around {prep!r}: {obj!r} vs {obj_b!r}"
            if head and head == obj_b and obj == head_b:
                return f"roles swapped around {prep!r}: {head!r} and {obj!r}"
    return None


def _exchanged(a: Reading, b: Reading) -> str | None:
    """Two words that trade places around a third ("Can admins see members' channels?"
    vs "Can members see admins' channels?", "Did X acquire Y?" vs "Did Y acquire X?"):
    the shared words, read in a's order, hold three whose places in b run backwards. A
    clause moved as a block ("For new fathers, how long is the leave?") does not."""
    once_a = [w for w in a.content if a.content.count(w) == 1]
    place_b = {w: i for i, w in enumerate(b.content) if b.content.count(w) == 1}
    ranks = [(place_b[w], w) for w in once_a if w in place_b]
    # Longest strictly decreasing run of places, as a subsequence (n is a dozen words).
    best: list[list[str]] = []
    for i, (rank, word) in enumerate(ranks):
        longest = [word]
        for j in range(i):
            if ranks[j][0] > rank and len(best[j]) + 1 > len(longest):
                longest = [*best[j], word]
        best.append(longest)
    found = max(best, key=len, default=[])
    if len(found) >= 3:
        return f"words in other roles: {found[0]!r} and {found[-1]!r} trade places"
    return None


def overlap(a: Reading, b: Reading) -> tuple[float, int, int]:
    """(Jaccard of the content words, words only in a, words only in b)."""
    wa, wb = a.words, b.words
    union = wa | wb
    if not union:
        return 1.0, 0, 0
    return len(wa & wb) / len(union), len(wa - wb), len(wb - wa)


def clear_memo() -> None:
    _memoised.cache_clear()
