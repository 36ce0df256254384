"""Steps 3 and 4 together: a call's rate-limit and budget reservations in one Redis round
trip, and their settlement in one more (with the call's ledger entry, apps/gateway/journal.py),
which the call does not wait for when the journal is on.

One Lua script checks the requests per minute, the tokens per day and the month's budget
and, only when all three pass, reserves all three: the common call pays one round trip,
and a refusal reserves nothing, so there is nothing to give back. The budget's check is
the same check-and-increment as ``budget.reserve``'s, inside the same script, so 100
concurrent calls still overshoot the budget by at most one call's reservation
(tests/gateway/test_limits_and_budgets.py).

Two rarer cases leave the script: the month's counter is missing (a new month, a flushed
Redis): it is seeded from the ledger and the script runs again; and the call no longer
fits the budget: the tenant's over-budget action (downgrade, throttle, notify, block) and
its alerts apply through ``ratelimit.reserve`` then ``budget.reserve``, as two steps.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import uuid
from decimal import Decimal
from typing import Any

from apps.core.redis_client import get_redis
from apps.core.redis_scripts import script_channel
from apps.gateway import budget, journal, ledger, ratelimit
from apps.gateway.config import ResolvedConfig
from apps.gateway.types import GatewayError

# KEYS: 1 tokens-per-day counter, 2 GCRA arrival time (ratelimit.py), 3 the month's budget
# ARGV: 1-5 as ratelimit.CHECK, 6 the call's most cost in nano-dollars (0 = no budget),
#       7 the budget in nano-dollars
# Returns {1, budget total} reserved; {0, retry_after_ms, reason} refused by the limits;
# {-1, 0, 'seed'} the budget's counter is missing; {2, current, 'budget'} over budget.
# Only {1, ...} has written anything.
_BUDGET_CHECK = """
local nanos = tonumber(ARGV[6])
if nanos > 0 then
  local current = redis.call('GET', KEYS[3])
  if not current then return {-1, 0, 'seed'} end
  current = tonumber(current)
  if current + nanos > tonumber(ARGV[7]) then return {2, current, 'budget'} end
end
"""
_BUDGET_WRITE = """
local total = 0
if nanos > 0 then total = redis.call('INCRBY', KEYS[3], nanos) end
return {1, total, 'ok'}
"""
_ADMIT = ratelimit.CHECK + _BUDGET_CHECK + ratelimit.WRITE + _BUDGET_WRITE
# Sent by its SHA1 (EVALSHA) on the loop's script channel (apps/core/redis_scripts.py):
# 40 bytes instead of the script's 1.5 KB, and Redis skips hashing the body; the body
# goes again only when Redis answers NOSCRIPT (after a restart or SCRIPT FLUSH).
_ADMIT_SHA = hashlib.sha1(_ADMIT.encode()).hexdigest()  # noqa: S324 - Redis's script id

_RESERVED, _REFUSED, _SEED = 1, 0, -1


async def reserve(
    cfg: ResolvedConfig,
    *,
    alias: str,
    prompt_tokens: int,
    max_tokens: int,
    requests_per_minute: int | None,
) -> tuple[ratelimit.Reservation, budget.BudgetDecision]:
    """Reserve the call's tokens (``prompt_tokens + max_tokens``), one request against
    ``requests_per_minute`` (None: not counted) and its most cost at ``alias``'s prices.
    Raises ``GatewayError`` (``rate_limited``, ``budget_exceeded``) with nothing reserved."""
    limits = ratelimit.request(
        tenant_id=cfg.tenant_id,
        estimate=prompt_tokens + max_tokens,
        tokens_per_day=cfg.tokens_per_day,
        requests_per_minute=requests_per_minute,
    )
    spend = budget.request(cfg, alias=alias, prompt_tokens=prompt_tokens, max_tokens=max_tokens)
    if spend is None:
        free = budget.unbudgeted(alias)
        if not limits.limited:
            return limits.reservation, free
    keys = [*limits.keys, spend.key if spend else limits.keys[0]]
    args = [*limits.args, spend.nanos if spend else 0, spend.limit if spend else 0]
    status, value, reason = await _admit(keys, args)
    if status == _SEED and spend is not None:
        await budget.seed(spend.key, cfg.tenant_id)
        status, value, reason = await _admit(keys, args)
    if status == _REFUSED:
        raise ratelimit.refusal(limits, value, reason)
    if status == _RESERVED:
        if spend is None:
            return limits.reservation, free
        return limits.reservation, budget.BudgetDecision(alias, spend.nanos, spend.month)
    # Over budget: the tenant's action decides, in two steps (rare by nature).
    reservation = await ratelimit.reserve(
        tenant_id=cfg.tenant_id,
        estimate=prompt_tokens + max_tokens,
        tokens_per_day=cfg.tokens_per_day,
        requests_per_minute=requests_per_minute,
    )
    try:
        decision = await budget.reserve(
            cfg, alias=alias, prompt_tokens=prompt_tokens, max_tokens=max_tokens
        )
    except GatewayError:
        await ratelimit.reconcile(reservation, 0)
        raise
    return reservation, decision


async def _admit(keys: list[str], args: list[int]) -> list[Any]:
    """The admission script's reply: one round trip (two when Redis lacks the script)."""
    return list(await script_channel().evalsha(_ADMIT_SHA, _ADMIT, 3, *keys, *args))


def _changes(
    cfg: ResolvedConfig,
    reservation: ratelimit.Reservation,
    decision: budget.BudgetDecision,
    tokens: int,
    cost: Decimal,
) -> tuple[list[tuple[str, int]], bool]:
    """The counters' changes that swap both reservations for what the call used, the
    budget's last; and whether the budget's is among them."""
    token_change = ratelimit.reconcile_delta(reservation, tokens)
    budget_change = budget.settle_delta(cfg, decision, cost)
    changes = [change for change in (token_change, budget_change) if change is not None]
    return changes, budget_change is not None


async def settle(
    cfg: ResolvedConfig,
    reservation: ratelimit.Reservation,
    decision: budget.BudgetDecision,
    *,
    tokens: int,
    cost: Decimal,
) -> None:
    """Swap both reservations for what the call used (0 and $0 when it failed) in one
    round trip, then fire any budget alert the month's new total crossed."""
    changes, budgeted = _changes(cfg, reservation, decision, tokens, cost)
    if not changes:
        return
    async with get_redis().pipeline(transaction=False) as redis:
        for key, delta in changes:
            redis.incrby(key, delta)
        results = await redis.execute()
    if budgeted:
        await budget.after_settle(cfg, decision, int(results[-1]))


async def settle_and_record(
    cfg: ResolvedConfig,
    reservation: ratelimit.Reservation,
    decision: budget.BudgetDecision,
    *,
    tokens: int,
    cost: Decimal,
    entry: ledger.LedgerEntry,
) -> uuid.UUID:
    """``settle``, and the call's ledger row. With the journal, both are handed to the
    process's settler (apps/gateway/journal.py): its entry and the counters' changes go
    in one pipelined round trip after the caller has its answer, and the caller does not
    wait for it. With the journal off, the row (a database round trip on a worker
    thread) and the settlement at once, before returning. Returns the row's id."""
    if journal.enabled():
        journaled = journal.prepare(entry)
        changes, budgeted = _changes(cfg, reservation, decision, tokens, cost)
        after = functools.partial(_alerts, cfg, decision) if budgeted else None
        journal.settle_later(journal.Settlement(journaled, tuple(changes), after))
        return journaled.row_id
    row_id, _ = await asyncio.gather(
        ledger.record_now(entry),
        settle(cfg, reservation, decision, tokens=tokens, cost=cost),
    )
    return row_id


def _alerts(cfg: ResolvedConfig, decision: budget.BudgetDecision, totals: list[int]) -> None:
    """On the settler's thread: the alerts the month's new total (the last counter)
    crossed."""
    budget.alert_if_crossed_sync(cfg, decision.month, totals[-1])
