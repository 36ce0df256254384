"""Daily reconciliation: the tokens sent to Stripe's meter, hour by hour, against what
Stripe's meter summaries say it counted.

For each customer with batches sent in the window, and each hour where the two differ,
a ``MeterReconciliation`` row is written for operators. A shortfall is healed by sending
that hour's batches again, with their own identifiers, when that cannot count twice:
when Stripe counted nothing for the hour, or when every batch of the hour is younger than
Stripe's 24-hour deduplication window (Stripe drops the ones it has). Otherwise the row
is left for an operator. Run by Celery beat each night for the day before, or by hand:
``manage.py billing_reconcile --date YYYY-MM-DD``.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models.functions import TruncHour
from django.utils import timezone

from apps.billing import stripe_api
from apps.billing.models import MeterBatch, MeterReconciliation
from apps.billing.selectors import PLATFORM_JOB_SETTING
from apps.core.db import setting_context

logger = logging.getLogger(__name__)

STRIPE_DEDUP_WINDOW = timedelta(hours=24)


@dataclass
class ReconcileReport:
    customers: int = 0
    customers_refused: int = 0
    hours_checked: int = 0
    differences: int = 0
    resent_batches: int = 0


def _sent_batches(start: datetime, end: datetime) -> list[MeterBatch]:
    with setting_context({PLATFORM_JOB_SETTING: "meter_drain"}):
        return list(
            MeterBatch.objects.filter(
                sent_at__isnull=False, created_at__gte=start, created_at__lt=end
            ).annotate(hour=TruncHour("created_at"))
        )


def reconcile(*, start: datetime, end: datetime) -> ReconcileReport:
    """Compare and heal the whole hours in ``[start, end)``."""
    report = ReconcileReport()
    by_customer: dict[str, dict[datetime, list[MeterBatch]]] = defaultdict(
        lambda: defaultdict(list)
    )
    for batch in _sent_batches(start, end):
        by_customer[batch.stripe_customer_id][batch.hour].append(  # type: ignore[attr-defined]
            batch
        )
    now = timezone.now()
    for customer, hours in by_customer.items():
        try:
            summaries = stripe_api.meter_summaries(customer_id=customer, start=start, end=end)
        except stripe_api.StripeRefused as exc:
            # One customer Stripe will not answer for (deleted, say) must not stop the rest.
            report.customers_refused += 1
            logger.error(
                "meter reconciliation refused", extra={"customer": customer, "error": exc.message}
            )
            continue
        report.customers += 1
        counted = {summary.start: summary.tokens for summary in summaries}
        for hour, batches in sorted(hours.items()):
            report.hours_checked += 1
            local = sum(batch.tokens for batch in batches)
            remote = counted.get(hour, 0)
            if local == remote:
                continue
            report.differences += 1
            heal = remote < local and (
                remote == 0 or all(now - b.created_at < STRIPE_DEDUP_WINDOW for b in batches)
            )
            if heal:
                for batch in batches:
                    stripe_api.meter_event_create(
                        customer_id=customer,
                        tokens=batch.tokens,
                        identifier=batch.identifier,
                        timestamp=batch.created_at,
                    )
                report.resent_batches += len(batches)
            MeterReconciliation.objects.create(
                stripe_customer_id=customer,
                hour=hour,
                local_tokens=local,
                stripe_tokens=remote,
                resent=heal,
            )
            logger.warning(
                "meter difference",
                extra={
                    "customer": customer,
                    "hour": hour.isoformat(),
                    "local": local,
                    "stripe": remote,
                    "resent": heal,
                },
            )
    return report


def reconcile_day(day: datetime) -> ReconcileReport:
    start = day.replace(hour=0, minute=0, second=0, microsecond=0)
    return reconcile(start=start, end=start + timedelta(days=1))
