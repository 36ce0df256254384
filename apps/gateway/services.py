"""Writes for the tenant's AI configuration."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from apps.core.errors import NotAllowed
from apps.gateway import config
from apps.gateway.models import AISettings
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
