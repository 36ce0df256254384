"""Usage to Stripe Billing Meters, exactly once.

1. ``gateway.ledger.record_sync`` writes each billable ledger row's outbox entry in the
   row's own transaction.
2. ``batch_pending`` (per tenant, one transaction) deletes the tenant's outbox entries
   and, when the tenant has a live subscription, writes their sum as one ``MeterBatch``.
   Entries of a tenant with no subscription are usage on Free: dropped, not billed.
3. ``send_due`` sends each unsent batch as one meter event whose identifier is the
   batch's id, then marks it sent. A crash or timeout between the two resends the same
   identifier, which Stripe deduplicates (for at least 24 hours; a batch is retried long
   before that runs out), and nothing is marked sent until Stripe accepted it.
   Unreachable Stripe or a 429: the batch waits with exponential backoff and jitter.
   Batches are sent one at a time per customer, as Stripe asks, and at most
   ``BILLING_METER_MAX_PER_S`` calls a second per process.
4. A batch older than Stripe's window for meter events (35 days) is flagged for an
   operator instead of sent.

``drain`` runs both steps for every tenant with work; Celery beat calls it every
``BILLING_METER_INTERVAL_S`` seconds (``billing.meter_drain``), one run at a time. With
``BILLING_METER_V2`` the batches go through Stripe's v2 meter event stream instead, 100
events (of any customers) a request, for volumes where one call per customer is too many.
"""

from __future__ import annotations

import logging
import random
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Q, Sum
from django.utils import timezone

from apps.billing import selectors, stripe_api
from apps.billing.models import BillingAccount, MeterBatch
from apps.billing.services import LIVE
from apps.core.db import tenant_context
from apps.gateway.models import UsageOutbox

logger = logging.getLogger(__name__)

# Stripe refuses meter events older than 35 days; flag a little before that.
STRIPE_WINDOW = timedelta(days=35) - timedelta(hours=1)
MAX_ROWS_PER_BATCH = 50_000
V2_EVENTS_PER_REQUEST = 100
BACKOFF_CAP_S = 600


@dataclass
class DrainReport:
    tenants: int = 0
    rows: int = 0
    batches_sent: int = 0
    tokens_sent: int = 0
    failures: int = 0
    flagged: int = 0


def batch_pending(tenant_id: uuid.UUID) -> tuple[int, MeterBatch | None]:
    """Turn the tenant's outbox entries into one batch; (entries taken, the batch)."""
    with tenant_context(tenant_id):
        taken = list(
            UsageOutbox.objects.filter(tenant_id=tenant_id)
            .select_for_update(skip_locked=True)
            .order_by("id")
            .values_list("id", flat=True)[:MAX_ROWS_PER_BATCH]
        )
        if not taken:
            return 0, None
        entries = UsageOutbox.objects.filter(id__in=taken)
        tokens = int(entries.aggregate(total=Sum("tokens"))["total"] or 0)
        entries.delete()
        account = BillingAccount.objects.filter(tenant_id=tenant_id).first()
        if account is None or not account.stripe_customer_id:
            return len(taken), None
        if account.subscription_status not in LIVE:
            return len(taken), None
        batch = MeterBatch.objects.create(
            tenant_id=tenant_id,
            stripe_customer_id=account.stripe_customer_id,
            tokens=tokens,
            rows=len(taken),
        )
    return len(taken), batch


def _due(tenant_id: uuid.UUID, now: datetime) -> list[MeterBatch]:
    with tenant_context(tenant_id):
        return list(
            MeterBatch.objects.filter(
                Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now),
                tenant_id=tenant_id,
                sent_at__isnull=True,
                flagged=False,
            ).order_by("created_at")
        )


def _save(batch: MeterBatch, *fields: str) -> None:
    with tenant_context(batch.tenant_id):
        batch.save(update_fields=list(fields))


def _backoff_s(attempts: int) -> float:
    """Exponential, capped, with full jitter (many tenants must not retry in step)."""
    return random.uniform(1, min(BACKOFF_CAP_S, 2**attempts))  # noqa: S311 - not security


class _Pace:
    """At most ``per_s`` calls a second from this process (Stripe's limit is 1,000/s
    for the account; leave room for the rest of the app)."""

    def __init__(self, per_s: int) -> None:
        self.gap = 1 / per_s if per_s > 0 else 0.0
        self.next = 0.0

    def wait(self) -> None:
        now = time.monotonic()
        if self.next > now:
            time.sleep(self.next - now)
        self.next = max(now, self.next) + self.gap


def send_due(tenant_id: uuid.UUID, report: DrainReport, pace: _Pace) -> None:
    """Send the tenant's due batches, oldest first; stop at the first failure (the rest
    wait for the next run, so a customer never has two calls in flight)."""
    now = timezone.now()
    for batch in _due(tenant_id, now):
        if now - batch.created_at > STRIPE_WINDOW:
            batch.flagged = True
            batch.last_error = "Older than Stripe accepts (35 days): reconcile by hand."
            _save(batch, "flagged", "last_error", "updated_at")
            report.flagged += 1
            logger.error("meter batch too old to send", extra={"batch": str(batch.id)})
            continue
        pace.wait()
        try:
            stripe_api.meter_event_create(
                customer_id=batch.stripe_customer_id,
                tokens=batch.tokens,
                identifier=batch.identifier,
                timestamp=batch.created_at,
            )
        except (stripe_api.StripeUnavailable, stripe_api.StripeRefused) as exc:
            _mark_failed([batch], exc)
            report.failures += 1
            logger.warning(
                "meter batch not sent",
                extra={"batch": str(batch.id), "attempts": batch.attempts, "error": exc.message},
            )
            return
        batch.sent_at = timezone.now()
        batch.attempts += 1
        batch.last_error = ""
        _save(batch, "sent_at", "attempts", "last_error", "updated_at")
        report.batches_sent += 1
        report.tokens_sent += batch.tokens


def _mark_failed(
    batches: list[MeterBatch], exc: stripe_api.StripeUnavailable | stripe_api.StripeRefused
) -> None:
    for batch in batches:
        batch.attempts += 1
        wait = getattr(exc, "retry_after", None) or _backoff_s(batch.attempts)
        batch.next_attempt_at = timezone.now() + timedelta(seconds=wait)
        batch.last_error = exc.message[:300]
        _save(batch, "attempts", "next_attempt_at", "last_error", "updated_at")


def send_due_stream(tenant_ids: list[uuid.UUID], report: DrainReport, pace: _Pace) -> None:
    """BILLING_METER_V2: every due batch of these tenants through Stripe's v2 stream,
    100 events a request, many customers in one call."""
    now = timezone.now()
    due = [batch for tenant_id in tenant_ids for batch in _due(tenant_id, now)]
    for start in range(0, len(due), V2_EVENTS_PER_REQUEST):
        chunk = due[start : start + V2_EVENTS_PER_REQUEST]
        pace.wait()
        events = [
            stripe_api.MeterEvent(b.stripe_customer_id, b.tokens, b.identifier, b.created_at)
            for b in chunk
        ]
        try:
            stripe_api.meter_events_stream(events)
        except (stripe_api.StripeUnavailable, stripe_api.StripeRefused) as exc:
            _mark_failed(chunk, exc)
            report.failures += 1
            return
        for batch in chunk:
            batch.sent_at, batch.last_error = timezone.now(), ""
            batch.attempts += 1
            _save(batch, "sent_at", "attempts", "last_error", "updated_at")
            report.batches_sent += 1
            report.tokens_sent += batch.tokens


def drain() -> DrainReport:
    """One pass over every tenant with usage to meter."""
    report = DrainReport()
    pace = _Pace(settings.BILLING_METER_MAX_PER_S)
    tenant_ids = selectors.tenants_to_meter(timezone.now())
    for tenant_id in tenant_ids:
        report.tenants += 1
        while True:
            taken, _ = batch_pending(tenant_id)
            report.rows += taken
            if taken < MAX_ROWS_PER_BATCH:
                break
        if not settings.BILLING_METER_V2:
            send_due(tenant_id, report, pace)
    if settings.BILLING_METER_V2:
        send_due_stream(tenant_ids, report, pace)
    return report
