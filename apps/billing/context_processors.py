from __future__ import annotations

import functools
from typing import Any

from django.http import HttpRequest

from apps.billing.models import BillingAccount, SubscriptionStatus


def billing_alert(request: HttpRequest) -> dict[str, Any]:
    """``billing_alert``: the tenant's account when a payment failed, for the banner that
    owners and admins see on every page. Lazy: queried only where the template asks,
    inside the request's tenant context."""
    tenant = getattr(request, "tenant", None)
    membership = getattr(request, "membership", None)
    if tenant is None or membership is None or not membership.can_manage:
        return {}

    def past_due() -> BillingAccount | None:
        return BillingAccount.objects.filter(
            tenant=tenant,
            subscription_status__in=[SubscriptionStatus.PAST_DUE, SubscriptionStatus.UNPAID],
        ).first()

    return {"billing_alert": functools.cache(past_due)}
