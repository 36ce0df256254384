"""Billing's tables: each tenant's Stripe account, the webhook events applied, the
meter batches sent. Tenant data under RLS (see the migrations); ``StripeEvent`` holds
only an event's id and type, no tenant data."""

from __future__ import annotations

from django.db import models

from apps.core.models import TenantScopedModel
from apps.tenants.plans import PlanTier


class SubscriptionStatus(models.TextChoices):
    NONE = "", "No subscription"
    INCOMPLETE = "incomplete", "Incomplete"
    TRIALING = "trialing", "Trialing"
    ACTIVE = "active", "Active"
    PAST_DUE = "past_due", "Payment failed"
    UNPAID = "unpaid", "Unpaid"
    CANCELED = "canceled", "Cancelled"
    INCOMPLETE_EXPIRED = "incomplete_expired", "Expired"
    PAUSED = "paused", "Paused"


class BillingAccount(TenantScopedModel):
    """A tenant's Stripe customer and the state of its subscription, as last read from
    Stripe. The tenant's plan (``Tenant.plan``) follows from it (services.py)."""

    tenant = models.OneToOneField("tenants.Tenant", on_delete=models.CASCADE, related_name="+")
    stripe_customer_id = models.CharField(max_length=255, unique=True, null=True, blank=True)
    subscription_id = models.CharField(max_length=255, blank=True)
    subscription_status = models.CharField(
        max_length=20, choices=SubscriptionStatus.choices, blank=True
    )
    subscribed_plan = models.CharField(max_length=20, choices=PlanTier.choices, blank=True)
    current_period_start = models.DateTimeField(null=True, blank=True)
    current_period_end = models.DateTimeField(null=True, blank=True)
    cancel_at_period_end = models.BooleanField(default=False)
    past_due_since = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.stripe_customer_id or 'no customer'} {self.subscription_status}"


class InvoiceRecord(TenantScopedModel):
    """A Stripe invoice of the tenant as last read (invoice webhooks, ``invoices_sync``):
    the local revenue record the operator console sums, so no page view calls Stripe.
    Amounts in the currency's smallest unit, as Stripe gives them."""

    stripe_invoice_id = models.CharField(max_length=255, unique=True)
    status = models.CharField(max_length=20)
    currency = models.CharField(max_length=3)
    amount_due_cents = models.BigIntegerField(default=0)
    amount_paid_cents = models.BigIntegerField(default=0)
    period_start = models.DateTimeField(null=True, blank=True)
    period_end = models.DateTimeField(null=True, blank=True)
    paid_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=("paid_at",), name="invoice_paid_at_idx")]

    def __str__(self) -> str:
        return f"{self.stripe_invoice_id} {self.status}"


class StripeEvent(models.Model):
    """A webhook event received: its id under a unique key, so it is applied once. The
    event's content is fetched from Stripe when it is applied, never stored here."""

    id = models.CharField(primary_key=True, max_length=255)
    type = models.CharField(max_length=100)
    received_at = models.DateTimeField(auto_now_add=True)
    applied_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ("-received_at",)

    def __str__(self) -> str:
        return f"{self.id} {self.type}"


class MeterBatch(TenantScopedModel):
    """Tokens of some ledger rows, sent to Stripe as ONE meter event whose identifier is
    this row's id: a resend is deduplicated by Stripe, and ``sent_at`` stops resends."""

    stripe_customer_id = models.CharField(max_length=255)
    tokens = models.PositiveBigIntegerField()
    rows = models.PositiveIntegerField()
    sent_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=300, blank=True)
    # Older than Stripe accepts (35 days): left for an operator, never sent.
    flagged = models.BooleanField(default=False)

    class Meta:
        indexes = [
            models.Index(
                fields=("tenant", "created_at"),
                name="meterbatch_unsent_idx",
                condition=models.Q(sent_at__isnull=True, flagged=False),
            )
        ]

    @property
    def identifier(self) -> str:
        return f"mb_{self.id.hex}"

    def __str__(self) -> str:
        return f"{self.tokens} tokens ({self.rows} rows)"


class MeterReconciliation(models.Model):
    """An hour whose tokens differ between the batches sent and Stripe's meter summary,
    found by the daily reconciliation. For operators (Django admin): a Stripe customer
    and totals, like ``StripeEvent`` no tenant content, so not under RLS."""

    stripe_customer_id = models.CharField(max_length=255)
    hour = models.DateTimeField()
    local_tokens = models.PositiveBigIntegerField()
    stripe_tokens = models.PositiveBigIntegerField()
    resent = models.BooleanField(default=False)
    checked_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("-hour",)

    def __str__(self) -> str:
        return f"{self.stripe_customer_id} {self.hour:%Y-%m-%d %H}h"
