"""A call's rate-limit and budget reservations in one Redis round trip (apps/gateway/
admission.py): all three reserved together or none; the budget seeded from the ledger;
the over-budget action applied; the settlement in one round trip. The concurrency
guarantees are tests/gateway/test_limits_and_budgets.py's, through the same script."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.test import override_settings

from apps.core import redis_scripts
from apps.core.redis_client import get_redis, sync_redis
from apps.gateway import admission, budget, ratelimit
from apps.gateway.config import ResolvedConfig, resolve
from apps.gateway.ledger import LedgerEntry, record_sync
from apps.gateway.types import GatewayError
from apps.tenants.models import Tenant
from tests.gateway.conftest import MakeTenant, ctx_for
from tests.gateway.test_limits_and_budgets import limits

LIMITED = limits(pro={"tokens_per_day": 10_000, "requests_per_minute": 100})


class CountingRedis:
    """The real client (or script channel), with every command and pipeline it is asked
    for written down."""

    def __init__(self, trips: list[str], client: Any = None) -> None:
        self._redis = client or get_redis()
        self._trips = trips

    def __getattr__(self, name: str) -> Any:
        self._trips.append(name)
        return getattr(self._redis, name)


@pytest.fixture
def trips(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Redis round trips the reservation and settlement make (their modules' clients)."""
    made: list[str] = []
    for module in (admission, budget, ratelimit):
        monkeypatch.setattr(module, "get_redis", lambda: CountingRedis(made))
    monkeypatch.setattr(
        admission, "script_channel", lambda: CountingRedis(made, redis_scripts.script_channel())
    )
    return made


def config_of(tenant: Tenant) -> ResolvedConfig:
    return async_to_sync(resolve)(ctx_for(tenant))


def reserve(cfg: ResolvedConfig, alias: str = "fast") -> Any:
    return async_to_sync(admission.reserve)(
        cfg,
        alias=alias,
        prompt_tokens=50,
        max_tokens=100,
        requests_per_minute=cfg.requests_per_minute,
    )


def counter(key: str) -> int | None:
    value = sync_redis().get(key)
    return None if value is None else int(value)


def budget_key(cfg: ResolvedConfig) -> str:
    return budget._key(cfg.tenant_id, budget._month())


def tokens_key(cfg: ResolvedConfig) -> str:
    return ratelimit._keys(cfg.tenant_id, datetime.now(UTC).strftime("%Y%m%d"))[0]


def most_cost(alias: str) -> int:
    return int(budget.max_cost(alias, 50, 100) * budget.NANO) + 1


@override_settings(GATEWAY_PLAN_OVERRIDES=LIMITED)
def test_a_call_within_limits_and_budget_reserves_all_three_in_one_round_trip(
    make_tenant: MakeTenant, trips: list[str]
) -> None:
    cfg = config_of(make_tenant(monthly_budget_usd=Decimal(5)))
    reserve(cfg)  # the first call of the month seeds the budget's counter
    before = counter(budget_key(cfg))
    trips.clear()

    reservation, decision = reserve(cfg)

    assert trips == ["evalsha"]
    assert counter(tokens_key(cfg)) == 2 * 150
    assert counter(budget_key(cfg)) == (before or 0) + most_cost("fast")
    assert sync_redis().exists(ratelimit._keys(cfg.tenant_id, reservation.day)[1]) == 1
    assert (reservation.tokens, reservation.counted) == (150, True)
    assert (decision.alias, decision.reserved_nanos, decision.over_budget) == (
        "fast",
        most_cost("fast"),
        False,
    )


@override_settings(GATEWAY_PLAN_OVERRIDES=limits(pro={"tokens_per_day": 100}))
def test_a_refusal_by_the_limits_reserves_nothing(
    make_tenant: MakeTenant, trips: list[str]
) -> None:
    cfg = config_of(make_tenant(monthly_budget_usd=Decimal(5)))
    sync_redis().set(budget_key(cfg), 7)

    with pytest.raises(GatewayError) as refused:
        reserve(cfg)  # 150 tokens against a day's 100

    assert refused.value.code == "rate_limited"
    assert "100 tokens for today" in refused.value.message
    assert trips == ["evalsha"]  # no refund to send
    assert counter(tokens_key(cfg)) is None
    assert counter(budget_key(cfg)) == 7


def test_the_month_counter_starts_at_the_ledgers_spend(make_tenant: MakeTenant) -> None:
    tenant = make_tenant(monthly_budget_usd=Decimal(5))
    cfg = config_of(tenant)
    record_sync(
        LedgerEntry(
            ctx=ctx_for(tenant), requested_model="fast", tokens_in=1, cost_usd=Decimal("0.25")
        )
    )
    sync_redis().delete(budget_key(cfg))

    reserve(cfg)

    assert counter(budget_key(cfg)) == int(Decimal("0.25") * budget.NANO) + most_cost("fast")


def test_over_budget_the_downgrade_reserves_the_cheaper_call_once(
    make_tenant: MakeTenant,
) -> None:
    cfg = config_of(make_tenant(monthly_budget_usd=Decimal(1), budget_action="downgrade"))
    full = int(Decimal(1) * budget.NANO)
    sync_redis().set(budget_key(cfg), full)

    reservation, decision = reserve(cfg, alias="smart")

    assert (decision.alias, decision.over_budget) == ("fast", True)
    assert decision.reserved_nanos == most_cost("fast")
    assert counter(budget_key(cfg)) == full + most_cost("fast")
    assert reservation.tokens == 150


def test_over_budget_a_block_reserves_nothing(make_tenant: MakeTenant) -> None:
    cfg = config_of(make_tenant(monthly_budget_usd=Decimal(1), budget_action="block"))
    full = int(Decimal(1) * budget.NANO)
    sync_redis().set(budget_key(cfg), full)

    with pytest.raises(GatewayError) as refused:
        reserve(cfg)

    assert refused.value.code == "budget_exceeded"
    assert counter(budget_key(cfg)) == full
    assert not counter(tokens_key(cfg))  # reserved by the two-step path, then given back


@override_settings(GATEWAY_PLAN_OVERRIDES=LIMITED)
def test_settling_swaps_both_reservations_for_what_was_used_in_one_round_trip(
    make_tenant: MakeTenant, trips: list[str]
) -> None:
    cfg = config_of(make_tenant(monthly_budget_usd=Decimal(5)))
    sync_redis().set(budget_key(cfg), 0)
    reservation, decision = reserve(cfg)
    trips.clear()

    settle: Callable[..., Any] = async_to_sync(admission.settle)
    settle(cfg, reservation, decision, tokens=42, cost=Decimal("0.000003"))

    assert trips == ["pipeline"]
    assert counter(tokens_key(cfg)) == 42
    assert counter(budget_key(cfg)) == 3000


def test_a_tenant_without_limits_or_budget_costs_no_round_trip(
    make_tenant: MakeTenant, trips: list[str]
) -> None:
    cfg = config_of(make_tenant(plan="enterprise"))
    assert (cfg.tokens_per_day, cfg.requests_per_minute, cfg.monthly_budget_usd) == (
        None,
        None,
        None,
    )
    trips.clear()

    reservation, decision = reserve(cfg)

    assert trips == []
    assert (reservation.counted, decision.reserved_nanos) == (False, 0)
