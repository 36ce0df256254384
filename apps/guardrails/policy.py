"""A tenant's guardrail policy: for each check, what to do on a hit.

Stored as JSON on the tenant's AI settings (``AISettings.guardrails``) and carried in the
gateway's resolved configuration, so a call reads it without a query. ``Policy.parse``
is the one place that validates it: the settings form and the stored JSON go through it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, TypeVar


class Check(StrEnum):
    PROMPT_INJECTION = "prompt_injection"
    PII = "pii"
    SECRETS = "secrets"
    MODERATION = "moderation"
    CANARY = "canary"


class Action(StrEnum):
    OFF = "off"  # not run
    LOG = "log"  # logged for admins; the text goes through unchanged
    FLAG = "flag"  # logged, and the caller is told (stream notice, API header)
    REDACT = "redact"  # the matched part is replaced by a placeholder
    BLOCK = "block"  # the request (or the rest of the answer) is refused


class PassageMode(StrEnum):
    QUOTE = "quote"  # a marked passage goes into the prompt as delimited, quoted data
    OMIT = "omit"  # a marked passage is left out of the prompt


class InjectionWait(StrEnum):
    """When a policy blocks injections, what the request waits for (ADR 0019)."""

    IN_LINE = "in_line"  # the whole scan, the encoder included, before the provider
    HELD = "held"  # the provider's call starts beside the encoder; its answer waits


# Redaction needs a span to replace: PII and secrets have one. An injection or a harmful
# request is a property of the whole text (removing a span leaves the intent), and a
# leaked canary means the system prompt leaked around it: those can be logged, flagged or
# blocked, not redacted.
ALLOWED: dict[Check, tuple[Action, ...]] = {
    Check.PROMPT_INJECTION: (Action.OFF, Action.LOG, Action.FLAG, Action.BLOCK),
    Check.PII: (Action.OFF, Action.LOG, Action.FLAG, Action.REDACT, Action.BLOCK),
    Check.SECRETS: (Action.OFF, Action.LOG, Action.FLAG, Action.REDACT, Action.BLOCK),
    Check.MODERATION: (Action.OFF, Action.LOG, Action.FLAG, Action.BLOCK),
    Check.CANARY: (Action.OFF, Action.LOG, Action.BLOCK),
}

LABELS: dict[Check, str] = {
    Check.PROMPT_INJECTION: "Prompt injection",
    Check.PII: "Personal data (emails, phones, cards, IBANs, national ids)",
    Check.SECRETS: "Secrets",
    Check.MODERATION: "Harmful content",
    Check.CANARY: "System prompt leak (canary)",
}

# What a new tenant gets: everything is checked and logged, injections and harmful
# requests are flagged, a leaked system prompt is stopped. Nothing is redacted or blocked
# by default: redacting or blocking on output releases a streamed answer sentence by
# sentence (the reader sees text a little later), a trade-off each tenant makes on the
# AI settings page. Nothing of the answer is held back for the canary.
DEFAULT_ACTIONS: dict[Check, Action] = {
    Check.PROMPT_INJECTION: Action.FLAG,
    Check.PII: Action.LOG,
    Check.SECRETS: Action.LOG,
    Check.MODERATION: Action.FLAG,
    Check.CANARY: Action.BLOCK,
}


E = TypeVar("E", bound=StrEnum)


class PolicyError(ValueError):
    """A stored or submitted policy that is not valid; the message says what to change."""


@dataclass(frozen=True)
class Policy:
    actions: dict[Check, Action] = field(default_factory=lambda: dict(DEFAULT_ACTIONS))
    fail_closed: bool = False  # a backend that errs or times out: refuse (True) or allow
    passages: PassageMode = PassageMode.QUOTE
    # Used only where injections are blocked: ``held`` sends the message to the provider
    # before the injection encoder's verdict and holds the answer until it comes.
    injection_wait: InjectionWait = InjectionWait.IN_LINE

    def action(self, check: Check) -> Action:
        return self.actions.get(check, Action.OFF)

    def active(self, check: Check) -> bool:
        return self.action(check) != Action.OFF

    def to_dict(self) -> dict[str, Any]:
        return {
            "actions": {check.value: action.value for check, action in self.actions.items()},
            "fail_closed": self.fail_closed,
            "passages": self.passages.value,
            "injection_wait": self.injection_wait.value,
        }

    @classmethod
    def parse(cls, data: Any) -> Policy:
        """The policy in ``data`` (as ``to_dict`` writes it); missing keys take the
        defaults. Raises PolicyError naming the bad value."""
        if data in (None, {}):
            return cls()
        if not isinstance(data, dict):
            raise PolicyError("The guardrail policy must be a JSON object.")
        raw_actions = data.get("actions", {})
        if not isinstance(raw_actions, dict):
            raise PolicyError('"actions" must map each check to an action.')
        actions = dict(DEFAULT_ACTIONS)
        for name, value in raw_actions.items():
            check = _enum(Check, name, "check")
            action = _enum(Action, value, f"action for {name}")
            if action not in ALLOWED[check]:
                raise PolicyError(action_not_allowed(check, action))
            actions[check] = action
        fail_closed = data.get("fail_closed", False)
        if not isinstance(fail_closed, bool):
            raise PolicyError('"fail_closed" must be true or false.')
        passages = _enum(PassageMode, data.get("passages", PassageMode.QUOTE), "passages")
        wait = _enum(
            InjectionWait,
            data.get("injection_wait", InjectionWait.IN_LINE),
            '"injection_wait" value',
        )
        return cls(actions=actions, fail_closed=fail_closed, passages=passages, injection_wait=wait)


def action_not_allowed(check: Check, action: Action) -> str:
    allowed = ", ".join(a.value for a in ALLOWED[check])
    return f'"{action.value}" does not apply to {LABELS[check].lower()}: choose one of {allowed}.'


def _enum(kind: type[E], value: Any, what: str) -> E:
    try:
        return kind(value)
    except ValueError:
        choices = ", ".join(m.value for m in kind)
        raise PolicyError(f"Unknown {what} {value!r}: use one of {choices}.") from None
