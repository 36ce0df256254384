from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from django.db.models import Count, Q, QuerySet, Sum

from apps.gateway.config import resolve_sync
from apps.gateway.models import AISettings, SemanticCacheHit, UsageRecord
from apps.gateway.types import CallContext
from apps.guardrails.selectors import guardrail_counts
from apps.tenants.models import Tenant


def ai_settings_for(tenant: Tenant) -> AISettings:
    """The tenant's AI settings, created on first use. Call inside tenant_context."""
    settings, _ = AISettings.objects.get_or_create(tenant=tenant)
    return settings


def usage_records(tenant: Tenant) -> QuerySet[UsageRecord]:
    """Call inside tenant_context."""
    return UsageRecord.objects.filter(tenant=tenant).select_related("user").order_by("-created_at")


def semantic_hits(tenant: Tenant, *, reported: bool) -> QuerySet[SemanticCacheHit]:
    """Answers served from the semantic cache, newest first: those reported as wrong, or
    those not (yet). Call inside tenant_context."""
    hits = SemanticCacheHit.objects.filter(tenant=tenant, reported_at__isnull=not reported)
    order = "-reported_at" if reported else "-created_at"
    return hits.select_related("reported_by").order_by(order)


def usage_by_request(
    tenant: Tenant, request_ids: list[str], feature: str
) -> dict[str, UsageRecord]:
    """The ledger row of each request id (e.g. chat message ids). Call inside tenant_context."""
    rows = UsageRecord.objects.filter(tenant=tenant, feature=feature, request_id__in=request_ids)
    return {row.request_id: row for row in rows}


@dataclass(frozen=True)
class UsageSummary:
    month_cost: Decimal
    month_saved: Decimal
    month_calls: int
    month_cache_hits: int
    budget: Decimal | None
    budget_percent: int | None
    tokens_today: int
    tokens_per_day: int | None
    tokens_percent: int | None
    # Guardrail hits this month, per check (apps/guardrails), and how many were blocks.
    month_guardrail_hits: dict[str, int]


def usage_summary(tenant: Tenant) -> UsageSummary:
    """This month's cost against the budget and today's tokens against the limit, from the
    ledger (the source of truth). Call inside tenant_context."""
    now = datetime.now(UTC)
    month_start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    day_start = now.replace(hour=0, minute=0, second=0, microsecond=0)
    month = UsageRecord.objects.filter(tenant=tenant, created_at__gte=month_start).aggregate(
        cost=Sum("cost_usd"),
        saved=Sum("saved_cost_usd"),
        calls=Count("id"),
        hits=Count("id", filter=~Q(cache="")),
    )
    today = UsageRecord.objects.filter(tenant=tenant, created_at__gte=day_start).aggregate(
        tokens_in=Sum("tokens_in"), tokens_out=Sum("tokens_out")
    )
    cfg = resolve_sync(CallContext(tenant_id=tenant.id, feature="usage"))
    cost = month["cost"] or Decimal(0)
    tokens = (today["tokens_in"] or 0) + (today["tokens_out"] or 0)
    budget = cfg.monthly_budget_usd
    return UsageSummary(
        month_cost=cost,
        month_saved=month["saved"] or Decimal(0),
        month_calls=month["calls"],
        month_cache_hits=month["hits"],
        budget=budget,
        budget_percent=min(int(cost / budget * 100), 999) if budget else None,
        tokens_today=tokens,
        tokens_per_day=cfg.tokens_per_day,
        month_guardrail_hits=guardrail_counts(tenant, month_start),
        tokens_percent=min(int(tokens * 100 / cfg.tokens_per_day), 999)
        if cfg.tokens_per_day
        else None,
    )
