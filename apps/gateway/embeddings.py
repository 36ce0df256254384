"""Embeddings through the gateway: with limits and budget for tenant content (``embed``),
and without them for the gateway's own use (``embed_raw``, the semantic cache). Like
whole answers, they go through the relay when the deployment speaks OpenAI's protocol."""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from decimal import Decimal

from apps.gateway import admission, relay, router
from apps.gateway.config import resolve
from apps.gateway.journal import record
from apps.gateway.ledger import LedgerEntry
from apps.gateway.models import CallStatus
from apps.gateway.types import CallContext, GatewayError, provider_unavailable

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Embeddings:
    vectors: list[list[float]]
    tokens: int
    cost_usd: Decimal


async def embed_raw(ctx: CallContext, texts: list[str]) -> Embeddings:
    """Embeddings with a ledger row, without limits: for the gateway's own use."""
    result, entry = await _embedded_with_entry(ctx, texts)
    await record(entry)
    return _vectors_or_raise(result)


async def _embedded_with_entry(
    ctx: CallContext, texts: list[str]
) -> tuple[Embeddings | None, LedgerEntry]:
    """The embeddings (None when the provider failed) and the call's ledger entry."""
    started = time.perf_counter()
    try:
        result = await _embedded(texts)
    except Exception as exc:
        logger.warning("embedding call failed", extra={"error": repr(exc)[:300]})
        return None, LedgerEntry(
            ctx=ctx,
            requested_model="embed",
            status=CallStatus.ERROR,
            error_code="provider_unavailable",
            latency_ms=int((time.perf_counter() - started) * 1000),
        )
    cost = router.cost_usd(result.served_model, result.prompt_tokens, 0)
    entry = LedgerEntry(
        ctx=ctx,
        requested_model="embed",
        served_model=result.served_model,
        tokens_in=result.prompt_tokens,
        cost_usd=cost,
        latency_ms=int((time.perf_counter() - started) * 1000),
    )
    return Embeddings(result.vectors, result.prompt_tokens, cost), entry


def _vectors_or_raise(result: Embeddings | None) -> Embeddings:
    if result is None:
        raise provider_unavailable()
    return result


async def _embedded(texts: list[str]) -> relay.Embedded:
    """Through the relay when an ``embed`` deployment speaks OpenAI's protocol and
    answers; else (and after a relay failure) through LiteLLM's Router."""
    deployment = relay.relayable("embed")
    if deployment is not None:
        try:
            return await relay.embed(deployment, texts)
        except relay.RelayUnavailable as exc:
            logger.warning("relay unavailable, using the router", extra={"error": str(exc)[:300]})
    response = await router.get_router().aembedding(model="embed", input=texts)
    return relay.Embedded(
        served_model=router.served_model(response),
        vectors=[item["embedding"] for item in response.data],
        prompt_tokens=int(getattr(response.usage, "prompt_tokens", 0) or 0),
    )


async def embed(ctx: CallContext, texts: list[str]) -> list[list[float]]:
    """Embeddings for tenant content (RAG), under the tenant's rate limit and budget."""
    if not texts or not all(isinstance(t, str) for t in texts):
        raise GatewayError("invalid_request", "Send a non-empty list of texts to embed.")
    cfg = await resolve(ctx)
    # About three characters a token, rounded up: an over-estimate is released after.
    estimate = sum(math.ceil(len(t) / 3) + 1 for t in texts)
    reservation, decision = await admission.reserve(
        cfg, alias="embed", prompt_tokens=estimate, max_tokens=0, requests_per_minute=None
    )
    result, entry = await _embedded_with_entry(ctx, texts)
    # The reservations settled and the ledger entry appended in one round trip.
    await admission.settle_and_record(
        cfg,
        reservation,
        decision,
        tokens=result.tokens if result else 0,
        cost=result.cost_usd if result else Decimal(0),
        entry=entry,
    )
    return _vectors_or_raise(result).vectors
