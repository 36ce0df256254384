"""Revenue on the operator console comes from Stripe: a subscription bought through
Checkout on the local Stripe server (real SDK, real HTTP), its invoice.paid webhook
applied into the local revenue record, margin computed against the rollups' cost; a
paying tenant below the margin threshold gets one signed margin alert."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from django.test import Client
from django.utils import timezone
from pytest_django import Settings

from apps.billing import services
from apps.billing.models import InvoiceRecord
from apps.core.db import tenant_context
from apps.finops import operator, rollups
from apps.tenants import webhooks
from apps.tenants.models import Tenant, WebhookDelivery, WebhookEndpoint
from tests.billing.conftest import owner_and_tenant

# Fixtures of other folders, brought in by name (pytest finds them in this module).
from tests.billing.conftest import stripe as stripe
from tests.billing.conftest import stripe_server as stripe_server
from tests.billing.test_stripe_flows import stripe_events, upgrade
from tests.conftest import owner_of
from tests.finops.conftest import record
from tests.finops.test_operator import staff_user
from tests.tenants.test_webhooks import Receiver
from tests.tenants.test_webhooks import receiver as receiver


def invoices(tenant: Tenant) -> list[InvoiceRecord]:
    with tenant_context(tenant.id):
        return list(InvoiceRecord.objects.all())


@pytest.fixture
def paying(stripe: str) -> Tenant:
    """A tenant that bought Pro through Checkout, with the invoice.paid webhook applied."""
    owner, tenant = owner_and_tenant("Revenue")
    client = Client()
    client.force_login(owner)
    upgrade(client, tenant)
    [paid] = stripe_events("invoice.paid")
    services.event_receive(event_id=paid, event_type="invoice.paid")
    assert services.event_apply(paid).startswith("active")
    return tenant


def test_revenue_comes_from_the_paid_invoice_and_margin_from_the_rollups(
    live_db: None, paying: Tenant
) -> None:
    [invoice] = invoices(paying)
    assert invoice.status == "paid"
    assert invoice.amount_paid_cents > 0
    assert invoice.paid_at is not None
    # A sync (a missed webhook, a new deployment) reads the same invoice: no duplicate.
    assert services.invoices_sync(paying) == 1
    assert [i.stripe_invoice_id for i in invoices(paying)] == [invoice.stripe_invoice_id]

    revenue = Decimal(invoice.amount_paid_cents) / 100
    for cost in ("1.25", "0.75"):
        record(paying.id, cost_usd=Decimal(cost))
    rollups.drain_tenant(paying.id)
    period = operator.month_to_date(timezone.now())
    found = {
        row.tenant_id: row
        for row in operator.tenant_economics(period, actor_id=staff_user().pk, reason="t")
    }
    row = found[str(paying.id)]
    assert (row.plan, row.revenue_usd, row.cost_usd) == ("pro", revenue, Decimal("2.00"))
    assert row.margin_pct == pytest.approx(float((revenue - 2) / revenue * 100))


def test_a_paying_tenant_under_the_threshold_gets_one_signed_margin_alert(
    live_db: None, paying: Tenant, receiver: Receiver, settings: Settings
) -> None:
    with tenant_context(paying.id):
        webhooks.webhook_update(
            tenant=paying, actor=owner_of(paying.id), url=receiver.url, enabled=True
        )
        secret = WebhookEndpoint.objects.get(tenant=paying).secret
    record(paying.id, cost_usd=Decimal("1.00"))
    rollups.drain_tenant(paying.id)
    settings.FINOPS_MARGIN_ALERT_PCT = 99.99  # any cost at all puts it under
    operator.margin_alerts_send(timezone.now())
    operator.margin_alerts_send(timezone.now())  # the next day's run: same month, no resend
    ours = [
        (headers, body)
        for headers, body in receiver.requests
        if json.loads(body)["tenant"]["id"] == str(paying.id)
    ]
    assert len(ours) == 1
    headers, body = ours[0]
    assert webhooks.verify_signature(secret, body, headers["starter-signature"])
    payload = json.loads(body)
    assert payload["type"] == "margin.below_threshold"
    assert payload["data"]["llm_cost_usd"] == "1.00"
    assert payload["data"]["threshold_pct"] == 99.99
    with tenant_context(paying.id):
        assert WebhookDelivery.objects.get().key == f"margin:{timezone.now():%Y-%m}"
