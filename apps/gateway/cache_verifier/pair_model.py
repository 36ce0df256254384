"""The pair model: gradient-boosted trees over what two questions share and how.

Step 6 of the decision (``decision.decide``) for candidates the rules let through. The
embedding's cosine alone cannot tell a rewording from a one-word substitution ("sort a
list ascending" vs "descending" embed as close as "sort a list from largest to smallest"),
and neither can a linear model over the two vectors. What tells them apart is *how* the
wording differs, and in combination: a paraphrase rewords (many words differ, the order
moves, a clause is added) at a high similarity, a near-miss keeps every word but one and
replaces it with another of the same kind; a misspelt word looks like the word it
replaces, an antonym does not; a context sentence added in front may or may not change
the answer; and the rules (a named fact or an argument's role that differs) are right far
more often than not, but not always ("2FA" and "two-factor authentication"). Four more
read the wording as a person means it: the words' overlap with a misspelt word counted as
the word it misspells ("paymnt"), the overlap with short forms expanded through the table
in ``abbreviations.json`` ("pwd", "k8s", "w/"), the overlap once a sentence of context
before the question is set aside ("I bought supplies. How do I file an expense report?"),
a clause moved as a block ("Before cancelling, can I ...?"), and one question in the
passive voice and the other not (the roles' order turns with it). Three more say how
sure the rules are and who acts on whom: a fact with something on each side (one day for
another, not one added), a role conflict with something on each side ("import" /
"export", roles swapped around a preposition), and two questions over the same words
that ask for different ones ("Which partners own the accounts?" / "Which accounts are
owned by the partner?"). Four more (``shifts``) see one small change of fact that keeps
nearly every word: a sign or operator flipped in code or a number ("-mtime +7" / "-7"),
all of something against one of it ("the whole company" / "a single colleague"), a
conversion's target ("to Fahrenheit" / "to kelvin") and a period relative to now ("last
year" / "this yr"). ``features`` measures those (36 numbers, names as in
``decision_model.json``);
``Forest`` adds up the trees' leaves for a pair and gives the probability that the two
ask the same thing.

The trees are fitted by ``bench/train_cache_decision.py`` (scikit-learn, at training time
only) and shipped as plain JSON arrays: per tree the split feature, threshold and children
of each node, and the leaf values. Evaluating one pair is a walk of a few hundred nodes in
plain Python, no numpy, nothing downloaded.
"""

from __future__ import annotations

import itertools
import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from apps.gateway.cache_verifier import alignment, shifts

FEATURES = (
    "similarity",
    "jaccard",
    "unmatched",
    "unmatched_share",
    "max_unmatched",
    "substituted",
    "added",
    "wording_jaccard",
    "bigram_jaccard",
    "order_kept",
    "length_ratio",
    "char_jaccard",
    "typo_like",
    "sentences_differ",
    "has_digits",
    "non_ascii",
    "first_differs",
    "last_differs",
    "content_words",
    "facet_differs",
    "roles_differ",
    "fuzzy_jaccard",
    "expanded_jaccard",
    "question_jaccard",
    "contained",
    "context_share",
    "rotated",
    "clause_moved",
    "passive_differs",
    "facet_replaced",
    "roles_two_sided",
    "asked_swapped",
    "sign_flipped",
    "scope_changed",
    "target_changed",
    "time_shifted",
)
LEAF = -1  # the "left child" of a leaf
ABBREVIATIONS_FILE = Path(__file__).with_name("abbreviations.json")
_SENTENCE_END = re.compile(r"[.!?。]+\s+(?=\S)")
_WORD = re.compile(r"\w+")


def features(
    query: str,
    cached: str,
    similarity: float,
    q: alignment.Reading,
    c: alignment.Reading,
    *,
    facet_differs: bool,
    roles_differ: bool,
    facet_replaced: bool,
) -> dict[str, float]:
    """The model's inputs for one pair: the similarity, the content words' overlap (as
    the lexical scorer sees it), how the wording differs, and whether the facet check
    (``verification.verify``) or the alignment check (``alignment.conflict``) found a
    difference: evidence the trees weigh, not a verdict."""
    jaccard, only_q, only_c = alignment.overlap(q, c)
    shared = q.words & c.words
    in_q = [w for w in q.content if w in shared]
    in_c = [w for w in c.content if w in shared]
    words_q, words_c = len(q.content), len(c.content)
    return {
        "similarity": similarity,
        "jaccard": jaccard,
        "unmatched": float(only_q + only_c),
        "unmatched_share": (only_q + only_c) / (2 * max(1, min(len(q.words), len(c.words)))),
        "max_unmatched": float(max(only_q, only_c)),
        "substituted": float(min(only_q, only_c)),
        "added": float(abs(only_q - only_c)),
        "wording_jaccard": _jaccard(set(q.wording), set(c.wording)),
        "bigram_jaccard": _jaccard(_bigrams(q.wording), _bigrams(c.wording)),
        "order_kept": _common_subsequence(in_q, in_c) / len(in_q) if in_q else 1.0,
        "length_ratio": min(max(1, words_q), max(1, words_c)) / max(1, words_q, words_c),
        "char_jaccard": _jaccard(_trigrams(query), _trigrams(cached)),
        "typo_like": _closest_spelling(q.words - c.words, c.words - q.words),
        "sentences_differ": float(abs(_sentences(query) - _sentences(cached))),
        "has_digits": float(any(ch.isdigit() for ch in query + cached)),
        "non_ascii": float(not (query + cached).isascii()),
        "first_differs": float(bool(q.content and c.content and q.content[0] != c.content[0])),
        "last_differs": float(bool(q.content and c.content and q.content[-1] != c.content[-1])),
        "content_words": float(min(words_q, words_c)),
        "facet_differs": float(facet_differs),
        "roles_differ": float(roles_differ),
        "fuzzy_jaccard": _fuzzy_jaccard(_surface(query), _surface(cached)),
        "expanded_jaccard": _jaccard(_expanded(q.content), _expanded(c.content)),
        "question_jaccard": _question_jaccard(query, cached, q, c),
        "contained": _contained(_expanded(q.content), _expanded(c.content)),
        "context_share": _context_share(query, cached),
        "rotated": float(_rotated(q.content, c.content)),
        "clause_moved": _clause_moved(query, cached, in_q, in_c),
        # One question in the passive voice, the other not ("Which plan includes SSO?" /
        # "SSO is included in which plan?"): the order of the roles turns with the voice.
        "passive_differs": float(q.passive != c.passive),
        # How sure the rules are: a fact or a role with something on each side (one
        # day for another, "import" for "export") is a near-miss far more often than one
        # added or left out ("3" vs "1, 3"), which rewordings trip.
        "facet_replaced": float(facet_replaced),
        "roles_two_sided": float(roles_differ and alignment.two_sided(q, c)),
        # Who acts on whom: the same words, each asking for what the other names.
        "asked_swapped": float(alignment.asked_swapped(q, c)),
        # One small change of fact (``shifts``): a sign or operator in code or a number,
        # all of something against one of it, a conversion's target, a relative period.
        "sign_flipped": shifts.sign_flipped(query, cached),
        "scope_changed": shifts.scope_changed(query, cached),
        "target_changed": shifts.target_changed(query, cached),
        "time_shifted": shifts.time_shifted(query, cached),
    }


@dataclass(frozen=True)
class Tree:
    """One regression tree, as arrays indexed by node (node 0 is the root): a pair goes
    left when ``values[feature[node]] <= threshold[node]``; ``left[node] == LEAF`` marks a
    leaf, whose ``value`` (already scaled by the learning rate) is added to the score."""

    feature: tuple[int, ...]
    threshold: tuple[float, ...]
    left: tuple[int, ...]
    right: tuple[int, ...]
    value: tuple[float, ...]

    def leaf_value(self, x: Sequence[float]) -> float:
        node = 0
        left = self.left
        while left[node] != LEAF:
            node = left[node] if x[self.feature[node]] <= self.threshold[node] else self.right[node]
        return self.value[node]


@dataclass(frozen=True)
class Forest:
    """Gradient-boosted trees over ``features``: log-odds = ``base`` + the trees' leaves.
    Valid only with the similarity of ``embedding_model`` (another model's cosines have
    another scale); the decision falls back to the lexical scorer otherwise."""

    embedding_model: str
    dimension: int
    features: tuple[str, ...]
    base: float
    trees: tuple[Tree, ...]
    cutoff: float

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Forest:
        names = tuple(str(name) for name in data["features"])
        unknown = set(names) - set(FEATURES)
        if unknown:
            raise ValueError(f"pair_model: features not computed here: {sorted(unknown)}")
        trees = []
        for number, raw in enumerate(data["trees"]):
            tree = Tree(
                feature=tuple(int(i) for i in raw["feature"]),
                threshold=tuple(float(t) for t in raw["threshold"]),
                left=tuple(int(i) for i in raw["left"]),
                right=tuple(int(i) for i in raw["right"]),
                value=tuple(float(v) for v in raw["value"]),
            )
            _check(tree, number, len(names))
            trees.append(tree)
        return cls(
            embedding_model=str(data["embedding_model"]),
            dimension=int(data["dimension"]),
            features=names,
            base=float(data["base"]),
            trees=tuple(trees),
            cutoff=float(data["cutoff"]),
        )

    def applies(self, model: str | None, query: Sequence[float], cached: Sequence[float]) -> bool:
        """The similarity was computed on vectors of this forest's embedding model."""
        return (
            model == self.embedding_model
            and len(query) == self.dimension
            and len(cached) == self.dimension
        )

    def log_odds(self, values: dict[str, float]) -> float:
        x = [values[name] for name in self.features]
        return self.base + sum(tree.leaf_value(x) for tree in self.trees)

    def probability(self, values: dict[str, float]) -> float:
        return logistic(self.log_odds(values))


def logistic(log_odds: float) -> float:
    """The probability of ``log_odds`` (clamped, so no overflow)."""
    return 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, log_odds))))


def _check(tree: Tree, number: int, width: int) -> None:
    size = len(tree.feature)
    if not size or any(
        len(column) != size for column in (tree.threshold, tree.left, tree.right, tree.value)
    ):
        raise ValueError(f"pair_model: tree {number} has columns of different lengths")
    for node in range(size):
        if tree.left[node] == LEAF:
            continue
        children_ok = node < tree.left[node] < size and node < tree.right[node] < size
        if not children_ok or not 0 <= tree.feature[node] < width:
            raise ValueError(f"pair_model: tree {number} node {node} points outside the tree")


def _jaccard(a: set[Any] | frozenset[Any], b: set[Any] | frozenset[Any]) -> float:
    union = a | b
    return len(a & b) / len(union) if union else 1.0


def _bigrams(words: Sequence[str]) -> set[tuple[str, str]]:
    return set(itertools.pairwise(words))


def _trigrams(text: str) -> set[str]:
    padded = f" {' '.join(_WORD.findall(text.lower()))} "
    return {padded[i : i + 3] for i in range(len(padded) - 2)}


def _closest_spelling(only_a: frozenset[str], only_b: frozenset[str]) -> float:
    """How alike the most alike pair of words is, one only in each question (1.0: the
    same letters; a misspelling is close, an antonym or another name is not)."""
    best = 0.0
    for a in only_a:
        grams = _trigrams(a)
        for b in only_b:
            best = max(best, _jaccard(grams, _trigrams(b)))
    return best


def _surface(text: str) -> frozenset[str]:
    """The words as typed, lower-cased (a misspelling is not stemmed to anything)."""
    return frozenset(_WORD.findall(text.lower()))


def _contained(a: frozenset[str], b: frozenset[str]) -> float:
    """The share of the shorter question's content words found in the other: 1.0 when
    one is the other plus more (a sentence of context, a qualifier)."""
    shorter, longer = (a, b) if len(a) <= len(b) else (b, a)
    return len(shorter & longer) / len(shorter) if shorter else 1.0


def _fuzzy_jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    """The words' Jaccard with a misspelt word counted as the word it misspells: each word
    only in one question is matched to a word only in the other that ``_misspelt`` finds
    (one match a word). "upgrade" and "downgrade" share most letters but are not a typo."""
    only_a, only_b = sorted(a - b), sorted(b - a)
    matched, taken = 0, set[str]()
    for word in only_a:
        # The first free word in sorted order: only_b is sorted once, not at every word.
        other = next((o for o in only_b if o not in taken and _misspelt(word, o)), None)
        if other is not None:
            matched += 1
            taken.add(other)
    shared = len(a & b) + matched
    union = len(a | b) - matched
    return shared / union if union else 1.0


def _misspelt(a: str, b: str) -> bool:
    """One word typed for the other: the same first letter, at least three letters, and
    one edit apart (two for words of six letters or more), a swap of neighbours being one
    edit ("slwo", "paymnt", "webiste")."""
    if min(len(a), len(b)) < 3 or a[0] != b[0]:
        return False
    return _edits(a, b) <= (2 if min(len(a), len(b)) >= 6 else 1)


def _edits(a: str, b: str) -> int:
    """Damerau-Levenshtein distance (optimal string alignment) between two words."""
    rows = [list(range(len(b) + 1))]
    for i in range(1, len(a) + 1):
        row = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = a[i - 1] != b[j - 1]
            row[j] = min(rows[i - 1][j] + 1, row[j - 1] + 1, rows[i - 1][j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                row[j] = min(row[j], rows[i - 2][j - 2] + 1)
        rows.append(row)
    return rows[-1][-1]


def load_abbreviations(path: Path = ABBREVIATIONS_FILE) -> dict[str, tuple[str, ...]]:
    """The short forms of ``abbreviations.json``, each as the content words (read as a
    question is) of what it stands for: {"pwd": ("password",), "w": ()}. A short form that
    reads as more than one word is left out (a pair compares words, not phrases)."""
    data = json.loads(path.read_text(encoding="utf-8"))
    table: dict[str, tuple[str, ...]] = {}
    for short, long in data["expansions"].items():
        keys = alignment.read(short).content or (short.lower(),)
        if len(keys) == 1:
            table[keys[0]] = alignment.read(long).content if long else ()
    return table


ABBREVIATIONS = load_abbreviations()


def _expanded(content: Sequence[str]) -> frozenset[str]:
    """The content words with each short form replaced by the words it stands for."""
    out: set[str] = set()
    for word in content:
        out.update(ABBREVIATIONS.get(word, (word,)))
    return frozenset(out)


def _question_sentence(text: str) -> str | None:
    """The last sentence when the text is more than one and that one asks (the question
    after a sentence of context), else None."""
    parts = _SENTENCE_END.split(text.strip())
    if len(parts) < 2 or not parts[-1].rstrip().endswith("?"):
        return None
    return parts[-1]


def _question_jaccard(query: str, cached: str, q: alignment.Reading, c: alignment.Reading) -> float:
    """The content words' Jaccard once a sentence of context is set aside: the question
    sentence of the one that has context against the whole of the other."""
    asked_q, asked_c = _question_sentence(query), _question_sentence(cached)
    rq = alignment.read(asked_q) if asked_q is not None and asked_c is None else q
    rc = alignment.read(asked_c) if asked_c is not None and asked_q is None else c
    return _jaccard(_expanded(rq.content), _expanded(rc.content))


def _context_share(query: str, cached: str) -> float:
    """The share of the longer text's words before its question sentence (0.0: no
    context sentence)."""
    longer = max(query, cached, key=len)
    asked = _question_sentence(longer)
    if asked is None:
        return 0.0
    words = len(_WORD.findall(longer))
    return (words - len(_WORD.findall(asked))) / max(1, words)


def _rotated(a: Sequence[str], b: Sequence[str]) -> bool:
    """The same content words in another order that is a rotation of the first: a
    clause moved as a block ("Before cancelling, can I download my invoices?"), not two
    words exchanged ("Is Python faster than Java?")."""
    if len(a) != len(b) or len(a) < 2 or tuple(a) == tuple(b):
        return False
    doubled = tuple(a) * 2
    target = tuple(b)
    return any(doubled[i : i + len(a)] == target for i in range(1, len(a)))


def _clause_moved(query: str, cached: str, in_q: list[str], in_c: list[str]) -> float:
    """How much more of the shared content words keep their order once the clause before
    one question's first comma is moved to its end ("On Fridays, when does the office
    close?" read as "when does the office close on Fridays?"): a clause moved whole. Two
    roles exchanged ("Does Alice report to Bob?") gain nothing, having no such clause."""
    if not in_q:
        return 0.0
    shared = set(in_q)
    kept = _common_subsequence(in_q, in_c) / len(in_q)
    best = kept
    for text, other in ((query, in_c), (cached, in_q)):
        head, comma, tail = text.partition(",")
        if not comma:
            continue
        moved = [
            w for w in alignment.read(f"{tail.strip().rstrip('?')} {head}?").content if w in shared
        ]
        if moved:
            best = max(best, _common_subsequence(moved, other) / len(moved))
    return best - kept


def _common_subsequence(a: Sequence[str], b: Sequence[str]) -> int:
    """Length of the longest common subsequence: the shared words kept in order."""
    previous = [0] * (len(b) + 1)
    for x in a:
        current = [0]
        for j, y in enumerate(b):
            current.append(previous[j] + 1 if x == y else max(previous[j + 1], current[j]))
        previous = current
    return previous[-1]


def _sentences(text: str) -> int:
    return len(_SENTENCE_END.split(text.strip()))
