"""The semantic cache's decision: may the answer cached for one question serve another?

``decide(query, cached, similarity, floor=...)`` is what the gateway applies to every
candidate its vector search returns (``semantic_cache.lookup``) and what
``manage.py cache_decide`` prints. In order:

0. the two are the same text (case and spacing aside): a hit;
1. either question is empty, longer than ``MAX_CHARS``, or has no words at all (only
   numbers, symbols or code), or both quote code (between backticks) and the code differs
   ("`docker ps`" vs "`docker ps -a`"): no hit;
2. a cosine similarity under the tenant's floor (``AISettings.semantic_threshold``): no hit;
3. the facet check (``verification.verify``) finds a named fact that differs (numbers,
   names, plans, languages, negation, directions, times, units): no hit;
4. the alignment check (``alignment.conflict``) finds swapped roles ("USD to EUR" vs
   "EUR to USD"), opposite sides of a contrast ("within" vs "after"), or a qualifier in
   one question only ("the second largest"): no hit;
5. the same wording (``same_words``: every word in the same order but "how", "do",
   "can", "I" and the like) at a similarity of at least ``same_words_floor``: a hit. The
   scorer alone would refuse these: among the labelled near-misses, sharing every word is
   common;
6. otherwise a scorer's probability that the two ask the same thing, against its cutoff.
   With the two questions' embeddings (``Embeddings``) from the model the head was trained
   on, the *pair head*: a logistic model over the similarity, the content words' overlap
   and the classic sentence-pair features of the two vectors (their element-wise product
   and absolute difference), which see *which* meaning moved, not only how far. Without
   them (no vectors, another embedding model, another dimension) the *lexical scorer*:
   the same model over the similarity and overlap only. Both are trained by
   ``bench/train_cache_decision.py`` on the development half of the labelled pairs only
   and shipped as plain JSON (``decision_model.json``: weights, cutoffs, floors, the
   embedding model, what they were trained on). No pickle, nothing downloaded.

Pure Python, no I/O at call time (the JSON is read once, at import); the head is one pass
over the two vectors (a few dozen microseconds for 384 dimensions).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from apps.gateway.cache_verifier import alignment
from apps.gateway.cache_verifier.verification import verify

MODEL_FILE = Path(__file__).with_name("decision_model.json")
MAX_CHARS = 2_000
_BACKTICKED = re.compile(r"`([^`]+)`")


@dataclass(frozen=True)
class Decision:
    hit: bool
    reason: str
    score: float = 0.0


@dataclass(frozen=True)
class Scorer:
    features: tuple[str, ...]
    weights: tuple[float, ...]
    bias: float
    cutoff: float
    floor: float
    same_words_floor: float

    @classmethod
    def load(cls, path: Path = MODEL_FILE) -> Scorer:
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        return cls(
            features=tuple(data["features"]),
            weights=tuple(float(w) for w in data["weights"]),
            bias=float(data["bias"]),
            cutoff=float(data["cutoff"]),
            floor=float(data["floor"]),
            same_words_floor=float(data["same_words_floor"]),
        )

    def probability(self, values: dict[str, float]) -> float:
        z = self.bias + sum(
            w * values[name] for name, w in zip(self.features, self.weights, strict=True)
        )
        return 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, z))))


@dataclass(frozen=True)
class Embeddings:
    """The two questions' embeddings, and the model that made them (as ``PairHead``
    names it: ``"all-MiniLM-L6-v2"``; None when it is not known)."""

    model: str | None
    query: Sequence[float]
    cached: Sequence[float]


@dataclass(frozen=True)
class PairHead:
    """The scorer with the embeddings: ``Scorer``'s features plus, per dimension i,
    ``product[i] * q[i] * c[i] + difference[i] * |q[i] - c[i]|``. Valid only for vectors
    of ``embedding_model`` (unit length, ``dimension`` values): another model's
    dimensions mean other things."""

    embedding_model: str
    dimension: int
    features: tuple[str, ...]
    weights: tuple[float, ...]
    product: tuple[float, ...]
    difference: tuple[float, ...]
    bias: float
    cutoff: float

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PairHead:
        head = cls(
            embedding_model=str(data["embedding_model"]),
            dimension=int(data["dimension"]),
            features=tuple(data["features"]),
            weights=tuple(float(w) for w in data["weights"]),
            product=tuple(float(w) for w in data["product_weights"]),
            difference=tuple(float(w) for w in data["difference_weights"]),
            bias=float(data["bias"]),
            cutoff=float(data["cutoff"]),
        )
        if not len(head.product) == len(head.difference) == head.dimension:
            raise ValueError(f"{MODEL_FILE.name}: pair_head weights do not match its dimension")
        return head

    def applies(self, embeddings: Embeddings | None) -> bool:
        return (
            embeddings is not None
            and embeddings.model == self.embedding_model
            and len(embeddings.query) == self.dimension
            and len(embeddings.cached) == self.dimension
        )

    def probability(self, values: dict[str, float], embeddings: Embeddings) -> float:
        z = self.bias + sum(
            w * values[name] for name, w in zip(self.features, self.weights, strict=True)
        )
        z += sum(
            p * q * c + d * abs(q - c)
            for p, d, q, c in zip(
                self.product, self.difference, embeddings.query, embeddings.cached, strict=True
            )
        )
        return 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, z))))


def _load_head(path: Path = MODEL_FILE) -> PairHead | None:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    head = data.get("pair_head")
    return PairHead.from_json(head) if head else None


SCORER = Scorer.load()
HEAD = _load_head()
# The similarity floor the scorers were tuned with: the default for a tenant's settings.
DEFAULT_FLOOR = SCORER.floor


def features(
    similarity: float, query: alignment.Reading, cached: alignment.Reading
) -> dict[str, float]:
    """The scorer's inputs for one pair (names as in decision_model.json)."""
    jaccard, only_query, only_cached = alignment.overlap(query, cached)
    shorter = max(1, min(len(query.words), len(cached.words)))
    return {
        "similarity": similarity,
        "jaccard": jaccard,
        "unmatched": float(only_query + only_cached),
        "unmatched_share": (only_query + only_cached) / (2 * shorter),
        "max_unmatched": float(max(only_query, only_cached)),
    }


def decide(
    query: str,
    cached: str,
    similarity: float,
    *,
    floor: float | None = None,
    embeddings: Embeddings | None = None,
) -> Decision:
    """Whether the answer cached for ``cached`` may be served for ``query``. With
    ``embeddings`` of the pair head's model, step 6 is the pair head; else the lexical
    scorer."""
    if query.strip() and _normal(query) == _normal(cached):
        return Decision(True, "same text", 1.0)
    q, c = query.strip(), cached.strip()
    floor = DEFAULT_FLOOR if floor is None else floor
    refused = _refusal(q, c, similarity, floor)
    if refused is not None:
        return refused
    rq, rc = alignment.read(q), alignment.read(c)  # memoised: already read by _refusal
    if similarity >= SCORER.same_words_floor and rq.wording == rc.wording:
        return Decision(True, "same wording", 1.0)
    values = features(similarity, rq, rc)
    if HEAD is not None and embeddings is not None and HEAD.applies(embeddings):
        score, cutoff = HEAD.probability(values, embeddings), HEAD.cutoff
    else:
        score, cutoff = SCORER.probability(values), SCORER.cutoff
    if score < cutoff:
        return Decision(False, f"too different: score {score:.2f} under {cutoff:.2f}", score)
    return Decision(True, "ok", score)


def screen(query: str, cached: str, similarity: float, *, floor: float) -> Decision | None:
    """Steps 1-4 of the decision: the refusal, or None when steps 5 and 6 decide."""
    return _refusal(query.strip(), cached.strip(), similarity, floor)


def _refusal(q: str, c: str, similarity: float, floor: float) -> Decision | None:
    if not q or not c:
        return Decision(False, "empty question")
    if len(q) > MAX_CHARS or len(c) > MAX_CHARS:
        return Decision(False, f"question longer than {MAX_CHARS} characters")
    if similarity < floor:
        return Decision(False, f"similarity {similarity:.3f} under the floor {floor:.2f}")
    rq, rc = alignment.read(q), alignment.read(c)
    if not _has_words(rq) or not _has_words(rc):
        return Decision(False, "only numbers or code: not the same text")
    code_q, code_c = _code(q), _code(c)
    if code_q and code_c and code_q != code_c:
        return Decision(False, f"code differs: {' '.join(code_q)!r} vs {' '.join(code_c)!r}")
    verdict = verify(q, c)
    if not verdict.ok:
        return Decision(False, verdict.reason)
    conflict = alignment.conflict(rq, rc)
    if conflict is not None:
        return Decision(False, conflict)
    return None


def same_words(query: str, cached: str) -> bool:
    """The two questions have the same wording: the same words in the same order but for
    ``alignment.EMPTY`` ones ("How can I reset my password?" and "How do I reset my
    password?"), stemmed and synonyms mapped. The same words in another order may ask
    another thing ("Which class inherits from BaseModel?"), and so may one preposition or
    quantifier ("all" vs "a")."""
    return alignment.read(query.strip()).wording == alignment.read(cached.strip()).wording


def pair_features(query: str, cached: str, similarity: float) -> dict[str, float]:
    return features(similarity, alignment.read(query.strip()), alignment.read(cached.strip()))


def _normal(text: str) -> str:
    return " ".join(text.lower().split())


def _code(text: str) -> tuple[str, ...]:
    """The spans between backticks, spacing normalised: code is compared as written (the
    words around it are read by the other steps; an operator, flag or star is not)."""
    return tuple(" ".join(span.split()) for span in _BACKTICKED.findall(text))


def _has_words(reading: alignment.Reading) -> bool:
    return any(word.isalpha() for word in reading.content)
