"""The first token's path, stage by stage, for ``bench/chat_streams.py --anatomy``.

The web worker is started on ``bench.chat_anatomy:application``: the project's ASGI
application with a few of its functions wrapped to note, per message, the monotonic time
(one clock for every process on the machine) at which its first token passed each stage.
The notes go to the file named by ``CHAT_ANATOMY_FILE``, one ``<message id> <stage>
<seconds>`` line each; the load generator adds its own (the post sent, its answer back,
the event stream asked for, the first token read) and prints each segment's p50 and p95.

Measurement only: nothing here is imported by the project, and it changes no behaviour.
"""

from __future__ import annotations

import contextvars
import functools
import os
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TextIO

import orjson

from config.asgi import application as _project  # sets Django up

# isort: split
from apps.chat import streams
from apps.gateway import pipeline, relay, streaming

_message: contextvars.ContextVar[str] = contextvars.ContextVar("anatomy_message", default="")
_EVENTS = re.compile(r"/chat/messages/([0-9a-f-]{36})/events/")


@functools.cache
def _out() -> TextIO:
    return open(os.environ["CHAT_ANATOMY_FILE"], "a", buffering=1)


def note(message_id: str, stage: str, at: float | None = None) -> None:
    if message_id and stage:
        _out().write(f"{message_id} {stage} {at or time.monotonic():.6f}\n")


async def application(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """The project's application; notes when a post or an event stream arrives and when
    its answer (the 201, the first token) leaves."""
    if scope["type"] != "http":
        await _project(scope, receive, send)
        return
    arrived = time.monotonic()
    events = _EVENTS.search(scope["path"])
    if events is not None:
        message_id = events.group(1)
        note(message_id, "s_get_in")
        first = True

        async def send_events(message: Any) -> None:
            nonlocal first
            body = message.get("body", b"") if message["type"] == "http.response.body" else b""
            if first and b"event: token" in body:
                first = False
                note(message_id, "s_write")
            await send(message)

        await _project(scope, receive, send_events)
        return
    if scope["method"] != "POST" or not scope["path"].endswith("/messages/"):
        await _project(scope, receive, send)
        return

    async def send_post(message: Any) -> None:
        if message["type"] == "http.response.body":
            try:
                answered = orjson.loads(message.get("body") or b"{}").get("message_id", "")
            except orjson.JSONDecodeError:
                answered = ""
            if answered:
                note(answered, "s_post_in", arrived)
                note(answered, "s_post_out")
        await send(message)

    await _project(scope, receive, send_post)


def _wrap_async(
    function: Callable[..., Awaitable[Any]], before: str = "", after: str = ""
) -> Callable[..., Awaitable[Any]]:
    @functools.wraps(function)
    async def wrapped(*args: Any, **kwargs: Any) -> Any:
        note(_message.get(), before)
        result = await function(*args, **kwargs)
        note(_message.get(), after)
        return result

    return wrapped


_generate = streams._generate


async def _generate_noted(live: Any, *args: Any) -> None:
    _message.set(str(live.message_id))  # the task's own context: its children inherit it
    note(str(live.message_id), "s_gen")
    await _generate(live, *args)


_announce = streams._Live.announce


def _announce_noted(self: Any) -> None:
    if self.announced == 0 and self.tokens:
        note(str(self.message_id), "s_token")
    _announce(self)


_chunks = relay.RelayStream.chunks


async def _chunks_noted(self: Any) -> AsyncIterator[Any]:
    first = True
    async for chunk in _chunks(self):
        if first:
            first = False
            note(_message.get(), "s_byte")
        yield chunk


streams._generate = _generate_noted  # type: ignore[assignment]
streams._retrieve = _wrap_async(streams._retrieve, before="s_retrieve", after="s_begin")  # type: ignore[assignment]
streams._Live.announce = _announce_noted  # type: ignore[method-assign]
setattr(streaming, "begin", _wrap_async(pipeline.begin, after="s_admitted"))  # noqa: B010
relay._post = _wrap_async(relay._post, before="s_sent")  # type: ignore[assignment]
relay.RelayStream.chunks = _chunks_noted  # type: ignore[method-assign]
