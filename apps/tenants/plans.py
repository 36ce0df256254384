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


MODEL_LABELS = {"fast": "Fast", "smart": "Smart"}


def plans_allowing(alias: str) -> list[str]:
    """The names of the plans whose model list has ``alias``, cheapest first."""
    return [
        PlanTier(plan).label
        for plan, limits in PLAN_LIMITS.items()
        if alias in limits.model_aliases
    ]


def plans_phrase(alias: str) -> str:
    """The plans that have ``alias``, as words: "the Pro and Enterprise plans"."""
    others = plans_allowing(alias)
    return "the " + " and ".join(others) + (" plans" if len(others) > 1 else " plan")


def model_refusal(plan: str, alias: str) -> str | None:
    """Why ``plan`` may not use the model ``alias`` (a message naming the plans that
    may), or None when it may."""
    allowed = limits_for(plan).model_aliases
    if alias in allowed:
        return None
    label = MODEL_LABELS.get(alias, alias)
    choices = " or ".join(MODEL_LABELS.get(a, a) for a in allowed)
    others = plans_allowing(alias)
    if not others:
        return f"There is no model called {alias!r}. Pick {choices}."
    return (
        f"The {label} model is on {plans_phrase(alias)}; this organisation is on the "
        f"{PlanTier(plan).label} plan. Pick {choices}, or ask an owner to upgrade."
    )
