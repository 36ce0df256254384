"""Tenants (organisations), their members, invitations and audit trail.

Every table here is under row-level security (see the migrations): a tenant's rows
are visible only inside ``tenant_context`` for that tenant. Two read-only exceptions,
each narrow: a user sees their *own* memberships (and so the names of their own
tenants) inside ``user_context``, and an invitation can be read by its token hash.
"""

from __future__ import annotations

import functools
import uuid

from django.conf import settings
from django.db import models

from apps.core.declarations import merged
from apps.core.models import TenantScopedModel, TimeStampedModel
from apps.tenants.plans import PlanLimits, PlanTier, limits_for


class Tenant(TimeStampedModel):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=80)
    slug = models.SlugField(max_length=60, unique=True)
    plan = models.CharField(max_length=20, choices=PlanTier.choices, default=PlanTier.FREE)
    # Security settings (docs/security.md), changed on the organisation page, audited.
    # Members without two-factor authentication are sent to set it up before any page.
    require_mfa = models.BooleanField(default=False)
    # An API key whose use looks anomalous is suspended, not only reported.
    suspend_anomalous_keys = models.BooleanField(default=False)

    class Meta:
        ordering = ("name",)

    def __str__(self) -> str:
        return self.name

    @property
    def limits(self) -> PlanLimits:
        return limits_for(self.plan)


class Role(models.TextChoices):
    OWNER = "owner", "Owner"
    ADMIN = "admin", "Admin"
    MEMBER = "member", "Member"


MANAGER_ROLES = frozenset({Role.OWNER, Role.ADMIN})


class Membership(TenantScopedModel):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.MEMBER)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=("tenant", "user"), name="membership_unique_user")
        ]
        indexes = [models.Index(fields=("user",), name="membership_user_idx")]

    def __str__(self) -> str:
        return f"{self.user_id} in {self.tenant_id} as {self.role}"

    @property
    def can_manage(self) -> bool:
        return self.role in MANAGER_ROLES

    @property
    def is_owner(self) -> bool:
        return self.role == Role.OWNER


class InvitationStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    ACCEPTED = "accepted", "Accepted"
    DECLINED = "declined", "Declined"
    REVOKED = "revoked", "Revoked"


class Invitation(TenantScopedModel):
    email = models.EmailField()
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.MEMBER)
    # Only a SHA-256 of the emailed token is stored: a database leak gives no usable link.
    token_hash = models.CharField(max_length=64, unique=True)
    status = models.CharField(
        max_length=10, choices=InvitationStatus.choices, default=InvitationStatus.PENDING
    )
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    expires_at = models.DateTimeField()
    responded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=("tenant", "email"),
                condition=models.Q(status="pending"),
                name="invitation_one_pending_per_email",
            )
        ]

    def __str__(self) -> str:
        return f"{self.email} ({self.status})"


class AuditAction(models.TextChoices):
    TENANT_CREATED = "tenant.created", "Organisation created"
    TENANT_UPDATED = "tenant.updated", "Organisation updated"
    MEMBER_INVITED = "member.invited", "Member invited"
    INVITATION_REVOKED = "invitation.revoked", "Invitation revoked"
    INVITATION_ACCEPTED = "invitation.accepted", "Invitation accepted"
    INVITATION_DECLINED = "invitation.declined", "Invitation declined"
    MEMBER_ROLE_CHANGED = "member.role_changed", "Role changed"
    MEMBER_REMOVED = "member.removed", "Member removed"
    MEMBER_LEFT = "member.left", "Member left"
    AI_SETTINGS_UPDATED = "ai_settings.updated", "AI settings updated"
    BUDGET_ALERT = "budget.alert", "Budget alert"
    API_KEY_CREATED = "api_key.created", "API key created"
    API_KEY_REVOKED = "api_key.revoked", "API key revoked"
    DOCUMENT_UPLOADED = "document.uploaded", "Document uploaded"
    DOCUMENT_REINGESTED = "document.reingested", "Document re-ingested"
    DOCUMENT_DELETED = "document.deleted", "Document deleted"
    PLAN_CHANGED = "plan.changed", "Plan changed"
    SECURITY_UPDATED = "security.updated", "Security settings changed"
    API_KEY_ROTATED = "api_key.rotated", "API key rotated"
    API_KEY_ANOMALY = "api_key.anomaly", "Unusual API key use"
    API_KEY_SUSPENDED = "api_key.suspended", "API key suspended"
    API_KEY_REENABLED = "api_key.reenabled", "API key re-enabled"
    WEBHOOK_UPDATED = "webhook.updated", "Alert webhook changed"
    WEBHOOK_SECRET_ROTATED = "webhook.secret_rotated", "Webhook signing secret rotated"


@functools.cache
def audit_action_labels() -> dict[str, str]:
    """Every audit action in words: the project's own (``AuditAction``) and those the apps
    declare in their ``AppConfig`` (``audit_actions = {"note.deleted": "Note deleted"}``),
    so an app added to a fork records its own actions without a migration here. An action
    declared twice, or that reuses one of the project's, fails, naming it."""
    declared = merged("audit_actions", what="Audit action")
    taken = sorted(set(declared) & set(AuditAction.values))
    if taken:
        raise ValueError(f"Audit action {', '.join(taken)} is the project's own: rename yours.")
    return {**dict(AuditAction.choices), **declared}


class AuditEvent(TenantScopedModel):
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    # One of audit_action_labels() (checked by audit_record): no choices on the column,
    # so an app's own actions need no migration of this table.
    action = models.CharField(max_length=40)
    target = models.CharField(max_length=200, blank=True)
    details = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ("-created_at",)
        indexes = [models.Index(fields=("tenant", "-created_at"), name="audit_tenant_created_idx")]

    def __str__(self) -> str:
        return f"{self.action} {self.target}"

    @property
    def action_label(self) -> str:
        """The action in words ("Member invited"); an action no app declares any more
        reads as recorded."""
        return audit_action_labels().get(self.action, self.action)


class Notification(TenantScopedModel):
    """An in-app message to a tenant's admins (budget alerts and the like)."""

    kind = models.CharField(max_length=40)
    level = models.CharField(max_length=10, default="info")  # info, warning, error
    title = models.CharField(max_length=200)
    body = models.TextField(blank=True)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-created_at",)

    def __str__(self) -> str:
        return self.title


class WebhookEndpoint(TenantScopedModel):
    """Where a tenant's alerts are POSTed (apps/tenants/webhooks.py), and the secret they
    are signed with. The secret is stored as is: signing needs it, as Stripe's does; it is
    shown to the tenant's owners and admins and rotated by them."""

    tenant = models.OneToOneField(Tenant, on_delete=models.CASCADE, related_name="+")
    url = models.URLField(max_length=500, blank=True)
    secret = models.CharField(max_length=80)
    enabled = models.BooleanField(default=True)

    def __str__(self) -> str:
        return self.url or "no webhook"


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Sending"
    DELIVERED = "delivered", "Delivered"
    FAILED = "failed", "Failed"


class WebhookDelivery(TenantScopedModel):
    """One alert for the tenant's webhook. ``key`` makes it once only: the same alert
    in the same period (``budget:2026-12:80``) is one row, however often it fires."""

    key = models.CharField(max_length=120)
    event_type = models.CharField(max_length=60)
    url = models.URLField(max_length=500)
    payload = models.JSONField()
    status = models.CharField(
        max_length=10, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    attempts = models.PositiveIntegerField(default=0)
    response_status = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=300, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-created_at",)
        constraints = [
            models.UniqueConstraint(fields=("tenant", "key"), name="webhook_delivery_once")
        ]
        indexes = [
            models.Index(fields=("tenant", "-created_at"), name="webhook_tenant_created_idx")
        ]

    def __str__(self) -> str:
        return f"{self.event_type} {self.status}"


def can_change_role(actor: Membership, target: Membership) -> bool:
    """Owners change anyone's role; admins change admins' and members'; nobody their own."""
    if actor.pk == target.pk or not actor.can_manage:
        return False
    return actor.is_owner or not target.is_owner


def can_remove(actor: Membership, target: Membership) -> bool:
    """Anyone may leave; owners remove anyone; admins remove admins and members."""
    if actor.pk == target.pk:
        return True
    return can_change_role(actor, target)
