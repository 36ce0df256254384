"""Billing's background work: apply webhook events, meter usage, end grace periods.

Thin: each calls a service. None takes a tenant: they work across tenants through the
narrow policies in apps/billing/selectors.py and enter each tenant's context themselves.
"""

from __future__ import annotations

from datetime import timedelta

from celery import shared_task
from django.utils import timezone

from apps.billing import metering, reconcile, services
from apps.billing.stripe_api import StripeUnavailable
from apps.core.redis_client import sync_redis

# One meter drain at a time across all workers: sends to one customer never overlap.
DRAIN_LOCK = "billing:meter-drain"
DRAIN_LOCK_S = 300


@shared_task(
    autoretry_for=(StripeUnavailable,),
    retry_backoff=True,
    retry_backoff_max=600,
    retry_jitter=True,
    max_retries=12,
    acks_late=True,
)
def apply_stripe_event(event_id: str) -> str:
    """Apply one received webhook event (once; a redelivered task is a no-op)."""
    return services.event_apply(event_id)


@shared_task(acks_late=True)
def meter_drain() -> dict[str, int]:
    """Send waiting usage to Stripe's meter (Celery beat, every BILLING_METER_INTERVAL_S)."""
    lock = sync_redis().lock(DRAIN_LOCK, timeout=DRAIN_LOCK_S)
    if not lock.acquire(blocking=False):
        return {"skipped": 1}
    try:
        report = metering.drain()
    finally:
        lock.release()
    return dict(vars(report))


@shared_task(acks_late=True)
def reconcile_yesterday() -> dict[str, int]:
    """Compare yesterday's metered usage with Stripe's summaries; heal what is safe."""
    report = reconcile.reconcile_day(timezone.now() - timedelta(days=1))
    return dict(vars(report))


@shared_task(acks_late=True)
def grace_enforce() -> int:
    """Move tenants whose grace period after a failed payment has ended to Free."""
    return services.grace_enforce()
