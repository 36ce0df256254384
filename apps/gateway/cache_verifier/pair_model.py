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
more often than not, but not always ("2FA" and "two-factor authentication"). ``features``
measures those (21 numbers, names as in ``decision_model.json``);
``Forest`` adds up the trees' leaves for a pair and gives the probability that the two
ask the same thing.

The trees are fitted by ``bench/train_cache_decision.py`` (scikit-learn, at training time
only) and shipped as plain JSON arrays: per tree the split feature, threshold and children
of each node, and the leaf values. Evaluating one pair is a walk of a few hundred nodes in
plain Python, no numpy, nothing downloaded.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from apps.gateway.cache_verifier import alignment

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
)
LEAF = -1  # the "left child" of a leaf
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
        return 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, self.log_odds(values)))))


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
