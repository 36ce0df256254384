"""The offline prompt-injection detector: rules, then the shipped classifier, over the
normalised text and every encoded run decoded from it (apps/guardrails/normalize.py)."""

from __future__ import annotations

from dataclasses import dataclass

from apps.guardrails.classifier import shipped
from apps.guardrails.injection_rules import COMPILED, RULES_VERSION
from apps.guardrails.intents import fold_dotted_i
from apps.guardrails.normalize import decoded_runs, normalize
from apps.guardrails.spelling import respellings


@dataclass(frozen=True)
class InjectionResult:
    score: float  # 1.0 for a rule match, else the classifier's probability
    flagged: bool
    reason: str  # the rule's name, "classifier", or "" when not flagged
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
    best = InjectionResult(0.0, False, "", "", False)
    for view, encoded in views(text):
        found = rule_match(view)
        if found is not None:
            return InjectionResult(1.0, True, found[0], found[1], encoded)
        probability = model.probability(view)
        if probability > best.score:
            flagged = probability >= model.threshold
            reason = "classifier" if flagged else ""
            best = InjectionResult(probability, flagged, reason, view[:80], encoded)
    return best


def versions() -> str:
    return f"rules {RULES_VERSION}, classifier {shipped().version}"
