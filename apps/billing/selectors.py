"""Reads for billing. Two cross-tenant reads go through narrow RLS policies of their own
(billing migration 0001): a webhook names a Stripe customer, not a tenant, and the grace
check and the meter drain run for every tenant."""

from __future__ import annotations

import uuid
from datetime import datetime

from django.db.models import Count, Q, Sum

from apps.billing.models import BillingAccount, MeterBatch, SubscriptionStatus
from apps.core.db import setting_context
from apps.gateway.ledger import BILLABLE_ROWS
from apps.gateway.models import UsageOutbox, UsageRecord
from apps.tenants.models import Tenant

CUSTOMER_SETTING = "app.stripe_customer"
PLATFORM_JOB_SETTING = "app.platform_job"


def tenant_of_customer(customer_id: str) -> uuid.UUID | None:
    """The tenant whose Stripe customer this is (only that one account row is readable)."""
    with setting_context({CUSTOMER_SETTING: customer_id}):
        return (
            BillingAccount.objects.filter(stripe_customer_id=customer_id)
            .values_list("tenant_id", flat=True)
            .first()
        )


def tenants_past_due() -> list[uuid.UUID]:
    with setting_context({PLATFORM_JOB_SETTING: "billing"}):
        return list(
            BillingAccount.objects.filter(
                subscription_status__in=[SubscriptionStatus.PAST_DUE, SubscriptionStatus.UNPAID]
            ).values_list("tenant_id", flat=True)
        )


def tenants_to_meter(now: datetime) -> list[uuid.UUID]:
    """Tenants with usage waiting in the outbox or a meter batch due to be sent."""
    with setting_context({PLATFORM_JOB_SETTING: "meter_drain"}):
        waiting = set(UsageOutbox.objects.values_list("tenant_id", flat=True).distinct())
        due = MeterBatch.objects.filter(
            Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now),
            sent_at__isnull=True,
            flagged=False,
        )
        waiting.update(due.values_list("tenant_id", flat=True).distinct())
    return sorted(waiting)


def period_usage(tenant: Tenant, since: datetime) -> dict[str, int | float]:
    """Tokens, cost and billable tokens of the tenant's ledger since ``since``. Call
    inside tenant_context."""
    rows = UsageRecord.objects.filter(tenant=tenant, created_at__gte=since)
    totals = rows.aggregate(
        tokens_in=Sum("tokens_in"),
        tokens_out=Sum("tokens_out"),
        cost=Sum("cost_usd"),
        calls=Count("id"),
    )
    billable = rows.filter(BILLABLE_ROWS).aggregate(
        tokens_in=Sum("tokens_in"), tokens_out=Sum("tokens_out")
    )
    return {
        "tokens": (totals["tokens_in"] or 0) + (totals["tokens_out"] or 0),
        "cost_usd": float(totals["cost"] or 0),
        "calls": totals["calls"] or 0,
        "billable_tokens": (billable["tokens_in"] or 0) + (billable["tokens_out"] or 0),
    }


def meter_batches(tenant: Tenant, *, limit: int = 20) -> list[MeterBatch]:
    return list(MeterBatch.objects.filter(tenant=tenant).order_by("-created_at")[:limit])


def meter_backlog(now: datetime) -> dict[str, int]:
    """Across tenants, for operators' metrics: ledger rows waiting in the outbox, batches
    not yet accepted by Stripe, and of those the ones past their retry time or flagged."""
    with setting_context({PLATFORM_JOB_SETTING: "meter_drain"}):
        unsent = MeterBatch.objects.filter(sent_at__isnull=True)
        return {
            "outbox_rows": UsageOutbox.objects.count(),
            "batches_unsent": unsent.filter(flagged=False).count(),
            "batches_overdue": unsent.filter(flagged=False, next_attempt_at__lte=now).count(),
            "batches_flagged": unsent.filter(flagged=True).count(),
        }
