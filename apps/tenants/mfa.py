"""Two-factor authentication an organisation requires of its members (docs/security.md).

An owner turns on ``Tenant.require_mfa``; from then on a member without an authenticator
(allauth's MFA: an authenticator app, with recovery codes) is sent to set one up before
any page of that organisation, and its other requests are refused with a 403 that says
so. Both doors into an organisation's views check it: ``TenantMiddleware`` and the lean
path (``apps.tenants.lean``). The cost is one indexed query per request, and only in
organisations that require it. API keys are not affected: a key is a credential of its
own, for servers, with its own rotation and anomaly checks (apps/api).
"""

from __future__ import annotations

from allauth.mfa.models import Authenticator
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect

from apps.core.http import error_response
from apps.tenants.models import Membership

# Where to go back to once the member has set two-factor authentication up.
MFA_RETURN_SESSION_KEY = "mfa_return_to"


def mfa_setup_needed(membership: Membership) -> bool:
    """Whether this member must set up two-factor authentication before going on."""
    if not membership.tenant.require_mfa:
        return False
    return not Authenticator.objects.filter(user_id=membership.user_id).exists()


def mfa_setup_response(request: HttpRequest, membership: Membership) -> HttpResponse:
    """A page request goes to the authenticator set-up (and comes back afterwards);
    anything else (a form post, a fetch) gets a 403 that says what to do."""
    name = membership.tenant.name
    if request.method != "GET":
        return error_response(
            403,
            f"{name} requires two-factor authentication. Set it up under Account → "
            "Two-factor authentication, then try again.",
            code="mfa_required",
        )
    request.session[MFA_RETURN_SESSION_KEY] = request.get_full_path()
    messages.info(
        request,
        f"{name} requires two-factor authentication for every member. Set up an "
        "authenticator app to continue (you may be asked for your password first).",
        fail_silently=True,
    )
    return redirect("mfa_activate_totp")


def mfa_return_done(request: HttpRequest) -> None:
    """The member is through: forget the pending return address."""
    if MFA_RETURN_SESSION_KEY in request.session:
        del request.session[MFA_RETURN_SESSION_KEY]
