"""The lean stream path (apps/gateway/relay.py): OpenAI-compatible deployments stream
without LiteLLM; failures before the answer starts go to LiteLLM's Router, and the
failing deployment is left to it for GATEWAY_COOLDOWN_S."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import aiohttp
import pytest
from asgiref.sync import async_to_sync
from django.test import override_settings

from apps.gateway import relay, router
from apps.gateway.router import Deployment
from apps.gateway.types import UsageEvent
from tests.gateway.conftest import (
    FAST,
    MakeTenant,
    ctx_for,
    deployments,
    price,
    rows,
    stream,
    tokens,
)


@pytest.fixture
def no_litellm(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse() -> None:
        raise AssertionError("LiteLLM's Router was used")

    monkeypatch.setattr(router, "get_router", refuse)


def test_openai_compatible_streams_never_touch_litellm(
    make_tenant: MakeTenant, no_litellm: None
) -> None:
    tenant = make_tenant(cache_enabled=False, system_prompt="")
    events = stream(ctx_for(tenant), "How do refunds work?")
    assert [e.type for e in events[-2:]] == ["usage", "done"]
    assert tokens(events).startswith("[dev model]")
    usage = events[-2]
    assert isinstance(usage, UsageEvent)
    [row] = rows(tenant, feature="chat")
    price_in, price_out = price("local-fast")
    assert (row.served_model, row.status) == ("openai/local-fast", "ok")
    # Usage comes from the provider's last chunk, as with LiteLLM.
    assert (row.tokens_in, row.tokens_out) == (usage.tokens_in, usage.tokens_out)
    assert row.cost_usd == price_in * row.tokens_in + price_out * row.tokens_out > 0


def test_a_stream_cut_mid_answer_is_billed_for_what_arrived(
    make_tenant: MakeTenant, no_litellm: None
) -> None:
    tenant = make_tenant(cache_enabled=False)
    events = stream(ctx_for(tenant), "Explain", extra_headers={**FAST, "X-Dev-Fault": "cut:4"})
    assert len([e for e in events if e.type == "token"]) == 4
    assert events[-1].type == "error"
    [row] = rows(tenant, feature="chat")
    assert row.status == "cut"
    assert row.tokens_out > 0


@override_settings(GATEWAY_DEPLOYMENTS=deployments(fast="local-fault-500"), GATEWAY_COOLDOWN_S=60)
def test_a_failing_deployment_goes_to_the_router_and_cools_down_after_repeated_failures(
    make_tenant: MakeTenant,
) -> None:
    tenant = make_tenant(cache_enabled=False)
    for call in range(1, relay.COOL_AFTER + 1):
        assert relay.relayable("fast") is not None  # one blip does not cool it down
        events = stream(ctx_for(tenant), "Hello")
        # LiteLLM's Router fell back to the other alias; one row for the call.
        assert events[-1].type == "done"
        assert events[-1].served_model == "openai/local-smart"
        assert [r.status for r in rows(tenant, feature="chat")] == ["ok"] * call
    assert relay.relayable("fast") is None  # cooling: the next calls go to the Router
    assert relay.relayable("smart") is not None


def _not_written() -> aiohttp.ClientOSError:
    """As aiohttp fails a request whose connection it found closed while writing it."""
    exc = aiohttp.ClientOSError(None, "Can not write request body for http://provider/")
    exc.__cause__ = aiohttp.ClientConnectionResetError(relay._NOT_WRITTEN)
    return exc


class _Dropping:
    """The relay's session, with its first ``drops`` requests failing with ``error()``."""

    def __init__(self, drops: int, error: Callable[[], Exception] = _not_written) -> None:
        self.drops = drops
        self.error = error
        self.posts = 0

    async def post(self, *args: Any, **kwargs: Any) -> aiohttp.ClientResponse:
        self.posts += 1
        if self.posts <= self.drops:
            raise self.error()
        return await _real_session().post(*args, **kwargs)


_real_session = relay._session


def test_a_request_found_unwritable_on_a_closed_connection_is_sent_again_not_counted(
    make_tenant: MakeTenant, no_litellm: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    tenant = make_tenant(cache_enabled=False)
    session = _Dropping(drops=1)
    monkeypatch.setattr(relay, "_session", lambda: session)
    events = stream(ctx_for(tenant), "Hello")
    assert events[-1].type == "done"
    assert session.posts == 2
    [row] = rows(tenant, feature="chat")
    assert (row.served_model, row.status) == ("openai/local-fast", "ok")
    assert relay._failures == {}


@pytest.mark.parametrize(
    "error",
    [
        aiohttp.ServerDisconnectedError,  # the request went out; no response came
        lambda: aiohttp.ClientOSError(104, "Connection reset by peer"),
        lambda: aiohttp.ClientConnectionResetError("Connection lost"),
    ],
)
def test_a_connection_that_broke_after_the_request_may_have_left_is_not_resent_by_the_relay(
    make_tenant: MakeTenant, monkeypatch: pytest.MonkeyPatch, error: Callable[[], Exception]
) -> None:
    tenant = make_tenant(cache_enabled=False)
    fast = relay.relayable("fast")
    assert fast is not None
    session = _Dropping(drops=1, error=error)
    monkeypatch.setattr(relay, "_session", lambda: session)
    events = stream(ctx_for(tenant), "Hello")
    assert events[-1].type == "done"  # through LiteLLM's Router, as any relay failure
    assert session.posts == 1
    assert relay._failures == {relay._cooling_key(fast): 1}


@override_settings(GATEWAY_KEEPALIVE_S=2.5)
def test_idle_connections_are_dropped_before_the_providers_idle_timeout() -> None:
    async def keepalive() -> Any:
        return relay._session().connector._keepalive_timeout  # type: ignore[union-attr]

    assert async_to_sync(keepalive)() == 2.5


def test_a_request_unwritable_twice_goes_to_the_router_as_one_failure(
    make_tenant: MakeTenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    tenant = make_tenant(cache_enabled=False)
    fast = relay.relayable("fast")
    assert fast is not None
    session = _Dropping(drops=2)
    monkeypatch.setattr(relay, "_session", lambda: session)
    events = stream(ctx_for(tenant), "Hello")
    assert events[-1].type == "done"  # through LiteLLM's Router
    assert session.posts == 2
    assert relay._failures == {relay._cooling_key(fast): 1}


def test_failures_must_come_in_a_row_to_cool_a_deployment_down(make_tenant: MakeTenant) -> None:
    tenant = make_tenant(cache_enabled=False)
    fast = relay.relayable("fast")
    assert fast is not None
    for _ in range(relay.COOL_AFTER - 1):
        relay._failed(fast)
    assert stream(ctx_for(tenant), "Hello")[-1].type == "done"  # a relayed success
    relay._failed(fast)
    assert relay.relayable("fast") is not None


@override_settings(
    GATEWAY_DEPLOYMENTS=[
        Deployment("fast", "anthropic/claude-haiku", api_key="k"),
        Deployment("smart", "openai/gpt-x", api_key="k", params={"rpm": 10}),
    ]
)
def test_only_plain_openai_protocol_deployments_are_relayed() -> None:
    assert relay.relayable("fast") is None  # another protocol
    assert relay.relayable("smart") is None  # LiteLLM-specific parameters to honour


def test_parse_reads_content_finish_and_usage() -> None:
    chunk = relay._parse(b'{"choices":[{"delta":{"content":"Hi"},"finish_reason":null}]}')
    assert chunk == relay.Chunk(text="Hi")
    end = relay._parse(
        b'{"choices":[],"usage":{"prompt_tokens":7,"completion_tokens":3,"total_tokens":10}}'
    )
    assert end == relay.Chunk(prompt_tokens=7, completion_tokens=3)
    with pytest.raises(ConnectionError, match="error mid-stream"):
        relay._parse(b'{"error":{"message":"overloaded"}}')
