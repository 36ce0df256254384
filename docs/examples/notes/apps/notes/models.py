"""A note: a short text an organisation's members share. One tenant's data, under RLS."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from apps.core.models import TenantScopedModel


class Note(TenantScopedModel):
    title = models.CharField(max_length=200)
    body = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ("-created_at",)
        indexes = [models.Index(fields=("tenant", "-created_at"), name="note_tenant_created_idx")]

    def __str__(self) -> str:
        return self.title
