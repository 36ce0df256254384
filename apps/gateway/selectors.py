from __future__ import annotations

from django.db.models import QuerySet

from apps.gateway.models import AISettings, SemanticCacheHit, UsageRecord
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
