from __future__ import annotations

import functools
from typing import Any

from django.http import HttpRequest

from apps.tenants import selectors

# The app shell's sidebar (templates/app_base.html): the item each page lights, by the
# page's URL name ("chat:quality"), else by its namespace ("chat"), the exact name first.
# A new page lights its section once it is named here; a page named nowhere lights none.
# tests/tenants/test_app_shell.py checks that every name here exists, and
# tests/e2e/test_every_page.py that every page lights exactly one item.
SIDEBAR_SECTIONS: dict[str, str] = {
    "tenants:dashboard": "dashboard",
    "chat": "chat",
    "rag": "documents",
    "summaries": "documents",
    "tenants:members": "members",
    "gateway:ai_settings": "ai_settings",
    "gateway:cache_answers": "ai_settings",
    "guardrails": "ai_settings",
    "finops:usage": "usage",
    "gateway:usage": "usage",
    "chat:quality": "quality",
    "billing": "billing",
    "api:keys": "api_keys",
    "api:key_rotate": "api_keys",
    "tenants:settings": "organisation",
    "tenants:webhook": "organisation",
    "tenants:audit": "audit",
    "tenants:create": "new_organisation",
    "operator": "operator",
    # allauth's pages about the signed-in person (the user menu's Account link).
    "account_email": "account",
    "account_change_password": "account",
    "account_set_password": "account",
    "mfa_index": "account",
    "mfa_activate_totp": "account",
    "mfa_deactivate_totp": "account",
    "mfa_view_recovery_codes": "account",
    "mfa_generate_recovery_codes": "account",
}


def sidebar_section(view_name: str, namespace: str) -> str | None:
    """The sidebar item of the page named ``view_name`` (in ``namespace``), if any."""
    return SIDEBAR_SECTIONS.get(view_name) or (
        SIDEBAR_SECTIONS.get(namespace) if namespace else None
    )


def tenancy(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    match = request.resolver_match
    return {
        "current_tenant": getattr(request, "tenant", None),
        "current_membership": getattr(request, "membership", None),
        # Lazy: evaluated only by templates that show the switcher, inside the request's
        # database context (outside it, RLS returns no tenants).
        "user_tenants": functools.cache(lambda: selectors.tenants_for_user(user_id=user.pk)),
        "sidebar_section": sidebar_section(match.view_name, match.namespace) if match else None,
    }
