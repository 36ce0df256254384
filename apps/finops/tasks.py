"""FinOps background work. Thin: each task calls a service and takes no tenant; the
rollup works across tenants through the queue's narrow policy and enters each tenant's
context itself (apps/finops/rollups.py)."""

from __future__ import annotations

from celery import shared_task
from django.utils import timezone

from apps.core.redis_client import sync_redis
from apps.finops import rollups

# One rollup run at a time across workers. Not needed for correctness (two runs take
# disjoint queue entries), it keeps an overlapping beat tick from doing the work twice over.
ROLLUP_LOCK = "finops:rollup"
ROLLUP_LOCK_S = 600


@shared_task(acks_late=True)
def rollup_usage() -> dict[str, int]:
    """Add the ledger rows committed since the last run to the rollups (Celery beat,
    every FINOPS_ROLLUP_INTERVAL_S)."""
    lock = sync_redis().lock(ROLLUP_LOCK, timeout=ROLLUP_LOCK_S)
    if not lock.acquire(blocking=False):
        return {"skipped": 1}
    try:
        report = rollups.drain(timezone.now())
    finally:
        lock.release()
    return dict(vars(report))


@shared_task(acks_late=True)
def margin_alerts() -> int:
    """Daily: a webhook alert to each paying tenant under the margin threshold, once a
    month (apps/finops/operator.py)."""
    from apps.finops.operator import margin_alerts_send

    return margin_alerts_send(timezone.now())
