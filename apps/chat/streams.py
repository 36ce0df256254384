"""Resumable generation: the answer is written to a Redis stream per message, readers
tail it over SSE (docs/chat.md).

- ``ensure_generation`` starts the generation once (a Redis SET NX claims it), as a task
  on this process's event loop, so it outlives the request that started it.
- The generation appends ``token`` events, then one ``done`` event carrying the final
  status, and saves the message. Every few tokens it checks two keys: a stop signal (set
  by ``request_stop`` on any web instance) and the readers' heartbeat; with neither a
  stop nor a reader for CHAT_NO_READER_TIMEOUT_S it stops too. Stopping closes the
  gateway stream, which bills the tokens streamed so far.
- ``read_events`` yields the stream from any event id (SSE ``Last-Event-ID``), so a
  refresh or a second tab resumes with nothing lost or repeated; after the stream has
  expired, a finished message is replayed from the database.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings

from apps.chat import selectors, services
from apps.chat.models import Message, MessageStatus
from apps.core.db import tenant_context
from apps.core.redis_client import get_redis
from apps.gateway import api as gateway
from apps.gateway.types import CallContext

logger = logging.getLogger(__name__)
CHECK_EVERY = 8  # tokens between stop / reader checks
TERMINAL = "done"

# Tasks run detached from any request; asyncio keeps only weak references to tasks.
_generations: set[asyncio.Task[None]] = set()


def _key(kind: str, tenant_id: Any, message_id: Any) -> str:
    return f"chat:{{{tenant_id}}}:{kind}:{message_id}"


async def ensure_generation(*, tenant_id: Any, user_id: Any, message_id: Any) -> None:
    redis = get_redis()
    await redis.set(_key("reader", tenant_id, message_id), 1, ex=settings.CHAT_NO_READER_TIMEOUT_S)
    claimed = await redis.set(
        _key("generation", tenant_id, message_id), 1, nx=True, ex=settings.CHAT_STREAM_TTL_S
    )
    if claimed:
        # A fresh context: the task outlives this request, whose context (asgiref's
        # per-request thread executor among it) is gone when the request ends.
        task = asyncio.create_task(
            _generate(tenant_id, user_id, message_id), context=contextvars.Context()
        )
        _generations.add(task)
        task.add_done_callback(_generations.discard)


async def request_stop(*, tenant_id: Any, message_id: Any) -> None:
    await get_redis().set(_key("stop", tenant_id, message_id), 1, ex=settings.CHAT_STREAM_TTL_S)


def _history(tenant_id: Any, message_id: Any) -> list[dict[str, str]]:
    with tenant_context(tenant_id):
        message = Message.objects.get(id=message_id, tenant_id=tenant_id)
        return selectors.history_for(message)


def _finish(tenant_id: Any, message_id: Any, fields: dict[str, Any]) -> None:
    with tenant_context(tenant_id):
        services.message_finish(message_id=message_id, tenant_id=tenant_id, **fields)


async def _should_stop(tenant_id: Any, message_id: Any) -> str | None:
    stop, reader = await get_redis().mget(
        _key("stop", tenant_id, message_id), _key("reader", tenant_id, message_id)
    )
    if stop:
        return "stopped"
    if not reader:
        return "no_reader"
    return None


async def _generate(tenant_id: Any, user_id: Any, message_id: Any) -> None:
    redis = get_redis()
    stream = _key("events", tenant_id, message_id)
    parts: list[str] = []
    fields: dict[str, Any] = {"status": MessageStatus.COMPLETE}
    try:
        history = await sync_to_async(_history)(tenant_id, message_id)
        ctx = CallContext(
            tenant_id=tenant_id, feature="chat", user_id=user_id, request_id=str(message_id)
        )
        events = gateway.stream_chat(ctx, history, trim_history=True)
        try:
            async for event in events:
                if event.type == "token":
                    parts.append(event.text)
                    await redis.xadd(stream, {"e": "token", "d": event.text})
                    if len(parts) % CHECK_EVERY == 0:
                        reason = await _should_stop(tenant_id, message_id)
                        if reason:
                            fields.update(status=MessageStatus.STOPPED, error_code=reason)
                            break
                elif event.type == "done":
                    fields.update(
                        served_model=event.served_model, usage_record_id=event.usage_record_id
                    )
                elif event.type == "error":
                    fields.update(
                        status=MessageStatus.ERROR,
                        error_code=event.code,
                        error_message=event.message,
                    )
        finally:
            await events.aclose()  # a stop bills the streamed tokens as "aborted"
    except Exception:
        logger.exception("chat generation failed", extra={"message_id": str(message_id)})
        fields.update(
            status=MessageStatus.ERROR,
            error_code="internal_error",
            error_message="Something went wrong on our side. Regenerate to try again.",
        )
    fields["content"] = "".join(parts)
    await sync_to_async(_finish)(tenant_id, message_id, fields)
    final = {k: str(v) if v is not None else None for k, v in fields.items() if k != "content"}
    await redis.xadd(stream, {"e": TERMINAL, "d": json.dumps(final)})
    await redis.expire(stream, settings.CHAT_STREAM_TTL_S)


def _snapshot(tenant_id: Any, message_id: Any) -> Message | None:
    with tenant_context(tenant_id):
        return Message.objects.filter(id=message_id, tenant_id=tenant_id).first()


async def read_events(
    *, tenant_id: Any, message_id: Any, last_id: str = "0-0"
) -> AsyncIterator[tuple[str, str, str]]:
    """Yield (event id, event type, data) from after ``last_id`` until the terminal event.
    Keeps the readers' heartbeat alive while it reads."""
    redis = get_redis()
    stream = _key("events", tenant_id, message_id)
    heartbeat = _key("reader", tenant_id, message_id)
    while True:
        await redis.set(heartbeat, 1, ex=settings.CHAT_NO_READER_TIMEOUT_S)
        # Block less than the client's socket timeout (2 s); the loop refreshes the heartbeat.
        batch = await redis.xread({stream: last_id}, block=1000, count=200)
        if not batch:
            if not await redis.exists(stream):
                message = await sync_to_async(_snapshot)(tenant_id, message_id)
                if message is not None and message.status != MessageStatus.STREAMING:
                    # The stream expired: replay the saved answer in one piece.
                    yield "snapshot", "token", message.content
                    yield "snapshot-done", TERMINAL, json.dumps({"status": message.status})
                    return
            yield "", "ping", ""
            continue
        for entry_id, data in batch[0][1]:
            last_id = entry_id.decode()
            kind, payload = data[b"e"].decode(), data[b"d"].decode()
            yield last_id, kind, payload
            if kind == TERMINAL:
                return
