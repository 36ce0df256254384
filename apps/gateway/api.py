"""The gateway's public API: the only functions other apps call to reach a model.

    stream_chat(ctx, messages)  -> async iterator of Token/Usage/Done/Error events
    complete(ctx, messages)     -> Completion (raises GatewayError)
    embed(ctx, texts)           -> list of vectors (raises GatewayError)

``complete_sync`` and ``embed_sync`` are for Celery tasks and other sync code.
"""

from __future__ import annotations

from typing import Any

from asgiref.sync import async_to_sync

from apps.gateway.completion import complete
from apps.gateway.embeddings import embed
from apps.gateway.streaming import stream_chat
from apps.gateway.types import CallContext, Completion

__all__ = ["complete", "complete_sync", "embed", "embed_sync", "stream_chat"]


def complete_sync(ctx: CallContext, messages: list[dict[str, Any]], **kwargs: Any) -> Completion:
    return async_to_sync(complete)(ctx, messages, **kwargs)


def embed_sync(ctx: CallContext, texts: list[str]) -> list[list[float]]:
    return async_to_sync(embed)(ctx, texts)
