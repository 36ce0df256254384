"""Two-factor authentication an organisation requires: the setting, who may change it,
and its enforcement on pages, on posts, through the lean path, and not on API keys."""

from __future__ import annotations

import json

import pytest
from allauth.mfa.models import Authenticator
from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret
from django.http import HttpRequest, HttpResponse
from django.test import Client, RequestFactory
from django.urls import reverse
from pytest_django import Settings

from apps.accounts.models import User
from apps.api.services import api_key_create
from apps.core.db import tenant_context
from apps.core.errors import NotAllowed
from apps.tenants import lean
from apps.tenants.mfa import MFA_RETURN_SESSION_KEY
from apps.tenants.models import AuditAction, AuditEvent, Membership, Role, Tenant
from apps.tenants.services import tenant_update_security
from tests.conftest import PASSWORD, add_member, make_user, owner_of

pytestmark = pytest.mark.django_db


def login(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def sign_in(user: User) -> Client:
    """A real sign-in (allauth records it, so set-up pages need no re-authentication)."""
    client = Client()
    response = client.post(reverse("account_login"), {"login": user.email, "password": PASSWORD})
    assert response.status_code == 302, response.content
    return client


def with_totp(user: User) -> User:
    TOTP.activate(user, generate_totp_secret())
    return user


def require_mfa(tenant: Tenant) -> None:
    with tenant_context(tenant.id):
        tenant_update_security(
            tenant=tenant,
            actor=owner_of(tenant.id),
            require_mfa=True,
            suspend_anomalous_keys=tenant.suspend_anomalous_keys,
        )


def fresh(tenant: Tenant) -> None:
    with tenant_context(tenant.id):
        tenant.refresh_from_db()


def security_audit(tenant: Tenant) -> list[tuple[str, dict[str, object]]]:
    with tenant_context(tenant.id):
        return list(
            AuditEvent.objects.filter(action=AuditAction.SECURITY_UPDATED).values_list(
                "target", "details"
            )
        )


def test_an_owner_without_two_factor_cannot_require_it(owner: User, tenant: Tenant) -> None:
    response = login(owner).post(
        reverse("tenants:settings", args=[tenant.slug]),
        {"section": "security", "require_mfa": "on"},
    )
    assert response.status_code == 400
    assert "Turn on two-factor authentication for your own account first" in response.text
    fresh(tenant)
    assert tenant.require_mfa is False
    assert security_audit(tenant) == []


def test_an_owner_with_two_factor_requires_it_and_it_is_audited(
    owner: User, tenant: Tenant
) -> None:
    with_totp(owner)
    client = login(owner)
    response = client.post(
        reverse("tenants:settings", args=[tenant.slug]),
        {"section": "security", "require_mfa": "on"},
    )
    assert response.status_code == 302
    fresh(tenant)
    assert tenant.require_mfa is True
    assert security_audit(tenant) == [("require_mfa on", {"require_mfa": True})]
    page = client.get(reverse("tenants:settings", args=[tenant.slug]))
    assert "2FA required" in page.text


def test_an_admin_may_not_change_the_requirement(tenant: Tenant) -> None:
    admin = with_totp(make_user("dana@example.com"))
    membership = add_member(tenant, admin, Role.ADMIN)
    with tenant_context(tenant.id), pytest.raises(NotAllowed, match="Only an owner"):
        tenant_update_security(
            tenant=tenant,
            actor=Membership.objects.select_related("user").get(id=membership.id),
            require_mfa=True,
            suspend_anomalous_keys=False,
        )
    # Through the page the admin's disabled box is ignored; the other setting saves.
    response = login(admin).post(
        reverse("tenants:settings", args=[tenant.slug]),
        {"section": "security", "suspend_anomalous_keys": "on"},
    )
    assert response.status_code == 302
    fresh(tenant)
    assert (tenant.require_mfa, tenant.suspend_anomalous_keys) == (False, True)


def test_a_member_without_two_factor_is_sent_to_set_it_up(
    owner: User, tenant: Tenant, member: User
) -> None:
    with_totp(owner)
    require_mfa(tenant)
    client = sign_in(member)
    members_url = reverse("tenants:members", args=[tenant.slug])
    response = client.get(members_url + "?page=1")
    assert response.status_code == 302
    assert response["Location"] == reverse("mfa_activate_totp")
    assert client.session[MFA_RETURN_SESSION_KEY] == members_url + "?page=1"
    # allauth asks for the password again before an authenticator is added.
    confirm = client.get(response["Location"], follow=True)
    assert confirm.redirect_chain[-1][0].startswith(reverse("account_reauthenticate"))
    assert f"{tenant.name} requires two-factor authentication" in confirm.text
    client.post(reverse("account_reauthenticate"), {"password": PASSWORD})
    setup = client.get(reverse("mfa_activate_totp"))
    assert setup.status_code == 200
    assert 'class="mfa-qr"' in setup.text
    # A post (a form, a fetch) is refused with a message, and nothing happens.
    refused = client.post(reverse("tenants:settings", args=[tenant.slug]), {"name": "Hijack"})
    assert refused.status_code == 403
    assert json.loads(refused.content)["error"]["code"] == "mfa_required"
    fresh(tenant)
    assert tenant.name == "Alpha Labs"


def test_after_set_up_the_member_gets_in_and_is_shown_the_way_back(
    owner: User, tenant: Tenant, member: User
) -> None:
    with_totp(owner)
    require_mfa(tenant)
    client = login(member)
    dashboard = reverse("tenants:dashboard", args=[tenant.slug])
    assert client.get(dashboard).status_code == 302
    with_totp(member)
    codes = client.get(reverse("mfa_index"))
    assert "Continue to your organisation" in codes.text
    assert f'href="{dashboard}"' in codes.text
    assert client.get(dashboard).status_code == 200
    assert MFA_RETURN_SESSION_KEY not in client.session


def test_other_organisations_are_not_affected(
    owner: User, tenant: Tenant, member: User, outsider: User, other_tenant: Tenant
) -> None:
    with_totp(owner)
    require_mfa(tenant)
    add_member(other_tenant, member)
    client = login(member)
    assert client.get(reverse("tenants:dashboard", args=[other_tenant.slug])).status_code == 200
    assert client.get(reverse("tenants:dashboard", args=[tenant.slug])).status_code == 302


def test_lifting_the_requirement_lets_members_in_again(
    owner: User, tenant: Tenant, member: User
) -> None:
    with_totp(owner)
    require_mfa(tenant)
    client = login(member)
    assert client.get(reverse("tenants:dashboard", args=[tenant.slug])).status_code == 302
    login(owner).post(reverse("tenants:settings", args=[tenant.slug]), {"section": "security"})
    assert client.get(reverse("tenants:dashboard", args=[tenant.slug])).status_code == 200
    assert [target for target, _ in security_audit(tenant)] == [
        "require_mfa off",
        "require_mfa on",
    ]


def test_api_keys_are_not_affected(owner: User, tenant: Tenant) -> None:
    with_totp(owner)
    with tenant_context(tenant.id):
        _, raw_key = api_key_create(
            tenant=tenant, actor=owner_of(tenant.id), name="CI", scopes=["read"]
        )
    require_mfa(tenant)
    Authenticator.objects.filter(user=owner).delete()  # even the key's creator lost it
    response = Client().get("/api/v1/me", headers={"Authorization": f"Bearer {raw_key}"})
    assert response.status_code == 200


def test_the_lean_path_refuses_too(
    owner: User, tenant: Tenant, member: User, rf: RequestFactory, settings: Settings
) -> None:
    """The chat's posts skip the middleware (apps/tenants/lean.py): the same check runs
    there, and the view does not."""
    with_totp(owner)
    require_mfa(tenant)
    client = login(member)
    ran = []

    def action(request: HttpRequest, slug: str) -> HttpResponse:
        ran.append(slug)
        return HttpResponse("ran")

    request = rf.post(f"/t/{tenant.slug}/chat/x/messages/")
    request.COOKIES[settings.SESSION_COOKIE_NAME] = client.cookies[
        settings.SESSION_COOKIE_NAME
    ].value
    response = lean._as_member(request, tenant.slug, action)
    assert isinstance(response, HttpResponse)
    assert response.status_code == 403
    assert json.loads(response.content)["error"]["code"] == "mfa_required"
    assert ran == []
    with_totp(member)
    request = rf.post(f"/t/{tenant.slug}/chat/x/messages/")
    request.COOKIES[settings.SESSION_COOKIE_NAME] = client.cookies[
        settings.SESSION_COOKIE_NAME
    ].value
    allowed = lean._as_member(request, tenant.slug, action)
    assert isinstance(allowed, HttpResponse)
    assert allowed.content == b"ran"
    assert ran == [tenant.slug]
