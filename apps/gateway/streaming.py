"""Streaming chat through the pipeline: token events as they arrive, then usage and done
(or an error event). Deployments that speak OpenAI's protocol stream through the lean
relay (apps/gateway/relay.py); the rest, and every retry and fallback, through LiteLLM's
Router, which falls back only before the first token."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator
from decimal import Decimal
from typing import Any, Protocol

from apps.gateway import guard, relay, router, semantic_race, validation
from apps.gateway.cache import CachedAnswer
from apps.gateway.models import CacheKind, CallStatus
from apps.gateway.pipeline import (
    Call,
    Looked,
    begin,
    cache_store,
    exact_lookup,
    record_refusal,
    semantic_answer,
    words,
)
from apps.gateway.types import (
    PROVIDER_DOWN,
    CallContext,
    DoneEvent,
    ErrorEvent,
    GatewayError,
    StreamEvent,
    TokenEvent,
    UsageEvent,
)
from apps.guardrails.engine import Direction
from apps.guardrails.services import aevents_record
from apps.guardrails.stream import StreamGuard

logger = logging.getLogger(__name__)


async def stream_chat(
    ctx: CallContext,
    messages: list[dict[str, Any]],
    *,
    alias: str | None = None,
    max_tokens: int | None = None,
    temperature: float | None = None,
    extra_headers: dict[str, str] | None = None,
    trim_history: bool = False,
    context: str = "",
) -> AsyncGenerator[StreamEvent, None]:
    """Yield TokenEvents as the answer arrives, then a UsageEvent and a DoneEvent; or an
    ErrorEvent (refusal, provider down, stream cut) that says what to do. Closing the
    iterator early stops the provider call and bills the tokens streamed so far. With
    ``trim_history`` the oldest turns are dropped to fit the model's context window.
    ``context`` (retrieved passages and how to use them) is sent as a system message
    after the tenant's system prompt, for this answer only."""
    try:
        call = await begin(
            ctx,
            messages,
            alias=alias,
            max_tokens=max_tokens,
            temperature=temperature,
            trim_history=trim_history,
            context=context,
        )
    except GatewayError as exc:
        record_id = await record_refusal(ctx, alias, exc)
        yield ErrorEvent(exc.code, exc.message, exc.retry_after, record_id)  # type: ignore[arg-type]
        return

    check = await exact_lookup(call)
    # Output guardrails: the answer is released sentence by sentence when a check must
    # act before the reader sees it (apps/guardrails/stream.py).
    checker = StreamGuard(call.policy, canary=call.canary)
    if check.kind and check.answer is not None:
        async for event in _serve_cached(call, checker, check.kind, check.answer):
            yield event
        return

    # On an exact miss the provider stream opens beside the semantic lookup; the cache
    # answers only if its hit comes before the provider's first chunk (semantic_race.py).
    lookup: asyncio.Task[Looked] | None = None
    opening: asyncio.Task[tuple[_Source, AsyncIterator[relay.Chunk]]] | None = None
    if check.question is not None:
        lookup, opening = semantic_race.start(
            call, check.question, _open_first(call, extra_headers)
        )
        try:
            hit = await semantic_race.race(lookup, opening)
        except (GeneratorExit, asyncio.CancelledError):
            await _settle_partial(call, CallStatus.ABORTED, "", [], None)
            raise
        if hit is not None:
            await semantic_race.record_cancelled(call)
            answer = semantic_answer(call, hit)
            async for event in _serve_cached(call, checker, CacheKind.SEMANTIC, answer):
                yield event
            return

    parts: list[str] = []  # what the provider sent (billed)
    shown: list[str] = []  # what the reader saw (cached)
    source: _Source | None = None
    ttft: float | None = None
    usage: relay.Chunk | None = None
    finish = "stop"
    status = CallStatus.OK
    refused: GatewayError | None = None  # the held verdict's block (ADR 0019)
    try:
        if opening is not None:
            source, chunks = opening.result()
        else:
            source = await _open(call, extra_headers)
            chunks = source.chunks()
        async for chunk in chunks:
            if chunk.text:
                if ttft is None:
                    refused = await _verdict(call)  # before the reader sees a token
                    ttft = time.perf_counter()
                parts.append(chunk.text)
                if refused is not None:
                    break
                for piece in checker.feed(chunk.text):
                    shown.append(piece)
                    yield TokenEvent(piece)
                if checker.blocked is not None:
                    break
            if chunk.finish_reason:
                finish = chunk.finish_reason
            if chunk.prompt_tokens is not None or chunk.completion_tokens is not None:
                usage = chunk
        if ttft is None:
            refused = await _verdict(call)  # an answer without text: before its end
    except (GeneratorExit, asyncio.CancelledError):
        # The reader went away: stop the provider call, bill what was streamed.
        if lookup is not None:
            lookup.cancel()
        await _close_quietly(source)
        await _settle_partial(call, CallStatus.ABORTED, _served(source), parts, ttft)
        await asyncio.shield(_log_output(call, checker))
        raise
    except Exception as exc:
        status = CallStatus.CUT if parts else CallStatus.ERROR
        logger.warning("provider call failed", extra={"error": repr(exc)[:300], "status": status})
        await _close_quietly(source)
        await _looked(lookup)  # its embedding's ledger row is written either way
        # What the guard still held was streamed and billed: check it and show it.
        for piece in checker.finish():
            yield TokenEvent(piece)
        record_id = await _settle_partial(call, status, _served(source), parts, ttft)
        await _log_output(call, checker)
        message = (
            "The answer was cut off by the AI provider. Regenerate to try again; only the "
            "part you received was charged."
            if parts
            else PROVIDER_DOWN
        )
        yield ErrorEvent("provider_unavailable", message, 30, record_id)
        return

    if refused is not None:
        # The input was blocked after the provider's call started (held): nothing was
        # shown; stop the provider, bill what it sent, cache nothing.
        await _close_quietly(source)
        await _looked(lookup)
        record_id = await _settle_partial(
            call, CallStatus.BLOCKED, _served(source), parts, None, "guardrail_blocked"
        )
        yield ErrorEvent("guardrail_blocked", refused.message, None, record_id)
        return
    for piece in checker.finish():
        shown.append(piece)
        yield TokenEvent(piece)
    if checker.blocked is not None:
        # The violating sentence was never shown: stop the provider, bill what it sent.
        await _close_quietly(source)
        await _looked(lookup)
        record_id = await _settle_partial(
            call, CallStatus.BLOCKED, _served(source), parts, ttft, "guardrail_blocked"
        )
        await _log_output(call, checker)
        message = guard.blocked_message(checker.blocked, output=True)
        yield ErrorEvent("guardrail_blocked", message, None, record_id)
        return
    await _log_output(call, checker)

    served = source.served_model
    content = "".join(parts)
    tokens_in = (usage and usage.prompt_tokens) or call.prompt_tokens
    tokens_out = (usage and usage.completion_tokens) or validation.count_text_tokens(content)
    cost = router.cost_usd(served, tokens_in, tokens_out)
    record_id = await call.settle(
        status=status,
        served_model=served,
        tokens_in=tokens_in,
        tokens_out=tokens_out,
        cost=cost,
        ttft=ttft,
    )
    looked = await _looked(lookup)
    if finish == "stop":
        # What the reader saw: redacted where the policy says so. A question the semantic
        # cache already holds (a hit that came after the provider) keeps its entry.
        embedding = looked.embedding if looked is not None and looked.hit is None else None
        shown_text = "".join(shown)
        await cache_store(
            call, check.key, embedding, shown_text, served, tokens_in, tokens_out, cost
        )
    yield UsageEvent(tokens_in, tokens_out, cost)
    yield DoneEvent(finish, served, record_id, await _flags(call, checker))


async def _serve_cached(
    call: Call, checker: StreamGuard, kind: str, hit: CachedAnswer
) -> AsyncIterator[StreamEvent]:
    """A cached answer, streamed word by word like a provider's, through the guard; under
    a held injection verdict (ADR 0019), only once the verdict allows it."""
    try:
        refused = await _verdict(call)
    except (GeneratorExit, asyncio.CancelledError):
        await call.settle(status=CallStatus.ABORTED)
        raise
    if refused is not None:
        record_id = await call.settle(status=CallStatus.BLOCKED, error_code="guardrail_blocked")
        yield ErrorEvent("guardrail_blocked", refused.message, None, record_id)
        return
    first = time.perf_counter()
    for word in words(hit.content):
        for piece in checker.feed(word):
            yield TokenEvent(piece)
    for piece in checker.finish():
        yield TokenEvent(piece)
    blocked = checker.blocked is not None
    record_id = await call.settle(
        status=CallStatus.BLOCKED if blocked else CallStatus.OK,
        served_model=hit.served_model,
        cache_kind=kind,
        saved=Decimal(hit.cost_usd),
        error_code="guardrail_blocked" if blocked else "",
        ttft=first,
    )
    await _log_output(call, checker)
    if checker.blocked is not None:
        message = guard.blocked_message(checker.blocked, output=True)
        yield ErrorEvent("guardrail_blocked", message, None, record_id)
        return
    yield UsageEvent(0, 0, Decimal(0), kind)
    yield DoneEvent("stop", hit.served_model, record_id, await _flags(call, checker))


async def _verdict(call: Call) -> GatewayError | None:
    """The input's held verdict (``Call.verdict``): the refusal when it blocks."""
    try:
        await call.verdict()
    except GatewayError as exc:
        return exc
    return None


async def _looked(lookup: asyncio.Task[Looked] | None) -> Looked | None:
    return None if lookup is None else await lookup


async def _flags(call: Call, checker: StreamGuard) -> tuple[str, ...]:
    output = (h.check.value for h in checker.hits if h.action.value in ("flag", "redact"))
    return await call.input_flags(*output)


async def _log_output(call: Call, checker: StreamGuard) -> None:
    await aevents_record(
        tenant_id=call.ctx.tenant_id,
        hits=checker.hits,
        direction=Direction.OUTPUT,
        feature=call.ctx.feature,
        request_id=call.ctx.request_id,
    )


class _Source(Protocol):
    served_model: str

    def chunks(self) -> AsyncIterator[relay.Chunk]: ...

    async def aclose(self) -> None: ...


class _LiteLLMSource:
    """LiteLLM's stream (any provider, with the Router's retries and fallbacks), read as
    relay Chunks."""

    def __init__(self, response: Any) -> None:
        self._response = response
        self.served_model = router.served_model(response)

    async def chunks(self) -> AsyncIterator[relay.Chunk]:
        async for chunk in self._response:
            usage = getattr(chunk, "usage", None)
            choice = chunk.choices[0] if chunk.choices else None
            yield relay.Chunk(
                text=(choice.delta.content if choice and choice.delta else None) or "",
                finish_reason=choice.finish_reason if choice else None,
                prompt_tokens=getattr(usage, "prompt_tokens", None) if usage else None,
                completion_tokens=getattr(usage, "completion_tokens", None) if usage else None,
            )

    async def aclose(self) -> None:
        close = getattr(self._response, "aclose", None)
        if close is not None:
            await close()


async def _open(call: Call, extra_headers: dict[str, str] | None) -> _Source:
    """The relay when a deployment speaks OpenAI's protocol and answers; LiteLLM's
    Router otherwise (and for the retries and fallbacks after a relay failure)."""
    asyncio.get_running_loop().call_soon(call.start_later)  # once the request is written
    deployment = relay.relayable(call.alias)
    if deployment is not None:
        try:
            return await relay.open_stream(
                deployment,
                messages=call.messages,
                max_tokens=call.max_tokens,
                temperature=call.temperature,
                extra_headers=extra_headers,
            )
        except relay.RelayUnavailable as exc:
            logger.warning("relay unavailable, using the router", extra={"error": str(exc)[:300]})
    response = await router.get_router().acompletion(
        model=call.alias,
        messages=call.messages,
        stream=True,
        stream_options={"include_usage": True},
        max_tokens=call.max_tokens,
        temperature=call.temperature,
        extra_headers=extra_headers,
    )
    return _LiteLLMSource(response)


async def _open_first(
    call: Call, extra_headers: dict[str, str] | None
) -> tuple[_Source, AsyncIterator[relay.Chunk]]:
    """Open the stream and read its first chunk: the provider has answered. Cancelled
    before that (the cache answered first), the stream is closed: the provider stops."""
    source = await _open(call, extra_headers)
    chunks = aiter(source.chunks())
    try:
        first = await anext(chunks, None)
    except BaseException:
        await _close_quietly(source)
        raise
    return source, _prepend(first, chunks)


async def _prepend(
    first: relay.Chunk | None, rest: AsyncIterator[relay.Chunk]
) -> AsyncIterator[relay.Chunk]:
    if first is not None:
        yield first
    async for chunk in rest:
        yield chunk


def _served(source: _Source | None) -> str:
    return source.served_model if source is not None else ""


async def _close_quietly(source: _Source | None) -> None:
    if source is None:
        return
    try:
        await source.aclose()
    except Exception:
        logger.debug("closing the provider stream failed", exc_info=True)


async def _settle_partial(
    call: Call,
    status: str,
    served: str,
    parts: list[str],
    ttft: float | None,
    error_code: str | None = None,
) -> Any:
    """Bill a stream that ended early with its true tokens: the prompt was read and the
    streamed part was generated; with nothing streamed, nothing is charged."""
    if error_code is None:
        error_code = "" if status == CallStatus.ABORTED else "provider_unavailable"
    if not parts:
        return await call.settle(status=status, served_model=served, error_code=error_code)
    tokens_out = validation.count_text_tokens("".join(parts))
    cost = router.cost_usd(served, call.prompt_tokens, tokens_out)
    return await call.settle(
        status=status,
        served_model=served,
        tokens_in=call.prompt_tokens,
        tokens_out=tokens_out,
        cost=cost,
        error_code=error_code,
        ttft=ttft,
    )
