"""The operator console's figures: every tenant's revenue, LLM cost and gross margin, the
cost model, cost by feature, and the margin alerts.

Reads across tenants go ONLY through the audited SECURITY DEFINER functions of finops
migration 0002 (``_read``): each call names the staff user (or the job) and is logged in
``finops_operatorread``. Nothing here turns row-level security off.

Definitions (docs/finops.md, "Operator console"):
- the period is the current UTC calendar month up to now; the trend compares its cost
  with the same number of days of the previous month;
- revenue is what the tenant's paid Stripe invoices brought in the period (the local
  record ``billing.InvoiceRecord``, kept by invoice webhooks and ``invoices_sync``);
- gross margin = (revenue - LLM cost) / revenue; none without revenue;
- a tenant is flagged below ``FINOPS_MARGIN_ALERT_PCT``, or when it costs money and
  paid nothing (a free tenant using the AI).
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import connection

from apps.core.db import tenant_context
from apps.finops.models import OperatorRead
from apps.tenants.models import Tenant
from apps.tenants.webhooks import alert_enqueue

COST_MODEL_DAYS = 30
MILLION = Decimal(1_000_000)
CENT = Decimal("0.01")


# --- The audited read path ----------------------------------------------------------------


def _read(function: str, actor_id: int | None, reason: str, *args: datetime) -> list[Any]:
    """Rows of one operator function. ``actor_id``: the staff user reading; None for a
    job, whose ``reason`` must start with ``job:``. The function checks and logs it."""
    placeholders = ", ".join(["%s"] * (2 + len(args)))
    with connection.cursor() as cursor:
        # The function's name is one of ours (never input); every value is a parameter.
        cursor.execute(
            f"SELECT * FROM {function}({placeholders})",  # noqa: S608
            [actor_id, reason, *args],
        )
        return list(cursor.fetchall())


# --- Periods ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    start: datetime
    end: datetime
    prev_start: datetime
    prev_end: datetime

    @property
    def label(self) -> str:
        return f"{self.start:%B %Y}"


def month_to_date(now: datetime) -> Period:
    start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    prev_start = (start - timedelta(days=1)).replace(day=1)
    # The same span of the previous month, cut at its end (31 March vs 28 February).
    prev_end = min(prev_start + (now - start), start)
    return Period(start=start, end=now, prev_start=prev_start, prev_end=prev_end)


# --- Tenants' unit economics --------------------------------------------------------------


@dataclass(frozen=True)
class TenantEconomics:
    tenant_id: str
    name: str
    slug: str
    plan: str
    cost_usd: Decimal
    prev_cost_usd: Decimal
    calls: int
    tokens: int
    active_users: int
    revenue_usd: Decimal

    @property
    def margin_usd(self) -> Decimal:
        return self.revenue_usd - self.cost_usd

    @property
    def margin_pct(self) -> float | None:
        if self.revenue_usd <= 0:
            return None
        return float(self.margin_usd / self.revenue_usd * 100)

    @property
    def trend_pct(self) -> float | None:
        if self.prev_cost_usd <= 0:
            return None
        return float((self.cost_usd - self.prev_cost_usd) / self.prev_cost_usd * 100)

    def flag(self, threshold_pct: float) -> str:
        """Why the tenant needs a look: '' when it does not."""
        margin = self.margin_pct
        if margin is None:
            return "Costs money, paid nothing" if self.cost_usd >= CENT else ""
        return f"Margin below {threshold_pct:g}%" if margin < threshold_pct else ""


def tenant_economics(period: Period, *, actor_id: int | None, reason: str) -> list[TenantEconomics]:
    rows = _read(
        "finops_operator_tenants",
        actor_id,
        reason,
        period.start,
        period.end,
        period.prev_start,
        period.prev_end,
    )
    return [
        TenantEconomics(
            tenant_id=str(tenant_id),
            name=name,
            slug=slug,
            plan=plan,
            cost_usd=Decimal(cost),
            prev_cost_usd=Decimal(prev_cost),
            calls=int(calls),
            tokens=int(tokens),
            active_users=int(users),
            revenue_usd=Decimal(cents) / 100,
        )
        for tenant_id, name, slug, plan, cost, prev_cost, calls, tokens, users, cents in rows
    ]


# --- The cost model -----------------------------------------------------------------------


@dataclass(frozen=True)
class CostModel:
    """Monthly LLM cost = daily active users * tokens per active user per day * blended
    price * days in the month, plus the traffic of API keys (no user), held constant."""

    days: int
    avg_daily_active_users: Decimal
    tokens_per_user_day: Decimal
    price_per_million: Decimal  # blended: all cost over all tokens in the window
    api_cost_per_day: Decimal
    days_in_month: int

    @property
    def cost_per_active_user_month(self) -> Decimal:
        return self.tokens_per_user_day * self.price_per_million / MILLION * self.days_in_month

    def monthly_cost(self, daily_active_users: Decimal) -> Decimal:
        api = self.api_cost_per_day * self.days_in_month
        return daily_active_users * self.cost_per_active_user_month + api

    def what_if(self, growth_pct: Decimal) -> tuple[Decimal, Decimal]:
        """(daily active users, monthly cost) after ``growth_pct`` more users."""
        users = self.avg_daily_active_users * (1 + growth_pct / 100)
        return users, self.monthly_cost(users)


def cost_model(now: datetime, *, actor_id: int | None, reason: str) -> CostModel:
    until = now.replace(hour=0, minute=0, second=0, microsecond=0)  # whole days only
    since = until - timedelta(days=COST_MODEL_DAYS)
    [(user_days, user_tokens, _, all_tokens, all_cost)] = _read(
        "finops_operator_units", actor_id, reason, since, until
    )
    all_tokens, user_tokens = Decimal(all_tokens), Decimal(user_tokens)
    price = Decimal(all_cost) / all_tokens * MILLION if all_tokens else Decimal(0)
    per_user_day = user_tokens / user_days if user_days else Decimal(0)
    api_tokens = all_tokens - user_tokens
    return CostModel(
        days=COST_MODEL_DAYS,
        avg_daily_active_users=Decimal(user_days) / COST_MODEL_DAYS,
        tokens_per_user_day=per_user_day,
        price_per_million=price,
        api_cost_per_day=api_tokens * price / MILLION / COST_MODEL_DAYS,
        days_in_month=calendar.monthrange(now.year, now.month)[1],
    )


# --- Cost by feature, cost per day --------------------------------------------------------


@dataclass(frozen=True)
class FeatureCost:
    feature: str
    calls: int
    tokens: int
    cost_usd: Decimal
    tenants: int


def feature_costs(period: Period, *, actor_id: int | None, reason: str) -> list[FeatureCost]:
    rows = _read("finops_operator_features", actor_id, reason, period.start, period.end)
    return [
        FeatureCost(feature=f, calls=int(c), tokens=int(t), cost_usd=Decimal(u), tenants=int(n))
        for f, c, t, u, n in rows
    ]


def daily_costs(
    now: datetime, days: int, *, actor_id: int | None, reason: str
) -> list[tuple[datetime, Decimal]]:
    until = now.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
    rows = _read("finops_operator_daily", actor_id, reason, until - timedelta(days=days), until)
    found = {day: Decimal(cost) for day, cost, _ in rows}
    first = until - timedelta(days=days)
    return [
        (first + timedelta(days=n), found.get(first + timedelta(days=n), Decimal(0)))
        for n in range(days)
    ]


def recent_reads(limit: int = 8) -> list[OperatorRead]:
    return list(OperatorRead.objects.select_related("actor").order_by("-at")[:limit])


# --- Margin alerts ------------------------------------------------------------------------


def margin_alerts_send(now: datetime) -> int:
    """Queue a ``margin.below_threshold`` webhook alert for each paying tenant under the
    margin threshold this month, once per month (the delivery key); how many queued."""
    threshold = settings.FINOPS_MARGIN_ALERT_PCT
    period = month_to_date(now)
    queued = 0
    for row in tenant_economics(period, actor_id=None, reason="job:margin_alerts"):
        margin = row.margin_pct
        if margin is None or margin >= threshold:
            continue
        with tenant_context(row.tenant_id):
            tenant = Tenant.objects.get(id=row.tenant_id)
            delivery = alert_enqueue(
                tenant=tenant,
                key=f"margin:{period.start:%Y-%m}",
                event_type="margin.below_threshold",
                data={
                    "month": f"{period.start:%Y-%m}",
                    "margin_pct": round(margin, 1),
                    "threshold_pct": threshold,
                    "revenue_usd": f"{row.revenue_usd:.2f}",
                    "llm_cost_usd": f"{row.cost_usd:.2f}",
                },
            )
        queued += delivery is not None
    return queued
