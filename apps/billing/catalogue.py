"""What the plans cost, as code: ``manage.py stripe_sync`` makes Stripe match it.

Limits (seats, tokens a day, budgets) stay in apps/tenants/plans.py; this module adds
only prices. Usage is metered in tokens on one meter; each paid plan has a flat monthly
price and a graduated metered price: the plan's included tokens free, then a price per
token. Lookup keys name the prices, so code never stores a Stripe price id.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from apps.tenants.plans import PlanTier

CURRENCY = "usd"
METER_EVENT_NAME = "ai_tokens"
METER_DISPLAY_NAME = "AI tokens"
METER_CUSTOMER_KEY = "stripe_customer_id"
METER_VALUE_KEY = "value"


@dataclass(frozen=True)
class PlanPrice:
    plan: str
    name: str
    product_id: str
    monthly_cents: int
    included_tokens: int
    cents_per_1k_tokens: Decimal

    @property
    def flat_lookup_key(self) -> str:
        return f"{self.plan}_monthly"

    @property
    def tokens_lookup_key(self) -> str:
        return f"{self.plan}_tokens"

    @property
    def cents_per_token(self) -> str:
        """Stripe's ``unit_amount_decimal``: cents, up to 12 decimal places."""
        return format(self.cents_per_1k_tokens / 1000, "f")


PAID_PLANS: dict[str, PlanPrice] = {
    PlanTier.PRO: PlanPrice(
        plan=PlanTier.PRO,
        name="Pro",
        product_id="starter_pro",
        monthly_cents=4900,
        included_tokens=2_000_000,
        cents_per_1k_tokens=Decimal("0.2"),
    ),
    PlanTier.ENTERPRISE: PlanPrice(
        plan=PlanTier.ENTERPRISE,
        name="Enterprise",
        product_id="starter_enterprise",
        monthly_cents=49900,
        included_tokens=50_000_000,
        cents_per_1k_tokens=Decimal("0.1"),
    ),
}


def plan_for_lookup_key(lookup_key: str | None) -> str | None:
    """The plan a price belongs to, from its lookup key (None for an unknown price)."""
    for price in PAID_PLANS.values():
        if lookup_key in (price.flat_lookup_key, price.tokens_lookup_key):
            return price.plan
    return None
