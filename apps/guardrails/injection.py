"""The offline prompt-injection detector: rules, then the shipped classifier, over the
normalised text and every encoded run decoded from it (apps/guardrails/normalize.py).

Since g7 the classifier has two stages: the n-gram model (classifier.py) for every view,
and, for a view whose n-gram probability leaves the verdict open, multilingual-e5-small
vectors and a head averaged with it (encoder.py). Where the encoder cannot run, the
n-gram model decides alone at its own threshold."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from apps.guardrails import encoder
from apps.guardrails.classifier import shipped
from apps.guardrails.injection_rules import FEATURE_ONLY, RULES_VERSION, rule_scan
from apps.guardrails.language import is_english
from apps.guardrails.normalize import decoded_runs, normalize
from apps.guardrails.spelling import respellings


@dataclass(frozen=True)
class InjectionResult:
    score: float  # 1.0 for a rule match, else the classifier's (or the average's) probability
    flagged: bool
    reason: str  # the rule's name, "classifier", "classifier+e5", or "" when not flagged
    excerpt: str  # the matched part (normalised), for the log
    encoded: bool  # found in a decoded base64 / hex / rot13 run, or a respelled text


def views(text: str) -> list[tuple[str, bool]]:
    """The normalised text, then each decoded run and each respelling (leetspeak, spaced
    letters), normalised."""
    hidden = decoded_runs(text) + respellings(text)
    return [(normalize(text), False)] + [(normalize(d), True) for d in hidden]


def _verdict(hits: list[tuple[str, str]]) -> tuple[str, str] | None:
    """The first hit of a rule that flags on its own (not in FEATURE_ONLY)."""
    return next(((name, excerpt) for name, excerpt in hits if name not in FEATURE_ONLY), None)


def rule_match(normalized: str) -> tuple[str, str] | None:
    """The first rule that flags the normalised text on its own: (name, the matched part)."""
    return _verdict(rule_scan(normalized))


# (n-gram probability, view, encoded, read as English) per view
Scored = list[tuple[float, str, bool, bool]]


def _first_stage(text: str) -> InjectionResult | Scored:
    """A verdict rule's hit, or each view's n-gram probability (cheap: microseconds per
    view)."""
    model = shipped()
    scored: Scored = []
    for view, encoded in views(text):
        # One scan: the verdicts flag; every hit is also a feature of the model (g9).
        hits = rule_scan(view)
        found = _verdict(hits)
        if found is not None:
            return InjectionResult(1.0, True, found[0], found[1], encoded)
        probability = model.probability(view, [name for name, _ in hits])
        scored.append((probability, view, encoded, is_english(view)))
    return scored


def _second_stage(scored: Scored) -> InjectionResult:
    """The first flagged view's verdict, else the highest-scoring view's. Views the
    n-gram model decides alone come first; then the encoder reads those in its band, the
    most suspect first, and stops at the first that flags (each costs milliseconds)."""
    threshold = shipped().threshold
    head = encoder.head()
    best = InjectionResult(0.0, False, "", "", False)
    ordered = sorted(scored, key=lambda found: (head.can_flag(found[0], found[3]), -found[0]))
    for probability, view, encoded, english in ordered:
        score, flagged, reason = _judge(probability, view, english, threshold)
        if flagged:
            return InjectionResult(score, True, reason, view[:80], encoded)
        if score > best.score:
            best = InjectionResult(score, False, "", view[:80], encoded)
    return best


def detect(text: str) -> InjectionResult:
    """The verdict, computed on the caller's thread (the encoder included: 2-30 ms for
    a view in its band). On an event loop use ``adetect``."""
    first = _first_stage(text)
    if isinstance(first, InjectionResult):
        return first
    return _second_stage(first)


def split(text: str) -> tuple[InjectionResult, Scored | None]:
    """``detect`` in two steps, for a caller whose verdict can come later (a policy that
    only flags or logs injections, or blocks them with the answer held: apps/gateway/
    guard.py, ADR 0019): the verdict of the views the encoder cannot change (a verdict
    rule, or the n-gram model alone out of the encoder's band), and, when none of them
    flags and some view is in the band, all the views, for ``alater``, which gives
    ``detect``'s verdict. A view in the band is never judged without the encoder: there
    the encoder may clear what the n-gram model alone would flag. Nothing here builds
    the encoder (``alater`` does, on its worker thread)."""
    first = _first_stage(text)
    if isinstance(first, InjectionResult):
        return first, None
    head = encoder.head()
    outside = [found for found in first if not head.can_flag(found[0], found[3])]
    if len(outside) == len(first):
        return _second_stage(first), None
    # Out of the band first, as _second_stage orders them: a flag there is detect's own.
    decided = _second_stage(outside)
    return decided, None if decided.flagged else first


async def alater(scored: Scored) -> InjectionResult:
    """The verdict on the views ``split`` left open, the encoder on a worker thread."""
    return await asyncio.to_thread(_second_stage, scored)


async def adetect(text: str) -> InjectionResult:
    """``detect`` for the event loop: the same verdict, with the encoder's views (the few
    whose n-gram probability leaves the verdict open) embedded on a worker thread, so the
    loop does not stop for them (the engine releases the GIL while it computes)."""
    first = _first_stage(text)
    if isinstance(first, InjectionResult):
        return first
    head = encoder.head()
    if any(head.can_flag(probability, english) for probability, _, _, english in first):
        return await asyncio.to_thread(_second_stage, first)
    return _second_stage(first)


def _judge(
    ngram: float, view: str, english: bool, ngram_threshold: float
) -> tuple[float, bool, str]:
    """A view's score, verdict and reason: the n-gram probability where it is sure on its
    own (g9), the average with the encoder's head where it can change the verdict and
    runs here (with the n-gram model's share for the view's language, g11), else the
    n-gram probability at its threshold."""
    head = encoder.head()
    if ngram >= head.sure:
        return ngram, True, "classifier"
    if head.can_flag(ngram, english):
        score = encoder.average(view, ngram, english)
        if score is not None:
            return score, score >= head.threshold_for(english), "classifier+e5"
    # Under the band the n-gram model decides at its own threshold, which lies inside the
    # band (tests/guardrails/test_encoder.py): so this is "not flagged" with the encoder
    # and without it, and the engine is not opened for it.
    return ngram, ngram >= ngram_threshold, "classifier"


def versions() -> str:
    stage = encoder.head().version if encoder.embedder() is not None else "off"
    return f"rules {RULES_VERSION}, classifier {shipped().version}, e5 head {stage}"
