from __future__ import annotations

import re

from django.test import Client
from django.urls import reverse

from apps.accounts.models import User
from apps.core.db import tenant_context, user_context
from apps.tenants.models import AuditEvent, Membership, Tenant


def signup(client: Client, email: str, password: str, organisation: str = ""):
    return client.post(
        reverse("account_signup"),
        {"email": email, "password1": password, "organisation": organisation},
    )


def test_signup_creates_user_and_first_tenant(db):
    client = Client()
    response = signup(client, "Founder@Example.com", "a-long-unusual-passphrase", "Rocket Science")
    assert response.status_code == 302
    user = User.objects.get(email="founder@example.com")
    with user_context(user.pk):
        membership = Membership.objects.select_related("tenant").get(user=user)
    assert (membership.tenant.name, membership.role) == ("Rocket Science", "owner")
    with tenant_context(membership.tenant_id):
        assert AuditEvent.objects.get().action == "tenant.created"
    # Landing page: the new tenant's dashboard.
    home = client.get(response["Location"])
    assert home.status_code == 302
    assert home["Location"] == reverse("tenants:dashboard", args=[membership.tenant.slug])


def test_signup_without_organisation_name_gets_a_default(db):
    signup(Client(), "solo@example.com", "a-long-unusual-passphrase")
    user = User.objects.get(email="solo@example.com")
    with user_context(user.pk):
        assert Tenant.objects.get().name == "solo's organisation"


def test_taken_email_is_refused_and_changes_nothing(owner, tenant):
    response = signup(Client(), "ALICE@example.com", "a-long-unusual-passphrase", "Dup")
    assert response.status_code == 200
    assert b"already registered" in response.content
    assert User.objects.filter(email__iexact="alice@example.com").count() == 1
    with user_context(owner.pk):
        assert Tenant.objects.count() == 1


def test_weak_password_is_refused(db):
    response = signup(Client(), "weak@example.com", "password", "Weak")
    assert response.status_code == 200
    assert b"too common" in response.content or b"too short" in response.content
    assert not User.objects.filter(email="weak@example.com").exists()


def test_same_names_get_distinct_addresses_of_the_same_shape(db):
    a = Client()
    signup(a, "one@example.com", "a-long-unusual-passphrase", "Same Name")
    signup(Client(), "two@example.com", "a-long-unusual-passphrase", "Same Name")
    slugs = []
    for email in ("one@example.com", "two@example.com"):
        user = User.objects.get(email=email)
        with user_context(user.pk):
            slugs.append(Tenant.objects.get().slug)
    assert slugs[0] != slugs[1]
    assert all(re.fullmatch(r"same-name-[0-9a-f]{6}", slug) for slug in slugs), slugs


def test_login_and_logout(owner, tenant):
    client = Client()
    response = client.post(
        reverse("account_login"),
        {"login": "alice@example.com", "password": "correct-horse-battery-staple"},
    )
    assert response.status_code == 302
    assert client.get(reverse("tenants:dashboard", args=[tenant.slug])).status_code == 200
    client.post(reverse("account_logout"))
    assert client.get(reverse("tenants:dashboard", args=[tenant.slug])).status_code == 302


def test_wrong_password_is_refused(owner):
    response = Client().post(
        reverse("account_login"), {"login": "alice@example.com", "password": "nope-nope-nope"}
    )
    assert response.status_code == 200
    assert b"not correct" in response.content


def test_password_reset_sends_email(owner, mailoutbox):
    response = Client().post(reverse("account_reset_password"), {"email": "alice@example.com"})
    assert response.status_code == 302
    assert len(mailoutbox) == 1
    assert "/accounts/password/reset/key/" in mailoutbox[0].body
