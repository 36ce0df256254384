"""`manage.py create_api_key --tenant SLUG --name NAME [--scopes chat,read]`.

For operators (provisioning, support): creates a key as the organisation's first owner
and prints it once (only the key on stdout; the notes and the warning on stderr).
The tenant is found through ``tenant_by_slug_for_operator``.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.api.scopes import DEFAULT_SCOPES
from apps.api.services import api_key_create
from apps.core.db import tenant_context
from apps.core.errors import ServiceError
from apps.tenants.models import Membership, Role
from apps.tenants.selectors import tenant_by_slug_for_operator


class Command(BaseCommand):
    help = "Create an API key for an organisation and print it once."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tenant", required=True, help="The organisation's slug.")
        parser.add_argument("--name", required=True, help="What the key is for.")
        parser.add_argument(
            "--scopes",
            default=",".join(DEFAULT_SCOPES),
            help="Comma-separated: chat, documents, read (default: %(default)s).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        slug = options["tenant"]
        tenant = tenant_by_slug_for_operator(slug)
        if tenant is None:
            raise CommandError(f"No organisation with slug {slug}")
        scopes = [part.strip() for part in options["scopes"].split(",") if part.strip()]
        with tenant_context(tenant.id):
            # Audited as done by the first owner: the log says whose organisation it is.
            owner = (
                Membership.objects.select_related("user")
                .filter(tenant=tenant, role=Role.OWNER)
                .order_by("created_at")
                .first()
            )
            if owner is None:
                raise CommandError(f"{slug} has no owner; add one before creating keys.")
            try:
                key, raw_key = api_key_create(
                    tenant=tenant, actor=owner, name=options["name"], scopes=scopes
                )
            except ServiceError as exc:
                raise CommandError(exc.message) from exc
        # Only the key goes to stdout, so `KEY=$(manage.py create_api_key ...)` works.
        self.stderr.write(f"Created API key {key.name!r} for {tenant.name} ({tenant.slug}).")
        self.stdout.write(raw_key)
        self.stderr.write(
            self.style.WARNING(
                "Store it now: it cannot be shown again (only its hash is kept). "
                "If it is lost, revoke it in Organisation → API keys and create a new one."
            )
        )
