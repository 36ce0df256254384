"""Lua scripts on the hot path, sent without redis-py's per-command machinery.

Every gateway call admits itself with one Lua script (apps/gateway/admission.py). Through
redis-py's asyncio client that round trip costs ~0.3 ms of CPU on top of Redis's own
work: a connection taken from and given back to the pool (a lock and a condition), a
timeout context per read, the command packed through several layers and the reply
parsed by the pure-Python parser. ``ScriptChannel`` does the same round trip on one
connection per event loop: the command packed once, written, and its reply parsed by
the small RESP reader below when it arrives. Calls that overlap share the connection:
Redis answers in order, so each waiting caller takes the next reply (pipelining, which
also makes concurrent calls cheaper than one connection each).

Only what the scripts need: EVALSHA (EVAL when Redis answers NOSCRIPT, which also loads
the script), integer, bulk-string, array and error replies. ``redis://`` URLs only (with
a password and a database); others (TLS, Unix sockets) go through redis-py's client.
A call waits at most ``TIMEOUT_S`` for its reply: past that the connection is dropped
and every waiting call fails with redis-py's ``TimeoutError``; a lost connection fails
the calls waiting on it with redis-py's ``ConnectionError`` (as redis-py's client would)
and the next call opens a new one.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from collections import deque
from typing import Any, cast

from django.conf import settings
from redis.asyncio.connection import parse_url
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from apps.core.redis_client import get_redis

TIMEOUT_S = 5.0
CONNECT_TIMEOUT_S = 2.0

# Process-wide state -----------------------------------------------------------------------
# _channels: event loop -> its channel (a connection belongs to the loop that opened it);
#   a loop's entry goes with the loop (weak keys). Used from event loops only.
_channels: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, ScriptChannel] = (
    weakref.WeakKeyDictionary()
)


def script_channel() -> ScriptChannel:
    """The running loop's channel."""
    loop = asyncio.get_running_loop()
    channel = _channels.get(loop)
    if channel is None:
        channel = _channels[loop] = ScriptChannel(settings.REDIS_URL)
    return channel


class ScriptChannel:
    def __init__(self, url: str) -> None:
        options = parse_url(url)
        # TLS or a Unix socket: redis-py's client does the work (no connection here).
        self._direct = "connection_class" not in options and "path" not in options
        self._host = str(options.get("host", "localhost"))
        self._port = int(options.get("port", 6379))
        self._setup: list[tuple[Any, ...]] = []
        if options.get("password"):
            username = options.get("username")
            self._setup.append(
                ("AUTH", username, options["password"])
                if username
                else ("AUTH", options["password"])
            )
        if int(options.get("db", 0)):
            self._setup.append(("SELECT", int(options["db"])))
        self._protocol: _Protocol | None = None
        self._connecting: asyncio.Future[_Protocol] | None = None

    async def evalsha(self, sha: str, script: str, numkeys: int, *args: str | int) -> Any:
        """The script's reply: by its SHA1, or with its body when Redis lacks it."""
        if not self._direct:
            return await _through_redis_py(sha, script, numkeys, *args)
        try:
            return await self._call(b"EVALSHA", sha, numkeys, *args)
        except NoScriptError:
            return await self._call(b"EVAL", script, numkeys, *args)

    async def _call(self, *args: Any) -> Any:
        protocol = self._protocol
        if protocol is None or protocol.closed:
            protocol = await self._connect()
        return await protocol.send(_pack(args))

    async def _connect(self) -> _Protocol:
        # Calls that find no connection wait for the same one.
        if self._connecting is None:
            self._connecting = asyncio.ensure_future(self._open())
        connecting = self._connecting
        try:
            return await asyncio.shield(connecting)
        finally:
            if connecting.done() and self._connecting is connecting:
                self._connecting = None

    async def _open(self) -> _Protocol:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(CONNECT_TIMEOUT_S):
                transport, protocol = await loop.create_connection(
                    _Protocol, self._host, self._port
                )
                try:
                    for command in self._setup:
                        await protocol.send(_pack(command))
                except BaseException:
                    transport.abort()
                    raise
        except (OSError, TimeoutError) as exc:
            raise RedisConnectionError(
                f"Cannot reach Redis at {self._host}:{self._port}: {exc!r}"
            ) from exc
        self._protocol = protocol
        return protocol


async def _through_redis_py(sha: str, script: str, numkeys: int, *args: str | int) -> Any:
    redis = get_redis()
    try:
        return await redis.execute_command("EVALSHA", sha, numkeys, *args)
    except NoScriptError:
        return await redis.execute_command("EVAL", script, numkeys, *args)


def _pack(args: tuple[Any, ...]) -> bytes:
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        data = arg if isinstance(arg, bytes) else str(arg).encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(parts)


class _Protocol(asyncio.Protocol):
    """One connection: requests written in order, replies handed out in order."""

    def __init__(self) -> None:
        self.closed = False
        self._transport: asyncio.Transport | None = None
        self._waiting: deque[tuple[asyncio.Future[Any], float]] = deque()
        self._buffer = b""
        self._watchdog: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # a TCP connection

    def send(self, packed: bytes) -> asyncio.Future[Any]:
        if self.closed or self._transport is None:
            raise RedisConnectionError("The Redis connection is closed.")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._waiting.append((future, time.monotonic()))
        self._transport.write(packed)
        if self._watchdog is None:
            self._watchdog = loop.call_later(TIMEOUT_S, self._watch)
        return future

    def _watch(self) -> None:
        """Drop the connection when the oldest call has waited TIMEOUT_S (one timer per
        connection, not one per call)."""
        self._watchdog = None
        if not self._waiting or self._transport is None:
            return
        waited = time.monotonic() - self._waiting[0][1]
        if waited >= TIMEOUT_S:
            self._fail(RedisTimeoutError(f"Redis did not answer within {TIMEOUT_S:g} s."))
            self._transport.abort()
            return
        loop = asyncio.get_running_loop()
        self._watchdog = loop.call_later(TIMEOUT_S - waited, self._watch)

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer + data if self._buffer else data
        position = 0
        while self._waiting:
            try:
                reply, position = _read(buffer, position)
            except _Incomplete:
                break
            except (_Unreadable, ValueError) as exc:  # not Redis's protocol
                self._fail(RedisConnectionError(f"Unreadable reply from Redis: {exc!r}"))
                if self._transport is not None:
                    self._transport.abort()
                return
            future, _ = self._waiting.popleft()
            if future.done():
                continue  # its caller was cancelled
            if isinstance(reply, ResponseError):
                future.set_exception(reply)
            else:
                future.set_result(reply)
        self._buffer = buffer[position:]

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail(RedisConnectionError(f"The Redis connection was lost: {exc!r}"))

    def _fail(self, exc: Exception) -> None:
        self.closed = True
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
        while self._waiting:
            future, _ = self._waiting.popleft()
            if not future.done():
                future.set_exception(exc)


class _Incomplete(Exception):
    """The buffer ends inside a reply: wait for more bytes."""


class _Unreadable(Exception):
    """Bytes that are not a RESP reply."""


def _read(buffer: bytes, position: int) -> tuple[Any, int]:
    """One RESP2 reply at ``position``: (the reply, the position after it)."""
    end = buffer.find(b"\r\n", position)
    if end < 0:
        raise _Incomplete
    kind, line = buffer[position : position + 1], buffer[position + 1 : end]
    after = end + 2
    if kind == b":":
        return int(line), after
    if kind == b"$":
        length = int(line)
        if length < 0:
            return None, after
        if len(buffer) < after + length + 2:
            raise _Incomplete
        return buffer[after : after + length], after + length + 2
    if kind == b"*":
        count = int(line)
        if count < 0:
            return None, after
        items = []
        for _ in range(count):
            item, after = _read(buffer, after)
            items.append(item)
        return items, after
    if kind == b"+":
        return line, after
    if kind == b"-":
        message = line.decode(errors="replace")
        if message.startswith("NOSCRIPT"):
            return NoScriptError(message), after
        return ResponseError(message), after
    raise _Unreadable(f"Unexpected reply from Redis: {buffer[position:end][:80]!r}")
