"""Owner, member and outsider through the views."""

from __future__ import annotations

import re
import uuid

import pytest
from django.core import mail
from django.test import Client, override_settings
from django.urls import reverse
from pytest_django import DjangoCaptureOnCommitCallbacks

from apps.accounts.models import User
from apps.core.db import tenant_context
from apps.core.errors import ServiceError
from apps.gateway.forms import AISettingsForm
from apps.gateway.models import AISettings
from apps.tenants.models import AuditEvent, Invitation, Membership, Notification, Role, Tenant
from apps.tenants.services import tenant_create
from tests.conftest import add_member, make_user


def login(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def tenant_urls(
    tenant: Tenant, membership_id: uuid.UUID, invitation_id: uuid.UUID, notification_id: uuid.UUID
) -> list[tuple[str, str]]:
    slug = tenant.slug
    return [
        ("get", reverse("gateway:usage", args=[slug])),
        ("post", reverse("tenants:notification_dismiss", args=[slug, notification_id])),
        ("get", reverse("tenants:dashboard", args=[slug])),
        ("get", reverse("tenants:members", args=[slug])),
        ("get", reverse("tenants:settings", args=[slug])),
        ("get", reverse("tenants:audit", args=[slug])),
        ("get", reverse("gateway:ai_settings", args=[slug])),
        ("post", reverse("tenants:members", args=[slug])),
        ("post", reverse("tenants:member_role", args=[slug, membership_id])),
        ("post", reverse("tenants:member_remove", args=[slug, membership_id])),
        ("post", reverse("tenants:invitation_revoke", args=[slug, invitation_id])),
        ("post", reverse("tenants:settings", args=[slug])),
        ("post", reverse("gateway:ai_settings", args=[slug])),
    ]


def test_owner_sees_dashboard_and_admin_pages(owner: User, tenant: Tenant) -> None:
    client = login(owner)
    response = client.get(reverse("tenants:dashboard", args=[tenant.slug]))
    assert response.status_code == 200
    assert b"Alpha Labs" in response.content
    for name in ("tenants:members", "tenants:settings", "tenants:audit", "gateway:ai_settings"):
        assert client.get(reverse(name, args=[tenant.slug])).status_code == 200


def test_member_cannot_open_admin_pages(member: User, tenant: Tenant) -> None:
    client = login(member)
    assert client.get(reverse("tenants:dashboard", args=[tenant.slug])).status_code == 200
    assert client.get(reverse("tenants:members", args=[tenant.slug])).status_code == 200
    for name in ("tenants:settings", "tenants:audit", "gateway:ai_settings"):
        assert client.get(reverse(name, args=[tenant.slug])).status_code == 403
    response = client.post(
        reverse("tenants:members", args=[tenant.slug]), {"email": "z@example.com", "role": "member"}
    )
    assert response.status_code == 302
    with tenant_context(tenant.id):
        assert Invitation.objects.count() == 0


def test_outsider_gets_404_everywhere_and_changes_nothing(
    owner: User, tenant: Tenant, outsider: User, other_tenant: Tenant
) -> None:
    with tenant_context(tenant.id):
        owner_membership = Membership.objects.get(user=owner)
        invitation = Invitation.objects.create(
            tenant=tenant,
            email="p@example.com",
            token_hash="h" * 64,
            expires_at="2999-01-01T00:00:00Z",
        )
        note = Notification.objects.create(tenant=tenant, kind="budget.50", title="Half the budget")
        events_before = AuditEvent.objects.count()
    client = login(outsider)
    for method, url in tenant_urls(tenant, owner_membership.id, invitation.id, note.id):
        response = getattr(client, method)(
            url, {"role": "member", "name": "pwned", "email": "e@example.com"}
        )
        assert response.status_code == 404, url
        assert b"Alpha" not in response.content
    # The same 404 as for a slug that does not exist: nothing tells the tenant exists.
    missing = client.get("/t/no-such-org/")
    assert missing.status_code == 404
    with tenant_context(tenant.id):
        assert Membership.objects.count() == 1
        assert Invitation.objects.get().status == "pending"
        assert AuditEvent.objects.count() == events_before
        assert not AISettings.objects.filter(system_prompt="pwned").exists()
        assert Notification.objects.get().read_at is None


def test_other_tenants_member_id_is_404_even_with_own_slug(
    owner: User, tenant: Tenant, outsider: User, other_tenant: Tenant
) -> None:
    with tenant_context(other_tenant.id):
        foreign = Membership.objects.get(user=outsider)
    client = login(owner)
    url = reverse("tenants:member_remove", args=[tenant.slug, foreign.id])
    assert client.post(url).status_code == 404
    with tenant_context(other_tenant.id):
        assert Membership.objects.filter(id=foreign.id).exists()


def test_anonymous_is_sent_to_login(tenant: Tenant) -> None:
    response = Client().get(reverse("tenants:dashboard", args=[tenant.slug]))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login"))


def test_invite_sends_email_and_is_audited(
    owner: User, tenant: Tenant, django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks
) -> None:
    client = login(owner)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("tenants:members", args=[tenant.slug]),
            {"email": "New@Example.com", "role": "admin"},
        )
    assert response.status_code == 302
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["new@example.com"]
    assert "/invitations/" in mail.outbox[0].body
    with tenant_context(tenant.id):
        invitation = Invitation.objects.get()
        assert (invitation.email, invitation.role, invitation.status) == (
            "new@example.com",
            "admin",
            "pending",
        )
        assert (
            AuditEvent.objects.filter(action="member.invited", target="new@example.com").count()
            == 1
        )


def test_invalid_invite_shows_error_and_changes_nothing(
    owner: User, member: User, tenant: Tenant
) -> None:
    client = login(owner)
    url = reverse("tenants:members", args=[tenant.slug])
    response = client.post(url, {"email": "not-an-email", "role": "member"})
    assert response.status_code == 400
    response = client.post(url, {"email": "bob@example.com", "role": "member"})
    assert response.status_code == 400
    assert b"already a member" in response.content
    with tenant_context(tenant.id):
        assert Invitation.objects.count() == 0


def test_removing_the_last_owner_is_refused(owner: User, tenant: Tenant) -> None:
    client = login(owner)
    with tenant_context(tenant.id):
        me = Membership.objects.get(user=owner)
    response = client.post(reverse("tenants:member_remove", args=[tenant.slug, me.id]), follow=True)
    assert b"at least one owner" in response.content
    response = client.post(
        reverse("tenants:member_role", args=[tenant.slug, me.id]), {"role": "member"}, follow=True
    )
    with tenant_context(tenant.id):
        me.refresh_from_db()
        assert me.role == Role.OWNER
        assert Membership.objects.count() == 1


def test_owner_changes_role_and_removes_member(owner: User, member: User, tenant: Tenant) -> None:
    client = login(owner)
    with tenant_context(tenant.id):
        bob = Membership.objects.get(user=member)
    client.post(reverse("tenants:member_role", args=[tenant.slug, bob.id]), {"role": "admin"})
    with tenant_context(tenant.id):
        bob.refresh_from_db()
        assert bob.role == "admin"
    client.post(reverse("tenants:member_remove", args=[tenant.slug, bob.id]))
    with tenant_context(tenant.id):
        assert not Membership.objects.filter(id=bob.id).exists()
        assert list(
            AuditEvent.objects.filter(action__startswith="member.").values_list("action", flat=True)
        ) == ["member.removed", "member.role_changed"]


def test_admin_cannot_touch_owner_or_promote_to_owner(owner: User, tenant: Tenant) -> None:
    admin = make_user("dana@example.com")
    admin_m = add_member(tenant, admin, Role.ADMIN)
    plain = add_member(tenant, make_user("erin@example.com"), Role.MEMBER)
    with tenant_context(tenant.id):
        owner_m = Membership.objects.get(user=owner)
    client = login(admin)
    client.post(reverse("tenants:member_role", args=[tenant.slug, owner_m.id]), {"role": "member"})
    client.post(reverse("tenants:member_remove", args=[tenant.slug, owner_m.id]))
    client.post(reverse("tenants:member_role", args=[tenant.slug, plain.id]), {"role": "owner"})
    with tenant_context(tenant.id):
        assert Membership.objects.get(id=owner_m.id).role == "owner"
        assert Membership.objects.get(id=plain.id).role == "member"
        assert Membership.objects.get(id=admin_m.id).role == "admin"


def test_member_can_leave(member: User, tenant: Tenant) -> None:
    client = login(member)
    with tenant_context(tenant.id):
        me = Membership.objects.get(user=member)
    response = client.post(reverse("tenants:member_remove", args=[tenant.slug, me.id]))
    assert response.status_code == 302
    assert client.get(reverse("tenants:dashboard", args=[tenant.slug])).status_code == 404


AI_FORM = {
    "model_alias": "fast",
    "system_prompt": "Be brief.",
    "temperature": "0.20",
    "max_tokens": "500",
    "cache_enabled": "on",
    "semantic_threshold": "0.90",
    "rag_enabled": "on",
    "rag_top_k": "8",
    "monthly_budget_usd": "25.00",
    "budget_action": "block",
}


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("temperature", "7", b"less than or equal to 2"),
        ("max_tokens", "5", b"greater than or equal to 16"),
        ("semantic_threshold", "0.2", b"greater than or equal to 0.50"),
        ("monthly_budget_usd", "-1", b"greater than or equal to 0"),
        ("budget_action", "explode", b"Select a valid choice"),
        ("model_alias", "smart", b"Select a valid choice"),  # not on the free plan
    ],
)
def test_invalid_ai_settings_are_refused_and_change_nothing(
    owner: User, tenant: Tenant, field: str, value: str, message: bytes
) -> None:
    client = login(owner)
    url = reverse("gateway:ai_settings", args=[tenant.slug])
    response = client.post(url, {**AI_FORM, field: value})
    assert response.status_code == 400
    assert message in response.content
    with tenant_context(tenant.id):
        row = AISettings.objects.get()
        assert row.system_prompt != "Be brief."
        assert AuditEvent.objects.filter(action="ai_settings.updated").count() == 0


def test_ai_settings_saved_and_audited(owner: User, tenant: Tenant) -> None:
    client = login(owner)
    ok = client.post(reverse("gateway:ai_settings", args=[tenant.slug]), AI_FORM)
    assert ok.status_code == 302
    with tenant_context(tenant.id):
        row = AISettings.objects.get()
        assert (row.system_prompt, str(row.temperature)) == ("Be brief.", "0.20")
        assert row.max_tokens == 500
        assert (row.rag_enabled, row.rag_top_k) == (True, 8)
        assert (row.cache_enabled, row.cascade_enabled) == (True, False)
        assert (str(row.semantic_threshold), str(row.monthly_budget_usd), row.budget_action) == (
            "0.90",
            "25.00",
            "block",
        )
        event = AuditEvent.objects.get(action="ai_settings.updated")
        assert event.details["fields"] == [
            "budget_action",
            "max_tokens",
            "monthly_budget_usd",
            "rag_enabled",
            "rag_top_k",
            "semantic_threshold",
            "system_prompt",
            "temperature",
        ]


def test_the_ai_settings_page_shows_every_field_once_in_two_columns(
    owner: User, tenant: Tenant
) -> None:
    page = login(owner).get(reverse("gateway:ai_settings", args=[tenant.slug])).content.decode()
    columns = page.split('<div class="settings-column">')[1:]
    titles = [re.findall(r"<h2>([^<]+)</h2>", column) for column in columns]
    assert titles == [["Model", "Chat", "Documents"], ["Caching", "Budget", "Guardrails"]]
    fields = re.findall(r'<(?:input|select|textarea)[^>]* name="([a-z_]+)"', page)
    assert sorted(name for name in fields if name != "csrfmiddlewaretoken") == sorted(
        name for _, names in AISettingsForm.SECTIONS for name in names
    )


def test_tenant_switcher_lists_only_own_tenants(
    owner: User, tenant: Tenant, outsider: User, other_tenant: Tenant
) -> None:
    second = tenant_create(owner=owner, name="Gamma Works")
    client = login(owner)
    page = client.get(reverse("tenants:dashboard", args=[tenant.slug])).content.decode()
    assert reverse("tenants:dashboard", args=[second.slug]) in page
    assert "Beta Corp" not in page


def test_home_redirects_to_last_tenant(owner: User, tenant: Tenant) -> None:
    from apps.tenants.services import tenant_create

    second = tenant_create(owner=owner, name="Gamma Works")
    client = login(owner)
    client.get(reverse("tenants:dashboard", args=[second.slug]))
    assert client.get("/")["Location"] == reverse("tenants:dashboard", args=[second.slug])


@override_settings(DEBUG=False)
def test_unknown_and_foreign_tenants_get_the_same_friendly_404(
    owner: User, tenant: Tenant, outsider: User, other_tenant: Tenant
) -> None:
    client = login(outsider)
    foreign = client.get(reverse("tenants:dashboard", args=[tenant.slug]))
    missing = client.get("/t/does-not-exist/")
    assert foreign.status_code == missing.status_code == 404
    assert b"Page not found" in foreign.content
    assert foreign.content.replace(tenant.slug.encode(), b"") == missing.content.replace(
        b"does-not-exist", b""
    )


def test_user_without_tenant_is_sent_to_create_one(db: None) -> None:
    lonely = make_user("lonely@example.com")
    client = login(lonely)
    assert client.get("/")["Location"] == reverse("tenants:create")
    response = client.post(reverse("tenants:create"), {"name": "  "})
    assert response.status_code == 200
    assert b"This field is required" in response.content


def test_member_cannot_see_usage_and_admin_sees_notifications(
    owner: User, member: User, tenant: Tenant
) -> None:
    with tenant_context(tenant.id):
        note = Notification.objects.create(
            tenant=tenant,
            kind="budget.80",
            level="warning",
            title="80% of the monthly AI budget used",
        )
    assert login(member).get(reverse("gateway:usage", args=[tenant.slug])).status_code == 403
    member_dash = login(member).get(reverse("tenants:dashboard", args=[tenant.slug]))
    assert b"80% of the monthly AI budget used" not in member_dash.content
    client = login(owner)
    assert client.get(reverse("gateway:usage", args=[tenant.slug])).status_code == 200
    dash = client.get(reverse("tenants:dashboard", args=[tenant.slug]))
    assert b"80% of the monthly AI budget used" in dash.content
    client.post(reverse("tenants:notification_dismiss", args=[tenant.slug, note.id]))
    dash = client.get(reverse("tenants:dashboard", args=[tenant.slug]))
    assert b"80% of the monthly AI budget used" not in dash.content


def test_an_organisations_address_does_not_tell_that_its_name_is_taken(
    owner: User, outsider: User
) -> None:
    """Creating an organisation with another tenant's name looks exactly like creating
    one with a fresh name: the address is the name plus a random suffix either way."""
    taken = tenant_create(owner=outsider, name="Gamma Works")
    client = Client()
    client.force_login(owner)
    for name in ("Gamma Works", "Delta Works"):
        response = client.post(reverse("tenants:create"), {"name": name})
        assert response.status_code == 302
        slug = response["Location"].split("/")[2]
        base = name.lower().replace(" ", "-")
        assert re.fullmatch(rf"{base}-[0-9a-f]{{6}}", slug), slug
    assert re.fullmatch(r"gamma-works-[0-9a-f]{6}", taken.slug)


def test_a_reserved_address_is_refused_like_a_taken_one(owner: User, outsider: User) -> None:
    tenant_create(owner=outsider, name="Epsilon", slug="epsilon")
    for slug in ("epsilon", "admin"):
        with pytest.raises(ServiceError) as refused:
            tenant_create(owner=owner, name="Mine", slug=slug)
        assert refused.value.message == f"The address {slug!r} is not available; choose another."
