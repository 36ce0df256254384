"""Step 1: resolve the tenant's AI configuration at call time.

The database is the truth; a copy sits in Redis for up to CONFIG_TTL_S seconds so a call
does not pay a database transaction for it, and each process keeps what it read for
LOCAL_TTL_S seconds so a busy tenant's call does not pay a Redis round trip either. Every
write that changes what this returns (AI settings, the tenant's plan) calls ``invalidate``
in the same request: the writing process and the Redis copy forget at once, every other
process within LOCAL_TTL_S (the bound on a settings change taking effect everywhere,
docs/gateway.md). CONFIG_TTL_S only bounds writes made behind the services' back.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings

from apps.core.db import tenant_context
from apps.core.redis_client import get_redis, sync_redis
from apps.gateway.models import AISettings
from apps.gateway.types import CallContext, GatewayError
from apps.tenants.models import Tenant
from apps.tenants.plans import limits_for


@dataclass(frozen=True)
class ResolvedConfig:
    tenant_id: str
    tenant_slug: str
    plan: str
    model_alias: str
    system_prompt: str
    system_prompt_hash: str
    temperature: float
    max_tokens: int
    cascade_enabled: bool
    cache_enabled: bool
    semantic_threshold: float
    monthly_budget_usd: Decimal | None
    budget_action: str
    tokens_per_day: int | None
    requests_per_minute: int | None
    rag_enabled: bool
    rag_top_k: int
    guardrails: dict[str, Any]  # apps/guardrails/policy.py Policy.to_dict()


def _plan_limit(plan: str, name: str, default: int | None) -> int | None:
    override = settings.GATEWAY_PLAN_OVERRIDES.get(plan, {}).get(name, -1)
    if override is None or override < 0:
        return default
    return override or None  # 0 means unlimited


def resolve_sync(ctx: CallContext) -> ResolvedConfig:
    with tenant_context(ctx.tenant_id):
        tenant = Tenant.objects.filter(id=ctx.tenant_id).first()
        if tenant is None:
            raise GatewayError("invalid_request", "Unknown organisation.")
        row, _ = AISettings.objects.get_or_create(tenant=tenant)
    limits = limits_for(tenant.plan)
    budget = row.monthly_budget_usd
    if budget is None:
        budget = limits.monthly_budget_usd
    return ResolvedConfig(
        tenant_id=str(tenant.id),
        tenant_slug=tenant.slug,
        plan=tenant.plan,
        model_alias=row.model_alias,
        system_prompt=row.system_prompt,
        system_prompt_hash=hashlib.sha256(row.system_prompt.encode()).hexdigest(),
        temperature=float(row.temperature),
        max_tokens=row.max_tokens,
        cascade_enabled=row.cascade_enabled,
        cache_enabled=row.cache_enabled,
        semantic_threshold=float(row.semantic_threshold),
        monthly_budget_usd=budget,
        budget_action=row.budget_action,
        tokens_per_day=_plan_limit(tenant.plan, "tokens_per_day", limits.tokens_per_day),
        requests_per_minute=_plan_limit(
            tenant.plan, "requests_per_minute", limits.requests_per_minute
        ),
        rag_enabled=row.rag_enabled,
        rag_top_k=row.rag_top_k,
        guardrails=row.guardrails or {},
    )


CONFIG_TTL_S = 60
LOCAL_TTL_S = 2.0
LOCAL_MAX_ENTRIES = 10_000

# Process-wide state ---------------------------------------------------------------------
# _local: tenant id (text) -> (monotonic deadline, its configuration). Read and written on
#   the event loop and from worker threads: each operation is a single dict call (atomic
#   under the GIL); a race at worst resolves a tenant twice. Cleared whole when it reaches
#   LOCAL_MAX_ENTRIES. ResolvedConfig is frozen, so sharing one between calls is safe.
_local: dict[str, tuple[float, ResolvedConfig]] = {}


def _key(tenant_id: object) -> str:
    # The version changes with ResolvedConfig's fields: entries cached by the previous
    # release are simply not found.
    return f"gw:{{{tenant_id}}}:config:v3"


async def resolve(ctx: CallContext) -> ResolvedConfig:
    tenant = str(ctx.tenant_id)
    held = _local.get(tenant)
    if held is not None and held[0] > time.monotonic():
        return held[1]
    cfg = await _resolve_shared(ctx)
    if len(_local) >= LOCAL_MAX_ENTRIES:
        _local.clear()
    _local[tenant] = (time.monotonic() + LOCAL_TTL_S, cfg)
    return cfg


async def _resolve_shared(ctx: CallContext) -> ResolvedConfig:
    """From the Redis copy, else from the database (and then into Redis)."""
    redis = get_redis()
    cached = await redis.get(_key(ctx.tenant_id))
    if cached is not None:
        data = json.loads(cached)
        budget = data["monthly_budget_usd"]
        data["monthly_budget_usd"] = None if budget is None else Decimal(budget)
        return ResolvedConfig(**data)
    cfg = await sync_to_async(resolve_sync)(ctx)
    data = dataclasses.asdict(cfg)
    data["monthly_budget_usd"] = (
        None if cfg.monthly_budget_usd is None else str(cfg.monthly_budget_usd)
    )
    await redis.set(_key(ctx.tenant_id), json.dumps(data), ex=CONFIG_TTL_S)
    return cfg


def invalidate(tenant_id: object) -> None:
    """Forget the cached configuration (call after changing AI settings or the plan): in
    this process and in Redis now, in the other processes within LOCAL_TTL_S."""
    _local.pop(str(tenant_id), None)
    sync_redis().delete(_key(tenant_id))
