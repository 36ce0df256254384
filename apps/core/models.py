"""Shared model bases."""

from __future__ import annotations

import uuid

from django.db import models


class TimeStampedModel(models.Model):
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


class TenantScopedModel(TimeStampedModel):
    """Base for every table that holds a tenant's data.

    Its migration must add ``EnableRLS("<model>")`` (tests/core/test_rls_coverage.py
    fails otherwise). Rows are readable and writable only inside
    ``apps.core.db.tenant_context`` for the same tenant; the explicit ``tenant`` foreign
    key keeps queries and indexes tenant-first as well.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.CASCADE, related_name="+")

    class Meta:
        abstract = True
