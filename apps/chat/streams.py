"""Resumable generation (docs/chat.md, "Streams").

An answer is generated once, by a task on the event loop of the web process whose SSE
request claimed it (a Redis SET NX), and outlives that request. Its tokens go two ways:

- **in process**: appended to a ``_Live`` record that readers in this process wait on
  (an ``asyncio.Event``), so the common case (the browser that asked reads the answer)
  costs no Redis round trip per token. Readers are woken for the first token at once,
  then every CHAT_SEND_INTERVAL_MS with all tokens since: one write per tick, not one
  per token;
- **to Redis**: a per-process flusher writes live answers' new tokens in one pipelined
  round trip every CHAT_FLUSH_INTERVAL_MS, as one stream entry per batch: answers that
  a reader on another instance tails at every flush, the others every
  UNREAD_FLUSH_EVERY flushes (a second), so that a refresh landing elsewhere finds them.
  A reader on another instance, a second tab there, or a refresh after this process
  forgot the answer tails that stream.

Event ids are token sequence numbers (the n-th token has id n; stream entry ids are
``0-<last token in the batch>``), so ``Last-Event-ID`` resumes at the same token from
memory or Redis: nothing lost, nothing repeated. After the stream expires, a finished
answer is replayed from the database.

The answer ends with ``done`` (id n+1). A conversation's first answer says in it that a
title follows (``title_pending``): the stream stays open for a ``title`` event (id n+2),
sent once the gateway has named the conversation (titles.py), and ends with that. The
page thus learns the title from the stream it has open, without asking again.

The flusher also checks, for all live answers in the same round trip, the stop key (set
by ``request_stop`` on any instance) and the heartbeat of remote readers; an answer with
neither local nor remote readers for CHAT_NO_READER_TIMEOUT_S is stopped. The generation
sees a stop at its next token and closes the provider stream, which bills the tokens
streamed so far.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import orjson
from django.conf import settings

from apps.chat import attachments, selectors, services, titles
from apps.chat.citations import rag_record
from apps.chat.models import Message, MessageStatus, TitleSource, guardrail_notices
from apps.core.db import in_worker_thread, tenant_context
from apps.core.redis_client import get_redis, sync_redis
from apps.gateway import api as gateway
from apps.gateway.types import CallContext, GatewayError
from apps.rag.context import Retrieved

logger = logging.getLogger(__name__)
TERMINAL = "done"
TITLE = "title"
CHECK_EVERY = 3  # Redis flushes between stop / reader checks
# With nobody reading from Redis, an answer's tokens go there every this many flushes
# (kept for a resume elsewhere); each flush while a reader on another instance tails it.
UNREAD_FLUSH_EVERY = 10
TAIL = "tail"  # the reader key's value while a reader on another instance tails Redis
PING_EVERY_S = 15.0  # a comment line keeps proxies from closing an idle stream
LINGER_S = 30.0  # a finished answer stays readable from memory this long

Event = tuple[str, str, str]  # (event id, event type, data)
Prepared = tuple[Message, list[dict[str, str]]]  # an answer to generate, its history

# Process-wide state ---------------------------------------------------------------------
# _live: message id -> the answer this process generates, from its claim until LINGER_S
#   after its end. Readers in this process take its tokens from there, and it holds the
#   generation tasks: they run detached from any request, and asyncio keeps only weak
#   references to tasks. Per process by design: a reader on another instance tails the
#   answer's Redis stream instead.
# _flusher: the one ticker task (_flush_forever) for all of them; it returns once _live is
#   empty, and the next generation starts another.
# Both are read and written only on the event loop (coroutines and call_later callbacks,
# never a worker thread), so they need no lock. A server runs one loop; tests run several,
# one after another: _start_flusher starts a ticker on each and _mine skips answers of
# another loop. Tests reset nothing: message ids are unique, and an answer whose loop
# closed before its LINGER_S removal stays behind, skipped.
_live: dict[str, _Live] = {}
_flusher: asyncio.Task[None] | None = None


def _key(kind: str, tenant_id: Any, message_id: Any) -> str:
    return f"chat:{{{tenant_id}}}:{kind}:{message_id}"


@dataclass(eq=False)
class _Live:
    """An answer being generated in this process."""

    tenant_id: Any
    message_id: Any
    tokens: list[str] = field(default_factory=list)
    flushed: int = 0  # tokens written to Redis
    announced: int = 0  # tokens readers were woken for
    terminal: str | None = None  # the done event's data, once finished
    # The events after the tokens, in order: done, then title when one is pending.
    after: list[tuple[str, str]] = field(default_factory=list)
    ended: bool = False  # the last event is written: readers finish
    stop_reason: str | None = None
    readers: int = 0
    tailed: bool = False  # a reader on another instance tails the Redis stream
    last_read: float = field(default_factory=time.monotonic)
    task: asyncio.Task[None] | None = None
    loop: asyncio.AbstractEventLoop | None = None  # the generation's (_mine)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def wake(self) -> None:
        changed, self.changed = self.changed, asyncio.Event()
        changed.set()

    def announce(self) -> None:
        """Wake the readers if there are tokens they have not been woken for."""
        if len(self.tokens) > self.announced:
            self.announced = len(self.tokens)
            self.wake()

    def stop(self, reason: str) -> None:
        """Seen by the generation at its next token, which then closes the stream."""
        if self.stop_reason is None and self.terminal is None:
            self.stop_reason = reason


async def ensure_generation(
    *, tenant_id: Any, user_id: Any, message_id: Any, prepared: Prepared | None = None
) -> None:
    """Start generating the answer unless some process already does (or did).
    ``prepared``: the answer and the conversation before it, read by the caller in the
    transaction that stored them (the post), so the generation need not read them again."""
    if str(message_id) in _live:
        return
    pipe = get_redis().pipeline(transaction=False)  # one round trip for both
    _, claimed = await _queue_claim(pipe, tenant_id, message_id).execute()
    if claimed:
        start_claimed(
            tenant_id=tenant_id, user_id=user_id, message_id=message_id, prepared=prepared
        )


def _queue_claim(pipe: Any, tenant_id: Any, message_id: Any) -> Any:
    """The claim (SET NX: one generation across all instances) and a reader's heartbeat."""
    pipe.set(_key("reader", tenant_id, message_id), 1, ex=settings.CHAT_NO_READER_TIMEOUT_S)
    pipe.set(_key("generation", tenant_id, message_id), 1, nx=True, ex=settings.CHAT_STREAM_TTL_S)
    return pipe


def claim(*, tenant_id: Any, message_id: Any) -> bool:
    """``ensure_generation``'s claim from a worker thread, for the post that stored the
    answer: its thread makes the round trip, so the event loop (one turn of which, under
    load, is tens of milliseconds) has nothing to wait for before the generation starts
    (``start_claimed``). True when this process is to generate the answer."""
    _, claimed = _queue_claim(
        sync_redis().pipeline(transaction=False), tenant_id, message_id
    ).execute()
    return bool(claimed)


def start_claimed(
    *, tenant_id: Any, user_id: Any, message_id: Any, prepared: Prepared | None = None
) -> None:
    """Start generating an answer this process claimed (``claim``, ``ensure_generation``);
    on the event loop."""
    if str(message_id) in _live:
        return
    live = _Live(tenant_id, message_id)
    _live[str(message_id)] = live
    # A fresh context: the task outlives this request, whose context (asgiref's
    # per-request thread executor among it) is gone when the request ends.
    live.task = asyncio.create_task(
        _generate(live, user_id, prepared), context=contextvars.Context()
    )
    live.loop = live.task.get_loop()
    _start_flusher()


async def request_stop(*, tenant_id: Any, message_id: Any) -> None:
    live = _live.get(str(message_id))
    if live is not None:
        live.stop("stopped")
    await get_redis().set(_key("stop", tenant_id, message_id), 1, ex=settings.CHAT_STREAM_TTL_S)


# -- generation ----------------------------------------------------------------------------


def _history(tenant_id: Any, message_id: Any) -> tuple[Message | None, list[dict[str, str]] | None]:
    """The message and the conversation before it; None for the conversation when the
    message is answered already, or gone."""
    with tenant_context(tenant_id):
        try:
            message = Message.objects.select_related("conversation").get(
                id=message_id, tenant_id=tenant_id
            )
        except Message.DoesNotExist:
            return None, None
        if message.status != MessageStatus.STREAMING:
            return message, None
        return message, selectors.history_for(message)


def _finish(
    tenant_id: Any, message_id: Any, fields: dict[str, Any], checks: tuple[str, ...]
) -> list[dict[str, str]]:
    """Save the answer; return what the guardrails did (``checks``: those the gateway
    reported as having flagged or redacted something), as saved on the message."""
    # Its ledger row may be written after it (the journal's writer): the answer's quality
    # counts then wait for the row, and the FinOps drain adds them (chat migration 0007).
    with tenant_context(tenant_id):
        guardrails = selectors.guardrail_record(tenant_id, checks)
        services.message_finish(
            message_id=message_id, tenant_id=tenant_id, guardrails=guardrails, **fields
        )
    return guardrails


def _final(message: Message) -> dict[str, Any]:
    """The done event's data for an answer saved already (a replay)."""
    return {
        "status": message.status,
        "rag": message.rag,
        "served_model": message.served_model,
        "cache": message.cache,
        "notices": message.guardrail_notices,
    }


async def _generate(live: _Live, user_id: Any, prepared: Prepared | None = None) -> None:
    tenant_id, message_id = live.tenant_id, live.message_id
    fields: dict[str, Any] = {"status": MessageStatus.COMPLETE}
    conversation = history = None
    try:
        message, history = prepared or await in_worker_thread(_history)(tenant_id, message_id)
        if message is None or history is None:
            # Answered already (a reader came back after the generation's claim expired)
            # or deleted: replay what is saved instead of generating it again.
            await _replay(live, message)
            return
        conversation = message.conversation
        ctx = CallContext(
            tenant_id=tenant_id, feature="chat", user_id=user_id, request_id=str(message_id)
        )
        retrieved = await _retrieve(ctx, history, fields, message.conversation_id)
        if retrieved is not None:
            alias = conversation.model_alias or None  # None: the organisation's default
            await _stream_answer(live, ctx, history, fields, retrieved.prompt_block(), alias)
            fields["rag"] = rag_record(retrieved, "".join(live.tokens))
    except Exception:
        logger.exception("chat generation failed", extra={"message_id": str(message_id)})
        fields.update(
            status=MessageStatus.ERROR,
            error_code="internal_error",
            error_message="Something went wrong on our side. Regenerate to try again.",
        )
    if live.stop_reason:
        fields.update(status=MessageStatus.STOPPED, error_code=live.stop_reason)
    fields["content"] = "".join(live.tokens)
    # The first exchange of a conversation still titled by its first words gets a title
    # from the gateway after ``done``, sent on the same stream (titles.py).
    title_due = (
        fields["status"] == MessageStatus.COMPLETE
        and conversation is not None
        and conversation.title_source == TitleSource.WORDS
        and [m["role"] for m in history or []] == ["user"]
    )
    checks = fields.pop("guardrail_checks", ())
    guardrails: list[dict[str, str]] = []
    saved = False
    try:
        guardrails = await in_worker_thread(_finish)(tenant_id, message_id, fields, checks)
        saved = True
    finally:
        title_due = title_due and saved  # no title promised for an answer that failed to save
        final = {k: _plain(k, v) for k, v in fields.items() if k != "content"}
        final["notices"] = guardrail_notices(guardrails)
        final["title_pending"] = title_due
        await _close(live, orjson.dumps(final).decode(), more=title_due)
    if title_due and not live.ended and history and conversation is not None:
        title = None
        try:
            # Never raises for a gateway refusal or a provider failure (None: the
            # first-words title stays); the title event ends the stream whatever happens.
            title = await titles.generate(
                tenant_id=tenant_id,
                user_id=user_id,
                conversation_id=conversation.id,
                question=history[-1]["content"],
                answer=fields["content"],
            )
        finally:
            await _append(live, TITLE, orjson.dumps({"title": title}).decode(), more=False)


async def _replay(live: _Live, message: Message | None) -> None:
    if message is None:
        final = {"status": MessageStatus.ERROR, "error_message": "This message was deleted."}
    else:
        live.tokens.append(message.content)
        final = _final(message)
    await _close(live, orjson.dumps(final).decode())


def _plain(key: str, value: Any) -> Any:
    """A done event's field as JSON: the rag record as it is, the rest as text."""
    if key == "rag" or value is None or isinstance(value, list | tuple):
        return value
    return str(value)


async def _retrieve(
    ctx: CallContext, history: list[dict[str, str]], fields: dict[str, Any], conversation_id: Any
) -> Retrieved | None:
    """Passages from the tenant's documents and the conversation's attached files
    (apps/chat/attachments.py) for the last question (when RAG is on), or
    None when retrieval was refused (rate limit, budget, provider down): the answer then
    ends with that error, as if the model had refused."""
    question = next((m["content"] for m in reversed(history) if m["role"] == "user"), "")
    try:
        return await attachments.retrieve_with_attachments(
            ctx, question, conversation_id=conversation_id
        )
    except GatewayError as exc:
        fields.update(status=MessageStatus.ERROR, error_code=exc.code, error_message=exc.message)
        return None


async def _stream_answer(
    live: _Live,
    ctx: CallContext,
    history: list[dict[str, str]],
    fields: dict[str, Any],
    context: str,
    alias: str | None,
) -> None:
    events = gateway.stream_chat(ctx, history, alias=alias, trim_history=True, context=context)
    try:
        async for event in events:
            if event.type == "token":
                live.tokens.append(event.text)
                if len(live.tokens) == 1:
                    live.announce()  # the first token at once; the rest on the next tick
                if live.stop_reason:
                    break
            elif event.type == "usage":
                fields["cache"] = event.cache  # "semantic": the answer can be reported
            elif event.type == "done":
                fields.update(
                    served_model=event.served_model, usage_record_id=event.usage_record_id
                )
                # Checked against the tenant's policy by _finish: what was done to them.
                fields["guardrail_checks"] = event.guardrail_flags
            elif event.type == "error":
                fields.update(
                    status=MessageStatus.ERROR, error_code=event.code, error_message=event.message
                )
    finally:
        await events.aclose()  # a stop bills the streamed tokens as "aborted"


async def _close(live: _Live, final: str, *, more: bool = False) -> None:
    """The answer is over: write what Redis has not seen and the done event (``more``: a
    title event follows it, and ends the stream)."""
    live.terminal = final
    await _append(live, TERMINAL, final, more=more)


async def _append(live: _Live, kind: str, data: str, *, more: bool) -> None:
    """Write one of the events after the tokens to Redis (entry id = its event id; a
    ``more`` field when another follows) and to the readers here. The last one ends the
    stream; so does a failed write, for the readers here."""
    stream = _key("events", live.tenant_id, live.message_id)
    seq = len(live.tokens) + len(live.after) + 1
    entry: dict[str, Any] = {"e": kind, "d": data} | ({"more": 1} if more else {})
    pipe = get_redis().pipeline(transaction=False)
    _queue_batch(pipe, live)
    pipe.xadd(stream, entry, id=f"0-{seq}")
    pipe.expire(stream, settings.CHAT_STREAM_TTL_S)
    ended = not more
    try:
        await pipe.execute()
    except BaseException:
        ended = True
        raise
    finally:
        live.after.append((kind, data))
        live.ended = ended
        live.wake()
        if ended:
            asyncio.get_running_loop().call_later(LINGER_S, _live.pop, str(live.message_id), None)


# -- the flusher ---------------------------------------------------------------------------


def _start_flusher() -> None:
    global _flusher
    loop = asyncio.get_running_loop()
    if _flusher is None or _flusher.done() or _flusher.get_loop() is not loop:
        _flusher = asyncio.create_task(_flush_forever(), context=contextvars.Context())


def _mine(live: _Live, loop: asyncio.AbstractEventLoop) -> bool:
    # One loop per process in a server; tests run several, one after another. Asked for
    # every answer at every tick: the loop is kept on the answer, not asked of its task.
    return live.terminal is None and live.loop is loop


def _queue_batch(pipe: Any, live: _Live) -> None:
    end = len(live.tokens)
    if end > live.flushed:
        stream = _key("events", live.tenant_id, live.message_id)
        batch = orjson.dumps(live.tokens[live.flushed : end])
        pipe.xadd(stream, {"s": live.flushed + 1, "d": batch}, id=f"0-{end}")
        if live.flushed == 0:
            pipe.expire(stream, settings.CHAT_STREAM_TTL_S)
        live.flushed = end


async def _flush_forever() -> None:
    """The process's ticker for every answer generated here: each CHAT_SEND_INTERVAL_MS
    it wakes readers that have new tokens (one write per reader carries every token of
    the tick), each CHAT_FLUSH_INTERVAL_MS it writes new tokens to Redis and checks stop
    keys and remote readers, all in one pipelined round trip.

    Ticks keep their own schedule: the Redis round trip runs beside them (at most one at
    a time), since under load it takes tens of milliseconds, which held back every
    reader's next write when the ticker waited for it."""
    tick = settings.CHAT_SEND_INTERVAL_MS / 1000
    flush_every = max(1, round(settings.CHAT_FLUSH_INTERVAL_MS / settings.CHAT_SEND_INTERVAL_MS))
    loop = asyncio.get_running_loop()
    ticks = flushes = 0
    flushing: asyncio.Task[None] | None = None
    next_tick = last_ping = loop.time()
    while True:
        next_tick = max(next_tick + tick, loop.time())  # no burst of ticks after a stall
        await asyncio.sleep(next_tick - loop.time())
        active = [live for live in _live.values() if _mine(live, loop)]
        if not active:
            if not _live:
                if flushing is not None:
                    await flushing
                return
            continue
        for live in active:
            live.announce()
        ticks += 1
        if ticks % flush_every == 0 and (flushing is None or flushing.done()):
            flushes += 1
            flushing = asyncio.create_task(
                _flush_logged(
                    active,
                    check=flushes % CHECK_EVERY == 0,
                    everyone=flushes % UNREAD_FLUSH_EVERY == 0,
                )
            )
        now = loop.time()
        if now - last_ping >= PING_EVERY_S:
            last_ping = now
            for live in active:
                live.wake()  # readers with nothing new send a keep-alive comment


async def _flush_logged(active: list[_Live], *, check: bool, everyone: bool) -> None:
    try:
        await _flush(active, check=check, everyone=everyone)
    except Exception:
        logger.warning("flushing chat streams to Redis failed", exc_info=True)


async def _flush(active: list[_Live], *, check: bool, everyone: bool) -> None:
    pipe = get_redis().pipeline(transaction=False)
    for live in active:
        if everyone or live.tailed:
            _queue_batch(pipe, live)
    checked = active if check else []
    for live in checked:
        pipe.mget(
            _key("stop", live.tenant_id, live.message_id),
            _key("reader", live.tenant_id, live.message_id),
        )
    results = await pipe.execute()
    now = time.monotonic()
    for live, (stop, remote_reader) in zip(
        checked, results[len(results) - len(checked) :], strict=True
    ):
        if live.readers or remote_reader:
            live.last_read = now
        live.tailed = remote_reader == TAIL.encode()
        if stop:
            live.stop("stopped")
        elif now - live.last_read > settings.CHAT_NO_READER_TIMEOUT_S:
            live.stop("no_reader")


# -- reading -------------------------------------------------------------------------------


def _snapshot(tenant_id: Any, message_id: Any) -> Message | None:
    with tenant_context(tenant_id):
        return Message.objects.filter(id=message_id, tenant_id=tenant_id).first()


def _seq(last_event_id: str) -> int:
    """A token sequence number from Last-Event-ID; anything else means from the start."""
    return int(last_event_id) if last_event_id.isascii() and last_event_id.isdigit() else 0


def _token_events(tokens: list[str], first: int) -> list[Event]:
    return [(str(first + i), "token", text) for i, text in enumerate(tokens)]


def read_events(
    *, tenant_id: Any, message_id: Any, last_id: str = "0"
) -> AsyncIterator[list[Event]]:
    """Yield batches of events from after ``last_id`` until the terminal event: from
    memory when the answer is generated in this process, from Redis otherwise."""
    live = _live.get(str(message_id))
    if live is not None:
        return _read_live(live, _seq(last_id))
    return _read_redis(tenant_id, message_id, _seq(last_id))


async def _read_live(live: _Live, seen: int) -> AsyncIterator[list[Event]]:
    live.readers += 1
    try:
        while True:
            changed = live.changed
            end = len(live.tokens)
            batch = _token_events(live.tokens[seen:end], seen + 1) if end > seen else []
            if live.after:  # the events after the tokens: only at the end
                batch += [
                    (str(end + 1 + i), kind, data)
                    for i, (kind, data) in enumerate(live.after)
                    if end + 1 + i > seen
                ]
            seen = max(seen, end + len(live.after))
            if live.ended:
                yield batch
                return
            yield batch or [("", "ping", "")]
            await changed.wait()
    finally:
        live.readers -= 1
        live.last_read = time.monotonic()


async def _read_redis(tenant_id: Any, message_id: Any, seen: int) -> AsyncIterator[list[Event]]:
    redis = get_redis()
    stream = _key("events", tenant_id, message_id)
    heartbeat = _key("reader", tenant_id, message_id)
    while True:
        await redis.set(heartbeat, TAIL, ex=settings.CHAT_NO_READER_TIMEOUT_S)
        # Block less than the heartbeat's lifetime; the loop refreshes it.
        found = await redis.xread({stream: f"0-{seen}"}, block=1000, count=100)
        if not found:
            if not await redis.exists(stream):
                message = await in_worker_thread(_snapshot)(tenant_id, message_id)
                if message is not None and message.status != MessageStatus.STREAMING:
                    # The stream expired: replay the saved answer in one piece.
                    done = orjson.dumps(_final(message)).decode()
                    yield [("snapshot", "token", message.content), ("", TERMINAL, done)]
                    return
            yield [("", "ping", "")]
            continue
        batch: list[Event] = []
        for entry_id, data in found[0][1]:
            kind = data.get(b"e")
            if kind is not None:  # done, or the title after it
                seen = int(entry_id.decode().split("-")[1])
                batch.append((str(seen), kind.decode(), data[b"d"].decode()))
                if not data.get(b"more"):
                    yield batch
                    return
                continue
            first = int(data[b"s"])
            tokens = orjson.loads(data[b"d"])
            batch += _token_events(tokens[max(0, seen + 1 - first) :], max(first, seen + 1))
            seen = first + len(tokens) - 1
        yield batch
