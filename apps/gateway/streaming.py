"""Streaming chat through the pipeline: token events as they arrive, then usage and done
(or an error event). LiteLLM falls back only before the first token."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncGenerator
from decimal import Decimal
from typing import Any

from apps.gateway import router, validation
from apps.gateway.models import CallStatus
from apps.gateway.pipeline import Call, begin, cache_lookup, cache_store, record_refusal, words
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
) -> AsyncGenerator[StreamEvent, None]:
    """Yield TokenEvents as the answer arrives, then a UsageEvent and a DoneEvent; or an
    ErrorEvent (refusal, provider down, stream cut) that says what to do. Closing the
    iterator early stops the provider call and bills the tokens streamed so far. With
    ``trim_history`` the oldest turns are dropped to fit the model's context window."""
    try:
        call = await begin(
            ctx,
            messages,
            alias=alias,
            max_tokens=max_tokens,
            temperature=temperature,
            trim_history=trim_history,
        )
    except GatewayError as exc:
        record_id = await record_refusal(ctx, alias, exc)
        yield ErrorEvent(exc.code, exc.message, exc.retry_after, record_id)  # type: ignore[arg-type]
        return

    kind, hit, key, embedding = await cache_lookup(call)
    if kind:
        first = time.perf_counter()
        for word in words(hit.content):
            yield TokenEvent(word)
        saved = Decimal(hit.cost_usd)
        record_id = await call.settle(
            status=CallStatus.OK,
            served_model=hit.served_model,
            cache_kind=kind,
            saved=saved,
            ttft=first,
        )
        yield UsageEvent(0, 0, Decimal(0), kind)
        yield DoneEvent("stop", hit.served_model, record_id)
        return

    parts: list[str] = []
    served = ""
    ttft: float | None = None
    usage: Any = None
    finish = "stop"
    response: Any = None
    status = CallStatus.OK
    try:
        response = await router.get_router().acompletion(
            model=call.alias,
            messages=call.messages,
            stream=True,
            stream_options={"include_usage": True},
            max_tokens=call.max_tokens,
            temperature=call.temperature,
            extra_headers=extra_headers,
        )
        served = router.served_model(response)
        async for chunk in response:
            if chunk.choices:
                choice = chunk.choices[0]
                text = choice.delta.content if choice.delta else None
                if text:
                    if ttft is None:
                        ttft = time.perf_counter()
                    parts.append(text)
                    yield TokenEvent(text)
                if choice.finish_reason:
                    finish = choice.finish_reason
            if getattr(chunk, "usage", None):
                usage = chunk.usage
    except (GeneratorExit, asyncio.CancelledError):
        # The reader went away: stop the provider call, bill what was streamed.
        await _close_quietly(response)
        await _settle_partial(call, CallStatus.ABORTED, served, parts, ttft)
        raise
    except Exception as exc:
        status = CallStatus.CUT if parts else CallStatus.ERROR
        logger.warning("provider call failed", extra={"error": repr(exc)[:300], "status": status})
        await _close_quietly(response)
        record_id = await _settle_partial(call, status, served, parts, ttft)
        message = (
            "The answer was cut off by the AI provider. Regenerate to try again; only the "
            "part you received was charged."
            if parts
            else PROVIDER_DOWN
        )
        yield ErrorEvent("provider_unavailable", message, 30, record_id)
        return

    content = "".join(parts)
    tokens_in = int(getattr(usage, "prompt_tokens", 0) or call.prompt_tokens)
    tokens_out = int(
        getattr(usage, "completion_tokens", 0) or validation.count_text_tokens(content)
    )
    cost = router.cost_usd(served, tokens_in, tokens_out)
    record_id = await call.settle(
        status=status,
        served_model=served,
        tokens_in=tokens_in,
        tokens_out=tokens_out,
        cost=cost,
        ttft=ttft,
    )
    if finish == "stop":
        await cache_store(call, key, embedding, content, served, tokens_in, tokens_out, cost)
    yield UsageEvent(tokens_in, tokens_out, cost)
    yield DoneEvent(finish, served, record_id)


async def _close_quietly(response: Any) -> None:
    close = getattr(response, "aclose", None)
    if close is None:
        return
    try:
        await close()
    except Exception:
        logger.debug("closing the provider stream failed", exc_info=True)


async def _settle_partial(
    call: Call, status: str, served: str, parts: list[str], ttft: float | None
) -> Any:
    """Bill a stream that ended early with its true tokens: the prompt was read and the
    streamed part was generated; with nothing streamed, nothing is charged."""
    if not parts:
        return await call.settle(
            status=status,
            served_model=served,
            error_code="provider_unavailable" if status != CallStatus.ABORTED else "",
        )
    tokens_out = validation.count_text_tokens("".join(parts))
    cost = router.cost_usd(served, call.prompt_tokens, tokens_out)
    return await call.settle(
        status=status,
        served_model=served,
        tokens_in=call.prompt_tokens,
        tokens_out=tokens_out,
        cost=cost,
        error_code="" if status == CallStatus.ABORTED else "provider_unavailable",
        ttft=ttft,
    )
