"""Output checks on a stream, a sentence at a time (docs/guardrails.md, "Streams").

``StreamGuard.feed(chunk)`` returns the chunks that may be shown now. What it holds back
depends on the policy:

- a check on the output that must act BEFORE the reader sees the text (redact or block
  of personal data, secrets or harmful content): each sentence is held until it ends
  (``.``, ``!``, ``?`` then a space, or a line break), checked, and released as it came
  (chunk by chunk), redacted as one piece, or not at all: the stream stops there;
- only the canary blocks: each chunk is checked, with the text shown before it, before
  it is released, so the chunk that completes the canary is never shown; nothing is held
  back (the canary opens the system prompt, so a verbatim leak is stopped at its start);
- otherwise (log and flag only): chunks pass at once and sentences are checked after.

``finish()`` checks what is left when the provider ends. ``blocked`` is the hit that
stopped the stream; ``hits`` every hit, for the log.
"""

from __future__ import annotations

import re

from apps.guardrails.engine import Direction, Hit, _compact, scan_builtin
from apps.guardrails.policy import Action, Check, Policy

_SENTENCE_END_RE = re.compile(r"[.!?\u3002\uff01\uff1f](?=\s)|\n")
# A sentence that never ends (a model that writes no full stop) is checked and released
# at this length, so holding back cannot grow without bound.
MAX_SENTENCE_CHARS = 600
PREVIOUS_CONTEXT = 80


class StreamGuard:
    def __init__(self, policy: Policy, *, canary: str = "") -> None:
        self.policy = policy
        self.canary = canary if policy.active(Check.CANARY) else ""
        must_act = (Action.REDACT, Action.BLOCK)
        self.hold_sentences = any(
            policy.action(c) in must_act for c in (Check.PII, Check.SECRETS, Check.MODERATION)
        )
        self.hold_tail = (
            not self.hold_sentences
            and bool(self.canary)
            and policy.action(Check.CANARY) == Action.BLOCK
        )
        self.checking = any(
            policy.active(c) for c in (Check.PII, Check.SECRETS, Check.MODERATION, Check.CANARY)
        )
        self._pending: list[str] = []  # chunks not yet released (hold modes)
        self._unchecked = ""  # text not yet checked
        self._previous = ""  # the end of the text already checked, for the canary
        self._compact_tail = ""  # the same, compacted (the canary-only mode)
        self.hits: list[Hit] = []
        self.blocked: Hit | None = None

    # -- public ------------------------------------------------------------------------

    def feed(self, chunk: str) -> list[str]:
        if self.blocked is not None or not chunk:
            return []
        if not self.checking:
            return [chunk]
        if self.hold_tail:
            return self._release_tail(chunk)
        self._unchecked += chunk
        if self.hold_sentences:
            self._pending.append(chunk)
            return self._release_sentences(final=False)
        self._check_sentences(final=False)
        return [chunk]

    def finish(self) -> list[str]:
        if self.blocked is not None or not self.checking:
            return []
        if self.hold_sentences:
            return self._release_sentences(final=True)
        if self.hold_tail:
            return []  # every chunk was checked as it came (_release_tail)
        self._check_sentences(final=True)
        return []

    # -- internals ---------------------------------------------------------------------

    def _split(self, final: bool) -> int:
        """Where the checked-ready part of the unchecked text ends (0: nothing yet)."""
        if final:
            return len(self._unchecked)
        end = 0
        for match in _SENTENCE_END_RE.finditer(self._unchecked):
            end = match.end()
        if end == 0 and len(self._unchecked) >= MAX_SENTENCE_CHARS:
            end = len(self._unchecked)
        return end

    def _check(self, text: str) -> str | None:
        """The text to show for ``text`` (redacted where needed), or None when blocked."""
        result = scan_builtin(text, self.policy, Direction.OUTPUT, canary="")
        hits = list(result.hits)
        if self.canary and self.canary in _compact(self._previous + text):
            hits.append(
                Hit(Check.CANARY, self.policy.action(Check.CANARY), "system_prompt_leak", "")
            )
        self._previous = (self._previous + text)[-PREVIOUS_CONTEXT:]
        self.hits.extend(hits)
        blocking = next((h for h in hits if h.action == Action.BLOCK), None)
        if blocking is not None:
            self.blocked = blocking
            return None
        return result.text

    def _check_sentences(self, final: bool) -> None:
        end = self._split(final)
        if end:
            ready, self._unchecked = self._unchecked[:end], self._unchecked[end:]
            self._check(ready)

    def _take(self, length: int) -> list[str]:
        """The pending chunks that make up the first ``length`` characters (the chunk
        across the boundary is split)."""
        out: list[str] = []
        while length > 0 and self._pending:
            chunk = self._pending.pop(0)
            if len(chunk) > length:
                out.append(chunk[:length])
                self._pending.insert(0, chunk[length:])
                break
            out.append(chunk)
            length -= len(chunk)
        return out

    def _release_sentences(self, final: bool) -> list[str]:
        end = self._split(final)
        if not end:
            return []
        ready, self._unchecked = self._unchecked[:end], self._unchecked[end:]
        shown = self._check(ready)
        chunks = self._take(end)
        if shown is None:
            self._pending.clear()
            return []
        return chunks if shown == ready else [shown]

    def _release_tail(self, chunk: str) -> list[str]:
        # Called for every chunk, which is released at once or never: nothing is held
        # between chunks but the compacted tail. Only the new text is compacted
        # (compacting works a character at a time, so compact(a + b) == compact(a) +
        # compact(b)), after the compacted tail of the text already shown, one character
        # shorter than the canary: all that a canary begun before this chunk can need,
        # however much whitespace or invisible text was put inside it.
        window = self._compact_tail + _compact_chunk(chunk)
        if self.canary in window:
            self.blocked = Hit(Check.CANARY, Action.BLOCK, "system_prompt_leak", "")
            self.hits.append(self.blocked)
            return []
        keep = len(self.canary) - 1
        self._compact_tail = window[-keep:] if keep > 0 else ""
        return [chunk]


def _compact_chunk(chunk: str) -> str:
    """``_compact`` of one chunk. Most chunks are ASCII, where no character is invisible
    and case folding is lowering: the same result for a third of the cost."""
    if chunk.isascii():
        return "".join(chunk.split()).lower()
    return _compact(chunk)
