"""Rate limits and budgets hold under concurrency; alerts fire once; 100% actions apply."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest
from asgiref.sync import async_to_sync
from django.core import mail
from django.test import override_settings
from pytest_django import DjangoCaptureOnCommitCallbacks

from apps.accounts.models import User
from apps.core.db import tenant_context
from apps.gateway import api
from apps.gateway.types import CallContext, DoneEvent, ErrorEvent, GatewayError, StreamEvent
from apps.tenants.models import Notification
from tests.gateway.conftest import FAST, MakeTenant, collect, ctx_for, rows, stream

SYSTEM_PROMPT = "You are a helpful assistant. Answer concisely and say when you are unsure."
QUESTION = [{"role": "user", "content": "Give me a short status update."}]


def limits(**per_plan: dict[str, int]) -> dict[str, dict[str, int]]:
    base = {
        plan: {"tokens_per_day": -1, "requests_per_minute": -1}
        for plan in ("free", "pro", "enterprise")
    }
    for plan, values in per_plan.items():
        base[plan].update(values)
    return base


def concurrent_streams(ctx: CallContext, count: int) -> list[list[StreamEvent]]:
    async def run() -> list[list[StreamEvent]]:
        return await asyncio.gather(*(collect(ctx, QUESTION) for _ in range(count)))

    return async_to_sync(run)()


@override_settings(
    GATEWAY_PLAN_OVERRIDES=limits(pro={"tokens_per_day": 3_000, "requests_per_minute": 0})
)
def test_token_limit_holds_under_100_concurrent_calls(make_tenant: MakeTenant) -> None:
    tenant = make_tenant(cache_enabled=False, max_tokens=100)
    results = concurrent_streams(ctx_for(tenant), 100)
    done = [r for r in results if r[-1].type == "done"]
    refused = [r[-1] for r in results if r[-1].type == "error"]
    assert len(done) + len(refused) == 100
    assert refused, "the limit must refuse some of the 100 calls"
    assert {e.code for e in refused} == {"rate_limited"}
    assert all(e.retry_after and e.retry_after > 0 for e in refused)
    ledger = rows(tenant, feature="chat", status="ok")
    used = sum(r.tokens_in + r.tokens_out for r in ledger)
    # Each reservation is prompt + max_tokens: at most one can overshoot the limit.
    one_reservation = ledger[0].tokens_in + 100
    assert used <= 3_000 + one_reservation
    assert len(ledger) == len(done)
    # Admitted at least as many as fit while every reservation (prompt + max_tokens)
    # was held at once.
    from apps.gateway.guard import system_prompt_with_canary
    from apps.gateway.validation import count_tokens
    from apps.guardrails.engine import canary_for

    system = system_prompt_with_canary(SYSTEM_PROMPT, canary_for(tenant.id))
    estimate = count_tokens([{"role": "system", "content": system}, *QUESTION]) + 100
    assert len(done) >= 3_000 // estimate


@override_settings(GATEWAY_PLAN_OVERRIDES=limits(pro={"requests_per_minute": 3}))
def test_requests_per_minute(make_tenant: MakeTenant) -> None:
    tenant = make_tenant(cache_enabled=False)
    results = [stream(ctx_for(tenant), f"Question {i}") for i in range(4)]
    assert [r[-1].type for r in results] == ["done", "done", "done", "error"]
    error = results[-1][-1]
    assert isinstance(error, ErrorEvent)
    assert error.code == "rate_limited"
    assert error.retry_after is not None
    assert 0 < error.retry_after <= 20
    assert "3 a minute" in error.message


def test_budget_holds_under_100_concurrent_calls(make_tenant: MakeTenant) -> None:
    # Each call reserves its maximum cost; the budget fits about 10 of them.
    tenant = make_tenant(
        cache_enabled=False,
        max_tokens=200,
        budget_action="block",
        monthly_budget_usd=Decimal("0.02"),
        model_alias="smart",
    )
    results = concurrent_streams(ctx_for(tenant), 100)
    refused = [r[-1] for r in results if r[-1].type == "error"]
    assert refused
    assert {e.code for e in refused} == {"budget_exceeded"}
    ledger = rows(tenant, feature="chat", status="ok")
    spent = sum(r.cost_usd for r in ledger)
    smart_in, smart_out = Decimal("2.50") / 10**6, Decimal("10.00") / 10**6
    one_reservation = smart_in * ledger[0].tokens_in + smart_out * 200
    assert spent <= Decimal("0.02") + one_reservation


def test_each_alert_fires_exactly_once(
    make_tenant: MakeTenant,
    owner: User,
    django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks,
) -> None:
    # Each smart call costs about $0.0004 and reserves about $0.0005 (40 tokens max):
    # a $0.01 budget passes 50% after about 12 calls, 80% after 19, is full after 23.
    tenant = make_tenant(
        cache_enabled=False,
        budget_action="notify",
        monthly_budget_usd=Decimal("0.01"),
        model_alias="smart",
        max_tokens=40,
    )
    fired: list[tuple[str, ...]] = []
    for i in range(28):
        with django_capture_on_commit_callbacks(execute=True):
            stream(ctx_for(tenant), f"Tell me fact number {i}")
        with tenant_context(tenant.id):
            kinds = tuple(
                Notification.objects.order_by("created_at").values_list("kind", flat=True)
            )
        if not fired or fired[-1] != kinds:
            fired.append(kinds)
    assert fired == [
        (),
        ("budget.50",),
        ("budget.50", "budget.80"),
        ("budget.50", "budget.80", "budget.100"),
    ]
    with tenant_context(tenant.id):
        stored = sorted(Notification.objects.values_list("kind", flat=True))
    assert stored == ["budget.100", "budget.50", "budget.80"]
    subjects = sorted(m.subject for m in mail.outbox if "budget" in m.subject.lower())
    assert len(subjects) == 3
    assert all(owner.email in m.to for m in mail.outbox if "budget" in m.subject.lower())
    # notify: calls past 100% still went through.
    assert [r.status for r in rows(tenant, feature="chat")].count("ok") == 28


def test_at_100_percent_the_call_is_downgraded(make_tenant: MakeTenant) -> None:
    tenant = make_tenant(
        cache_enabled=False, model_alias="smart", max_tokens=40, monthly_budget_usd=Decimal("0.01")
    )
    served: list[str] = []
    for i in range(28):
        done = stream(ctx_for(tenant), f"Question {i}")[-1]
        assert isinstance(done, DoneEvent)
        served.append(done.served_model)
    switch = served.index("openai/local-fast")
    assert 20 <= switch <= 25  # about $0.0004 a call against $0.01
    assert set(served[:switch]) == {"openai/local-smart"}
    assert set(served[switch:]) == {"openai/local-fast"}
    ledger = rows(tenant, feature="chat")
    assert {r.requested_model for r in ledger[switch:]} == {"fast"}


def test_at_100_percent_block_refuses_with_a_clear_message(make_tenant: MakeTenant) -> None:
    tenant = make_tenant(
        cache_enabled=False, budget_action="block", monthly_budget_usd=Decimal("0")
    )
    events = stream(ctx_for(tenant), "Anything")
    assert [e.type for e in events] == ["error"]
    assert isinstance(events[0], ErrorEvent)
    assert events[0].code == "budget_exceeded"
    assert "monthly AI budget of $0.00" in events[0].message
    [row] = rows(tenant)
    assert (row.status, row.error_code, row.cost_usd) == ("error", "budget_exceeded", Decimal(0))


@override_settings(GATEWAY_THROTTLE_RPM=1)
def test_at_100_percent_throttle_lets_few_through(make_tenant: MakeTenant) -> None:
    tenant = make_tenant(
        cache_enabled=False, budget_action="throttle", monthly_budget_usd=Decimal("0")
    )
    results = [stream(ctx_for(tenant), f"Q{i}")[-1] for i in range(3)]
    assert [e.type for e in results] == ["done", "error", "error"]
    assert isinstance(results[1], ErrorEvent)
    assert results[1].code == "rate_limited"
    assert results[1].retry_after is not None
    assert results[1].retry_after > 0


def test_complete_and_embed_respect_the_budget(make_tenant: MakeTenant) -> None:
    tenant = make_tenant(
        cache_enabled=False, budget_action="block", monthly_budget_usd=Decimal("0")
    )
    ctx = ctx_for(tenant, feature="batch_summary")
    with pytest.raises(GatewayError, match="monthly AI budget") as completed:
        api.complete_sync(ctx, QUESTION, extra_headers=FAST)
    with pytest.raises(GatewayError, match="monthly AI budget") as embedded:
        api.embed_sync(ctx, ["some text"])
    assert completed.value.code == embedded.value.code == "budget_exceeded"
