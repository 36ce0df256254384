"""Anomalous use of an API key, seen in one Redis round trip per request.

Two signals, each against the key's own history (docs/security.md):

- **a spike**: the requests in the current minute exceed both
  ``API_KEY_SPIKE_MIN_REQUESTS`` and ``API_KEY_SPIKE_FACTOR`` times the key's usual
  rate, an exponentially weighted average of its requests per minute (about the last
  hour weighs most). A key younger than ``API_KEY_BASELINE_MINUTES`` has no baseline
  yet and cannot spike. A spike is reported once per minute.
- **a new network**: a request from a /24 (IPv4) or /48 (IPv6) the key was never used
  from. The first network a key is used from is its baseline, not an anomaly; each new
  one is reported once.

All of it is one Lua script over two keys per API key (a hash of counters and a set
of networks), so a request costs one EVALSHA and no database write; only an anomaly,
which is rare, writes (apps/api/services.py, ``api_key_report_anomaly``). If Redis is
down the check is skipped (logged): the key still works, as it did before this check.
"""

from __future__ import annotations

import functools
import ipaddress
import logging
import time
from dataclasses import dataclass
from uuid import UUID

import redis
from django.conf import settings
from redis.commands.core import Script

from apps.core.redis_client import sync_redis

logger = logging.getLogger(__name__)

# Process-wide state -----------------------------------------------------------------------
# _script(): the observing script, registered once per process on a client of the shared
#   sync pool (apps/core/redis_client.py), so a request sends only the script's SHA
#   (EVALSHA; redis-py loads it again if the server lost it). Thread-safe: the client
#   takes a pooled connection per command. Per process because connections are; tests
#   need no reset (one Redis for the whole run).

# The key's counters and networks live this long after its last use.
STATE_TTL_S = 90 * 24 * 3600
# Weight of the newest minute in the average: about the last hour counts.
EWMA_ALPHA = 0.05

# KEYS[1]: the counters hash (m: current minute, c: its count, e: average per minute,
#          n: minutes of history, a: the minute a spike was last reported)
# KEYS[2]: the set of networks seen
# ARGV: minute, network ('' if unknown), alpha, baseline minutes, factor, min requests, ttl
_OBSERVE = """
local minute = tonumber(ARGV[1])
local alpha = tonumber(ARGV[3])
local state = redis.call('HMGET', KEYS[1], 'm', 'c', 'e', 'n', 'a')
local current = tonumber(state[1]) or minute
local count = tonumber(state[2]) or 0
local average = tonumber(state[3]) or 0
local history = tonumber(state[4]) or 0
local reported = tonumber(state[5]) or -1
if minute > current then
  local gap = minute - current
  average = ((1 - alpha) * average + alpha * count) * (1 - alpha) ^ (gap - 1)
  history = history + gap
  count = 0
end
count = count + 1
local spike = 0
local threshold = math.max(tonumber(ARGV[6]), tonumber(ARGV[5]) * average)
if history >= tonumber(ARGV[4]) and count >= threshold and reported ~= minute then
  spike = 1
  reported = minute
end
redis.call('HSET', KEYS[1], 'm', minute, 'c', count, 'e', tostring(average),
           'n', history, 'a', reported)
redis.call('EXPIRE', KEYS[1], ARGV[7])
local new_network = 0
if ARGV[2] ~= '' then
  if redis.call('SADD', KEYS[2], ARGV[2]) == 1 and redis.call('SCARD', KEYS[2]) > 1 then
    new_network = 1
  end
  redis.call('EXPIRE', KEYS[2], ARGV[7])
end
return {spike, new_network, count, tostring(average)}
"""


@dataclass(frozen=True)
class Observation:
    spike: bool
    new_network: str | None  # the network, when it is new for this key
    requests_this_minute: int
    usual_per_minute: float

    @property
    def anomalous(self) -> bool:
        return self.spike or self.new_network is not None

    def describe(self) -> str:
        """One line for the audit log, the alert and the suspension reason."""
        parts = []
        if self.spike:
            parts.append(
                f"{self.requests_this_minute} requests in a minute "
                f"(usually {self.usual_per_minute:.1f})"
            )
        if self.new_network:
            parts.append(f"use from a new network, {self.new_network}")
        return " and ".join(parts)


def network_of(ip: str | None) -> str | None:
    """The /24 (IPv4) or /48 (IPv6) that ``ip`` belongs to; None if it is not an address."""
    if not ip:
        return None
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    prefix = 24 if address.version == 4 else 48
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False))


@functools.cache
def _script() -> Script:
    return sync_redis().register_script(_OBSERVE)


def _keys(key_id: UUID) -> list[str]:
    return [f"apikey:{{{key_id}}}:use", f"apikey:{{{key_id}}}:networks"]


def observe(key_id: UUID, ip: str | None, *, now: float | None = None) -> Observation | None:
    """Count one use of the key from ``ip``; what it looked like, or None if Redis failed."""
    network = network_of(ip)
    minute = int((time.time() if now is None else now) // 60)
    try:
        spike, new, count, average = _script()(
            keys=_keys(key_id),
            args=[
                minute,
                network or "",
                EWMA_ALPHA,
                settings.API_KEY_BASELINE_MINUTES,
                settings.API_KEY_SPIKE_FACTOR,
                settings.API_KEY_SPIKE_MIN_REQUESTS,
                STATE_TTL_S,
            ],
        )
    except redis.RedisError:
        logger.warning("api key anomaly check skipped: Redis failed", exc_info=True)
        return None
    return Observation(
        spike=bool(spike),
        new_network=network if new else None,
        requests_this_minute=int(count),
        usual_per_minute=float(average),
    )


def inherit(*, old_key_id: UUID, new_key_id: UUID) -> None:
    """A rotated key's replacement starts with its history: same usual rate, same
    networks, so the switch to the new secret is not itself an anomaly."""
    client = sync_redis()
    try:
        for source, target in zip(_keys(old_key_id), _keys(new_key_id), strict=True):
            client.copy(source, target, replace=True)
    except redis.RedisError:
        logger.warning("api key history not copied on rotation", exc_info=True)


def forget(key_id: UUID) -> None:
    """Drop the key's history (tests; a re-enabled key keeps its networks)."""
    sync_redis().delete(*_keys(key_id))
