"""Make Stripe's catalogue match apps/billing/catalogue.py (idempotent)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from apps.billing import stripe_api
from apps.billing.catalogue import METER_EVENT_NAME, PAID_PLANS
from apps.core.errors import ServiceError


class Command(BaseCommand):
    help = "Create or update the plans' products and prices and the usage meter in Stripe."

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            meter, created = stripe_api.meter_ensure()
            self.stdout.write(
                f"meter {METER_EVENT_NAME}: {meter} ({'created' if created else 'ok'})"
            )
            for plan in PAID_PLANS.values():
                product = "saved" if stripe_api.product_ensure(plan) else "ok"
                changed = stripe_api.prices_ensure(plan, meter)
                prices = f"prices saved: {', '.join(changed)}" if changed else "prices ok"
                self.stdout.write(f"{plan.name}: product {product}; {prices}")
        except ServiceError as exc:
            raise CommandError(exc.message) from exc
