"""Reads of the guardrail log. Call inside tenant_context."""

from __future__ import annotations

from datetime import datetime

from django.db.models import Count, QuerySet

from apps.guardrails.models import GuardrailEvent
from apps.tenants.models import Tenant


def guardrail_events(tenant: Tenant, *, check: str = "") -> QuerySet[GuardrailEvent]:
    events = GuardrailEvent.objects.filter(tenant=tenant)
    if check:
        events = events.filter(check_name=check)
    return events.order_by("-created_at")


def guardrail_counts(tenant: Tenant, since: datetime) -> dict[str, int]:
    """Hits per check since ``since`` (for the usage page)."""
    rows = (
        GuardrailEvent.objects.filter(tenant=tenant, created_at__gte=since)
        .values("check_name")
        .annotate(n=Count("id"))
    )
    return {row["check_name"]: row["n"] for row in rows}
