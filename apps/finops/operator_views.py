"""The operator console: staff only. Everyone else gets a 404, as for a page that does
not exist (a tenant admin learns nothing about it)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal, InvalidOperation
from functools import wraps
from typing import Any

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from apps.accounts.models import User
from apps.finops import operator

_GROWTH_CHOICES = (-25, 0, 25, 50, 100, 200)
TREND_DAYS = 30
TABLE_ROWS = 100  # unflagged organisations listed, costliest first


def staff_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        user = request.user
        if not (isinstance(user, User) and user.is_authenticated and user.is_staff):
            raise Http404
        return view(request, *args, **kwargs)

    return wrapper


def _growth(raw: str | None) -> tuple[Decimal, str]:
    """The what-if growth in percent from ``?growth=``; an error message when bad."""
    if not raw:
        return Decimal(50), ""
    try:
        value = Decimal(raw.strip().rstrip("%"))
    except InvalidOperation:
        return Decimal(50), f"“{raw}” is not a number: give the user growth in percent, e.g. 50."
    if not value.is_finite() or not -100 <= value <= 10_000:
        return Decimal(50), "Give a user growth between -100% and 10000%."
    return value, ""


def _bar(n: int, day: datetime, amount: Decimal, peak: Decimal) -> dict[str, object]:
    """One day's bar in a 100-high SVG: at least a sliver, so a day of $0 still shows."""
    height = max(float(amount / peak * 100) if peak else 0.0, 1.0)
    return {"x": 10 * n + 1, "y": 100 - height, "height": height, "day": day, "amount": amount}


@staff_required
def console(request: HttpRequest) -> HttpResponse:
    assert isinstance(request.user, User)  # noqa: S101 - staff_required checked it
    now = timezone.now()
    actor, reason = request.user.pk, "console"
    period = operator.month_to_date(now)
    threshold = settings.FINOPS_MARGIN_ALERT_PCT
    tenants = operator.tenant_economics(period, actor_id=actor, reason=reason)
    rows = [(t, t.flag(threshold)) for t in tenants]
    # Flagged first, then the costliest; the long tail of quiet tenants is left out of
    # the page (a table of thousands of rows is neither readable nor quick to render).
    shown = [r for r in rows if r[1]] + [r for r in rows if not r[1]][:TABLE_ROWS]
    revenue = sum((t.revenue_usd for t in tenants), Decimal(0))
    cost = sum((t.cost_usd for t in tenants), Decimal(0))
    model = operator.cost_model(now, actor_id=actor, reason=reason)
    growth, growth_error = _growth(request.GET.get("growth"))
    users_after, cost_after = model.what_if(growth)
    days = operator.daily_costs(now, TREND_DAYS, actor_id=actor, reason=reason)
    peak = max((c for _, c in days), default=Decimal(0))
    context = {
        "period": period,
        "threshold": threshold,
        "rows": shown,
        "tenant_count": len(rows),
        "flagged": [t for t, why in rows if why],
        "revenue": revenue,
        "cost": cost,
        "margin_pct": float((revenue - cost) / revenue * 100) if revenue else None,
        "model": model,
        "model_cost_now": model.monthly_cost(model.avg_daily_active_users),
        "growth": growth,
        "growth_error": growth_error,
        "growth_choices": _GROWTH_CHOICES,
        "users_after": users_after,
        "cost_after": cost_after,
        "features": operator.feature_costs(period, actor_id=actor, reason=reason),
        "bars": [_bar(n, day, amount, peak) for n, (day, amount) in enumerate(days)],
        "chart_width": 10 * len(days),
        "chart_has_cost": peak > 0,
        "reads": operator.recent_reads(),
    }
    return render(request, "finops/operator.html", context, status=400 if growth_error else 200)
