"""Tenant API keys: the credential of ``/api/v1/``.

A key looks like ``sk_<prefix><secret>``. Only the SHA-256 of the whole key is stored
(``key_hash``); the first eight characters after ``sk_`` (``prefix``) are kept in clear
so people can tell their keys apart. The table is under row-level security: a key is
visible inside its tenant's ``tenant_context``, and to whoever holds the key itself
(``app.api_key`` set to its hash, the same capability pattern as invitation tokens).
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone

from apps.api.scopes import DEFAULT_SCOPES
from apps.core.models import TenantScopedModel


def default_scopes() -> list[str]:
    return list(DEFAULT_SCOPES)


class ApiKey(TenantScopedModel):
    name = models.CharField(max_length=80)
    prefix = models.CharField(max_length=8)
    key_hash = models.CharField(max_length=64, unique=True)
    scopes = models.JSONField(default=default_scopes)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    last_used_at = models.DateTimeField(null=True, blank=True)
    # The client address of the last recorded use (written with last_used_at).
    last_used_ip = models.GenericIPAddressField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    # Rotation: the old key keeps working until its expires_at (the overlap), then the
    # replacement named here is the only one (apps/api/services.py, api_key_rotate).
    replaced_by = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="replaces"
    )
    # Suspended after anomalous use (apps/api/anomaly.py) until an admin re-enables it.
    suspended_at = models.DateTimeField(null=True, blank=True)
    suspended_reason = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ("-created_at",)
        indexes = [models.Index(fields=("tenant", "-created_at"), name="apikey_tenant_created_idx")]

    def __str__(self) -> str:
        return f"{self.name} (sk_{self.prefix}…)"

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None

    @property
    def is_expired(self) -> bool:
        return self.expires_at is not None and self.expires_at <= timezone.now()

    @property
    def is_suspended(self) -> bool:
        return self.suspended_at is not None

    @property
    def is_active(self) -> bool:
        return not self.is_revoked and not self.is_expired and not self.is_suspended

    @property
    def is_rotating_out(self) -> bool:
        """Replaced on rotation and still inside its overlap period."""
        return self.replaced_by_id is not None and not self.is_expired and not self.is_revoked

    @property
    def status(self) -> str:
        """ "Revoked", "Expired", "Suspended", "Rotating out" or "Active" (revocation wins:
        it was a deliberate act)."""
        if self.is_revoked:
            return "Revoked"
        if self.is_expired:
            return "Expired"
        if self.is_suspended:
            return "Suspended"
        if self.is_rotating_out:
            return "Rotating out"
        return "Active"

    @property
    def used_just_now(self) -> bool:
        return self.last_used_at is not None and timezone.now() - self.last_used_at < timedelta(
            minutes=1
        )

    @property
    def masked(self) -> str:
        return f"sk_{self.prefix}…"

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes
