"""Writes for the tenant's AI configuration, and reports of wrong cached answers."""

from __future__ import annotations

import uuid
from typing import Any

from django.db import transaction
from django.utils import timezone

from apps.core.db import tenant_context
from apps.core.errors import NotAllowed, ServiceError
from apps.gateway import config
from apps.gateway.models import AISettings, SemanticCacheEntry, SemanticCacheHit
from apps.tenants.models import AuditAction, Membership
from apps.tenants.services import audit_record


def ai_settings_update(
    *, actor: Membership, settings: AISettings, changes: dict[str, Any]
) -> AISettings:
    """Apply validated changes (call inside tenant_context). Audits the changed fields."""
    if not actor.can_manage:
        raise NotAllowed("Only owners and admins can change the AI settings.")
    changed = {
        name: str(value) for name, value in changes.items() if getattr(settings, name) != value
    }
    if changed:
        for name, value in changes.items():
            setattr(settings, name, value)
        settings.save()
        tenant_id = settings.tenant_id
        # After commit: a call racing the save must not re-cache the old values.
        transaction.on_commit(lambda: config.invalidate(tenant_id))
        audit_record(
            tenant=actor.tenant,
            actor=actor.user,
            action=AuditAction.AI_SETTINGS_UPDATED,
            target=", ".join(sorted(changed)),
            fields=sorted(changed),
        )
    return settings


def cache_hit_report(
    *,
    tenant_id: str,
    usage_record_id: uuid.UUID | None = None,
    request_id: str = "",
    reporter_id: int | None,
    via: str,
    note: str = "",
) -> SemanticCacheHit:
    """Report an answer served from the semantic cache as wrong: its entry is deleted (so
    it is never served again) and the pair of questions is kept, marked reported.

    The hit is found by its ledger row or by the request id the answer was served under
    (the ``X-Request-ID`` an API client received). Reporting twice changes nothing more.
    """
    if usage_record_id is None and not request_id:
        raise ServiceError("Say which answer: give its request id.", code="invalid_request")
    with tenant_context(tenant_id):  # one transaction: the report and the deletion
        hits = SemanticCacheHit.objects.select_for_update().filter(tenant_id=tenant_id)
        if usage_record_id is not None:
            hits = hits.filter(usage_record_id=usage_record_id)
        else:
            hits = hits.filter(usage_record__request_id=request_id)
        hit = hits.order_by("-created_at").first()
        if hit is None:
            raise ServiceError(
                "That answer was not served from the semantic cache, so there is nothing to "
                "remove. Regenerate it instead.",
                code="not_a_cache_hit",
            )
        if hit.reported_at is None:
            hit.reported_at = timezone.now()
            hit.reported_by_id = reporter_id
            hit.reported_via = via
            hit.note = note[:500]
            hit.save(update_fields=["reported_at", "reported_by", "reported_via", "note"])
        SemanticCacheEntry.objects.filter(tenant_id=tenant_id, id=hit.entry_id).delete()
    return hit
