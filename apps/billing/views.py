"""Billing pages (owners and admins) and the Stripe webhook endpoint."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from django.contrib import messages
from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from apps.billing import selectors, services, stripe_api, tasks
from apps.billing.catalogue import PAID_PLANS
from apps.billing.models import BillingAccount, SubscriptionStatus
from apps.core.errors import ServiceError
from apps.core.http import error_response
from apps.tenants.access import manager_required
from apps.tenants.http import MemberRequest
from apps.tenants.models import Membership
from apps.tenants.plans import PLAN_LIMITS, PlanTier

logger = logging.getLogger(__name__)


def _absolute(request: HttpRequest, name: str, slug: str) -> str:
    return request.build_absolute_uri(reverse(name, args=[slug]))


def _period_start(account: BillingAccount, now: datetime) -> datetime:
    if account.current_period_start and account.subscription_status in services.LIVE:
        return account.current_period_start
    return now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def _from_stripe(account: BillingAccount) -> dict[str, Any]:
    """Invoices and the next invoice's estimate; a note instead when Stripe is down."""
    if not account.stripe_customer_id:
        return {"invoices": [], "upcoming": None}
    try:
        invoices = stripe_api.invoices_list(account.stripe_customer_id)
        upcoming = None
        if account.subscription_status in services.LIVE and account.subscription_id:
            upcoming = stripe_api.invoice_preview(
                customer_id=account.stripe_customer_id, subscription_id=account.subscription_id
            )
    except ServiceError as exc:
        return {"invoices": [], "upcoming": None, "stripe_error": exc.message}
    return {"invoices": invoices, "upcoming": upcoming}


@manager_required
def billing(request: MemberRequest, slug: str) -> HttpResponse:
    tenant = request.tenant
    account = services.account_for(tenant)
    now = timezone.now()
    since = _period_start(account, now)
    plans = [
        {
            "tier": tier,
            "name": PlanTier(tier).label,
            "limits": PLAN_LIMITS[tier],
            "price": PAID_PLANS.get(tier),
            "current": tenant.plan == tier,
        }
        for tier in PlanTier.values
    ]
    context = {
        "account": account,
        "plans": plans,
        "limits": tenant.limits,
        "seats_used": Membership.objects.filter(tenant=tenant).count(),
        "usage": selectors.period_usage(tenant, since),
        "price": PAID_PLANS.get(tenant.plan),
        "period_start": since,
        "past_due": account.subscription_status
        in (SubscriptionStatus.PAST_DUE, SubscriptionStatus.UNPAID),
        "grace_ends": services.grace_ends(account) if account.past_due_since else None,
        "subscribed": account.subscription_status in services.LIVE,
        **_from_stripe(account),
    }
    return render(request, "billing/billing.html", context)


@require_POST
@manager_required
def checkout(request: MemberRequest, slug: str) -> HttpResponse:
    done = _absolute(request, "billing:checkout_done", slug) + "?session_id={CHECKOUT_SESSION_ID}"
    try:
        url = services.checkout_start(
            tenant=request.tenant,
            actor=request.membership,
            plan=request.POST.get("plan", ""),
            success_url=done,
            cancel_url=_absolute(request, "billing:billing", slug),
        )
    except ServiceError as exc:
        messages.error(request, exc.message)
        return redirect("billing:billing", slug)
    return redirect(url)


@require_GET
@manager_required
def checkout_done(request: MemberRequest, slug: str) -> HttpResponse:
    """Back from Checkout: apply the new subscription now rather than wait for its
    webhook (both are idempotent: whichever comes second changes nothing)."""
    session_id = request.GET.get("session_id", "")
    try:
        subscription = stripe_api.checkout_session_subscription(session_id) if session_id else None
        if subscription is None:
            raise stripe_api.StripeRefused("That Checkout did not finish.")
        services.subscription_sync(subscription, reason="checkout completed")
    except ServiceError as exc:
        logger.warning("checkout return not applied", extra={"error": exc.message})
        messages.info(request, "Thanks: your plan changes as soon as Stripe confirms the payment.")
        return redirect("billing:billing", slug)
    request.tenant.refresh_from_db()
    messages.success(request, f"You are on the {request.tenant.get_plan_display()} plan now.")
    return redirect("billing:billing", slug)


@require_POST
@manager_required
def portal(request: MemberRequest, slug: str) -> HttpResponse:
    try:
        url = services.portal_open(
            tenant=request.tenant,
            actor=request.membership,
            return_url=_absolute(request, "billing:billing", slug),
        )
    except ServiceError as exc:
        messages.error(request, exc.message)
        return redirect("billing:billing", slug)
    return redirect(url)


@csrf_exempt
@require_POST
def stripe_webhook(request: HttpRequest) -> HttpResponse:
    """Verify, store the event's id once, apply it in Celery; answer at once."""
    try:
        event_id, event_type = stripe_api.webhook_event(
            request.body, request.headers.get("Stripe-Signature", "")
        )
    except stripe_api.InvalidWebhook as exc:
        logger.warning("stripe webhook refused", extra={"error": str(exc)})
        return error_response(400, "Invalid Stripe signature or payload.", code="invalid_signature")
    with transaction.atomic():
        if services.event_receive(event_id=event_id, event_type=event_type):
            transaction.on_commit(lambda: tasks.apply_stripe_event.delay(event_id))
    return JsonResponse({"received": True})
