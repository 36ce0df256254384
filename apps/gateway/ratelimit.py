"""Step 3: token and request rate limits per tenant, reserved atomically in Redis.

Before a call, one Lua script checks and reserves in a single step:
- requests per minute, by GCRA (a smooth limiter that allows a burst of up to the
  per-minute limit), and
- tokens per day (UTC), by reserving an estimate (prompt tokens + max tokens).
Concurrent calls therefore cannot all pass on the same remaining allowance. After the
call, ``reconcile`` replaces the estimate with the tokens actually used.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from apps.core.redis_client import get_redis
from apps.gateway.types import GatewayError

# The script in three parts, so admission.py can put the budget's check between the
# limits' checks and their writes (one script, one round trip, for both steps).
# KEYS: 1 tokens-per-day counter, 2 GCRA theoretical arrival time
# ARGV: 1 now_ms, 2 token estimate, 3 token limit (-1 = none), 4 rpm (-1 = none),
#       5 ms until the day ends
# CHECK returns {0, retry_after_ms, reason} when refused, having written nothing.
CHECK = """
local now = tonumber(ARGV[1])
local estimate = tonumber(ARGV[2])
local token_limit = tonumber(ARGV[3])
local rpm = tonumber(ARGV[4])
local day_left = tonumber(ARGV[5])
local new_tat = nil
if rpm > 0 then
  local interval = 60000 / rpm
  local tat = tonumber(redis.call('GET', KEYS[2]) or now)
  if tat < now then tat = now end
  new_tat = tat + interval
  local allow_at = new_tat - 60000
  if allow_at > now then
    return {0, math.ceil(allow_at - now), 'rpm'}
  end
end
if token_limit > 0 then
  local used = tonumber(redis.call('GET', KEYS[1]) or '0')
  if used + estimate > token_limit then
    return {0, day_left, 'tokens'}
  end
end
"""
WRITE = """
if token_limit > 0 then
  redis.call('INCRBY', KEYS[1], estimate)
  redis.call('PEXPIRE', KEYS[1], day_left + 3600000)
end
if new_tat then
  redis.call('SET', KEYS[2], new_tat, 'PX', 120000)
end
"""
# Returns {1, 0, 'ok'} when reserved.
_RESERVE = CHECK + WRITE + "return {1, 0, 'ok'}\n"


@dataclass(frozen=True)
class Reservation:
    tenant_id: str
    day: str
    tokens: int
    counted: bool  # False when the tenant has no token limit (nothing to reconcile)


def _keys(tenant_id: str, day: str) -> list[str]:
    return [f"gw:{{{tenant_id}}}:tokens:{day}", f"gw:{{{tenant_id}}}:rpm"]


@dataclass(frozen=True)
class Request:
    """One call's limits as the script takes them: its keys and arguments."""

    reservation: Reservation
    keys: list[str]
    args: list[int]
    tokens_per_day: int | None
    requests_per_minute: int | None

    @property
    def limited(self) -> bool:
        return self.tokens_per_day is not None or self.requests_per_minute is not None


def request(
    *, tenant_id: str, estimate: int, tokens_per_day: int | None, requests_per_minute: int | None
) -> Request:
    now = datetime.now(UTC)
    day = now.strftime("%Y%m%d")
    midnight = (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return Request(
        reservation=Reservation(tenant_id, day, estimate, counted=tokens_per_day is not None),
        keys=_keys(tenant_id, day),
        args=[
            int(now.timestamp() * 1000),
            estimate,
            tokens_per_day if tokens_per_day is not None else -1,
            requests_per_minute if requests_per_minute is not None else -1,
            int((midnight - now).total_seconds() * 1000),
        ],
        tokens_per_day=tokens_per_day,
        requests_per_minute=requests_per_minute,
    )


def refusal(req: Request, retry_ms: int, reason: bytes) -> GatewayError:
    """The error for the script's refusal ``{0, retry_ms, reason}``."""
    retry_after = round(int(retry_ms) / 1000, 1)
    if reason == b"tokens":
        return GatewayError(
            "rate_limited",
            f"Your organisation used its {req.tokens_per_day:,} tokens for today. The limit "
            f"resets at midnight UTC (in {retry_after / 3600:.1f} h); upgrade the plan "
            "for more.",
            retry_after=retry_after,
            permanent=False,
        )
    return GatewayError(
        "rate_limited",
        f"Too many requests: the limit is {req.requests_per_minute} a minute. Try again in "
        f"{max(retry_after, 0.1):.0f} s.",
        retry_after=retry_after,
        permanent=False,
    )


async def reserve(
    *, tenant_id: str, estimate: int, tokens_per_day: int | None, requests_per_minute: int | None
) -> Reservation:
    req = request(
        tenant_id=tenant_id,
        estimate=estimate,
        tokens_per_day=tokens_per_day,
        requests_per_minute=requests_per_minute,
    )
    if not req.limited:
        return req.reservation
    allowed, retry_ms, reason = await get_redis().eval(_RESERVE, 2, *req.keys, *req.args)
    if not allowed:
        raise refusal(req, retry_ms, reason)
    return req.reservation


def reconcile_delta(reservation: Reservation, actual_tokens: int) -> tuple[str, int] | None:
    """The counter and the amount to add to it so it holds what the call really used
    instead of the estimate; None when there is nothing to change. For callers that
    send it with other Redis commands in one round trip (pipeline.Call.settle)."""
    if not reservation.counted:
        return None
    delta = actual_tokens - reservation.tokens
    return (_keys(reservation.tenant_id, reservation.day)[0], delta) if delta else None


async def reconcile(reservation: Reservation, actual_tokens: int) -> None:
    """Replace the reserved estimate with what the call really used (0 if it failed)."""
    change = reconcile_delta(reservation, actual_tokens)
    if change is not None:
        await get_redis().incrby(*change)
