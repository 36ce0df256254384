"""Checkout, webhooks, plan changes and metering against the local Stripe server."""

from __future__ import annotations

import time
from datetime import timedelta
from urllib.parse import urlsplit

import httpx
from asgiref.sync import async_to_sync
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from pytest_django import Settings

from apps.billing import metering, selectors, services, stripe_api
from apps.billing.catalogue import PAID_PLANS
from apps.billing.models import BillingAccount, MeterBatch, MeterReconciliation, StripeEvent
from apps.billing.reconcile import reconcile
from apps.core.db import setting_context, tenant_context
from apps.gateway.config import resolve, resolve_sync
from apps.gateway.types import CallContext
from apps.tenants.models import Tenant
from tests.billing.conftest import (
    GOOD_CARD,
    control,
    deliver_webhooks_to,
    owner_and_tenant,
    plan_of,
    wait_until,
)
from tests.billing.test_accounts_and_metering import ledger_row, outbox, subscribe


def upgrade(client: Client, tenant: Tenant, plan: str = "pro", card: str = GOOD_CARD) -> str:
    """Start Checkout from the billing page, pay on the local Checkout page, come back;
    the path the app redirected to."""
    started = client.post(reverse("billing:checkout", args=[tenant.slug]), {"plan": plan})
    assert started.status_code == 302, started.content
    paid = httpx.post(started["Location"], data={"card": card}, follow_redirects=False)
    assert paid.status_code == 303, paid.text
    back = urlsplit(paid.headers["location"])
    assert back.path == reverse("billing:checkout_done", args=[tenant.slug])
    done = client.get(f"{back.path}?{back.query}")
    assert done.status_code == 302
    return str(done["Location"])


def stripe_events(event_type: str) -> list[str]:
    """The ids of the local server's events of this type (it is reset for each test)."""
    found = stripe_api.client().v1.events.list(params={"type": event_type, "limit": 10})
    return [event.id for event in found.data]


def is_applied(event_id: str) -> bool:
    return StripeEvent.objects.filter(id=event_id, applied_at__isnull=False).exists()


def every_event_applied() -> bool:
    """Whether the app has applied every event the local server has sent (a later event
    changes the plan too, so a test that moves the clock waits for them all)."""
    found = stripe_api.client().v1.events.list(params={"limit": 100})
    return all(is_applied(event.id) for event in found.data)


def account(tenant: Tenant) -> BillingAccount:
    with tenant_context(tenant.id):
        return BillingAccount.objects.get(tenant=tenant)


def test_checkout_then_webhooks_change_the_plan_and_the_gateway_limits(
    live_db: None, stripe: str, app_server: str
) -> None:
    deliver_webhooks_to(stripe, app_server)
    owner, tenant = owner_and_tenant()
    ctx = CallContext(tenant_id=tenant.id, feature="chat")
    assert resolve_sync(ctx).tokens_per_day == 100_000  # Free
    assert async_to_sync(resolve)(ctx).tokens_per_day == 100_000  # now cached in Redis
    client = Client()
    client.force_login(owner)

    assert upgrade(client, tenant) == reverse("billing:billing", args=[tenant.slug])
    assert plan_of(tenant) == "pro"
    assert resolve_sync(ctx).tokens_per_day == 1_000_000
    # The gateway's cached config was dropped when the plan changed.
    assert async_to_sync(resolve)(ctx).tokens_per_day == 1_000_000
    state = account(tenant)
    assert (state.subscription_status, state.subscribed_plan) == ("active", "pro")
    # The webhooks arrive too, and applying them again changes nothing.
    events = [
        *stripe_events("checkout.session.completed"),
        *stripe_events("customer.subscription.created"),
        *stripe_events("invoice.paid"),
    ]
    assert len(events) == 3
    wait_until(lambda: all(map(is_applied, events)), "the checkout's webhooks to be applied")
    page = client.get(reverse("billing:billing", args=[tenant.slug])).content.decode()
    assert 'data-plan="pro"' in page
    assert "Manage billing" in page
    assert "Renews on" in page


def test_duplicate_and_reordered_webhooks_leave_one_correct_state(
    live_db: None, stripe: str, app_server: str
) -> None:
    deliver_webhooks_to(stripe, app_server)
    owner, tenant = owner_and_tenant("Reorder")
    client = Client()
    client.force_login(owner)
    upgrade(client, tenant)
    (event,) = stripe_events("customer.subscription.created")
    wait_until(lambda: is_applied(event), "the subscription event")
    created = StripeEvent.objects.get(id=event)
    # A duplicate: delivered again, stored once, applied once.
    control(stripe, f"events/{event}/resend")
    time.sleep(1)
    assert StripeEvent.objects.filter(id=event).count() == 1
    assert StripeEvent.objects.get(id=event).applied_at == created.applied_at

    # Cancel at the period's end, and the period ends, with delivery paused; then the
    # events arrive newest first. Each is applied from Stripe's current state.
    deliver_webhooks_to(stripe, None)
    portal = client.post(reverse("billing:portal", args=[tenant.slug]))
    subscription = account(tenant).subscription_id
    cancel = httpx.post(f"{portal['Location']}/subscriptions/{subscription}/cancel")
    assert cancel.status_code in (200, 303)
    control(stripe, "clock/advance", {"seconds": 32 * 24 * 3600})
    (deleted,) = stripe_events("customer.subscription.deleted")
    (updated,) = stripe_events("customer.subscription.updated")
    deliver_webhooks_to(stripe, app_server)
    for event in (deleted, updated):  # newest first
        control(stripe, f"events/{event}/resend")
    wait_until(lambda: is_applied(deleted) and is_applied(updated), "the reordered events")
    assert plan_of(tenant) == "free"
    assert account(tenant).subscription_status == "canceled"


def test_a_failed_payment_keeps_the_plan_for_the_grace_period_then_free(
    live_db: None, stripe: str, app_server: str
) -> None:
    deliver_webhooks_to(stripe, app_server)
    owner, tenant = owner_and_tenant("Grace")
    client = Client()
    client.force_login(owner)
    upgrade(client, tenant)
    portal = client.post(reverse("billing:portal", args=[tenant.slug]))
    subscription = account(tenant).subscription_id
    httpx.post(f"{portal['Location']}/subscriptions/{subscription}/fail")
    wait_until(lambda: account(tenant).subscription_status == "past_due", "past_due")
    # invoice.payment_failed follows the subscription's update: were it applied after the
    # clock moves, it would put the tenant on Free itself, before grace_enforce could.
    wait_until(every_event_applied, "every webhook applied")
    assert plan_of(tenant) == "pro"  # within the grace period
    page = client.get(reverse("tenants:dashboard", args=[tenant.slug])).content.decode()
    assert 'data-banner="past-due"' in page
    with tenant_context(tenant.id):
        BillingAccount.objects.filter(tenant=tenant).update(
            past_due_since=timezone.now() - timedelta(days=8)
        )
    from apps.billing.services import grace_enforce

    assert grace_enforce() >= 1
    assert plan_of(tenant) == "free"


def test_usage_reaches_the_meter_once_through_an_outage(live_db: None, stripe: str) -> None:
    _, tenant = owner_and_tenant("Meter")
    customer = stripe_api.customer_create(tenant_id=str(tenant.id), name="Meter", email="m@x.io")
    subscribe(tenant, customer=customer)
    started = timezone.now() - timedelta(minutes=1)
    for n in range(40):
        ledger_row(tenant, tokens_in=100 + n, tokens_out=10)
    expected = sum(100 + n + 10 for n in range(40))

    control(stripe, "faults", {"status": 500, "count": 100})  # Stripe is down
    # The drain sees every tenant of the shared test database: assert on this one.
    assert metering.drain().failures >= 1
    assert outbox(tenant) == []
    with tenant_context(tenant.id):
        (batch,) = MeterBatch.objects.all()
        assert (batch.tokens, batch.sent_at, batch.attempts) == (expected, None, 1)
        # Also, a send that reached Stripe but whose answer was lost: the identifier
        # is the same when it is sent again.
    control(stripe, "faults", {"clear": True})
    stripe_api.meter_event_create(
        customer_id=customer,
        tokens=batch.tokens,
        identifier=batch.identifier,
        timestamp=batch.created_at,
    )
    with tenant_context(tenant.id):
        MeterBatch.objects.filter(id=batch.id).update(next_attempt_at=None)
    for _ in range(5):  # more usage while it recovers
        ledger_row(tenant, tokens_in=50, tokens_out=0)
    metering.drain()
    with tenant_context(tenant.id):
        sent = MeterBatch.objects.filter(sent_at__isnull=False)
        assert sent.count() == MeterBatch.objects.count() == 2
    hour = started.replace(minute=0, second=0, microsecond=0)
    summaries = stripe_api.meter_summaries(
        customer_id=customer, start=hour, end=hour + timedelta(hours=3)
    )
    assert sum(s.tokens for s in summaries) == expected + 5 * 50


def test_stripe_down_during_checkout_says_so_and_stores_nothing(live_db: None, stripe: str) -> None:
    owner, tenant = owner_and_tenant("Down")
    client = Client()
    client.force_login(owner)
    control(stripe, "faults", {"status": 500, "count": 10})
    response = client.post(
        reverse("billing:checkout", args=[tenant.slug]), {"plan": "pro"}, follow=True
    )
    assert "Stripe could not be reached" in response.content.decode()
    assert "Nothing was charged" in response.content.decode()
    assert account(tenant).stripe_customer_id is None
    assert plan_of(tenant) == "free"


def test_reconciliation_finds_an_hour_stripe_missed_and_sends_it_again(
    live_db: None, stripe: str
) -> None:
    _, tenant = owner_and_tenant("Reconcile")
    customer = stripe_api.customer_create(tenant_id=str(tenant.id), name="R", email="r@x.io")
    subscribe(tenant, customer=customer)
    for _ in range(3):
        ledger_row(tenant, tokens_in=100, tokens_out=0)
    metering.drain()
    with tenant_context(tenant.id):
        assert MeterBatch.objects.filter(sent_at__isnull=False).count() == 1
    # A batch marked sent whose event never reached Stripe (the record of a lost send).
    with tenant_context(tenant.id):
        lost = MeterBatch.objects.create(
            tenant=tenant, stripe_customer_id=customer, tokens=77, rows=1, sent_at=timezone.now()
        )
    start = timezone.now().replace(minute=0, second=0, microsecond=0)
    report = reconcile(start=start, end=start + timedelta(hours=1))
    assert (report.customers, report.differences, report.resent_batches) == (1, 1, 2)
    (difference,) = MeterReconciliation.objects.filter(stripe_customer_id=customer)
    assert (difference.local_tokens, difference.stripe_tokens, difference.resent) == (
        377,
        300,
        True,
    )
    # Sent again with their own identifiers: the batch Stripe had is not counted twice.
    summaries = stripe_api.meter_summaries(
        customer_id=customer, start=start, end=start + timedelta(hours=1)
    )
    assert sum(s.tokens for s in summaries) == 377
    again = reconcile(start=start, end=start + timedelta(hours=1))
    assert again.differences == 0
    assert lost.identifier.startswith("mb_")


def test_the_v2_stream_meters_many_customers_in_one_request_once(
    live_db: None, stripe: str, settings: Settings
) -> None:
    settings.BILLING_METER_V2 = True
    stripe_api.reset_stream_session()
    customers = []
    for n in range(3):
        _, tenant = owner_and_tenant(f"Stream {n}")
        customer = stripe_api.customer_create(tenant_id=str(tenant.id), name="S", email="s@x.io")
        subscribe(tenant, customer=customer)
        ledger_row(tenant, tokens_in=1000 * (n + 1), tokens_out=0)
        customers.append(customer)
    metering.drain()
    # Sent again (a lost answer): the identifiers are the same, nothing counts twice.
    with setting_context({"app.platform_job": "meter_drain"}):
        batches = list(MeterBatch.objects.filter(stripe_customer_id__in=customers))
    assert len(batches) == 3
    assert all(batch.sent_at is not None for batch in batches)
    stripe_api.meter_events_stream(
        [
            stripe_api.MeterEvent(b.stripe_customer_id, b.tokens, b.identifier, b.created_at)
            for b in batches
        ]
    )
    hour = timezone.now().replace(minute=0, second=0, microsecond=0)
    totals = [
        sum(
            s.tokens
            for s in stripe_api.meter_summaries(
                customer_id=c, start=hour - timedelta(hours=1), end=hour + timedelta(hours=1)
            )
        )
        for c in customers
    ]
    assert totals == [1000, 2000, 3000]


def test_events_for_unknown_customers_and_types_are_recorded_and_change_nothing(
    live_db: None, stripe: str, app_server: str
) -> None:
    deliver_webhooks_to(stripe, app_server)
    # A subscription bought for a customer no organisation has (made outside the app).
    stranger = stripe_api.customer_create(tenant_id="none", name="Stranger", email="s@x.io")
    url = stripe_api.checkout_session_create(
        customer_id=stranger,
        plan=PAID_PLANS["pro"],
        tenant_id="none",
        success_url="http://127.0.0.1:9/done?session_id={CHECKOUT_SESSION_ID}",
        cancel_url="http://127.0.0.1:9/",
    )
    assert httpx.post(url, data={"card": GOOD_CARD}, follow_redirects=False).status_code == 303
    (event,) = stripe_events("customer.subscription.created")
    wait_until(lambda: is_applied(event), "the stranger's event")
    outcome = StripeEvent.objects.get(id=event).outcome
    assert outcome == f"ignored: no organisation has customer {stranger}"
    assert selectors.tenant_of_customer(stranger) is None
    assert services._apply("charge.refunded", {}) == "ignored: not an event billing uses"
