"""Billing's part of /metrics: the meter outbox backlog, read at scrape time (so one
number for every process), registered in ``BillingConfig.ready``."""

from __future__ import annotations

from collections.abc import Iterator

from django.utils import timezone
from prometheus_client.core import GaugeMetricFamily, Metric

from apps.billing.selectors import meter_backlog
from apps.core.metrics import NAMESPACE


def backlog() -> Iterator[Metric]:
    found = meter_backlog(timezone.now())
    family = GaugeMetricFamily(
        f"{NAMESPACE}_billing_meter_backlog",
        "Usage not yet accepted by Stripe: outbox_rows (ledger rows not batched yet), "
        "batches_unsent, batches_overdue (past their retry time), batches_flagged "
        "(too old for Stripe, left for an operator).",
        labels=["kind"],
    )
    for kind, count in found.items():
        family.add_metric([kind], float(count))
    yield family
