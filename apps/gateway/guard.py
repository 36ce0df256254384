"""The guardrail step of the pipeline (apps/guardrails; docs/guardrails.md).

Before the provider and before both caches, ``check_input`` scans the caller's user
messages under the tenant's policy: a blocked message raises GatewayError
("guardrail_blocked"), redacted values are replaced in the messages the provider, the
cache key and the cache entry see, and flags travel with the call to the caller. After
the provider, ``check_completion`` scans a whole answer; streams are checked sentence by
sentence with apps/guardrails/stream.py (apps/gateway/streaming.py). Every hit is logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from apps.gateway.config import ResolvedConfig
from apps.gateway.types import CallContext, GatewayError
from apps.guardrails import injection
from apps.guardrails.engine import (
    Direction,
    Hit,
    Scan,
    ascan,
    canary_for,
    canary_line,
    injection_hit,
    scan_builtin,
)
from apps.guardrails.policy import LABELS, Action, Check, InjectionWait, Policy, PolicyError
from apps.guardrails.services import aevents_record

logger = logging.getLogger(__name__)


def policy_of(cfg: ResolvedConfig) -> Policy:
    try:
        return Policy.parse(cfg.guardrails)
    except PolicyError as exc:
        # Saved through the form, the policy is valid; a hand-edited row that is not
        # falls back to the defaults rather than failing every call.
        logger.error("invalid guardrail policy, using the defaults", extra={"error": str(exc)})
        return Policy()


def canary_of(cfg: ResolvedConfig, policy: Policy) -> str:
    return canary_for(cfg.tenant_id) if policy.active(Check.CANARY) else ""


def system_prompt_with_canary(system_prompt: str, canary: str) -> str:
    if not canary or not system_prompt:
        return system_prompt
    # First: a model that repeats its instructions verbatim starts with the canary, so
    # the stream stops before the rest of the prompt is shown.
    return f"{canary_line(canary)}\n\n{system_prompt}"


def blocked_message(hit: Hit, *, output: bool) -> str:
    what = LABELS[hit.check].split(" (")[0].lower()
    if hit.kind in ("backend_unavailable", "too_long"):
        return (
            "The safety check could not run on this message, and your organisation's settings "
            "refuse messages it cannot check. Try again in a minute, or send a shorter message."
        )
    if output:
        return (
            f"The answer was stopped by your organisation's guardrails ({what}). Rephrase the "
            "question or ask an admin; the event is in the guardrail log."
        )
    return (
        f"This message was blocked by your organisation's guardrails ({what}). Remove that "
        "part and send it again; an admin can see the event in the guardrail log."
    )


@dataclass(frozen=True)
class Checked:
    """What the input check gives the call: the messages to send on, the flags to report,
    and, where the policy lets the injection encoder's verdict come later, that verdict
    being reached beside the provider's call (``later``: the flags it adds; under a
    blocking policy held for it, it raises GatewayError when it blocks). Where it only
    flags or logs, the verdict starts when ``sent`` is set (``pipeline.Call.start_later``:
    the provider's request is on its way) or after LATER_START_S, whichever is first."""

    messages: list[dict[str, Any]]
    flags: tuple[str, ...] = ()
    later: asyncio.Task[tuple[str, ...]] | None = None
    sent: asyncio.Event | None = None


# How long a verdict that only flags or logs waits for the provider's request to be sent
# before it starts anyway: a call refused by its limits, or answered from a cache, sends
# none, and its hit is still logged.
LATER_START_S = 0.25


# Verdicts being reached beside the provider's call: held here until done, so a task is
# never collected while it runs (asyncio keeps only a weak reference).
_LATER: set[asyncio.Task[tuple[str, ...]]] = set()


def _forget(task: asyncio.Task[tuple[str, ...]]) -> None:
    _LATER.discard(task)
    if not task.cancelled():
        # Retrieved here: a block that no one waited for (the reader left) was logged,
        # and is not an error of the event loop's.
        task.exception()


def judged_later(policy: Policy) -> bool:
    """Whether the injection encoder's verdict may come beside the provider's call: where
    it can only flag or log, and where it blocks with the answer held (ADR 0019)."""
    action = policy.action(Check.PROMPT_INJECTION)
    if action == Action.BLOCK:
        return policy.injection_wait == InjectionWait.HELD
    return action in (Action.LOG, Action.FLAG)


async def check_input(
    ctx: CallContext,
    policy: Policy,
    messages: list[dict[str, Any]],
) -> Checked:
    """The messages to send on (redacted per the policy) and the flags to report; raises
    GatewayError when the policy blocks. Only the last user message is judged and logged:
    earlier turns were judged when they were sent, and are only redacted again. The
    gateway adds only system messages, so every user message is the caller's.

    Where the tenant's policy only flags or logs injections, the verdict cannot change
    what is sent or shown: the injection encoder's part (the views in its band) runs
    beside the provider's call and its hit is logged and joins the flags when it is
    reached (ADR 0019); everything else is judged here, before the provider, as always.
    Where the policy blocks injections with the answer held, the encoder's part runs
    beside the provider's call too, and the gateway shows or returns nothing of the answer
    until it is reached (``pipeline.Call.verdict``)."""
    indexes = [i for i, m in enumerate(messages) if m.get("role") == "user"]
    if not indexes:
        return Checked(messages)
    out = list(messages)
    last = indexes[-1]
    text = str(out[last]["content"])
    detected, left = None, None
    if judged_later(policy):
        detected, left = injection.split(text[: settings.GUARDRAILS_MAX_CHARS])
    scan = await ascan(text, policy, Direction.INPUT, detected=detected)
    await enforce(ctx, scan, Direction.INPUT)
    out[last] = {**out[last], "content": scan.text}
    later, sent = None, None
    if left is not None:
        # Held (a blocking policy) needs the verdict as soon as it can be had; otherwise
        # the encoder's thread starts once the provider's request is sent, so it does not
        # compete with the event loop while the loop builds and writes that request.
        if policy.action(Check.PROMPT_INJECTION) != Action.BLOCK:
            sent = asyncio.Event()
        later = asyncio.create_task(_judged_later(ctx, policy, left, sent))
        _LATER.add(later)
        later.add_done_callback(_forget)
    # Earlier turns only redacted again (nothing else changes a text): not judged, so the
    # injection detector (its encoder milliseconds a text) does not run on them every turn.
    return Checked([*redacted(policy, out[:last]), *out[last:]], scan.flags, later, sent)


async def _judged_later(
    ctx: CallContext, policy: Policy, left: injection.Scored, sent: asyncio.Event | None
) -> tuple[str, ...]:
    """The encoder's verdict on the views ``injection.split`` left open: its hit logged
    like any other input hit, and the flags it adds (none when it flags nothing). Under a
    policy that only flags or logs, an error here is logged and loses only this flag: the
    answer is never held up by it. Under a blocking policy (held), a hit raises
    GatewayError ("guardrail_blocked"), and an error counts as a check that could not
    run: logged, and refused or let through per ``fail_closed``."""
    action = policy.action(Check.PROMPT_INJECTION)
    if sent is not None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(sent.wait(), LATER_START_S)
    try:
        result = await injection.alater(left)
    except Exception:
        logger.exception("guardrails: the injection encoder's later verdict failed")
        if action != Action.BLOCK:
            return ()
        failed = Action.BLOCK if policy.fail_closed else Action.LOG
        hit = Hit(Check.PROMPT_INJECTION, failed, "backend_unavailable", "e5 encoder", 0.0)
    else:
        if not result.flagged:
            return ()
        hit = injection_hit(action, result)
    scan = Scan("", (hit,))
    try:
        await enforce(ctx, scan, Direction.INPUT)
    except GatewayError:
        raise
    except Exception:
        logger.exception("guardrails: the injection encoder's later verdict was not logged")
        if scan.blocked:
            raise GatewayError("guardrail_blocked", blocked_message(hit, output=False)) from None
        return ()
    return scan.flags


def redacted(policy: Policy, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The user messages with what ``policy`` redacts (personal data, secrets) replaced,
    nothing judged or logged: for text the guardrails already checked, sent again in a
    new prompt (a conversation's title, apps/chat/titles.py)."""
    redacting = [c for c in (Check.PII, Check.SECRETS) if policy.action(c) == Action.REDACT]
    if not redacting:
        return messages
    quiet = Policy(actions=dict.fromkeys(redacting, Action.REDACT))
    return [
        {**m, "content": scan_builtin(str(m["content"]), quiet, Direction.INPUT).text}
        if m.get("role") == "user"
        else m
        for m in messages
    ]


async def check_completion(
    ctx: CallContext, policy: Policy, canary: str, content: str
) -> tuple[str, tuple[str, ...]]:
    """A whole answer: the text to return (redacted per the policy) and its flags; raises
    GatewayError when the policy blocks it."""
    scan = scan_builtin(content, policy, Direction.OUTPUT, canary=canary)
    await enforce(ctx, scan, Direction.OUTPUT)
    return scan.text, scan.flags


async def enforce(ctx: CallContext, scan: Scan, direction: Direction) -> None:
    """Log the scan's hits; raise GatewayError ("guardrail_blocked") when one blocks."""
    await aevents_record(
        tenant_id=ctx.tenant_id,
        hits=scan.hits,
        direction=direction,
        feature=ctx.feature,
        request_id=ctx.request_id,
    )
    if scan.blocked:
        hit = next(h for h in scan.hits if h.action == Action.BLOCK)
        message = blocked_message(hit, output=direction == Direction.OUTPUT)
        raise GatewayError("guardrail_blocked", message)
