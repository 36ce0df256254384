"""The stream guard's canary-only mode, replayed against its definition.

``StreamGuard`` checks each chunk against a compacted tail of the text before it (and
ASCII chunks on a shorter path), for speed. Whatever the chunking, it must release and
stop exactly where the plain definition does: a chunk is shown unless the canary is in
the compacted text up to and including it, and nothing is shown after that chunk.
"""

from __future__ import annotations

import random

import pytest

from apps.guardrails.engine import _compact, canary_for
from apps.guardrails.policy import Check, Policy
from apps.guardrails.stream import StreamGuard

CANARY = canary_for("replay")
# Spellings of the canary a model might stream: spaced, upper case, with invisible
# characters, wrapped in non-ASCII text; and text that only comes near it.
TEXTS = [
    f"Sure. The reference is {CANARY}, as asked.",
    f"Here: {' '.join(CANARY.upper())} — that is all.",
    f"Voilà\u00a0: {CANARY[:5]}\u200b\u200d{CANARY[5:]} ensuite.",
    f"Ünïcödé first, then {CANARY[:3]}\u00ad {CANARY[3:].upper()}\n\nend",
    f"Near miss: {CANARY[:-1]} and {CANARY[1:]}; nothing whole.",
    "An ordinary answer about invoices, due dates and the café's ß prices.",
    f"{CANARY}",
    f"Tabs\tand\r\nlines {CANARY[:4]}\t\n{CANARY[4:]}",
]


def reference(chunks: list[str], canary: str) -> tuple[list[str], bool]:
    """What the definition releases, and whether it stops."""
    shown: list[str] = []
    for index, chunk in enumerate(chunks):
        if canary in _compact("".join(chunks[: index + 1])):
            return shown, True
        shown.append(chunk)
    return shown, False


def chunkings(text: str, rng: random.Random) -> list[list[str]]:
    """Whole, character by character, and a few random cuts."""
    out = [[text], list(text)]
    for _ in range(20):
        cuts = sorted(rng.sample(range(1, len(text)), k=min(len(text) - 1, rng.randint(1, 12))))
        out.append([text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)], strict=True)])
    return out


@pytest.mark.parametrize("text", TEXTS)
def test_canary_mode_releases_and_stops_where_the_definition_does(text: str) -> None:
    rng = random.Random(text)
    for chunks in chunkings(text, rng):
        guard = StreamGuard(Policy(), canary=CANARY)  # the default policy: the canary blocks
        assert guard.hold_tail
        shown = [piece for chunk in chunks for piece in guard.feed(chunk)]
        shown += guard.finish()
        expected, stops = reference(chunks, CANARY)
        assert shown == expected, chunks
        assert (guard.blocked is not None) == stops, chunks
        if stops:
            assert guard.blocked is not None
            assert guard.blocked.check == Check.CANARY
            assert [hit.check for hit in guard.hits] == [Check.CANARY]
        else:
            assert guard.hits == []
