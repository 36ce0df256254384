"""The gateway's batch API through LiteLLM's file and batch functions, over real HTTP to
the local provider's /v1/files and /v1/batches; ledger, outbox and budget in the real
PostgreSQL and Valkey."""

from __future__ import annotations

import time
import uuid
from decimal import Decimal

import pytest

from apps.core.db import tenant_context
from apps.core.redis_client import sync_redis
from apps.gateway import api, budget
from apps.gateway.models import UsageOutbox
from apps.gateway.router import LOCAL_PRICES
from apps.gateway.types import CallContext, GatewayError
from tests.gateway.conftest import MakeTenant, rows


def ctx_of(tenant_id: object) -> CallContext:
    return CallContext(tenant_id=str(tenant_id), feature="batch_summary")


def requests(count: int, prefix: str = "item") -> list[api.BatchRequest]:
    return [
        api.BatchRequest(
            custom_id=f"{prefix}-{i}",
            messages=[{"role": "user", "content": f"Summarise document number {i}, please."}],
            max_tokens=64,
        )
        for i in range(count)
    ]


def new_key() -> str:
    return f"test:{uuid.uuid4()}"


def wait(handle: api.BatchHandle, timeout_s: float = 20) -> api.BatchStatus:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        status = api.poll_batch(handle)
        if status.ended:
            return status
        time.sleep(0.1)
    raise AssertionError(f"batch {handle.batch_id} did not end in {timeout_s} s")


def test_batch_answers_every_line_at_half_price_once(make_tenant: MakeTenant) -> None:
    tenant = make_tenant()
    ctx = ctx_of(tenant.id)
    handle = api.submit_batch(ctx, requests(3), metadata={"dev_delay_s": "0.2"}, key=new_key())
    assert handle.batch_id.startswith("batch_")
    status = wait(handle)
    assert (status.state, status.total, status.completed, status.failed) == (
        "completed",
        3,
        3,
        0,
    )
    results = list(api.iter_results(handle, status))
    assert sorted(r.custom_id for r in results) == ["item-0", "item-1", "item-2"]
    price_in, price_out = LOCAL_PRICES["local-fast"][:2]
    for r in results:
        assert r.ok
        assert r.text.startswith("[dev model]")
        assert r.tokens_in > 0
        assert r.tokens_out > 0
        exact = (price_in * r.tokens_in + price_out * r.tokens_out) / 2
        assert abs(r.cost_usd - exact) <= Decimal("0.000000005")
        assert api.record_batch_usage(ctx, handle.model, r)
        # A repeat (a worker that died before committing the item) charges nothing twice.
        assert not api.record_batch_usage(ctx, handle.model, r)
    ledger = rows(tenant, feature="batch_summary")
    assert sorted(r.request_id for r in ledger) == ["item-0", "item-1", "item-2"]
    assert [r.batch for r in ledger] == [True, True, True]  # the FinOps savings count these
    assert sum(r.cost_usd for r in ledger) == sum(r.cost_usd for r in results)
    with tenant_context(tenant.id):
        assert UsageOutbox.objects.filter(usage_record__in=ledger).count() == 3


def test_a_failed_line_and_an_expired_batch_keep_what_finished(make_tenant: MakeTenant) -> None:
    ctx = ctx_of(make_tenant().id)
    handle = api.submit_batch(
        ctx, requests(3), key=new_key(), metadata={"dev_fault": "fail_line:2"}
    )
    status = wait(handle)
    assert (status.state, status.completed, status.failed) == ("completed", 2, 1)
    by_id = {r.custom_id: r for r in api.iter_results(handle, status)}
    assert [by_id[f"item-{i}"].ok for i in range(3)] == [True, False, True]
    assert by_id["item-1"].retryable
    assert "failed" in by_id["item-1"].error

    handle = api.submit_batch(ctx, requests(4), metadata={"dev_fault": "expire:1"}, key=new_key())
    status = wait(handle)
    assert (status.state, status.completed, status.failed) == ("expired", 1, 3)
    results = list(api.iter_results(handle, status))
    assert [r.custom_id for r in results if r.ok] == ["item-0"]
    assert all(r.retryable for r in results if not r.ok)


def _counter(tenant_id: object) -> int:
    raw = sync_redis().get(budget._key(str(tenant_id), budget._month()))
    return int(raw or 0)


def test_rejected_batch_releases_its_reservation(make_tenant: MakeTenant) -> None:
    tenant = make_tenant(monthly_budget_usd=Decimal(5))
    ctx = ctx_of(tenant.id)
    before = _counter(tenant.id)
    with pytest.raises(GatewayError, match="rejected the batch") as caught:
        api.submit_batch(ctx, requests(2), metadata={"dev_fault": "fail"}, key=new_key())
    assert caught.value.code == "invalid_request"
    assert _counter(tenant.id) == before
    assert rows(tenant, feature="batch_summary") == []


def test_budget_too_small_refuses_before_submission_with_the_estimate(
    make_tenant: MakeTenant,
) -> None:
    tenant = make_tenant(monthly_budget_usd=Decimal("0.000001"), budget_action="block")
    ctx = ctx_of(tenant.id)
    reqs = requests(5)
    estimate = api.estimate_usd("openai/local-fast", reqs)
    with pytest.raises(GatewayError, match=r"may cost up to \$") as caught:
        api.submit_batch(ctx, reqs, key=new_key())
    assert caught.value.code == "budget_exceeded"
    assert f"${estimate:,.4f}" in caught.value.message


def test_reservation_is_swapped_for_the_real_cost(make_tenant: MakeTenant) -> None:
    tenant = make_tenant(monthly_budget_usd=Decimal(5))
    ctx = ctx_of(tenant.id)
    handle = api.submit_batch(ctx, requests(2), metadata={"dev_delay_s": "0"}, key=new_key())
    assert handle.reserved_nanos > 0
    status = wait(handle)
    cost = sum((r.cost_usd for r in api.iter_results(handle, status)), Decimal(0))
    reserved = _counter(tenant.id)
    api.settle_batch(ctx, handle, cost)
    assert _counter(tenant.id) == reserved - handle.reserved_nanos + int(cost * budget.NANO)


def test_cancel_ends_a_running_batch(make_tenant: MakeTenant) -> None:
    ctx = ctx_of(make_tenant().id)
    handle = api.submit_batch(ctx, requests(2), metadata={"dev_delay_s": "60"}, key=new_key())
    assert api.poll_batch(handle).state == "in_progress"
    status = api.cancel_batch(handle)
    assert status.state == "cancelled"
    assert list(api.iter_results(handle, status)) == []


def test_empty_batch_is_refused(make_tenant: MakeTenant) -> None:
    with pytest.raises(GatewayError, match="at least one request"):
        api.submit_batch(ctx_of(make_tenant().id), [], key=new_key())


def test_a_repeated_submission_reuses_its_batch_and_its_reservation(
    make_tenant: MakeTenant,
) -> None:
    """A caller killed after the provider accepted the batch and before it stored the
    handle submits again with the same key: the batch is found by its metadata, not sent
    twice, and the budget holds one reservation; settling twice releases it once."""
    tenant = make_tenant(monthly_budget_usd=Decimal(5))
    ctx = ctx_of(tenant.id)
    key = new_key()
    before = _counter(tenant.id)
    first = api.submit_batch(ctx, requests(2), key=key, metadata={"dev_delay_s": "0"})
    reserved = _counter(tenant.id)
    assert reserved == before + first.reserved_nanos
    again = api.submit_batch(ctx, requests(2), key=key, metadata={"dev_delay_s": "0"})
    assert again == first
    assert _counter(tenant.id) == reserved
    status = wait(first)
    cost = sum((r.cost_usd for r in api.iter_results(first, status)), Decimal(0))
    api.settle_batch(ctx, first, cost)
    api.settle_batch(ctx, again, cost)
    assert _counter(tenant.id) == before + int(cost * budget.NANO)


def test_check_budget_refuses_without_reserving(make_tenant: MakeTenant) -> None:
    tenant = make_tenant(monthly_budget_usd=Decimal("0.000001"), budget_action="block")
    before = _counter(tenant.id)
    with pytest.raises(GatewayError, match=r"may cost up to \$") as caught:
        api.check_budget(ctx_of(tenant.id), requests(5))
    assert caught.value.code == "budget_exceeded"
    assert _counter(tenant.id) == before
    roomy = make_tenant(monthly_budget_usd=Decimal(5))
    assert api.check_budget(ctx_of(roomy.id), requests(5)) == api.estimate_usd(
        "openai/local-fast", requests(5)
    )
