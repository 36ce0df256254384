"""The first token's path, stage by stage, for ``bench/chat_streams.py --anatomy``.

The web worker is started on ``bench.chat_anatomy:application``: the project's ASGI
application with a few of its functions wrapped to note, per message, the monotonic time
(one clock for every process on the machine) at which its first token passed each stage.
The notes go to the file named by ``CHAT_ANATOMY_FILE``, one ``<message id> <stage>
<seconds>`` line each; the load generator adds its own (the post sent, its answer back,
the event stream asked for, the first token read) and prints each segment's p50 and p95.

It also notes, in the same file, each garbage collection of the worker (``gc <generation>
<start> <seconds>``) and each stall of its event loop longer than STALL_S (``stall -
<start> <seconds>``: a probe that sleeps STALL_PROBE_S and woke that much late), which
stop every message in flight at once.

Measurement only: nothing here is imported by the project, and it changes no behaviour.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import gc
import os
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any, TextIO

import orjson

from config.asgi import application as _project  # sets Django up

# isort: split
from apps.chat import services, streams, views
from apps.core import lean as core_lean
from apps.gateway import pipeline, relay, streaming
from apps.tenants import lean
from apps.tenants import middleware as tenants_middleware

_message: contextvars.ContextVar[str] = contextvars.ContextVar("anatomy_message", default="")
# A post's own stages, noted before its message id is known (the 201 says it).
_post: contextvars.ContextVar[dict[str, float] | None] = contextvars.ContextVar(
    "anatomy_post", default=None
)
_EVENTS = re.compile(r"/chat/messages/([0-9a-f-]{36})/events/")


@functools.cache
def _out() -> TextIO:
    return open(os.environ["CHAT_ANATOMY_FILE"], "a", buffering=1)


def note(message_id: str, stage: str, at: float | None = None) -> None:
    if message_id and stage:
        _out().write(f"{message_id} {stage} {at or time.monotonic():.6f}\n")


STALL_PROBE_S = 0.005
STALL_S = 0.020
_gc_start = 0.0
_probe: asyncio.Task[None] | None = None


def _gc_noted(phase: str, info: dict[str, int]) -> None:
    global _gc_start
    if phase == "start":
        _gc_start = time.monotonic()
        return
    took = time.monotonic() - _gc_start
    _out().write(f"gc {info['generation']} {_gc_start:.6f} {took:.6f}\n")


async def _stall_probe() -> None:
    while True:
        before = time.monotonic()
        await asyncio.sleep(STALL_PROBE_S)
        late = time.monotonic() - before - STALL_PROBE_S
        if late > STALL_S:
            _out().write(f"stall - {before + STALL_PROBE_S:.6f} {late:.6f}\n")


async def application(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """The project's application; notes when a post or an event stream arrives and when
    its answer (the 201, the first token) leaves."""
    global _probe
    if _probe is None:
        gc.callbacks.append(_gc_noted)
        _probe = asyncio.create_task(_stall_probe())
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

    stages: dict[str, float] = {}
    _post.set(stages)  # the worker thread runs in a copy of this context: same dict

    async def send_post(message: Any) -> None:
        if message["type"] == "http.response.body":
            try:
                answered = orjson.loads(message.get("body") or b"{}").get("message_id", "")
            except orjson.JSONDecodeError:
                answered = ""
            if answered:
                note(answered, "s_post_in", arrived)
                for stage, at in stages.items():
                    note(answered, stage, at)
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


def _mark(stage: str) -> None:
    stages = _post.get()
    if stages is not None and stage not in stages:
        stages[stage] = time.monotonic()


def _marked(function: Callable[..., Any], before: str = "", after: str = "") -> Any:
    @functools.wraps(function)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if before:
            _mark(before)
        try:
            return function(*args, **kwargs)
        finally:
            if after:
                _mark(after)

    return wrapped


_as_member = tenants_middleware.as_member


@contextlib.contextmanager
def _as_member_noted(*args: Any) -> Iterator[Any]:
    with _as_member(*args) as membership:
        _mark("s_member")
        yield membership


_answer_now = views._answer_now


def _answer_now_noted(*args: Any) -> Any:
    _mark("s_back")
    response = _answer_now(*args)
    _mark("s_claimed")
    return response


lean._as_member = _marked(lean._as_member, before="s_thread", after="s_thread_done")
setattr(lean, "authenticate", _marked(core_lean.authenticate, after="s_auth"))  # noqa: B010
setattr(lean, "as_member", _as_member_noted)  # noqa: B010
services.message_post_to = _marked(services.message_post_to, before="s_conv", after="s_stored")
views._started = _marked(views._started, after="s_history")
views._answer_now = _answer_now_noted  # type: ignore[assignment]

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
