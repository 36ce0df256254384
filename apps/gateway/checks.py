"""Deployment checks of the gateway's settings (``manage.py check --deploy``)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Tags, register
from django.core.checks import Warning as CheckWarning

from apps.gateway.router import configured_deployments


@register(Tags.compatibility, deploy=True)
def local_provider_serves_nothing(app_configs: Any, **kwargs: Any) -> list[CheckMessage]:
    """In production every alias needs a real provider: an alias no provider key covers
    falls back to the local development provider, which no production stack runs."""
    local = f"{settings.LOCAL_PROVIDER_URL}/v1"
    aliases = sorted({d.alias for d in configured_deployments() if d.api_base == local})
    if not aliases:
        return []
    return [
        CheckWarning(
            f"No model provider serves {', '.join(repr(a) for a in aliases)}: the local "
            f"development provider at {settings.LOCAL_PROVIDER_URL} would, and it runs "
            "only in development.",
            hint="Set OPENAI_API_KEY, or OPENAI_COMPATIBLE_BASE_URL with "
            "OPENAI_COMPATIBLE_MODELS naming a fast, a smart and an embedding model "
            "(docs/forking.md, 'Real services').",
            id="gateway.W001",
        )
    ]
