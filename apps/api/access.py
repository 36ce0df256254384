"""Load an API key by id for a view: scoped to ``request.tenant``, 404 otherwise."""

from __future__ import annotations

from typing import Any

from django.http import Http404, HttpRequest

from apps.api.models import ApiKey
from apps.tenants.access import current_tenant


def get_api_key(request: HttpRequest, key_id: Any) -> ApiKey:
    tenant = current_tenant(request)
    key = ApiKey.objects.filter(id=key_id, tenant=tenant).first()
    if key is None:
        raise Http404("No such API key.")
    return key
