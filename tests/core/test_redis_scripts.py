"""The script channel (apps/core/redis_scripts.py): replies to the caller that asked,
NOSCRIPT answered with the script's body, errors raised, lost and silent connections
failed rather than hung, the URL's database honoured."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pytest
import redis
from asgiref.sync import async_to_sync
from django.conf import settings
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from apps.core import redis_scripts
from apps.core.redis_client import sync_redis
from apps.core.redis_scripts import ScriptChannel

T = TypeVar("T")
ECHO = "return {tonumber(ARGV[1]) * 2, ARGV[2], redis.call('GET', KEYS[1])}"
ECHO_SHA = hashlib.sha1(ECHO.encode()).hexdigest()  # noqa: S324 - Redis's script id


def run(make: Callable[[], Awaitable[T]]) -> T:
    async def inner() -> T:
        return await make()

    return async_to_sync(inner)()


def test_a_script_runs_by_its_sha_and_is_loaded_again_after_a_flush() -> None:
    sync_redis().set("scripts:k", "v")

    async def twice() -> list[Any]:
        channel = redis_scripts.script_channel()
        first = await channel.evalsha(ECHO_SHA, ECHO, 1, "scripts:k", 21, "x")
        sync_redis().script_flush()
        second = await channel.evalsha(ECHO_SHA, ECHO, 1, "scripts:k", 4, "ü")
        return [first, second]

    assert run(twice) == [[42, b"x", b"v"], [8, "ü".encode(), b"v"]]
    assert sync_redis().script_exists(ECHO_SHA) == [True]


def test_overlapping_calls_share_one_connection_and_each_gets_its_own_reply() -> None:
    async def many() -> tuple[list[Any], int]:
        channel = redis_scripts.script_channel()
        replies = await asyncio.gather(
            *(channel.evalsha(ECHO_SHA, ECHO, 1, "scripts:none", i, f"n{i}") for i in range(200))
        )
        return list(replies), id(channel._protocol)

    replies, _ = run(many)
    assert replies == [[i * 2, f"n{i}".encode(), None] for i in range(200)]


def test_an_error_reply_is_raised_and_the_connection_goes_on() -> None:
    bad = "return redis.call('NOSUCHCOMMAND')"

    async def failing_then_fine() -> Any:
        channel = redis_scripts.script_channel()
        with pytest.raises(ResponseError):
            await channel.evalsha(hashlib.sha1(bad.encode()).hexdigest(), bad, 0)  # noqa: S324
        return await channel.evalsha(ECHO_SHA, ECHO, 1, "scripts:none", 1, "a")

    assert run(failing_then_fine) == [2, b"a", None]


def test_a_lost_connection_fails_its_calls_and_the_next_call_reconnects() -> None:
    async def lost() -> Any:
        channel = redis_scripts.script_channel()
        await channel.evalsha(ECHO_SHA, ECHO, 1, "scripts:none", 1, "a")
        protocol = channel._protocol
        assert protocol is not None
        assert protocol._transport is not None
        waiting = protocol.send(redis_scripts._pack((b"BLPOP", "scripts:never", 0)))
        protocol._transport.abort()
        with pytest.raises(RedisConnectionError):
            await waiting
        reply = await channel.evalsha(ECHO_SHA, ECHO, 1, "scripts:none", 2, "b")
        assert channel._protocol is not protocol
        return reply

    assert run(lost) == [4, b"b", None]


def test_a_server_that_never_answers_fails_the_call_after_the_timeout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(redis_scripts, "TIMEOUT_S", 0.05)

    async def silent() -> None:
        async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.read()  # reads, never answers
            writer.close()

        server = await asyncio.start_server(accept, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        channel = ScriptChannel(f"redis://127.0.0.1:{port}/0")
        try:
            with pytest.raises(RedisTimeoutError):
                await channel.evalsha(ECHO_SHA, ECHO, 0)
        finally:
            server.close()
            await server.wait_closed()

    run(silent)


def test_an_unreachable_redis_is_a_connection_error() -> None:
    async def nowhere() -> None:
        server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        server.close()
        await server.wait_closed()  # the port is free again: nothing listens
        with pytest.raises(RedisConnectionError):
            await ScriptChannel(f"redis://127.0.0.1:{port}/0").evalsha(ECHO_SHA, ECHO, 0)

    run(nowhere)


def test_the_urls_database_is_selected() -> None:
    url = settings.REDIS_URL.rsplit("/", 1)[0] + "/5"
    other = redis.Redis.from_url(url)
    other.set("scripts:db", "five")
    sync_redis().delete("scripts:db")

    async def in_db_5() -> Any:
        return await ScriptChannel(url).evalsha(ECHO_SHA, ECHO, 1, "scripts:db", 0, "")

    try:
        assert run(in_db_5) == [0, b"", b"five"]
    finally:
        other.delete("scripts:db")
        other.close()


@pytest.mark.parametrize(
    ("raw", "reply"),
    [
        (b"*3\r\n:1\r\n:-7\r\n$2\r\nok\r\n", [1, -7, b"ok"]),
        (b"*2\r\n*1\r\n$-1\r\n+OK\r\n", [[None], b"OK"]),
        (b"$5\r\na\r\nbc\r\n", b"a\r\nbc"),
    ],
)
def test_replies_are_read_however_the_bytes_arrive(raw: bytes, reply: Any) -> None:
    async def fed_byte_by_byte() -> Any:
        protocol = redis_scripts._Protocol()
        written: list[bytes] = []

        class Transport(asyncio.Transport):
            def write(self, data: Any) -> None:
                written.append(bytes(data))

        protocol.connection_made(Transport())
        future = protocol.send(b"PING")
        for i in range(len(raw)):
            assert not future.done()
            protocol.data_received(raw[i : i + 1])
        protocol._fail(ConnectionError("done"))
        return future.result()

    assert run(fed_byte_by_byte) == reply
