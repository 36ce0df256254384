"""Step 5a: the exact cache in Redis. The key carries the tenant, the alias, the
system prompt's hash, the messages and the parameters: two tenants asking the same
question never share an entry."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from typing import Any

from django.conf import settings

from apps.core.redis_client import get_redis


@dataclass(frozen=True)
class CachedAnswer:
    content: str
    served_model: str
    tokens_in: int
    tokens_out: int
    cost_usd: str  # Decimal as text: what the original call cost (the saving on a hit)


def exact_key(
    *,
    tenant_id: str,
    alias: str,
    system_prompt_hash: str,
    messages: list[dict[str, Any]],
    temperature: float,
    max_tokens: int,
) -> str:
    payload = json.dumps(
        {"a": alias, "s": system_prompt_hash, "m": messages, "t": temperature, "x": max_tokens},
        sort_keys=True,
        separators=(",", ":"),
    )
    digest = hashlib.sha256(payload.encode()).hexdigest()
    return f"gw:{{{tenant_id}}}:exact:{digest}"


async def get(key: str) -> CachedAnswer | None:
    raw = await get_redis().get(key)
    if raw is None:
        return None
    return CachedAnswer(**json.loads(raw))


async def put(key: str, answer: CachedAnswer) -> None:
    await get_redis().set(key, json.dumps(asdict(answer)), ex=settings.GATEWAY_EXACT_CACHE_TTL_S)
