"""Step 4: the monthly USD budget per tenant, enforced under concurrency.

Before a call its *maximum* cost (prompt estimate x input price + max tokens x output
price, at the dearest deployment that may serve it) is reserved with one Lua script
that checks and increments together, so concurrent calls cannot pass on the same
remaining budget. After the call ``settle`` swaps the reservation for the real cost.
Amounts are integer nano-dollars in Redis; the ledger in PostgreSQL is the truth and
seeds the counter when it is missing (a new month, a flushed Redis).

At 100% the tenant's action applies: ``downgrade`` (default) serves the call on the
cheaper alias, ``throttle`` lets a few calls a minute through, ``notify`` only alerts,
``block`` refuses. Alerts at 50, 80 and 100% fire once per month each.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db.models import Sum

from apps.core.db import tenant_context
from apps.core.redis_client import get_redis
from apps.gateway import alerts, journal, router
from apps.gateway.config import ResolvedConfig
from apps.gateway.models import BudgetAction, UsageRecord
from apps.gateway.types import GatewayError

NANO = Decimal(10**9)
THRESHOLDS = (50, 80, 100)
_MONTH_TTL_MS = 40 * 24 * 3600 * 1000

# KEYS: 1 the month's counter. ARGV: 1 nanos to reserve, 2 limit, 3 soft (1 = allow over)
# Returns {-1, 0} when the counter must be seeded, {1, total} reserved within budget,
# {2, total} reserved over budget (soft), {0, current} refused.
_RESERVE = """
local current = redis.call('GET', KEYS[1])
if not current then return {-1, 0} end
current = tonumber(current)
local amount = tonumber(ARGV[1])
if current + amount <= tonumber(ARGV[2]) then
  return {1, redis.call('INCRBY', KEYS[1], amount)}
end
if ARGV[3] == '1' then
  return {2, redis.call('INCRBY', KEYS[1], amount)}
end
return {0, current}
"""

# A GCRA limiter (as in ratelimit.py) for the "throttle" action.
_THROTTLE = """
local now = tonumber(ARGV[1])
local interval = 60000 / tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local new_tat = tat + interval
if new_tat - 60000 > now then return math.ceil(new_tat - 60000 - now) end
redis.call('SET', KEYS[1], new_tat, 'PX', 120000)
return 0
"""


@dataclass(frozen=True)
class BudgetDecision:
    alias: str  # the alias to call: the requested one, or the cheaper one after a downgrade
    reserved_nanos: int
    month: str
    over_budget: bool = False


def _month() -> str:
    return datetime.now(UTC).strftime("%Y%m")


def _key(tenant_id: str, month: str) -> str:
    return f"gw:{{{tenant_id}}}:budget:{month}"


def max_cost(alias: str, prompt_tokens: int, max_tokens: int) -> Decimal:
    price_in, price_out = router.max_price_per_token(alias)
    return price_in * prompt_tokens + price_out * max_tokens


def month_spend_sync(tenant_id: str) -> Decimal:
    now = datetime.now(UTC)
    start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    with tenant_context(tenant_id):
        total = UsageRecord.objects.filter(tenant_id=tenant_id, created_at__gte=start).aggregate(
            total=Sum("cost_usd")
        )["total"]
    return total or Decimal(0)


def _month_spend_journaled(tenant_id: str) -> Decimal:
    if journal.enabled():
        journal.wait_settled()  # this process's calls whose entries are not appended yet
        journal.drain(older_than_ms=0)
    return month_spend_sync(tenant_id)


@dataclass(frozen=True)
class BudgetRequest:
    """One call's budget reservation as the scripts take it."""

    key: str  # the month's counter
    limit: int  # the budget, nano-dollars
    nanos: int  # the call's most cost, nano-dollars (at least 1)
    month: str


def request(
    cfg: ResolvedConfig, *, alias: str, prompt_tokens: int, max_tokens: int
) -> BudgetRequest | None:
    """What ``alias`` would reserve for this call; None when the tenant has no budget."""
    if cfg.monthly_budget_usd is None:
        return None
    month = _month()
    return BudgetRequest(
        key=_key(cfg.tenant_id, month),
        limit=int(cfg.monthly_budget_usd * NANO),
        nanos=int(max_cost(alias, prompt_tokens, max_tokens) * NANO) + 1,
        month=month,
    )


def unbudgeted(alias: str) -> BudgetDecision:
    """The decision for a tenant without a budget: nothing reserved."""
    return BudgetDecision(alias, 0, _month())


async def seed(key: str, tenant_id: str) -> None:
    """Start the month's counter at the ledger's spend (unless another call just did),
    with the calls still in the journal written first (apps/gateway/journal.py)."""
    spent = await sync_to_async(_month_spend_journaled)(tenant_id)
    await get_redis().set(key, int(spent * NANO), nx=True, px=_MONTH_TTL_MS)


async def _eval_reserve(key: str, nanos: int, limit: int, soft: bool, tenant_id: str) -> list[int]:
    redis = get_redis()
    result = await redis.eval(_RESERVE, 1, key, nanos, limit, "1" if soft else "0")
    if int(result[0]) == -1:
        await seed(key, tenant_id)
        result = await redis.eval(_RESERVE, 1, key, nanos, limit, "1" if soft else "0")
    return [int(result[0]), int(result[1])]


async def reserve(
    cfg: ResolvedConfig, *, alias: str, prompt_tokens: int, max_tokens: int
) -> BudgetDecision:
    req = request(cfg, alias=alias, prompt_tokens=prompt_tokens, max_tokens=max_tokens)
    if req is None:
        return unbudgeted(alias)
    key, limit, nanos, month = req.key, req.limit, req.nanos, req.month
    status, _ = await _eval_reserve(key, nanos, limit, False, cfg.tenant_id)
    if status == 1:
        return BudgetDecision(alias, nanos, month)

    # Over budget (the call's maximum cost no longer fits): the tenant's action decides.
    # Every threshold is now passed; each alert still fires only once.
    for threshold in THRESHOLDS:
        await alerts.fire_budget_alert_once(cfg, percent=threshold, month=month)
    action = cfg.budget_action
    budget_text = f"${cfg.monthly_budget_usd:,.2f}"
    if action == BudgetAction.BLOCK:
        raise GatewayError(
            "budget_exceeded",
            f"Your organisation reached its monthly AI budget of {budget_text}. An admin can "
            "raise it in AI settings; it resets on the 1st.",
        )
    if action == BudgetAction.THROTTLE:
        wait_ms = int(
            await get_redis().eval(
                _THROTTLE,
                1,
                f"gw:{{{cfg.tenant_id}}}:budget_throttle",
                int(datetime.now(UTC).timestamp() * 1000),
                settings.GATEWAY_THROTTLE_RPM,
            )
        )
        if wait_ms > 0:
            raise GatewayError(
                "rate_limited",
                f"The monthly AI budget of {budget_text} is used up, so requests are slowed "
                f"to {settings.GATEWAY_THROTTLE_RPM} a minute. Try again in "
                f"{wait_ms / 1000:.0f} s.",
                retry_after=round(wait_ms / 1000, 1),
                permanent=False,
            )
    if action == BudgetAction.DOWNGRADE:
        alias = router.CHEAPER.get(alias, alias)
        nanos = int(max_cost(alias, prompt_tokens, max_tokens) * NANO) + 1
    await _eval_reserve(key, nanos, limit, True, cfg.tenant_id)
    return BudgetDecision(alias, nanos, month, over_budget=True)


def settle_delta(
    cfg: ResolvedConfig, decision: BudgetDecision, actual_cost: Decimal
) -> tuple[str, int] | None:
    """The month's counter and what to add to it to swap the reservation for the real
    cost; None when the call reserved nothing. Send it, then ``after_settle`` with the
    counter's new total (``settle`` does both)."""
    if cfg.monthly_budget_usd is None or not decision.reserved_nanos:
        return None
    return _key(cfg.tenant_id, decision.month), int(actual_cost * NANO) - decision.reserved_nanos


async def after_settle(cfg: ResolvedConfig, decision: BudgetDecision, total: int) -> None:
    """Fire any threshold alert the month's new ``total`` (nano-dollars) has crossed."""
    await alert_if_crossed(cfg, decision.month, total)


def thresholds_reached(cfg: ResolvedConfig, total_nanos: int) -> list[int]:
    """The alert thresholds (percent) the month's counter has reached."""
    if cfg.monthly_budget_usd is None:
        return []
    limit = cfg.monthly_budget_usd * NANO
    if limit <= 0:
        return []
    percent = Decimal(total_nanos) / limit * 100
    return [threshold for threshold in THRESHOLDS if percent >= threshold]


async def alert_if_crossed(cfg: ResolvedConfig, month: str, total_nanos: int) -> None:
    """Fire the alert of every threshold the month's counter has reached (once each)."""
    for threshold in thresholds_reached(cfg, total_nanos):
        await alerts.fire_budget_alert_once(cfg, percent=threshold, month=month)


def alert_if_crossed_sync(cfg: ResolvedConfig, month: str, total_nanos: int) -> None:
    """``alert_if_crossed`` off the event loop (the settler's thread, batches)."""
    for threshold in thresholds_reached(cfg, total_nanos):
        alerts.fire_budget_alert_once_sync(cfg, percent=threshold, month=month)


async def settle(cfg: ResolvedConfig, decision: BudgetDecision, actual_cost: Decimal) -> None:
    """Swap the reservation for the real cost, then fire any threshold alert now crossed."""
    change = settle_delta(cfg, decision, actual_cost)
    if change is not None:
        total = int(await get_redis().incrby(*change))
        await after_settle(cfg, decision, total)
