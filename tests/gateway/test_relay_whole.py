"""Whole answers and embeddings through the relay (apps/gateway/relay.py): the ledger
rows equal LiteLLM's Router's for the same call; a failure goes to the Router's retries
and fallbacks, and the caller sees one answer and the ledger one row."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any

import pytest
from aiohttp import web
from asgiref.sync import async_to_sync
from django.test import override_settings

from apps.gateway import api, relay, router
from apps.gateway.models import UsageRecord
from apps.gateway.router import Deployment, local_deployment
from apps.gateway.types import GatewayError
from apps.tenants.models import Tenant
from tests.gateway.conftest import FAST, MakeTenant, ctx_for, deployments, price, rows

QUESTION = [{"role": "user", "content": "Summarise our refund policy."}]
# What a ledger row says about a call, without its id, time and latency.
FIELDS = (
    "feature",
    "requested_model",
    "served_model",
    "tokens_in",
    "tokens_out",
    "cost_usd",
    "cache",
    "saved_cost_usd",
    "status",
    "error_code",
)


@pytest.fixture
def no_litellm(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse() -> None:
        raise AssertionError("LiteLLM's Router was used")

    monkeypatch.setattr(router, "get_router", refuse)


@pytest.fixture
def router_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every call through LiteLLM's Router, as before the relay answered whole calls."""
    monkeypatch.setattr(relay, "relayable", lambda alias: None)


def described(row: UsageRecord) -> dict[str, Any]:
    return {name: getattr(row, name) for name in FIELDS}


def test_whole_answers_never_touch_litellm(make_tenant: MakeTenant, no_litellm: None) -> None:
    tenant = make_tenant(cache_enabled=False)
    result = api.complete_sync(ctx_for(tenant, "api_chat"), QUESTION, extra_headers=FAST)
    assert result.content.startswith("[dev model]")
    assert result.finish_reason == "stop"
    [row] = rows(tenant, feature="api_chat")
    price_in, price_out = price("local-fast")
    assert (row.served_model, row.status) == ("openai/local-fast", "ok")
    assert (row.tokens_in, row.tokens_out) == (result.tokens_in, result.tokens_out)
    assert row.cost_usd == price_in * row.tokens_in + price_out * row.tokens_out > 0
    assert result.usage_record_ids == [row.id]


def test_relayed_answer_is_recorded_as_the_router_records_it(
    make_tenant: MakeTenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    relayed, routed = make_tenant(cache_enabled=False), make_tenant(cache_enabled=False)
    first = api.complete_sync(ctx_for(relayed, "api_chat"), QUESTION, extra_headers=FAST)
    monkeypatch.setattr(relay, "relayable", lambda alias: None)
    second = api.complete_sync(ctx_for(routed, "api_chat"), QUESTION, extra_headers=FAST)
    assert (first.content, first.finish_reason) == (second.content, second.finish_reason)
    [relayed_row], [routed_row] = rows(relayed), rows(routed)
    assert described(relayed_row) == described(routed_row)
    assert relayed_row.tokens_out > 0


@override_settings(GATEWAY_DEPLOYMENTS=deployments(fast="local-unsure"))
def test_the_cascade_reads_confidence_from_relayed_answers(
    make_tenant: MakeTenant, no_litellm: None
) -> None:
    tenant = make_tenant(cache_enabled=False, model_alias="smart", cascade_enabled=True)
    result = api.complete_sync(ctx_for(tenant, "batch_summary"), QUESTION, extra_headers=FAST)
    assert result.served_model == "openai/local-smart"
    ledger = rows(tenant, feature="batch_summary")
    assert [r.served_model for r in ledger] == ["openai/local-unsure", "openai/local-smart"]


def test_relayed_embeddings_are_recorded_as_the_router_records_them(
    make_tenant: MakeTenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    texts = ["first text", "a second, longer text"]
    relayed, routed = make_tenant(), make_tenant()
    monkeypatch.setattr(router, "get_router", lambda: pytest.fail("LiteLLM's Router was used"))
    first = api.embed_sync(ctx_for(relayed, "rag_ingest"), texts)
    monkeypatch.undo()
    monkeypatch.setattr(relay, "relayable", lambda alias: None)
    second = api.embed_sync(ctx_for(routed, "rag_ingest"), texts)
    assert [len(v) for v in first] == [384, 384]
    for relayed_vector, routed_vector in zip(first, second, strict=True):
        assert relayed_vector == pytest.approx(routed_vector, abs=1e-6)
    [relayed_row], [routed_row] = rows(relayed), rows(routed)
    assert described(relayed_row) == described(routed_row)
    assert relayed_row.served_model == "openai/local-embed"
    assert relayed_row.tokens_in > 0


@override_settings(GATEWAY_DEPLOYMENTS=deployments(fast="local-fault-500"), GATEWAY_COOLDOWN_S=60)
def test_a_failing_deployment_falls_back_through_the_router_and_cools_down(
    make_tenant: MakeTenant,
) -> None:
    tenant = make_tenant(cache_enabled=False)
    for call in range(1, relay.COOL_AFTER + 1):
        assert relay.relayable("fast") is not None
        result = api.complete_sync(ctx_for(tenant, "api_chat"), QUESTION, extra_headers=FAST)
        # The Router fell back to the other alias: one answer, one row, billed as served.
        assert result.served_model == "openai/local-smart"
        ledger = rows(tenant, feature="api_chat")
        assert [(r.served_model, r.status) for r in ledger] == [("openai/local-smart", "ok")] * call
    assert relay.relayable("fast") is None
    assert relay.relayable("smart") is not None


@override_settings(
    GATEWAY_DEPLOYMENTS=[
        local_deployment("fast", "local-fault-429"),
        local_deployment("fast", "local-fast"),
        *deployments(fast="local-fast")[1:],
    ]
)
def test_a_refused_relay_call_is_retried_by_the_router(make_tenant: MakeTenant) -> None:
    tenant = make_tenant(cache_enabled=False)
    assert relay.relayable("fast") == local_deployment("fast", "local-fault-429")
    result = api.complete_sync(ctx_for(tenant, "api_chat"), QUESTION, extra_headers=FAST)
    [row] = rows(tenant, feature="api_chat")
    assert row.status == "ok"
    assert row.served_model == result.served_model != "openai/local-fault-429"


@override_settings(GATEWAY_DEPLOYMENTS=deployments(fast="local-fault-500", smart="local-fault-500"))
def test_with_every_deployment_down_the_call_fails_once_and_costs_nothing(
    make_tenant: MakeTenant,
) -> None:
    tenant = make_tenant(cache_enabled=False)
    with pytest.raises(GatewayError) as excinfo:
        api.complete_sync(ctx_for(tenant, "api_chat"), QUESTION, extra_headers=FAST)
    assert excinfo.value.code == "provider_unavailable"
    [row] = rows(tenant, feature="api_chat")
    assert (row.status, row.error_code, row.cost_usd) == (
        "error",
        "provider_unavailable",
        Decimal(0),
    )


# The wire: a provider that answers 200 with something else ---------------------------------


@asynccontextmanager
async def odd_provider() -> AsyncIterator[Deployment]:
    """An OpenAI-compatible server whose 200 answers lack the answer and the usage (on
    the caller's event loop, which the relay's session belongs to)."""

    async def odd(request: web.Request) -> web.Response:
        return web.json_response({"choices": [], "data": [{"index": 0}]})

    app = web.Application()
    app.router.add_post("/v1/chat/completions", odd)
    app.router.add_post("/v1/embeddings", odd)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    port = runner.addresses[0][1]
    try:
        yield Deployment("fast", "openai/odd", api_base=f"http://127.0.0.1:{port}/v1")
    finally:
        await runner.cleanup()


def test_an_answer_without_content_or_usage_is_a_relay_failure() -> None:
    async def calls() -> str:
        async with odd_provider() as deployment:
            with pytest.raises(relay.RelayUnavailable, match="Unexpected answer"):
                await relay.complete(deployment, messages=QUESTION, max_tokens=16, temperature=0)
            with pytest.raises(relay.RelayUnavailable, match="Unexpected embeddings"):
                await relay.embed(deployment, ["text"])
            return relay._cooling_key(deployment)

    key = async_to_sync(calls)()
    assert relay._failures[key] == 2


def test_an_unreachable_embedding_deployment_is_recorded_as_an_error(
    make_tenant: MakeTenant,
) -> None:
    tenant: Tenant = make_tenant()
    closed = Deployment("embed", "openai/local-embed", api_base="http://127.0.0.1:9/v1")
    with (
        override_settings(GATEWAY_DEPLOYMENTS=[*deployments()[:2], closed], GATEWAY_NUM_RETRIES=0),
        pytest.raises(GatewayError) as excinfo,
    ):
        api.embed_sync(ctx_for(tenant, "rag_ingest"), ["text"])
    assert excinfo.value.code == "provider_unavailable"
    [row] = rows(tenant, feature="rag_ingest")
    assert (row.status, row.cost_usd) == ("error", Decimal(0))
