from __future__ import annotations

import functools
from typing import Any

from django.http import HttpRequest

from apps.tenants import selectors


def tenancy(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {
        "current_tenant": getattr(request, "tenant", None),
        "current_membership": getattr(request, "membership", None),
        # Lazy: evaluated only by templates that show the switcher, inside the request's
        # database context (outside it, RLS returns no tenants).
        "user_tenants": functools.cache(lambda: selectors.tenants_for_user(user_id=user.pk)),
    }
