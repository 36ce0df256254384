"""Whole answers through the pipeline, with the cascade: the cheap alias first, the
strong one when the cheap one fails or is unsure."""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import Any

from django.conf import settings

from apps.gateway import guard, router
from apps.gateway.models import CallStatus
from apps.gateway.pipeline import (
    Call,
    begin,
    begin_again,
    cache_lookup,
    cache_store,
    record_refusal,
)
from apps.gateway.types import CallContext, Completion, GatewayError, provider_unavailable

logger = logging.getLogger(__name__)


def _mean_logprob(response: Any) -> float | None:
    try:
        content = response.choices[0].logprobs.content
    except (AttributeError, IndexError, TypeError):
        return None
    values = [item.logprob for item in content or [] if item.logprob is not None]
    return sum(values) / len(values) if values else None


async def _complete_once(
    call: Call, alias: str, *, logprobs: bool, extra_headers: dict[str, str] | None
) -> Completion:
    try:
        response = await router.get_router().acompletion(
            model=alias,
            messages=call.messages,
            max_tokens=call.max_tokens,
            temperature=call.temperature,
            logprobs=logprobs or None,
            extra_headers=extra_headers,
        )
    except Exception as exc:
        logger.warning("provider call failed", extra={"error": repr(exc)[:300]})
        await call.settle(status=CallStatus.ERROR, error_code="provider_unavailable")
        raise provider_unavailable() from exc
    served = router.served_model(response)
    usage = response.usage
    tokens_in, tokens_out = int(usage.prompt_tokens), int(usage.completion_tokens)
    cost = router.cost_usd(served, tokens_in, tokens_out)
    record_id = await call.settle(
        status=CallStatus.OK,
        served_model=served,
        tokens_in=tokens_in,
        tokens_out=tokens_out,
        cost=cost,
    )
    return Completion(
        content=response.choices[0].message.content or "",
        served_model=served,
        tokens_in=tokens_in,
        tokens_out=tokens_out,
        cost_usd=cost,
        finish_reason=response.choices[0].finish_reason or "stop",
        mean_logprob=_mean_logprob(response),
        usage_record_ids=[record_id],
    )


async def complete(
    ctx: CallContext,
    messages: list[dict[str, Any]],
    *,
    alias: str | None = None,
    max_tokens: int | None = None,
    temperature: float | None = None,
    cascade: bool | None = None,
    extra_headers: dict[str, str] | None = None,
) -> Completion:
    """A whole answer. With the cascade (the tenant's setting unless given), the cheap
    alias answers first and the strong one only when the cheap one fails or is unsure
    (mean token logprob below GATEWAY_CASCADE_MIN_LOGPROB); both calls are in the ledger."""
    try:
        call = await begin(
            ctx, messages, alias=alias, max_tokens=max_tokens, temperature=temperature
        )
    except GatewayError as exc:
        await record_refusal(ctx, alias, exc)
        raise
    kind, hit, key, embedding = await cache_lookup(call)
    if kind:
        record_id = await call.settle(
            status=CallStatus.OK,
            served_model=hit.served_model,
            cache_kind=kind,
            saved=Decimal(hit.cost_usd),
        )
        content, flags = await guard.check_completion(ctx, call.policy, call.canary, hit.content)
        return Completion(
            content,
            hit.served_model,
            0,
            0,
            Decimal(0),
            cache=kind,
            usage_record_ids=[record_id],
            guardrail_flags=tuple(dict.fromkeys((*call.flags, *flags))),
        )
    use_cascade = call.cfg.cascade_enabled if cascade is None else cascade
    if not use_cascade or call.alias == "fast":
        result = await _complete_once(call, call.alias, logprobs=False, extra_headers=extra_headers)
    else:
        result = await _cascade(call, extra_headers)
    # Output guardrails before the caller or the cache sees the answer.
    result.content, flags = await guard.check_completion(
        ctx, call.policy, call.canary, result.content
    )
    result.guardrail_flags = tuple(dict.fromkeys((*call.flags, *flags)))
    if result.finish_reason == "stop":
        await cache_store(
            call,
            key,
            embedding,
            result.content,
            result.served_model,
            result.tokens_in,
            result.tokens_out,
            result.cost_usd,
        )
    return result


async def _cascade(call: Call, extra_headers: dict[str, str] | None) -> Completion:
    cheap_ids: list[Any] = []
    try:
        cheap = await _complete_once(call, "fast", logprobs=True, extra_headers=extra_headers)
        cheap_ids = cheap.usage_record_ids
        confident = (
            cheap.mean_logprob is not None
            and cheap.mean_logprob >= settings.GATEWAY_CASCADE_MIN_LOGPROB
        )
        if confident:
            return cheap
        logger.info("cascade: escalating", extra={"mean_logprob": cheap.mean_logprob})
    except GatewayError:
        logger.info("cascade: cheap model failed, escalating")
    # The escalation is a second provider call: reserve its budget and tokens afresh
    # (the input was checked once, by the first).
    second = await begin_again(call)
    strong = await _complete_once(second, second.alias, logprobs=False, extra_headers=extra_headers)
    strong.usage_record_ids = cheap_ids + strong.usage_record_ids
    return strong
