"""The gateway pipeline end to end: streaming, ledger, caches, fallbacks, failures."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx
from asgiref.sync import async_to_sync
from django.conf import settings
from django.test import override_settings

from apps.core.db import tenant_context
from apps.gateway.models import SemanticCacheEntry
from apps.gateway.types import DoneEvent, ErrorEvent, UsageEvent
from tests.gateway.conftest import (
    FAST,
    PACED,
    MakeTenant,
    collect,
    ctx_for,
    deployments,
    expect,
    price,
    rows,
    stream,
    tokens,
)


def tiktoken_count(text: str) -> int:
    import tiktoken

    return len(tiktoken.get_encoding("cl100k_base").encode(text))


def provider_answer(model: str, text: str) -> dict[str, Any]:
    response = httpx.post(
        f"{settings.LOCAL_PROVIDER_URL}/v1/chat/completions",
        json={"model": model, "messages": [{"role": "user", "content": text}]},
        headers=FAST,
    )
    body: dict[str, Any] = response.json()
    return body


def test_stream_records_real_usage_and_cost(make_tenant: MakeTenant) -> None:
    tenant = make_tenant(system_prompt="")
    events = stream(ctx_for(tenant), "How do refunds work?")
    expected = provider_answer("local-fast", "How do refunds work?")
    assert tokens(events) == expected["choices"][0]["message"]["content"]
    assert [e.type for e in events[-2:]] == ["usage", "done"]
    usage, done = events[-2], events[-1]
    assert isinstance(usage, UsageEvent)
    assert isinstance(done, DoneEvent)
    assert (usage.tokens_in, usage.tokens_out) == (
        expected["usage"]["prompt_tokens"],
        expected["usage"]["completion_tokens"],
    )
    [row] = rows(tenant, feature="chat")
    price_in, price_out = price("local-fast")
    assert row.id == done.usage_record_id
    assert (row.requested_model, row.served_model, row.status, row.cache) == (
        "fast",
        "openai/local-fast",
        "ok",
        "",
    )
    assert (row.tokens_in, row.tokens_out) == (usage.tokens_in, usage.tokens_out)
    assert row.cost_usd == price_in * row.tokens_in + price_out * row.tokens_out
    assert row.cost_usd > 0
    assert row.ttft_ms is not None
    assert row.latency_ms >= row.ttft_ms


def test_exact_cache_hit_streams_the_answer_and_records_the_saving(make_tenant: MakeTenant) -> None:
    tenant = make_tenant()
    first = stream(ctx_for(tenant), "Which plans include SSO?")
    second = stream(ctx_for(tenant), "Which plans include SSO?")
    assert tokens(second) == tokens(first)
    chat = rows(tenant, feature="chat")
    assert [r.cache for r in chat] == ["", "exact"]
    assert chat[1].cost_usd == 0
    assert chat[1].saved_cost_usd == chat[0].cost_usd
    assert (chat[1].tokens_in, chat[1].tokens_out) == (0, 0)


def test_tenants_never_share_cache_entries(make_tenant: MakeTenant) -> None:
    alpha, beta = make_tenant(), make_tenant()
    stream(ctx_for(alpha), "What is our data retention period?")
    stream(ctx_for(beta), "What is our data retention period?")
    assert [r.cache for r in rows(beta, feature="chat")] == [""]
    with tenant_context(alpha.id):
        assert list(SemanticCacheEntry.objects.values_list("tenant_id", flat=True)) == [alpha.id]
    with tenant_context(beta.id):
        assert SemanticCacheEntry.objects.filter(tenant_id=alpha.id).count() == 0


def test_semantic_cache_hits_paraphrases_and_rejects_near_misses(make_tenant: MakeTenant) -> None:
    tenant = make_tenant(semantic_threshold=Decimal("0.80"))
    first = stream(ctx_for(tenant), "How can I reset my password?")
    paraphrase = stream(ctx_for(tenant), "How do I reset my password?", extra_headers=PACED)
    near_miss = stream(ctx_for(tenant), "How can I not reset my password?", extra_headers=PACED)
    assert tokens(paraphrase) == tokens(first)
    assert [r.cache for r in rows(tenant, feature="chat")] == ["", "semantic", ""]
    assert "not reset" in tokens(near_miss)
    # The provider call the cache overtook: a row of the cache's own, nothing billed.
    overtaken = rows(tenant, feature="semantic_cache", status="aborted")
    assert [(r.requested_model, r.error_code, r.cost_usd) for r in overtaken] == [
        ("fast", "cache_answered", Decimal(0))
    ]


def test_semantic_cache_is_not_used_with_history(make_tenant: MakeTenant) -> None:
    tenant = make_tenant(semantic_threshold=Decimal("0.50"))
    stream(ctx_for(tenant), "Tell me about pricing")
    history = [
        {"role": "user", "content": "I'm on the free plan."},
        {"role": "assistant", "content": "Noted."},
        {"role": "user", "content": "Tell me about pricing"},
    ]
    async_to_sync(collect)(ctx_for(tenant), history)
    assert [r.cache for r in rows(tenant, feature="chat")] == ["", ""]


def test_cache_can_be_switched_off(make_tenant: MakeTenant) -> None:
    tenant = make_tenant(cache_enabled=False)
    stream(ctx_for(tenant), "Same question")
    stream(ctx_for(tenant), "Same question")
    assert [r.cache for r in rows(tenant, feature="chat")] == ["", ""]
    assert rows(tenant, feature="semantic_cache") == []


def test_cut_stream_yields_error_and_bills_the_partial_answer(make_tenant: MakeTenant) -> None:
    tenant = make_tenant(cache_enabled=False)
    events = stream(
        ctx_for(tenant), "Explain invoices", extra_headers={**FAST, "X-Dev-Fault": "cut:3"}
    )
    assert len([e for e in events if e.type == "token"]) == 3
    assert events[-1].type == "error"
    assert events[-1].code == "provider_unavailable"
    assert "cut off" in events[-1].message
    [row] = rows(tenant, feature="chat")
    assert row.status == "cut"
    assert row.tokens_out == tiktoken_count(tokens(events))  # the 3 words that arrived
    assert row.tokens_in > 0
    price_in, price_out = price("local-fast")
    assert row.cost_usd == price_in * row.tokens_in + price_out * row.tokens_out


def test_client_abort_records_the_tokens_streamed(make_tenant: MakeTenant) -> None:
    from apps.gateway import api

    tenant = make_tenant(cache_enabled=False)

    async def read_two() -> str:
        received = []
        gen = api.stream_chat(
            ctx_for(tenant),
            [{"role": "user", "content": "Long answer please"}],
            extra_headers={"X-Dev-TTFT-Ms": "0", "X-Dev-Tokens-Per-S": "50"},
        )
        async for event in gen:
            if event.type == "token":
                received.append(event.text)
            if len(received) == 2:
                break
        await gen.aclose()
        return "".join(received)

    partial = async_to_sync(read_two)()
    [row] = rows(tenant, feature="chat")
    assert row.status == "aborted"
    assert partial == "[dev model] "
    assert row.tokens_out == tiktoken_count("[dev model] ")
    assert row.cost_usd > 0


@override_settings(GATEWAY_DEPLOYMENTS=deployments(fast="local-fault-500"))
def test_500_from_primary_falls_back(make_tenant: MakeTenant) -> None:
    tenant = make_tenant(cache_enabled=False)
    events = stream(ctx_for(tenant), "Hello")
    assert events[-1].type == "done"
    assert events[-1].served_model == "openai/local-smart"
    [row] = rows(tenant, feature="chat")
    assert (row.requested_model, row.served_model, row.status) == (
        "fast",
        "openai/local-smart",
        "ok",
    )


@override_settings(GATEWAY_DEPLOYMENTS=deployments(fast="local-fault-429"))
def test_429_from_primary_falls_back(make_tenant: MakeTenant) -> None:
    tenant = make_tenant(cache_enabled=False)
    events = stream(ctx_for(tenant), "Hello")
    assert events[-1].type == "done"
    assert events[-1].served_model == "openai/local-smart"


@override_settings(
    GATEWAY_DEPLOYMENTS=deployments(fast="local-fault-500", smart="local-fault-429"),
)
def test_every_provider_down_gives_a_clear_error_and_no_cost(make_tenant: MakeTenant) -> None:
    tenant = make_tenant(cache_enabled=False)
    events = stream(ctx_for(tenant), "Hello")
    assert [e.type for e in events] == ["error"]
    assert isinstance(events[0], ErrorEvent)
    assert events[0].code == "provider_unavailable"
    assert "nothing was charged" in events[0].message
    [row] = rows(tenant, feature="chat")
    assert (row.status, row.cost_usd, row.tokens_in, row.tokens_out) == ("error", Decimal(0), 0, 0)


@override_settings(GATEWAY_DEPLOYMENTS=deployments(fast="local-fault-timeout"), GATEWAY_TIMEOUT_S=1)
def test_timeout_falls_back(make_tenant: MakeTenant) -> None:
    tenant = make_tenant(cache_enabled=False)
    events = stream(ctx_for(tenant), "Hello")
    assert events[-1].type == "done"
    assert events[-1].served_model == "openai/local-smart"


def test_bad_requests_are_refused_before_any_provider_call(make_tenant: MakeTenant) -> None:
    tenant = make_tenant()
    ctx = ctx_for(tenant)
    unknown = stream(ctx, "Hi", alias="gpt-99")
    empty = async_to_sync(collect)(ctx, [])
    blank = stream(ctx, "   ")
    huge = stream(ctx, "word " * 20_000)
    assert [expect(ErrorEvent, e[0]).code for e in (unknown, empty, blank, huge)] == [
        "invalid_request",
        "invalid_request",
        "invalid_request",
        "context_too_long",
    ]
    assert "Use one of: fast, smart" in expect(ErrorEvent, unknown[0]).message
    assert "reads at most 16,384" in expect(ErrorEvent, huge[0]).message
    assert rows(tenant) == []


def test_long_history_is_trimmed_to_the_window_newest_kept(make_tenant: MakeTenant) -> None:
    tenant = make_tenant(cache_enabled=False, max_tokens=500)
    old_turns = []
    for i in range(6):  # about 18k tokens of history: more than the 16,384-token window
        old_turns += [
            {"role": "user", "content": f"old question {i} " + "lorem " * 3000},
            {"role": "assistant", "content": "noted"},
        ]
    history = [*old_turns, {"role": "user", "content": "And the newest question?"}]
    refused = async_to_sync(collect)(ctx_for(tenant), history)
    assert isinstance(refused[-1], ErrorEvent)
    assert refused[-1].code == "context_too_long"
    events = async_to_sync(collect)(ctx_for(tenant), history, trim_history=True)
    assert events[-1].type == "done"
    assert "And the newest question?" in tokens(events)
    [row] = rows(tenant, feature="chat")
    assert row.tokens_in < 16_384


def test_trimming_keeps_the_newest_turns_that_fit_and_no_fewer() -> None:
    from apps.gateway import router
    from apps.gateway.validation import count_tokens, trim_to_window

    system = [{"role": "system", "content": "Be brief."}]
    turns = [
        {"role": "user" if i % 2 == 0 else "assistant", "content": f"turn {i} " + "word " * 900}
        for i in range(41)
    ]
    max_tokens = 500
    budget = router.context_window("fast") - max_tokens
    kept, counted = trim_to_window(system + turns, "fast", max_tokens)
    assert kept[0] == system[0]
    assert kept[-1] == turns[-1]  # the newest question always stays
    assert counted == count_tokens(kept) <= budget
    dropped = len(turns) - (len(kept) - 1)
    assert dropped > 0
    assert kept[1:] == turns[dropped:]  # a suffix: the oldest went first
    # No more than needed: one more of the old turns would not have fitted.
    assert count_tokens(system + turns[dropped - 1 :]) > budget
    short = system + turns[-3:]
    assert trim_to_window(short, "fast", max_tokens) == (short, count_tokens(short))


def test_context_follows_the_system_prompt_and_skips_the_semantic_cache(
    make_tenant: MakeTenant,
) -> None:
    from apps.gateway.pipeline import begin

    tenant = make_tenant(system_prompt="Be brief.", semantic_threshold=Decimal("0.70"))
    passages = "Answer from these passages.\n\n[1] Refunds are accepted within 30 days."
    call = async_to_sync(begin)(
        ctx_for(tenant),
        [{"role": "user", "content": "What is the refund window?"}],
        alias=None,
        max_tokens=None,
        temperature=None,
        context=passages,
    )
    async_to_sync(call.settle)(status="ok")
    from apps.gateway.guard import system_prompt_with_canary
    from apps.guardrails.engine import canary_for

    system = system_prompt_with_canary("Be brief.", canary_for(tenant.id))
    assert system.endswith("\n\nBe brief.")  # the tenant's canary first (guardrails)
    assert [(m["role"], m["content"]) for m in call.messages] == [
        ("system", system),
        ("system", passages),
        ("user", "What is the refund window?"),
    ]
    first = stream(ctx_for(tenant), "What is the refund window?", context=passages)
    again = stream(ctx_for(tenant), "How long is the refund window?", context=passages)
    assert "[1]" in tokens(first)  # the dev model cites the passage it was given
    assert tokens(again)
    # Both answered by the model: a paraphrase with passages is never a semantic hit.
    assert [r.cache for r in rows(tenant, feature="chat")][-2:] == ["", ""]
    with tenant_context(tenant.id):
        assert SemanticCacheEntry.objects.count() == 0
