"""Plan tiers and the limits that come with them.

Billing (Stripe) decides which tier a tenant is on; everything else reads the limits
from here. ``None`` means unlimited.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.db import models


class PlanTier(models.TextChoices):
    FREE = "free", "Free"
    PRO = "pro", "Pro"
    ENTERPRISE = "enterprise", "Enterprise"


@dataclass(frozen=True)
class PlanLimits:
    seats: int | None
    tokens_per_day: int | None
    requests_per_minute: int | None
    monthly_budget_usd: Decimal | None
    model_aliases: tuple[str, ...]


PLAN_LIMITS: dict[str, PlanLimits] = {
    PlanTier.FREE: PlanLimits(
        seats=3,
        tokens_per_day=100_000,
        requests_per_minute=20,
        monthly_budget_usd=Decimal("5"),
        model_aliases=("fast",),
    ),
    PlanTier.PRO: PlanLimits(
        seats=25,
        tokens_per_day=1_000_000,
        requests_per_minute=120,
        monthly_budget_usd=Decimal("100"),
        model_aliases=("fast", "smart"),
    ),
    PlanTier.ENTERPRISE: PlanLimits(
        seats=None,
        tokens_per_day=None,
        requests_per_minute=None,
        monthly_budget_usd=None,
        model_aliases=("fast", "smart"),
    ),
}


def limits_for(plan: str) -> PlanLimits:
    return PLAN_LIMITS[plan]
