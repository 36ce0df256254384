"""Create (or refresh) the demo organisation "Acme" and its owner demo@example.com."""

from __future__ import annotations

from typing import Any

from allauth.account.models import EmailAddress
from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction

from apps.accounts.models import User
from apps.core.db import user_context
from apps.tenants import selectors
from apps.tenants.plans import PlanTier
from apps.tenants.services import tenant_create

DEMO_EMAIL = "demo@example.com"
DEMO_SLUG = "acme"


class Command(BaseCommand):
    help = "Create the demo tenant Acme with owner demo@example.com (idempotent)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--password", required=True, help="Password to set for the demo user.")

    @transaction.atomic
    def handle(self, *args: Any, **options: Any) -> None:
        user = User.objects.filter(email=DEMO_EMAIL).first()
        if user is None:
            user = User.objects.create_user(DEMO_EMAIL, options["password"], first_name="Demo")
        else:
            user.set_password(options["password"])
            user.save(update_fields=["password"])
        # Verified, so the demo login works with mandatory email verification.
        EmailAddress.objects.update_or_create(
            user=user, email=DEMO_EMAIL, defaults={"verified": True, "primary": True}
        )
        with user_context(user.pk):
            existing = selectors.membership_for_slug(user_id=user.pk, slug=DEMO_SLUG)
        if existing is None:
            # On Free, like every new organisation: Billing → Upgrade shows the paid plans.
            tenant_create(owner=user, name="Acme", plan=PlanTier.FREE, slug=DEMO_SLUG)
            self.stdout.write("Created demo tenant Acme (/t/acme/).")
        else:
            self.stdout.write("Demo tenant Acme already exists.")
