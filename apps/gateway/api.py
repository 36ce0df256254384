"""The gateway's public API: the only functions other apps call to reach a model.

    stream_chat(ctx, messages)  -> async iterator of Token/Usage/Done/Error events
    complete(ctx, messages)     -> Completion (raises GatewayError)
    embed(ctx, texts)           -> list of vectors (raises GatewayError)

``complete_sync`` and ``embed_sync`` are for Celery tasks and other sync code;
``count_text_tokens`` counts tokens the way limits and budgets do (RAG chunking uses it).
"""

from __future__ import annotations

from typing import Any

from asgiref.sync import async_to_sync

from apps.gateway.completion import complete
from apps.gateway.embeddings import embed
from apps.gateway.streaming import stream_chat
from apps.gateway.types import CallContext, Completion
from apps.gateway.validation import count_text_tokens

__all__ = [
    "complete",
    "complete_sync",
    "count_text_tokens",
    "embed",
    "embed_sync",
    "stream_chat",
]


def complete_sync(ctx: CallContext, messages: list[dict[str, Any]], **kwargs: Any) -> Completion:
    return async_to_sync(complete)(ctx, messages, **kwargs)


def embed_sync(ctx: CallContext, texts: list[str]) -> list[list[float]]:
    return async_to_sync(embed)(ctx, texts)
