"""The offline prompt-injection detector: rules, then the shipped classifier, over the
normalised text and every encoded run decoded from it (apps/guardrails/normalize.py).

Since g7 the classifier has two stages: the n-gram model (classifier.py) for every view,
and, for a view whose n-gram probability leaves the verdict open, multilingual-e5-small
vectors and a head averaged with it (encoder.py). Where the encoder cannot run, the
n-gram model decides alone at its own threshold."""

from __future__ import annotations

from dataclasses import dataclass

from apps.guardrails import encoder
from apps.guardrails.classifier import shipped
from apps.guardrails.injection_rules import COMPILED, RULES_VERSION
from apps.guardrails.intents import fold_dotted_i
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


def rule_match(normalized: str) -> tuple[str, str] | None:
    folded = fold_dotted_i(normalized)
    for name, pattern in COMPILED:
        match = pattern.search(folded)
        if match is not None:
            return name, match.group(0)
    return None


def detect(text: str) -> InjectionResult:
    model = shipped()
    scored: list[tuple[float, str, bool]] = []
    for view, encoded in views(text):
        found = rule_match(view)
        if found is not None:
            return InjectionResult(1.0, True, found[0], found[1], encoded)
        scored.append((model.probability(view), view, encoded))
    best = InjectionResult(0.0, False, "", "", False)
    for probability, view, encoded in scored:
        score, flagged, reason = _judge(probability, view, model.threshold)
        if score > best.score:
            best = InjectionResult(score, flagged, reason if flagged else "", view[:80], encoded)
    return best


def _judge(ngram: float, view: str, ngram_threshold: float) -> tuple[float, bool, str]:
    """A view's score, verdict and reason: the average with the encoder's head where it
    can change the verdict and runs here, else the n-gram probability at its threshold."""
    head = encoder.head()
    if head.can_flag(ngram):
        found = encoder.probability(view)
        if found is not None:
            score = head.average(ngram, found)
            return score, score >= head.threshold, "classifier+e5"
        return ngram, ngram >= ngram_threshold, "classifier"
    if encoder.embedder() is None:
        return ngram, ngram >= ngram_threshold, "classifier"
    return ngram, False, "classifier"


def versions() -> str:
    stage = encoder.head().version if encoder.embedder() is not None else "off"
    return f"rules {RULES_VERSION}, classifier {shipped().version}, e5 head {stage}"
