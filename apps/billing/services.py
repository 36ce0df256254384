"""Writes for billing: start Checkout and the portal, follow subscriptions, apply events.

The subscription decides the plan: ``subscription_sync`` reads it from Stripe (never
from an event's body, so events applied out of order converge on Stripe's current state)
and puts the tenant on the plan it pays for. ``event_apply`` applies each webhook event
once: the event's row is locked and marked applied in the same transaction as its
effect. Checkout and the portal are for owners and admins only (checked here).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.billing import selectors, stripe_api
from apps.billing.catalogue import PAID_PLANS
from apps.billing.models import BillingAccount, InvoiceRecord, StripeEvent, SubscriptionStatus
from apps.core.db import tenant_context
from apps.core.errors import NotAllowed, ServiceError
from apps.gateway.config import invalidate as forget_gateway_config
from apps.tenants.models import Membership, Notification, Tenant
from apps.tenants.plans import PlanTier, limits_for
from apps.tenants.services import tenant_set_plan

logger = logging.getLogger(__name__)

# Statuses in which the subscription's plan applies (past_due: for the grace period).
PAYING = {SubscriptionStatus.ACTIVE, SubscriptionStatus.TRIALING}
LIVE = PAYING | {SubscriptionStatus.PAST_DUE, SubscriptionStatus.UNPAID}


def _require_manager(tenant: Tenant, actor: Membership) -> None:
    if actor.tenant_id != tenant.id or not actor.can_manage:
        raise NotAllowed("Only owners and admins can manage billing.")


def account_for(tenant: Tenant) -> BillingAccount:
    """The tenant's billing account, made on first use. Call inside tenant_context."""
    account, _ = BillingAccount.objects.get_or_create(tenant=tenant)
    return account


def _customer_id(tenant: Tenant, actor: Membership) -> str:
    account = account_for(tenant)
    if not account.stripe_customer_id:
        account.stripe_customer_id = stripe_api.customer_create(
            tenant_id=str(tenant.id), name=tenant.name, email=actor.user.email
        )
        account.save(update_fields=["stripe_customer_id", "updated_at"])
    return account.stripe_customer_id


def checkout_start(
    *, tenant: Tenant, actor: Membership, plan: str, success_url: str, cancel_url: str
) -> str:
    """The Checkout page for subscribing to ``plan``. Refused (``ServiceError``) for an
    unknown plan, a tenant already subscribed (change it in the portal), or more members
    than the plan's seats. Call inside tenant_context."""
    _require_manager(tenant, actor)
    price = PAID_PLANS.get(plan)
    if price is None:
        raise ServiceError(f"Choose a paid plan: {', '.join(p.name for p in PAID_PLANS.values())}.")
    account = account_for(tenant)
    if account.subscription_status in LIVE:
        raise ServiceError(
            "This organisation already has a subscription. Change or cancel it with "
            "Manage billing.",
            code="already_subscribed",
        )
    seats = limits_for(plan).seats
    members = Membership.objects.filter(tenant=tenant).count()
    if seats is not None and members > seats:
        raise ServiceError(
            f"{price.name} includes {seats} seats and this organisation has {members} "
            f"members. Remove {members - seats} of them on the Members page, or choose a "
            "larger plan.",
            code="too_many_members",
        )
    return stripe_api.checkout_session_create(
        customer_id=_customer_id(tenant, actor),
        plan=price,
        tenant_id=str(tenant.id),
        success_url=success_url,
        cancel_url=cancel_url,
    )


def portal_open(*, tenant: Tenant, actor: Membership, return_url: str) -> str:
    """The Stripe customer portal (card, cancel, invoices). Call inside tenant_context."""
    _require_manager(tenant, actor)
    return stripe_api.portal_session_create(
        customer_id=_customer_id(tenant, actor), return_url=return_url
    )


# --- Following the subscription ---------------------------------------------------------


def plan_of(account: BillingAccount, now: datetime) -> str:
    """The plan the account's subscription gives: its plan while paid, and for
    BILLING_GRACE_DAYS after a failed payment; Free otherwise."""
    if not account.subscribed_plan:
        return PlanTier.FREE
    if account.subscription_status in PAYING:
        return account.subscribed_plan
    in_grace = account.past_due_since is not None and now < grace_ends(account)
    if account.subscription_status in LIVE and in_grace:
        return account.subscribed_plan
    return PlanTier.FREE


def grace_ends(account: BillingAccount) -> datetime:
    assert account.past_due_since is not None  # noqa: S101 - callers check
    return account.past_due_since + timedelta(days=settings.BILLING_GRACE_DAYS)


def subscription_sync(subscription_id: str, *, reason: str) -> str:
    """Read the subscription from Stripe and apply it to its tenant; what happened."""
    sub = stripe_api.subscription_retrieve(subscription_id)
    tenant_id = selectors.tenant_of_customer(sub.customer_id)
    if tenant_id is None:
        return f"ignored: no organisation has customer {sub.customer_id}"
    with tenant_context(tenant_id):
        account = BillingAccount.objects.select_for_update().get(tenant_id=tenant_id)
        superseded = (
            account.subscription_id
            and account.subscription_id != sub.id
            and account.subscription_status in LIVE
            and sub.status not in LIVE
        )
        if superseded:
            return f"ignored: {sub.id} is not the organisation's current subscription"
        was_past_due = account.subscription_status == SubscriptionStatus.PAST_DUE
        account.subscription_id = sub.id
        account.subscription_status = sub.status
        account.subscribed_plan = sub.plan or ""
        account.current_period_start = sub.current_period_start
        account.current_period_end = sub.current_period_end
        account.cancel_at_period_end = sub.cancel_at_period_end
        if sub.status in (SubscriptionStatus.PAST_DUE, SubscriptionStatus.UNPAID):
            account.past_due_since = account.past_due_since or timezone.now()
        else:
            account.past_due_since = None
        account.save()
        tenant = Tenant.objects.get(id=tenant_id)
        changed = _apply_plan(tenant, account, reason=reason)
        if sub.status == SubscriptionStatus.PAST_DUE and not was_past_due:
            _notify_payment_failed(tenant, account)
    return f"{sub.status}: plan {tenant.plan}{' (changed)' if changed else ''}"


def _apply_plan(tenant: Tenant, account: BillingAccount, *, reason: str) -> bool:
    changed = tenant_set_plan(tenant=tenant, plan=plan_of(account, timezone.now()), reason=reason)
    if changed:
        # The gateway reads limits from its cached config: forget it once this commits.
        transaction.on_commit(lambda: forget_gateway_config(tenant.id))
        Notification.objects.create(
            tenant=tenant,
            kind="billing.plan",
            level="info",
            title=f"Your organisation is now on the {tenant.get_plan_display()} plan.",
            body=_limits_text(tenant.plan),
        )
    return changed


def _limits_text(plan: str) -> str:
    limits = limits_for(plan)
    tokens = "unlimited" if limits.tokens_per_day is None else f"{limits.tokens_per_day:,}"
    seats = "unlimited" if limits.seats is None else str(limits.seats)
    return f"{tokens} tokens a day, {seats} seats."


def _notify_payment_failed(tenant: Tenant, account: BillingAccount) -> None:
    Notification.objects.create(
        tenant=tenant,
        kind="billing.payment_failed",
        level="error",
        title="A payment failed.",
        body=(
            f"Update the card in Billing → Manage billing before "
            f"{grace_ends(account):%d %B %Y}, or the organisation moves to the Free plan."
        ),
    )


def grace_enforce() -> int:
    """Put tenants whose grace period after a failed payment has ended on Free."""
    now, moved = timezone.now(), 0
    for tenant_id in selectors.tenants_past_due():
        with tenant_context(tenant_id):
            account = BillingAccount.objects.select_for_update().get(tenant_id=tenant_id)
            if account.past_due_since is None or now < grace_ends(account):
                continue
            tenant = Tenant.objects.get(id=tenant_id)
            moved += _apply_plan(tenant, account, reason="grace period ended")
    return moved


# --- Webhook events ---------------------------------------------------------------------


def event_receive(*, event_id: str, event_type: str) -> bool:
    """Store a verified event's id; True when it is new (a duplicate changes nothing)."""
    _, created = StripeEvent.objects.get_or_create(id=event_id, defaults={"type": event_type})
    return created


def event_apply(event_id: str) -> str:
    """Apply a received event once; its outcome. Raises ``StripeUnavailable`` (nothing
    applied, the task retries) when Stripe cannot be reached."""
    with transaction.atomic():
        row = StripeEvent.objects.select_for_update().filter(id=event_id).first()
        if row is None or row.applied_at is not None:
            return "already applied" if row else "unknown event"
        event = stripe_api.event_retrieve(event_id)
        outcome = _apply(event.type, event.object)
        row.applied_at, row.outcome = timezone.now(), outcome[:200]
        row.save(update_fields=["applied_at", "outcome"])
    logger.info("stripe event applied", extra={"event": event_id, "outcome": outcome})
    return outcome


# --- Revenue: the local record of invoices ---------------------------------------------


def invoice_record(invoice: stripe_api.Invoice) -> str:
    """Store or update the invoice under its tenant (found by its Stripe customer)."""
    tenant_id = selectors.tenant_of_customer(invoice.customer_id)
    if tenant_id is None:
        return f"ignored: no organisation has customer {invoice.customer_id}"
    with tenant_context(tenant_id):
        InvoiceRecord.objects.update_or_create(
            stripe_invoice_id=invoice.id,
            defaults={
                "tenant_id": tenant_id,
                "status": invoice.status,
                "currency": invoice.currency[:3],
                "amount_due_cents": invoice.amount_due_cents,
                "amount_paid_cents": invoice.amount_paid_cents,
                "period_start": invoice.period_start,
                "period_end": invoice.period_end,
                "paid_at": invoice.paid_at,
            },
        )
    return f"invoice {invoice.id} recorded ({invoice.status})"


def invoices_sync(tenant: Tenant) -> int:
    """Read the tenant's recent invoices from Stripe into the revenue record (a webhook
    missed, a new deployment); how many. Call outside a transaction: it calls Stripe."""
    with tenant_context(tenant.id):
        customer = (
            BillingAccount.objects.filter(tenant=tenant)
            .values_list("stripe_customer_id", flat=True)
            .first()
        )
    if not customer:
        return 0
    found = stripe_api.invoices_list(customer, limit=24)
    for invoice in found:
        invoice_record(invoice)
    return len(found)


def _subscription_of(obj: dict[str, Any]) -> str | None:
    found = obj.get("subscription")
    if isinstance(found, dict):
        found = found.get("id")
    if found is None:  # invoices name it under parent.subscription_details since 2025
        found = ((obj.get("parent") or {}).get("subscription_details") or {}).get("subscription")
    return str(found) if found else None


def _apply(event_type: str, obj: dict[str, Any]) -> str:
    if event_type.startswith("customer.subscription."):
        return subscription_sync(str(obj["id"]), reason=event_type)
    if event_type.startswith("invoice.") and obj.get("id"):
        # An invoice event also updates the local revenue record (operator console).
        recorded = invoice_record(stripe_api.invoice_from_dict(obj))
        if event_type not in ("invoice.paid", "invoice.payment_failed"):
            return recorded
    if event_type in ("checkout.session.completed", "invoice.paid", "invoice.payment_failed"):
        subscription = _subscription_of(obj)
        if subscription is None:
            return "ignored: no subscription"
        return subscription_sync(subscription, reason=event_type)
    if event_type.startswith("billing.meter."):
        logger.error("stripe meter error report", extra={"event_type": event_type, "report": obj})
        return "logged: meter error report"
    return "ignored: not an event billing uses"
