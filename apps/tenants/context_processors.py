from __future__ import annotations

import functools
from typing import Any

from django.http import HttpRequest

from apps.core import navigation
from apps.tenants import selectors

# The sidebar's links and the pages that light each are declared by the apps that own them
# (``nav_items`` and ``nav_lights`` in each AppConfig; apps/core/navigation.py). These are
# the shell's own places outside the menus: the user menu's Account link (allauth's pages
# about the signed-in person) and the organisation switcher's "New organisation".
# tests/tenants/test_app_shell.py checks that every name lit exists, and
# tests/e2e/test_every_page.py that every page lights exactly one item.
SHELL_SECTIONS: dict[str, str] = {
    "tenants:create": "new_organisation",
    "account_email": "account",
    "account_change_password": "account",
    "account_set_password": "account",
    "mfa_index": "account",
    "mfa_activate_totp": "account",
    "mfa_deactivate_totp": "account",
    "mfa_view_recovery_codes": "account",
    "mfa_generate_recovery_codes": "account",
}


@functools.cache
def lit_sections() -> dict[str, str]:
    """URL name or namespace -> the sidebar section its pages light."""
    return {**navigation.lit_sections(), **SHELL_SECTIONS}


def sidebar_section(view_name: str, namespace: str) -> str | None:
    """The sidebar item of the page named ``view_name`` (in ``namespace``), if any."""
    sections = lit_sections()
    return sections.get(view_name) or (sections.get(namespace) if namespace else None)


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
        "main_menu": navigation.menu("main"),
        "platform_menu": navigation.menu("platform"),
    }
