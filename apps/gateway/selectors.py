from __future__ import annotations

from apps.gateway.models import AISettings
from apps.tenants.models import Tenant


def ai_settings_for(tenant: Tenant) -> AISettings:
    """The tenant's AI settings (created with the tenant). Call inside tenant_context."""
    settings, _ = AISettings.objects.get_or_create(tenant=tenant)
    return settings
