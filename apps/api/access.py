"""Load an API key by id for a view: scoped to ``request.tenant``, 404 otherwise."""

from __future__ import annotations

from typing import Any

from django.http import Http404

from apps.api.models import ApiKey
from apps.tenants.http import TenantBound


def get_api_key(request: TenantBound, key_id: Any) -> ApiKey:
    key = ApiKey.objects.filter(id=key_id, tenant=request.tenant).first()
    if key is None:
        raise Http404("No such API key.")
    return key
