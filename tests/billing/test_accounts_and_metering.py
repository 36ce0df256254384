"""Billing without Stripe's answers: the plan a subscription gives, the ledger's outbox,
batching it for the meter, tenant isolation of billing's tables, forged webhooks."""

from __future__ import annotations

import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from apps.accounts.models import User
from apps.billing import metering, selectors
from apps.billing.models import BillingAccount, MeterBatch, StripeEvent
from apps.billing.services import plan_of
from apps.core.db import setting_context, tenant_context
from apps.gateway.ledger import LedgerEntry, record_sync
from apps.gateway.models import UsageOutbox, UsageRecord
from apps.gateway.types import CallContext
from apps.tenants.models import Tenant
from tests.conftest import add_member, make_user


def ledger_row(
    tenant: Tenant, *, tokens_in: int = 100, tokens_out: int = 50, **kw: str
) -> uuid.UUID:
    ctx = CallContext(tenant_id=tenant.id, feature="chat", request_id="t")
    entry = LedgerEntry(
        ctx=ctx,
        requested_model="fast",
        served_model="dev",
        tokens_in=tokens_in,
        tokens_out=tokens_out,
        cost_usd=Decimal("0.001"),
        **kw,  # type: ignore[arg-type]  # cache= / status= of LedgerEntry
    )
    return record_sync(entry)


def subscribe(tenant: Tenant, *, status: str = "active", customer: str | None = None) -> None:
    with tenant_context(tenant.id):
        BillingAccount.objects.update_or_create(
            tenant=tenant,
            defaults={
                "stripe_customer_id": customer or f"cus_{uuid.uuid4().hex[:12]}",
                "subscription_id": "sub_test",
                "subscription_status": status,
                "subscribed_plan": "pro",
            },
        )


def outbox(tenant: Tenant) -> list[int]:
    with tenant_context(tenant.id):
        return list(UsageOutbox.objects.values_list("tokens", flat=True))


# --- The plan a subscription gives --------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "past_due_days", "plan"),
    [
        ("active", None, "pro"),
        ("trialing", None, "pro"),
        ("past_due", 2, "pro"),  # inside the 7-day grace period
        ("past_due", 8, "free"),  # after it
        ("canceled", None, "free"),
        ("incomplete_expired", None, "free"),
        ("", None, "free"),
    ],
)
def test_the_plan_follows_the_subscription_and_the_grace_period(
    status: str, past_due_days: int | None, plan: str
) -> None:
    now = timezone.now()
    since = None if past_due_days is None else now - timedelta(days=past_due_days)
    account = BillingAccount(
        subscription_status=status, subscribed_plan="pro", past_due_since=since
    )
    assert plan_of(account, now) == plan


# --- The outbox is written with the ledger row ------------------------------------------


def test_a_billable_ledger_row_and_its_outbox_entry_are_one_write(tenant: Tenant) -> None:
    row = ledger_row(tenant, tokens_in=120, tokens_out=30)
    ledger_row(tenant, cache="exact")  # answered from the cache: not billed
    ledger_row(tenant, status="error")  # refused: not billed
    with tenant_context(tenant.id):
        entries = list(UsageOutbox.objects.values_list("usage_record_id", "tokens"))
        assert UsageRecord.objects.count() == 3
    assert entries == [(row, 150)]


def test_outbox_rows_are_tenant_data_under_rls(tenant: Tenant, other_tenant: Tenant) -> None:
    ledger_row(tenant)
    subscribe(tenant)
    with tenant_context(tenant.id):
        MeterBatch.objects.create(tenant=tenant, stripe_customer_id="cus_x", tokens=1, rows=1)
    with tenant_context(other_tenant.id):
        assert UsageOutbox.objects.count() == 0
        assert BillingAccount.objects.count() == 0
        assert MeterBatch.objects.count() == 0
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM billing_billingaccount")
            assert cursor.fetchone() == (0,)
    # Without a context nothing; the drain's narrow policies show only their own rows.
    assert UsageOutbox.objects.count() == 0
    with setting_context({"app.platform_job": "meter_drain"}):
        assert BillingAccount.objects.count() == 0  # not the billing job's policy
        assert UsageOutbox.objects.count() == 1


def test_a_customer_id_opens_only_its_own_account(tenant: Tenant, other_tenant: Tenant) -> None:
    subscribe(tenant, customer="cus_alpha")
    subscribe(other_tenant, customer="cus_beta")
    assert selectors.tenant_of_customer("cus_alpha") == tenant.id
    assert selectors.tenant_of_customer("cus_nobody") is None
    with setting_context({"app.stripe_customer": "cus_alpha"}):
        assert list(BillingAccount.objects.values_list("tenant_id", flat=True)) == [tenant.id]


# --- Batching for the meter ---------------------------------------------------------------


def test_a_subscribed_tenants_outbox_becomes_one_batch_and_is_emptied(tenant: Tenant) -> None:
    subscribe(tenant, customer="cus_batch")
    for tokens in (100, 200, 300):
        ledger_row(tenant, tokens_in=tokens, tokens_out=0)
    assert selectors.tenants_to_meter(timezone.now()) == [tenant.id]
    taken, batch = metering.batch_pending(tenant.id)
    assert taken == 3
    assert batch is not None
    assert (batch.tokens, batch.rows, batch.stripe_customer_id) == (600, 3, "cus_batch")
    assert batch.identifier == f"mb_{batch.id.hex}"
    assert outbox(tenant) == []
    # Taken once: a second pass finds nothing and makes no batch.
    assert metering.batch_pending(tenant.id) == (0, None)


def test_usage_on_free_is_dropped_not_billed(tenant: Tenant) -> None:
    ledger_row(tenant)
    taken, batch = metering.batch_pending(tenant.id)
    assert (taken, batch) == (1, None)
    assert outbox(tenant) == []
    with tenant_context(tenant.id):
        assert MeterBatch.objects.count() == 0


def test_a_batch_too_old_for_stripe_is_flagged_not_sent(tenant: Tenant) -> None:
    subscribe(tenant, customer="cus_old")
    with tenant_context(tenant.id):
        batch = MeterBatch.objects.create(
            tenant=tenant, stripe_customer_id="cus_old", tokens=10, rows=1
        )
        MeterBatch.objects.filter(id=batch.id).update(
            created_at=timezone.now() - timedelta(days=36)
        )
    report = metering.DrainReport()
    metering.send_due(tenant.id, report, metering._Pace(0))
    assert (report.flagged, report.batches_sent, report.failures) == (1, 0, 0)
    with tenant_context(tenant.id):
        batch.refresh_from_db()
    assert batch.flagged
    assert batch.sent_at is None
    assert "35 days" in batch.last_error


# --- Pages and webhooks ---------------------------------------------------------------------


def test_members_cannot_open_billing(member: User, tenant: Tenant) -> None:
    client = Client()
    client.force_login(member)
    slug = tenant.slug
    assert client.get(reverse("billing:billing", args=[slug])).status_code == 403
    response = client.post(reverse("billing:checkout", args=[slug]), {"plan": "pro"})
    assert response.status_code == 403
    assert client.post(reverse("billing:portal", args=[slug])).status_code == 403
    with tenant_context(tenant.id):
        assert BillingAccount.objects.count() == 0


def test_an_outsider_cannot_reach_another_tenants_billing(
    outsider: User, tenant: Tenant, other_tenant: Tenant
) -> None:
    client = Client()
    client.force_login(outsider)
    assert client.get(reverse("billing:billing", args=[tenant.slug])).status_code == 404
    response = client.post(reverse("billing:checkout", args=[tenant.slug]), {"plan": "pro"})
    assert response.status_code == 404


@pytest.mark.parametrize(
    "signature",
    ["", "t=1,v1=deadbeef", "t=1700000000,v1=" + "0" * 64],
)
def test_a_forged_webhook_is_refused_and_changes_nothing(db: None, signature: str) -> None:
    body = b'{"id": "evt_forged", "object": "event", "type": "customer.subscription.deleted"}'
    response = Client().post(
        reverse("billing:stripe_webhook"),
        data=body,
        content_type="application/json",
        headers={"Stripe-Signature": signature},
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_signature"
    assert not StripeEvent.objects.exists()


def test_an_owner_sees_the_plan_seats_and_usage_with_no_stripe_customer(
    owner: User, member: User, tenant: Tenant
) -> None:
    ledger_row(tenant, tokens_in=1_000, tokens_out=234)
    client = Client()
    client.force_login(owner)
    page = client.get(reverse("billing:billing", args=[tenant.slug]))
    assert page.status_code == 200
    html = page.content.decode()
    assert 'data-plan="free"' in html
    assert "1,234" in html  # tokens this period
    assert '<div class="stat-value">$0.0010</div>' in html  # AI cost: below a cent, not $0.00
    assert "2 <small" in html  # seats used: owner and member
    assert 'data-plan-card="pro"' in html
    assert "Upgrade to Pro" in html
    assert "Manage billing" not in html  # no Stripe customer yet


def test_checkout_is_refused_while_subscribed_and_over_the_seats(
    owner: User, tenant: Tenant
) -> None:
    client = Client()
    client.force_login(owner)
    url = reverse("billing:checkout", args=[tenant.slug])
    subscribe(tenant)
    refused = client.post(url, {"plan": "enterprise"}, follow=True)
    assert "already has a subscription" in refused.content.decode()
    with tenant_context(tenant.id):
        BillingAccount.objects.filter(tenant=tenant).update(subscription_status="canceled")
        for n in range(25):  # 26 members: Pro includes 25 seats
            add_member(tenant, make_user(f"seat-{n}@example.com"))
    refused = client.post(url, {"plan": "pro"}, follow=True)
    assert "Pro includes 25 seats and this organisation has 26 members" in refused.content.decode()
    assert "Remove 1 of them" in refused.content.decode()
    unknown = client.post(url, {"plan": "platinum"}, follow=True)
    assert "Choose a paid plan" in unknown.content.decode()


def test_reconcile_command_says_how_to_write_a_date(db: None) -> None:
    with pytest.raises(CommandError, match="YYYY-MM-DD"):
        call_command("billing_reconcile", date="03/12/2026")
