"""Reads for tenants and memberships. Call inside the context each docstring names."""

from __future__ import annotations

import hashlib

from django.db.models import QuerySet

from apps.core.db import set_by_lookup, setting_context
from apps.tenants.models import (
    AuditEvent,
    Invitation,
    InvitationStatus,
    Membership,
    Notification,
    Tenant,
)

INVITATION_SETTING = "app.invitation_token"
OPERATOR_SLUG_SETTING = "app.operator_tenant_slug"


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def membership_for_slug(*, user_id: int, slug: str, enter: bool = False) -> Membership | None:
    """The user's membership in the tenant with this slug. Call inside user_context.

    RLS shows a tenant only to its members, so a slug of a tenant the user is not in
    looks exactly like a slug that does not exist. ``enter``: the lookup also enters the
    tenant found (``apps.core.db.set_by_lookup``; only when ``lookup_may_enter()``), and
    the membership's ``entered`` is the id it set, for ``enter_tenant``.
    """
    found = Membership.objects.select_related("tenant")
    if enter:
        found = found.annotate(entered=set_by_lookup())
    try:  # get(), not first(): one per user and tenant, and no ORDER BY to build
        return found.get(user_id=user_id, tenant__slug=slug)
    except Membership.DoesNotExist:
        return None


def tenants_for_user(*, user_id: int) -> list[Tenant]:
    """The tenants the user belongs to. Call inside user_context or tenant_context(user_id=)."""
    return list(
        Tenant.objects.filter(
            id__in=Membership.objects.filter(user_id=user_id).values("tenant_id")
        ).order_by("name")
    )


def members_of(tenant: Tenant) -> QuerySet[Membership]:
    """Call inside tenant_context(tenant)."""
    return Membership.objects.filter(tenant=tenant).select_related("user").order_by("user__email")


def pending_invitations(tenant: Tenant) -> QuerySet[Invitation]:
    """Call inside tenant_context(tenant)."""
    return (
        Invitation.objects.filter(tenant=tenant, status=InvitationStatus.PENDING)
        .select_related("invited_by")
        .order_by("-created_at")
    )


def unread_notifications(tenant: Tenant) -> QuerySet[Notification]:
    """Call inside tenant_context(tenant)."""
    return Notification.objects.filter(tenant=tenant, read_at__isnull=True).order_by("-created_at")


def owner_count(tenant: Tenant) -> int:
    return Membership.objects.filter(tenant=tenant, role="owner").count()


def audit_events(tenant: Tenant) -> QuerySet[AuditEvent]:
    """Call inside tenant_context(tenant)."""
    return AuditEvent.objects.filter(tenant=tenant).select_related("actor")


def invitation_by_token(token: str) -> Invitation | None:
    """Find an invitation from the emailed token, whatever tenant (if any) is current.

    The invitation table's RLS lets a row be read when the transaction carries the
    hash of its token: the token itself is the capability.
    """
    with setting_context({INVITATION_SETTING: token_hash(token)}):
        return (
            Invitation.objects.select_related("tenant", "invited_by")
            .filter(token_hash=token_hash(token))
            .first()
        )


def tenant_by_slug_for_operator(slug: str) -> Tenant | None:
    """The tenant with this slug, for trusted operator code only (management commands).

    Never call it with a slug from a request: web code finds tenants through
    membership (``membership_for_slug``). Commands run as the runtime role under RLS,
    which hides every tenant row until a tenant id is set, and the owner role does not
    help (RLS is FORCEd, so the owner is filtered too). The least privilege that works
    is the SELECT-only policy ``operator_slug`` (tenants migration 0004): with
    ``app.operator_tenant_slug`` set, this one tenant row becomes readable and nothing
    else. To work with the tenant's data, enter ``tenant_context(tenant.id)`` next.
    """
    with setting_context({OPERATOR_SLUG_SETTING: slug}):
        return Tenant.objects.filter(slug=slug).first()
