"""Writes for tenants, members and invitations.

Each function is keyword-only and atomic, checks the actor's role, records an audit
event, and raises ``ServiceError`` (changing nothing) when the request cannot be met.
Functions that take a ``tenant`` must run inside ``tenant_context`` for it; the ones
that create a tenant or accept an invitation enter the context themselves.
"""

from __future__ import annotations

import secrets
import uuid
from datetime import timedelta
from typing import Any

from allauth.mfa.utils import is_mfa_enabled
from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.text import slugify

from apps.accounts.models import User
from apps.core.db import tenant_context
from apps.core.errors import NotAllowed, ServiceError
from apps.tenants import selectors
from apps.tenants.member_cache import forget_member
from apps.tenants.models import (
    MANAGER_ROLES,
    AuditAction,
    AuditEvent,
    Invitation,
    InvitationStatus,
    Membership,
    Notification,
    Role,
    Tenant,
    audit_action_labels,
    can_change_role,
    can_remove,
)
from apps.tenants.plans import PlanTier
from apps.tenants.tasks import send_invitation_email

RESERVED_SLUGS = frozenset({"new", "admin", "api", "static", "settings", "t"})


def audit_record(
    *, tenant: Tenant, actor: User | None, action: str, target: str = "", **details: Any
) -> AuditEvent:
    """Record ``action`` (one of ``audit_action_labels()``: the project's ``AuditAction``
    or an app's declared ``audit_actions``) in the tenant's audit log."""
    if action not in audit_action_labels():
        raise ValueError(
            f"Unknown audit action {action!r}: declare it in your app's AppConfig "
            '(audit_actions = {"note.deleted": "Note deleted"}).'
        )
    return AuditEvent.objects.create(
        tenant=tenant, actor=actor, action=action, target=target, details=details
    )


def notification_email_managers(*, notification_id: str, link_name: str, link_label: str) -> int:
    """Email an in-app notification to its tenant's owners and admins, with a link to the
    page ``link_name`` of the tenant (``link_label: URL``). Returns how many got it. Call
    inside the tenant's context (the tasks that send alerts do)."""
    return notification_email(
        notification_id=notification_id, link_name=link_name, link_label=link_label
    )


def notification_email(
    *,
    notification_id: str,
    link_name: str,
    link_label: str,
    recipients: list[str] | None = None,
) -> int:
    """Email an in-app notification, with a link to its tenant's page ``link_name``, to
    ``recipients`` (default: the tenant's owners and admins). Returns how many got it."""
    note = Notification.objects.select_related("tenant").filter(id=notification_id).first()
    if note is None:
        return 0
    if recipients is None:
        recipients = list(
            Membership.objects.filter(tenant_id=note.tenant_id, role__in=MANAGER_ROLES).values_list(
                "user__email", flat=True
            )
        )
    to = [email for email in recipients if email]
    if not to:
        return 0
    link = settings.SITE_URL + reverse(link_name, args=[note.tenant.slug])
    send_mail(
        subject=f"[{note.tenant.name}] {note.title}",
        message=f"{note.body}\n\n{link_label}: {link}\n",
        from_email=None,
        recipient_list=to,
    )
    return len(to)


def _unique_slug_candidates(name: str) -> list[str]:
    """Addresses for an organisation named ``name``, each with a random suffix. Always
    one: a bare slug when the name is free and a suffixed one when it is taken would tell
    the creator that another organisation (hidden from them by RLS) has that name."""
    base = slugify(name)[:40].strip("-") or "org"
    return [f"{base}-{secrets.token_hex(3)}" for _ in range(5)]


def tenant_create(*, owner: User, name: str, plan: str = "free", slug: str | None = None) -> Tenant:
    """Create a tenant with ``owner`` as its first owner, default AI settings, an audit row."""
    name = name.strip()
    if not name:
        raise ServiceError("Give the organisation a name.")
    if slug in RESERVED_SLUGS:
        raise ServiceError(f"The address {slug!r} is not available; choose another.")
    tenant_id = uuid.uuid4()
    with tenant_context(tenant_id, user_id=owner.pk):
        # Slugs are unique across all tenants, which RLS hides: on a clash (one in 16
        # million per name) try another random suffix.
        for candidate in [slug] if slug else _unique_slug_candidates(name):
            try:
                with transaction.atomic():
                    tenant = Tenant.objects.create(
                        id=tenant_id, name=name, slug=candidate, plan=plan
                    )
                break
            except IntegrityError:
                continue
        else:
            raise ServiceError(f"The address {slug or name!r} is not available; choose another.")
        Membership.objects.create(tenant=tenant, user=owner, role=Role.OWNER)
        audit_record(tenant=tenant, actor=owner, action=AuditAction.TENANT_CREATED, target=name)
    return tenant


def tenant_set_plan(*, tenant: Tenant, plan: str, reason: str) -> bool:
    """Put the tenant on ``plan`` (billing decides: apps/billing), audited with the
    reason; True when it changed. Call inside tenant_context. The caller makes the
    gateway forget its cached limits."""
    if plan not in PlanTier.values:
        raise ValueError(f"Unknown plan {plan!r}")
    if tenant.plan == plan:
        return False
    previous = tenant.plan
    tenant.plan = plan
    tenant.save(update_fields=["plan", "updated_at"])
    audit_record(
        tenant=tenant,
        actor=None,
        action=AuditAction.PLAN_CHANGED,
        target=tenant.get_plan_display(),
        previous_plan=previous,
        reason=reason,
    )
    return True


def tenant_update(*, tenant: Tenant, actor: Membership, name: str) -> Tenant:
    _require_manager(actor)
    name = name.strip()
    if not name:
        raise ServiceError("Give the organisation a name.")
    if name != tenant.name:
        old = tenant.name
        tenant.name = name
        tenant.save(update_fields=["name", "updated_at"])
        audit_record(
            tenant=tenant,
            actor=actor.user,
            action=AuditAction.TENANT_UPDATED,
            target=name,
            previous_name=old,
        )
    return tenant


def tenant_update_security(
    *, tenant: Tenant, actor: Membership, require_mfa: bool, suspend_anomalous_keys: bool
) -> Tenant:
    """Change the organisation's security settings (docs/security.md), audited.

    Only an owner may require two-factor authentication or lift the requirement, and
    only once their own account has it: otherwise they would lock themselves out of
    the page where they could undo it. Owners and admins may choose whether anomalous
    API keys are suspended."""
    _require_manager(actor)
    changes: dict[str, bool] = {}
    if require_mfa != tenant.require_mfa:
        if not actor.is_owner:
            raise NotAllowed(
                "Only an owner can change whether two-factor authentication is required."
            )
        if require_mfa and not is_mfa_enabled(actor.user):
            raise ServiceError(
                "Turn on two-factor authentication for your own account first "
                "(Account → Two-factor authentication), then require it for everyone."
            )
        changes["require_mfa"] = require_mfa
    if suspend_anomalous_keys != tenant.suspend_anomalous_keys:
        changes["suspend_anomalous_keys"] = suspend_anomalous_keys
    if not changes:
        return tenant
    for field, value in changes.items():
        setattr(tenant, field, value)
    tenant.save(update_fields=[*changes, "updated_at"])
    audit_record(
        tenant=tenant,
        actor=actor.user,
        action=AuditAction.SECURITY_UPDATED,
        target=", ".join(f"{field} {'on' if value else 'off'}" for field, value in changes.items()),
        **changes,
    )
    return tenant


def _require_manager(actor: Membership) -> None:
    if not actor.can_manage:
        raise NotAllowed("Only owners and admins can manage this organisation.")


def _guard_last_owner(membership: Membership) -> None:
    if membership.is_owner and selectors.owner_count(membership.tenant) <= 1:
        raise ServiceError(
            "An organisation needs at least one owner. Make someone else an owner first."
        )


def invitation_create(
    *, tenant: Tenant, actor: Membership, email: str, role: str = Role.MEMBER
) -> tuple[Invitation, str]:
    """Invite ``email``; returns the invitation and the raw token (only ever emailed)."""
    _require_manager(actor)
    email = User.objects.normalize_email(email).strip().lower()
    if role not in Role.values:
        raise ServiceError(f"Unknown role {role!r}.")
    if role == Role.OWNER and not actor.is_owner:
        raise NotAllowed("Only owners can invite owners.")
    if Membership.objects.filter(tenant=tenant, user__email__iexact=email).exists():
        raise ServiceError(f"{email} is already a member.")
    if selectors.pending_invitations(tenant).filter(email=email).exists():
        raise ServiceError(
            f"{email} already has a pending invitation. Revoke it to send a new one."
        )
    seats = tenant.limits.seats
    used = selectors.members_of(tenant).count() + selectors.pending_invitations(tenant).count()
    if seats is not None and used >= seats:
        raise ServiceError(
            f"The {tenant.get_plan_display()} plan includes {seats} seats and all are taken "
            "or invited. Upgrade the plan or remove a member first."
        )
    token = secrets.token_urlsafe(32)
    invitation = Invitation.objects.create(
        tenant=tenant,
        email=email,
        role=role,
        token_hash=selectors.token_hash(token),
        invited_by=actor.user,
        expires_at=timezone.now() + timedelta(days=settings.INVITATION_TTL_DAYS),
    )
    audit_record(
        tenant=tenant, actor=actor.user, action=AuditAction.MEMBER_INVITED, target=email, role=role
    )
    transaction.on_commit(
        lambda: send_invitation_email.delay(
            tenant_id=str(tenant.id), invitation_id=str(invitation.id), token=token
        )
    )
    return invitation, token


def notification_dismiss(*, notification: Notification) -> None:
    if notification.read_at is None:
        notification.read_at = timezone.now()
        notification.save(update_fields=["read_at", "updated_at"])


def invitation_revoke(*, tenant: Tenant, actor: Membership, invitation: Invitation) -> None:
    _require_manager(actor)
    if invitation.status != InvitationStatus.PENDING:
        raise ServiceError("Only pending invitations can be revoked.")
    invitation.status = InvitationStatus.REVOKED
    invitation.responded_at = timezone.now()
    invitation.save(update_fields=["status", "responded_at", "updated_at"])
    audit_record(
        tenant=tenant,
        actor=actor.user,
        action=AuditAction.INVITATION_REVOKED,
        target=invitation.email,
    )


INVALID_INVITATION = "This invitation link is not valid. Ask for a new invitation."


def invitation_problem(invitation: Invitation) -> str | None:
    """Why this invitation can no longer be used, or None while it can."""
    if invitation.status != InvitationStatus.PENDING:
        return (
            f"This invitation was already {invitation.get_status_display().lower()}. "
            "Ask an admin of the organisation for a new one."
        )
    if invitation.expires_at <= timezone.now():
        return "This invitation has expired. Ask an admin of the organisation for a new one."
    return None


def _usable_invitation(token: str, user: User) -> Invitation:
    invitation = selectors.invitation_by_token(token)
    if invitation is None:
        raise ServiceError(INVALID_INVITATION)
    problem = invitation_problem(invitation)
    if problem:
        raise ServiceError(problem)
    if invitation.email.lower() != user.email.lower():
        raise NotAllowed(
            f"This invitation was sent to {invitation.email}. "
            f"You are signed in as {user.email}: sign in with the invited address."
        )
    return invitation


def invitation_accept(*, token: str, user: User) -> Membership:
    with transaction.atomic():
        invitation = _usable_invitation(token, user)
        tenant = invitation.tenant
        with tenant_context(tenant.id, user_id=user.pk):
            invitation = Invitation.objects.select_for_update().get(id=invitation.id, tenant=tenant)
            if invitation.status != InvitationStatus.PENDING:
                raise ServiceError("This invitation was already used.")
            membership, _ = Membership.objects.get_or_create(
                tenant=tenant, user=user, defaults={"role": invitation.role}
            )
            invitation.status = InvitationStatus.ACCEPTED
            invitation.responded_at = timezone.now()
            invitation.save(update_fields=["status", "responded_at", "updated_at"])
            audit_record(
                tenant=tenant,
                actor=user,
                action=AuditAction.INVITATION_ACCEPTED,
                target=user.email,
                role=membership.role,
            )
    return membership


def invitation_decline(*, token: str, user: User) -> Invitation:
    with transaction.atomic():
        invitation = _usable_invitation(token, user)
        with tenant_context(invitation.tenant_id, user_id=user.pk):
            invitation.status = InvitationStatus.DECLINED
            invitation.responded_at = timezone.now()
            invitation.save(update_fields=["status", "responded_at", "updated_at"])
            audit_record(
                tenant=invitation.tenant,
                actor=user,
                action=AuditAction.INVITATION_DECLINED,
                target=user.email,
            )
    return invitation


def member_change_role(*, actor: Membership, membership: Membership, role: str) -> Membership:
    _require_manager(actor)
    if role not in Role.values:
        raise ServiceError(f"Unknown role {role!r}.")
    if actor.pk == membership.pk:
        raise NotAllowed("You cannot change your own role; ask another owner.")
    if not can_change_role(actor, membership) or (role == Role.OWNER and not actor.is_owner):
        raise NotAllowed("Only owners can change an owner's role or make someone an owner.")
    if role == membership.role:
        return membership
    if role != Role.OWNER:
        _guard_last_owner(membership)
    previous = membership.role
    membership.role = role
    membership.save(update_fields=["role", "updated_at"])
    audit_record(
        tenant=membership.tenant,
        actor=actor.user,
        action=AuditAction.MEMBER_ROLE_CHANGED,
        target=membership.user.email,
        previous=previous,
        role=role,
    )
    return membership


def member_remove(*, actor: Membership, membership: Membership) -> None:
    """Remove a member; a member may also remove themselves (leave)."""
    leaving = actor.pk == membership.pk
    if not leaving:
        _require_manager(actor)
    if not can_remove(actor, membership):
        raise NotAllowed("Only owners can remove an owner.")
    _guard_last_owner(membership)
    email = membership.user.email
    membership.delete()
    # Streams admitted on a ticket check membership through this cache.
    tenant_id, user_id = membership.tenant_id, membership.user_id
    transaction.on_commit(lambda: forget_member(tenant_id=tenant_id, user_id=user_id))
    audit_record(
        tenant=membership.tenant,
        actor=actor.user,
        action=AuditAction.MEMBER_LEFT if leaving else AuditAction.MEMBER_REMOVED,
        target=email,
    )
