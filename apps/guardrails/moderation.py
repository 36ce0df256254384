"""The small offline moderation default: explicit requests for serious harm, by pattern.

Deliberately narrow (a keyword list cannot judge context, and a false block of an
ordinary business question costs more than a missed borderline one): instructions for
weapons and explosives, self-harm methods, sexual content involving minors, credible
threats. An operator who needs real moderation plugs an endpoint in
(``GUARDRAILS_BACKEND``, docs/guardrails.md).
"""

from __future__ import annotations

import re

from apps.guardrails.normalize import normalize

CATEGORIES: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (name, re.compile(pattern))
    for name, pattern in (
        (
            "weapons",
            r"\b(?:how (?:do i|to|can i)|steps to|instructions (?:for|to)|recipe for)\b[^.]{0,30}"
            r"\b(?:make|build|assemble|synthesi[sz]e)\b[^.]{0,20}\b(?:bomb|explosive|pipe bomb|"
            r"nerve agent|sarin|ricin|ghost gun|napalm)\b",
        ),
        (
            "self_harm",
            r"\b(?:best|easiest|painless|quickest) (?:way|method)s? to (?:kill myself|commit "
            r"suicide|end my life)\b|\bcomment me suicider\b|\bwie bringe ich mich um\b",
        ),
        (
            "sexual_minors",
            r"\b(?:sexual|explicit|nude|erotic)\b[^.]{0,30}\b(?:child|children|minor|minors|"
            r"\d{1,2}[- ]year[- ]old)\b",
        ),
        (
            "threat",
            r"\bi (?:will|am going to|'m going to) (?:kill|shoot|stab|bomb)\b[^.]{0,20}\b(?:you|"
            r"him|her|them|everyone)\b",
        ),
    )
)


def find(text: str) -> tuple[str, str] | None:
    """(category, matched text) of the first match in the normalised text, or None."""
    normalized = normalize(text)
    for name, pattern in CATEGORIES:
        match = pattern.search(normalized)
        if match is not None:
            return name, match.group(0)
    return None
