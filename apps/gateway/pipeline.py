"""The pipeline of one gateway call, step by step (docs/gateway.md).

``stream_chat`` yields events; ``complete`` returns a Completion (with the cascade);
``embed`` returns vectors. Every path ends in exactly one ledger row per provider call or
cache hit, with the budget and the token reservation settled, including refusals,
provider errors, streams cut by the provider and streams the client abandoned.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.conf import settings

from apps.gateway import budget, cache, ratelimit, router, semantic_cache, validation
from apps.gateway.config import ResolvedConfig, resolve
from apps.gateway.ledger import LedgerEntry, record
from apps.gateway.models import CacheKind, CallStatus
from apps.gateway.types import (
    CallContext,
    Completion,
    DoneEvent,
    ErrorEvent,
    GatewayError,
    StreamEvent,
    TokenEvent,
    UsageEvent,
)

logger = logging.getLogger(__name__)


@dataclass
class _Call:
    """Everything reserved for one call, so every exit can settle it the same way."""

    ctx: CallContext
    cfg: ResolvedConfig
    alias: str
    messages: list[dict[str, Any]]
    prompt_tokens: int
    max_tokens: int
    temperature: float
    reservation: ratelimit.Reservation
    decision: budget.BudgetDecision
    started: float

    async def settle(
        self,
        *,
        status: str,
        served_model: str = "",
        tokens_in: int = 0,
        tokens_out: int = 0,
        cost: Decimal = Decimal(0),
        cache_kind: str = "",
        saved: Decimal = Decimal(0),
        error_code: str = "",
        ttft: float | None = None,
    ) -> Any:
        entry = LedgerEntry(
            ctx=self.ctx,
            requested_model=self.alias,
            served_model=served_model,
            tokens_in=tokens_in,
            tokens_out=tokens_out,
            cost_usd=cost,
            cache=cache_kind,
            saved_cost_usd=saved,
            status=status,
            error_code=error_code,
            latency_ms=int((time.perf_counter() - self.started) * 1000),
            ttft_ms=None if ttft is None else int((ttft - self.started) * 1000),
        )
        # Shielded: a client that disconnects must not cancel the bookkeeping.
        return await asyncio.shield(self._settle(entry, tokens_in + tokens_out, cost))

    async def _settle(self, entry: LedgerEntry, tokens: int, cost: Decimal) -> Any:
        record_id = await record(entry)
        await ratelimit.reconcile(self.reservation, tokens)
        await budget.settle(self.cfg, self.decision, cost)
        return record_id


def _with_system_prompt(
    cfg: ResolvedConfig, messages: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    if cfg.system_prompt and not any(m.get("role") == "system" for m in messages):
        return [{"role": "system", "content": cfg.system_prompt}, *messages]
    return list(messages)


async def _begin(
    ctx: CallContext,
    messages: list[dict[str, Any]],
    *,
    alias: str | None,
    max_tokens: int | None,
    temperature: float | None,
) -> _Call:
    started = time.perf_counter()
    cfg = await resolve(ctx)
    alias = alias or cfg.model_alias
    max_tokens = max_tokens or cfg.max_tokens
    full = _with_system_prompt(cfg, messages)
    prompt_tokens = validation.validate_chat(full, alias, max_tokens)
    reservation = await ratelimit.reserve(
        tenant_id=cfg.tenant_id,
        estimate=prompt_tokens + max_tokens,
        tokens_per_day=cfg.tokens_per_day,
        requests_per_minute=cfg.requests_per_minute,
    )
    try:
        decision = await budget.reserve(
            cfg, alias=alias, prompt_tokens=prompt_tokens, max_tokens=max_tokens
        )
    except GatewayError:
        await ratelimit.reconcile(reservation, 0)
        raise
    return _Call(
        ctx=ctx,
        cfg=cfg,
        alias=decision.alias,
        messages=full,
        prompt_tokens=prompt_tokens,
        max_tokens=max_tokens,
        temperature=cfg.temperature if temperature is None else temperature,
        reservation=reservation,
        decision=decision,
        started=started,
    )


async def _record_refusal(ctx: CallContext, alias: str | None, exc: GatewayError) -> Any:
    if exc.code in ("rate_limited", "budget_exceeded"):
        return await record(
            LedgerEntry(
                ctx=ctx, requested_model=alias or "", status=CallStatus.ERROR, error_code=exc.code
            )
        )
    return None


def _served_model(response: Any) -> str:
    hidden = getattr(response, "_hidden_params", None) or {}
    deployment = router.deployment_for_model_id(hidden.get("model_id"))
    if deployment is not None:
        return deployment.model
    return str(getattr(response, "model", "") or "")


async def _embed_question(call: _Call, question: str) -> list[float] | None:
    """The question's embedding for the semantic cache, or None when embeddings fail
    (the cache is an optimisation: a failure must not fail the call)."""
    try:
        result = await embed_raw(
            CallContext(
                tenant_id=call.ctx.tenant_id,
                feature="semantic_cache",
                user_id=call.ctx.user_id,
                api_key_id=call.ctx.api_key_id,
                request_id=call.ctx.request_id,
            ),
            [question],
        )
    except GatewayError:
        logger.warning("semantic cache skipped: embedding failed")
        return None
    return result.vectors[0]


async def _cache_lookup(call: _Call) -> tuple[str, cache.CachedAnswer, str, list[float] | None]:
    """Exact, then semantic. Returns (kind, answer, exact_key, question_embedding)."""
    key = cache.exact_key(
        tenant_id=call.cfg.tenant_id,
        alias=call.alias,
        system_prompt_hash=call.cfg.system_prompt_hash,
        messages=call.messages,
        temperature=call.temperature,
        max_tokens=call.max_tokens,
    )
    none = cache.CachedAnswer("", "", 0, 0, "0")
    if not call.cfg.cache_enabled:
        return "", none, key, None
    hit = await cache.get(key)
    if hit is not None:
        return CacheKind.EXACT, hit, key, None
    question = semantic_cache.cacheable_question(call.messages)
    if question is None:
        return "", none, key, None
    embedding = await _embed_question(call, question)
    if embedding is None:
        return "", none, key, None
    found = await semantic_cache.lookup(
        tenant_id=call.cfg.tenant_id,
        alias=call.alias,
        system_prompt_hash=call.cfg.system_prompt_hash,
        query=question,
        embedding=embedding,
        threshold=call.cfg.semantic_threshold,
    )
    if found is None:
        return "", none, key, embedding
    answer = cache.CachedAnswer(
        found.response, found.served_model, found.tokens_in, found.tokens_out, str(found.cost_usd)
    )
    return CacheKind.SEMANTIC, answer, key, embedding


async def _cache_store(
    call: _Call,
    key: str,
    embedding: list[float] | None,
    content: str,
    served: str,
    tokens_in: int,
    tokens_out: int,
    cost: Decimal,
) -> None:
    if not call.cfg.cache_enabled or not content:
        return
    await cache.put(key, cache.CachedAnswer(content, served, tokens_in, tokens_out, str(cost)))
    question = semantic_cache.cacheable_question(call.messages)
    if question is not None and embedding is not None:
        await semantic_cache.store(
            tenant_id=call.cfg.tenant_id,
            alias=call.alias,
            system_prompt_hash=call.cfg.system_prompt_hash,
            query=question,
            embedding=embedding,
            response=content,
            served_model=served,
            tokens_in=tokens_in,
            tokens_out=tokens_out,
            cost_usd=cost,
        )


def _words(text: str) -> list[str]:
    """Split a cached answer into word tokens that join back to the exact text."""
    out: list[str] = []
    start = 0
    for i, char in enumerate(text):
        if char == " " and i + 1 < len(text) and text[i + 1] != " ":
            out.append(text[start : i + 1])
            start = i + 1
    if start < len(text):
        out.append(text[start:])
    return out


PROVIDER_DOWN = (
    "The AI provider is not answering right now. Try again in a minute; nothing was charged."
)


def _provider_error() -> GatewayError:
    return GatewayError("provider_unavailable", PROVIDER_DOWN, retry_after=30, permanent=False)


async def stream_chat(
    ctx: CallContext,
    messages: list[dict[str, Any]],
    *,
    alias: str | None = None,
    max_tokens: int | None = None,
    temperature: float | None = None,
    extra_headers: dict[str, str] | None = None,
) -> AsyncIterator[StreamEvent]:
    try:
        call = await _begin(
            ctx, messages, alias=alias, max_tokens=max_tokens, temperature=temperature
        )
    except GatewayError as exc:
        record_id = await _record_refusal(ctx, alias, exc)
        yield ErrorEvent(exc.code, exc.message, exc.retry_after, record_id)  # type: ignore[arg-type]
        return

    kind, hit, key, embedding = await _cache_lookup(call)
    if kind:
        first = time.perf_counter()
        for word in _words(hit.content):
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
        served = _served_model(response)
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
        await _cache_store(call, key, embedding, content, served, tokens_in, tokens_out, cost)
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
    call: _Call, status: str, served: str, parts: list[str], ttft: float | None
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


def _mean_logprob(response: Any) -> float | None:
    try:
        content = response.choices[0].logprobs.content
    except (AttributeError, IndexError, TypeError):
        return None
    values = [item.logprob for item in content or [] if item.logprob is not None]
    return sum(values) / len(values) if values else None


async def _complete_once(
    call: _Call, alias: str, *, logprobs: bool, extra_headers: dict[str, str] | None
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
        raise _provider_error() from exc
    served = _served_model(response)
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
        call = await _begin(
            ctx, messages, alias=alias, max_tokens=max_tokens, temperature=temperature
        )
    except GatewayError as exc:
        await _record_refusal(ctx, alias, exc)
        raise
    kind, hit, key, embedding = await _cache_lookup(call)
    if kind:
        record_id = await call.settle(
            status=CallStatus.OK,
            served_model=hit.served_model,
            cache_kind=kind,
            saved=Decimal(hit.cost_usd),
        )
        return Completion(
            hit.content,
            hit.served_model,
            0,
            0,
            Decimal(0),
            cache=kind,
            usage_record_ids=[record_id],
        )
    use_cascade = call.cfg.cascade_enabled if cascade is None else cascade
    if not use_cascade or call.alias == "fast":
        result = await _complete_once(call, call.alias, logprobs=False, extra_headers=extra_headers)
    else:
        result = await _cascade(call, extra_headers)
    if result.finish_reason == "stop":
        await _cache_store(
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


async def _cascade(call: _Call, extra_headers: dict[str, str] | None) -> Completion:
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
    # The escalation is a second provider call: reserve its budget and tokens afresh.
    second = await _begin(
        call.ctx,
        call.messages,
        alias=call.alias,
        max_tokens=call.max_tokens,
        temperature=call.temperature,
    )
    strong = await _complete_once(second, second.alias, logprobs=False, extra_headers=extra_headers)
    strong.usage_record_ids = cheap_ids + strong.usage_record_ids
    return strong


@dataclass(frozen=True)
class Embeddings:
    vectors: list[list[float]]
    tokens: int
    cost_usd: Decimal


async def embed_raw(ctx: CallContext, texts: list[str]) -> Embeddings:
    """Embeddings with a ledger row, without limits: for the gateway's own use."""
    started = time.perf_counter()
    try:
        response = await router.get_router().aembedding(model="embed", input=texts)
    except Exception as exc:
        logger.warning("embedding call failed", extra={"error": repr(exc)[:300]})
        await record(
            LedgerEntry(
                ctx=ctx,
                requested_model="embed",
                status=CallStatus.ERROR,
                error_code="provider_unavailable",
                latency_ms=int((time.perf_counter() - started) * 1000),
            )
        )
        raise _provider_error() from exc
    served = _served_model(response)
    tokens = int(getattr(response.usage, "prompt_tokens", 0) or 0)
    cost = router.cost_usd(served, tokens, 0)
    await record(
        LedgerEntry(
            ctx=ctx,
            requested_model="embed",
            served_model=served,
            tokens_in=tokens,
            cost_usd=cost,
            latency_ms=int((time.perf_counter() - started) * 1000),
        )
    )
    return Embeddings([item["embedding"] for item in response.data], tokens, cost)


async def embed(ctx: CallContext, texts: list[str]) -> list[list[float]]:
    """Embeddings for tenant content (RAG), under the tenant's rate limit and budget."""
    if not texts or not all(isinstance(t, str) for t in texts):
        raise GatewayError("invalid_request", "Send a non-empty list of texts to embed.")
    cfg = await resolve(ctx)
    # About three characters a token, rounded up: an over-estimate is released after.
    estimate = sum(math.ceil(len(t) / 3) + 1 for t in texts)
    reservation = await ratelimit.reserve(
        tenant_id=cfg.tenant_id,
        estimate=estimate,
        tokens_per_day=cfg.tokens_per_day,
        requests_per_minute=None,
    )
    try:
        decision = await budget.reserve(cfg, alias="embed", prompt_tokens=estimate, max_tokens=0)
    except GatewayError:
        await ratelimit.reconcile(reservation, 0)
        raise
    try:
        result = await embed_raw(ctx, texts)
    except GatewayError:
        await ratelimit.reconcile(reservation, 0)
        await budget.settle(cfg, decision, Decimal(0))
        raise
    await ratelimit.reconcile(reservation, result.tokens)
    await budget.settle(cfg, decision, result.cost_usd)
    return result.vectors
