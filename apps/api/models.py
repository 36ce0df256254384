"""Tenant API keys: the credential of ``/api/v1/``.

A key looks like ``sk_<prefix><secret>``. Only the SHA-256 of the whole key is stored
(``key_hash``); the first eight characters after ``sk_`` (``prefix``) are kept in clear
so people can tell their keys apart. The table is under row-level security: a key is
visible inside its tenant's ``tenant_context``, and to whoever holds the key itself
(``app.api_key`` set to its hash, the same capability pattern as invitation tokens).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from apps.core.models import TenantScopedModel


class Scope(models.TextChoices):
    CHAT = "chat", "Chat"
    DOCUMENTS = "documents", "Documents"
    READ = "read", "Read"


DEFAULT_SCOPES = [Scope.CHAT.value, Scope.READ.value]


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
    revoked_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)

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
    def is_active(self) -> bool:
        return not self.is_revoked and not self.is_expired

    @property
    def status(self) -> str:
        """ "Revoked", "Expired" or "Active" (revocation wins: it was a deliberate act)."""
        if self.is_revoked:
            return "Revoked"
        if self.is_expired:
            return "Expired"
        return "Active"

    @property
    def masked(self) -> str:
        return f"sk_{self.prefix}…"

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes
