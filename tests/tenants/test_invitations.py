from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from apps.accounts.models import User
from apps.core.db import tenant_context, user_context
from apps.core.errors import ServiceError
from apps.tenants import services
from apps.tenants.models import AuditEvent, Invitation, Membership, Tenant
from tests.conftest import PASSWORD, make_user


@pytest.fixture
def invite(owner: User, tenant: Tenant) -> tuple[Invitation, str]:
    with tenant_context(tenant.id):
        actor = Membership.objects.get(user=owner)
        invitation, token = services.invitation_create(
            tenant=tenant, actor=actor, email="new@example.com", role="admin"
        )
    return invitation, token


def url(token: str) -> str:
    return reverse("invitation_accept", args=[token])


def test_anonymous_sees_invitation_and_signup_joins_instead_of_creating(
    tenant: Tenant, invite: tuple[Invitation, str]
) -> None:
    _, token = invite
    client = Client()
    page = client.get(url(token))
    assert page.status_code == 200
    assert b"Join Alpha Labs" in page.content
    client.post(
        reverse("account_signup") + f"?next={url(token)}",
        {"email": "new@example.com", "password1": "a-long-unusual-passphrase", "organisation": ""},
    )
    accepted = client.post(url(token), {"action": "accept"})
    assert accepted["Location"] == reverse("tenants:dashboard", args=[tenant.slug])
    with tenant_context(tenant.id):
        membership = Membership.objects.get(user__email="new@example.com")
        assert membership.role == "admin"
        assert Invitation.objects.get().status == "accepted"
        assert AuditEvent.objects.filter(action="invitation.accepted").count() == 1
    user = membership.user
    with user_context(user.pk):
        # Signing up through an invitation creates no extra organisation.
        assert list(Tenant.objects.values_list("name", flat=True)) == ["Alpha Labs"]


def test_used_token_is_refused(tenant: Tenant, invite: tuple[Invitation, str]) -> None:
    _, token = invite
    invitee = make_user("new@example.com")
    services.invitation_accept(token=token, user=invitee)
    client = Client()
    client.force_login(invitee)
    response = client.post(url(token), {"action": "accept"})
    assert response.status_code == 410
    assert b"already accepted" in response.content
    with pytest.raises(ServiceError, match="already accepted"):
        services.invitation_accept(token=token, user=invitee)
    with tenant_context(tenant.id):
        assert Membership.objects.filter(user=invitee).count() == 1


def test_invalid_token_is_404_and_says_so(db: None) -> None:
    response = Client().get(url("not-a-real-token"))
    assert response.status_code == 404
    assert b"not valid" in response.content


def test_expired_token_is_refused(tenant: Tenant, invite: tuple[Invitation, str]) -> None:
    invitation, token = invite
    with tenant_context(tenant.id):
        Invitation.objects.filter(id=invitation.id).update(
            expires_at=timezone.now() - timedelta(minutes=1)
        )
    invitee = make_user("new@example.com")
    with pytest.raises(ServiceError, match="expired"):
        services.invitation_accept(token=token, user=invitee)
    client = Client()
    client.force_login(invitee)
    assert client.get(url(token)).status_code == 410
    with tenant_context(tenant.id):
        assert not Membership.objects.filter(user=invitee).exists()


def test_wrong_account_cannot_accept(
    tenant: Tenant, invite: tuple[Invitation, str], outsider: User
) -> None:
    _, token = invite
    client = Client()
    client.force_login(outsider)
    response = client.post(url(token), {"action": "accept"})
    assert response.status_code == 400
    assert b"sent to new@example.com" in response.content
    with tenant_context(tenant.id):
        assert not Membership.objects.filter(user=outsider).exists()
        assert Invitation.objects.get().status == "pending"


def test_decline(tenant: Tenant, invite: tuple[Invitation, str]) -> None:
    _, token = invite
    invitee = make_user("new@example.com")
    client = Client()
    client.force_login(invitee)
    client.post(url(token), {"action": "decline"})
    with tenant_context(tenant.id):
        assert Invitation.objects.get().status == "declined"
        assert not Membership.objects.filter(user=invitee).exists()


def test_revoked_invitation_cannot_be_used(
    owner: User, tenant: Tenant, invite: tuple[Invitation, str]
) -> None:
    invitation, token = invite
    client = Client()
    client.force_login(owner)
    client.post(reverse("tenants:invitation_revoke", args=[tenant.slug, invitation.id]))
    invitee = make_user("new@example.com")
    with pytest.raises(ServiceError, match="revoked"):
        services.invitation_accept(token=token, user=invitee)


def test_seat_limit_blocks_invitations(owner: User, tenant: Tenant) -> None:
    # Free plan: 3 seats. The owner holds one.
    with tenant_context(tenant.id):
        actor = Membership.objects.get(user=owner)
        services.invitation_create(tenant=tenant, actor=actor, email="a@example.com")
        services.invitation_create(tenant=tenant, actor=actor, email="b@example.com")
        with pytest.raises(ServiceError, match="3 seats"):
            services.invitation_create(tenant=tenant, actor=actor, email="c@example.com")
        assert Invitation.objects.count() == 2


def test_only_owners_invite_owners(tenant: Tenant) -> None:
    admin = make_user("dana@example.com")
    from tests.conftest import add_member

    admin_m = add_member(tenant, admin, "admin")
    with tenant_context(tenant.id), pytest.raises(ServiceError, match="Only owners"):
        services.invitation_create(
            tenant=tenant, actor=admin_m, email="x@example.com", role="owner"
        )


def test_invitee_can_log_in_with_password(tenant: Tenant, invite: tuple[Invitation, str]) -> None:
    make_user("new@example.com")
    response = Client().post(
        reverse("account_login"), {"login": "new@example.com", "password": PASSWORD}
    )
    assert response.status_code == 302
