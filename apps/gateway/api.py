"""The gateway's public API: the only functions other apps call to reach a model.

    stream_chat(ctx, messages)  -> async iterator of Token/Usage/Done/Error events
    complete(ctx, messages)     -> Completion (raises GatewayError)
    embed(ctx, texts)           -> list of vectors (raises GatewayError)

    submit_batch(ctx, requests, key=...) -> BatchHandle (provider Batch API, half price)
    check_budget(ctx, requests)  -> the estimate, or budget_exceeded before anything is queued
    poll_batch(handle)           -> BatchStatus; iter_results streams an ended batch
    cancel_batch(handle), settle_batch(ctx, handle, cost), record_batch_usage(...)
    run_inline(ctx, requests)    -> results by ordinary calls, for providers without one

``complete_sync`` and ``embed_sync`` are for Celery tasks and other sync code;
``count_text_tokens`` counts tokens the way limits and budgets do (RAG chunking uses it).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from asgiref.sync import async_to_sync

from apps.gateway import router, semantic_race
from apps.gateway.batch import (
    BATCH_DISCOUNT,
    BatchHandle,
    BatchRequest,
    BatchResult,
    BatchStatus,
    cancel_batch,
    check_budget,
    context_window,
    estimate_usd,
    iter_results,
    poll_batch,
    record_batch_usage,
    run_inline,
    settle_batch,
    submit_batch,
    supports_batches,
)
from apps.gateway.completion import complete
from apps.gateway.embeddings import embed
from apps.gateway.streaming import stream_chat
from apps.gateway.types import CallContext, Completion
from apps.gateway.validation import count_text_tokens

__all__ = [
    "BATCH_DISCOUNT",
    "BatchHandle",
    "BatchRequest",
    "BatchResult",
    "BatchStatus",
    "cancel_batch",
    "check_budget",
    "complete",
    "complete_sync",
    "context_window",
    "count_text_tokens",
    "embed",
    "embed_sync",
    "estimate_usd",
    "iter_results",
    "poll_batch",
    "realtime_cost_usd",
    "record_batch_usage",
    "run_inline",
    "settle_batch",
    "stream_chat",
    "submit_batch",
    "supports_batches",
]


def realtime_cost_usd(model: str, tokens_in: int, tokens_out: int) -> Decimal:
    """What the same tokens would have cost through ordinary (real-time) calls."""
    return router.cost_usd(model, tokens_in, tokens_out)


def complete_sync(ctx: CallContext, messages: list[dict[str, Any]], **kwargs: Any) -> Completion:
    return async_to_sync(_complete_and_store)(ctx, messages, **kwargs)


async def _complete_and_store(
    ctx: CallContext, messages: list[dict[str, Any]], **kwargs: Any
) -> Completion:
    """``complete``, then its cache store if it still runs: this loop ends with the call."""
    result = await complete(ctx, messages, **kwargs)
    await semantic_race.drain()
    return result


def embed_sync(ctx: CallContext, texts: list[str]) -> list[list[float]]:
    return async_to_sync(embed)(ctx, texts)
