"""Whole answers through the pipeline, with the cascade: the cheap alias first, the
strong one when the cheap one fails or is unsure. OpenAI-compatible deployments answer
through the relay (apps/gateway/relay.py), the rest and every retry and fallback through
LiteLLM's Router."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

from django.conf import settings

from apps.gateway import guard, relay, router, semantic_race
from apps.gateway.cache import CachedAnswer
from apps.gateway.models import CacheKind, CallStatus
from apps.gateway.pipeline import (
    Call,
    Looked,
    begin,
    begin_again,
    cache_lookup,
    cache_store,
    exact_lookup,
    record_refusal,
    semantic_answer,
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


async def _answer(
    call: Call, alias: str, *, logprobs: bool, extra_headers: dict[str, str] | None
) -> relay.Answer:
    """The provider's answer: through the relay when a deployment of ``alias`` speaks
    OpenAI's protocol and answers; else (and after any relay failure) through LiteLLM's
    Router with its retries and fallbacks."""
    asyncio.get_running_loop().call_soon(call.start_later)  # once the request is written
    deployment = relay.relayable(alias)
    if deployment is not None:
        try:
            return await relay.complete(
                deployment,
                messages=call.messages,
                max_tokens=call.max_tokens,
                temperature=call.temperature,
                logprobs=logprobs,
                extra_headers=extra_headers,
            )
        except relay.RelayUnavailable as exc:
            logger.warning("relay unavailable, using the router", extra={"error": str(exc)[:300]})
    response = await router.get_router().acompletion(
        model=alias,
        messages=call.messages,
        max_tokens=call.max_tokens,
        temperature=call.temperature,
        logprobs=logprobs or None,
        extra_headers=extra_headers,
    )
    choice = response.choices[0]
    return relay.Answer(
        served_model=router.served_model(response),
        content=choice.message.content or "",
        finish_reason=choice.finish_reason or "stop",
        prompt_tokens=int(response.usage.prompt_tokens),
        completion_tokens=int(response.usage.completion_tokens),
        mean_logprob=_mean_logprob(response),
    )


async def _complete_once(
    call: Call, alias: str, *, logprobs: bool, extra_headers: dict[str, str] | None
) -> Completion:
    return await _settled(
        call, _answer(call, alias, logprobs=logprobs, extra_headers=extra_headers)
    )


async def _settled(
    call: Call,
    answering: Awaitable[relay.Answer],
    then: Callable[[Completion], Awaitable[Completion]] | None = None,
) -> Completion:
    """The provider's answer (or failure) settled: ledger row, limits, budget. Kept apart
    from the provider call so a raced call is cancelled only before it answered.

    ``then``: what the answer goes through next (the output check, the cache store). It
    runs while the ledger row and the counters are written, since neither needs the
    other; the result, with its ledger row's id, waits for both.

    Where the input's injection verdict is held (``Call.held``, ADR 0019), the provider's
    call runs beside it, and nothing of the answer goes further before it allows it."""
    if call.held:
        provider = asyncio.ensure_future(answering)
        answering = provider
        try:
            await call.verdict()
        except GatewayError:
            await _settle_blocked(call, provider)
            raise
        except BaseException:
            provider.cancel()  # the caller left
            raise
    try:
        answer = await answering
    except Exception as exc:
        logger.warning("provider call failed", extra={"error": repr(exc)[:300]})
        await call.settle(status=CallStatus.ERROR, error_code="provider_unavailable")
        raise provider_unavailable() from exc
    served = answer.served_model
    tokens_in, tokens_out = answer.prompt_tokens, answer.completion_tokens
    cost = router.cost_usd(served, tokens_in, tokens_out)
    settling = asyncio.ensure_future(
        call.settle(
            status=CallStatus.OK,
            served_model=served,
            tokens_in=tokens_in,
            tokens_out=tokens_out,
            cost=cost,
        )
    )
    result = Completion(
        content=answer.content,
        served_model=served,
        tokens_in=tokens_in,
        tokens_out=tokens_out,
        cost_usd=cost,
        finish_reason=answer.finish_reason,
        mean_logprob=answer.mean_logprob,
    )
    try:
        if then is not None:
            result = await then(result)
    finally:
        record_id = await settling  # on every exit: a refused answer is billed too
    result.usage_record_ids = [record_id]
    return result


async def _settle_blocked(call: Call, provider: asyncio.Future[relay.Answer]) -> None:
    """The held verdict blocked the call's input: the provider's call is cancelled if it
    is still running, and its one ledger row settled as blocked, with the answer's tokens
    where the answer came first (nothing of it is returned or cached)."""
    provider.cancel()
    await asyncio.wait({provider})
    if provider.cancelled() or provider.exception() is not None:
        await call.settle(status=CallStatus.BLOCKED, error_code="guardrail_blocked")
        return
    answer = provider.result()
    served = answer.served_model
    tokens_in, tokens_out = answer.prompt_tokens, answer.completion_tokens
    await call.settle(
        status=CallStatus.BLOCKED,
        served_model=served,
        tokens_in=tokens_in,
        tokens_out=tokens_out,
        cost=router.cost_usd(served, tokens_in, tokens_out),
        error_code="guardrail_blocked",
    )


def _stopped_on_block(call: Call, provider: asyncio.Task[relay.Answer]) -> None:
    """Where the input's injection verdict is held, a block cancels the provider's call
    at once, even while the semantic cache's race waits for it (``_settled`` then settles
    the call as blocked)."""

    def stop(later: asyncio.Task[tuple[str, ...]]) -> None:
        if not later.cancelled() and later.exception() is not None:
            provider.cancel()

    if call.held and call.later_flags is not None:
        call.later_flags.add_done_callback(stop)


async def complete(
    ctx: CallContext,
    messages: list[dict[str, Any]],
    *,
    alias: str | None = None,
    max_tokens: int | None = None,
    temperature: float | None = None,
    cascade: bool | None = None,
    extra_headers: dict[str, str] | None = None,
    checked_input: bool = False,
) -> Completion:
    """A whole answer. With the cascade (the tenant's setting unless given), the cheap
    alias answers first and the strong one only when the cheap one fails or is unsure
    (mean token logprob below GATEWAY_CASCADE_MIN_LOGPROB); both calls are in the ledger.
    ``checked_input``: the user messages are text the guardrails already judged (a
    question on its way in, an answer on its way out): only redacted, not judged again."""
    try:
        call = await begin(
            ctx,
            messages,
            alias=alias,
            max_tokens=max_tokens,
            temperature=temperature,
            checked_input=checked_input,
        )
    except GatewayError as exc:
        await record_refusal(ctx, alias, exc)
        raise
    use_cascade = call.cfg.cascade_enabled if cascade is None else cascade
    cascading = use_cascade and call.alias != "fast"
    if cascading:
        # Two provider calls with a reservation each: the lookup goes first, not beside.
        kind, cached, key, embedding = await cache_lookup(call)
        if kind:
            return await _from_cache(call, kind, cached)
        result = await _cascade(call, extra_headers)
        return await _checked_and_stored(call, result, key, embedding)

    check = await exact_lookup(call)
    if check.kind and check.answer is not None:
        return await _from_cache(call, check.kind, check.answer)
    provider = _answer(call, call.alias, logprobs=False, extra_headers=extra_headers)
    if check.question is None:
        return await _settled(
            call, provider, then=lambda result: _checked_and_stored(call, result, check.key, None)
        )
    lookup, answering = semantic_race.start(call, check.question, provider)
    _stopped_on_block(call, answering)
    hit = await semantic_race.race(lookup, answering)
    if hit is not None:
        await semantic_race.record_cancelled(call)
        return await _from_cache(call, CacheKind.SEMANTIC, semantic_answer(call, hit))

    async def checked_and_stored(result: Completion) -> Completion:
        if lookup.done():
            return await _checked_and_stored(call, result, check.key, lookup.result().embedding)
        # The answer is ready before the lookup: return it; store it once the lookup is done.
        result = await _checked(call, result)
        semantic_race.in_background(_store_after(call, check.key, lookup, result))
        return result

    try:
        return await _settled(call, answering, then=checked_and_stored)
    except GatewayError:
        await asyncio.wait({lookup})  # its embedding's ledger row is written either way
        raise


async def _from_cache(call: Call, kind: str, hit: CachedAnswer) -> Completion:
    try:
        await call.verdict()  # a held injection verdict (ADR 0019) comes first
    except GatewayError:
        await call.settle(status=CallStatus.BLOCKED, error_code="guardrail_blocked")
        raise
    record_id = await call.settle(
        status=CallStatus.OK,
        served_model=hit.served_model,
        cache_kind=kind,
        saved=Decimal(hit.cost_usd),
    )
    content, flags = await guard.check_completion(call.ctx, call.policy, call.canary, hit.content)
    return Completion(
        content,
        hit.served_model,
        0,
        0,
        Decimal(0),
        cache=kind,
        usage_record_ids=[record_id],
        guardrail_flags=await call.input_flags(*flags),
    )


async def _checked(call: Call, result: Completion) -> Completion:
    """Output guardrails, before the caller or the cache sees the answer."""
    result.content, flags = await guard.check_completion(
        call.ctx, call.policy, call.canary, result.content
    )
    result.guardrail_flags = await call.input_flags(*flags)
    return result


async def _checked_and_stored(
    call: Call, result: Completion, key: str, embedding: list[float] | None
) -> Completion:
    result = await _checked(call, result)
    await _store(call, key, embedding, result)
    return result


async def _store(call: Call, key: str, embedding: list[float] | None, result: Completion) -> None:
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


async def _store_after(
    call: Call, key: str, lookup: asyncio.Task[Looked], result: Completion
) -> None:
    looked = await lookup
    # A similar question already cached: keep that entry, store the exact key only.
    await _store(call, key, None if looked.hit is not None else looked.embedding, result)


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
    except GatewayError as exc:
        if exc.code == "guardrail_blocked":
            raise  # the input was blocked (held verdict): there is nothing to escalate
        logger.info("cascade: cheap model failed, escalating")
    # The escalation is a second provider call: reserve its budget and tokens afresh
    # (the input was checked once, by the first).
    second = await begin_again(call)
    strong = await _complete_once(second, second.alias, logprobs=False, extra_headers=extra_headers)
    strong.usage_record_ids = cheap_ids + strong.usage_record_ids
    return strong
