"""Reads, for the page and the API alike. Call inside the tenant's context."""

from __future__ import annotations

from django.db.models import QuerySet

from apps.notes.models import Note
from apps.tenants.models import Tenant


def recent_notes(tenant: Tenant, limit: int = 50) -> QuerySet[Note]:
    return Note.objects.filter(tenant=tenant).select_related("created_by")[:limit]
