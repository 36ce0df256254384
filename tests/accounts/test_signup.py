from __future__ import annotations

import re
from typing import TYPE_CHECKING

import pytest
from django.core.mail import EmailMessage
from django.test import Client
from django.urls import reverse

from apps.accounts.models import User
from apps.core.db import tenant_context, user_context
from apps.tenants.adapters import default_organisation_name
from apps.tenants.models import AuditEvent, Membership, Tenant

if TYPE_CHECKING:
    from django.test.client import _MonkeyPatchedWSGIResponse as ClientResponse


def signup(client: Client, email: str, password: str, organisation: str = "") -> ClientResponse:
    return client.post(
        reverse("account_signup"),
        {"email": email, "password1": password, "organisation": organisation},
    )


def confirmation_link(message: EmailMessage) -> str:
    body = str(message.body)  # typed str or a lazy translation; always a str here
    found = re.search(r"https?://[^/\s]+(/accounts/confirm-email/[^\s]+/)", body)
    assert found, body
    return found[1]


def test_signup_creates_user_and_first_tenant_once_the_address_is_confirmed(
    db: None, mailoutbox: list[EmailMessage]
) -> None:
    client = Client()
    response = signup(client, "Founder@Example.com", "a-long-unusual-passphrase", "Rocket Science")
    assert response.status_code == 302
    assert response["Location"] == reverse("account_email_verification_sent")
    # Not signed in until the address is confirmed.
    assert client.get("/")["Location"] == reverse("account_login")
    assert [m.to for m in mailoutbox] == [["founder@example.com"]]
    confirmed = client.post(confirmation_link(mailoutbox[0]))
    assert confirmed.status_code == 302
    user = User.objects.get(email="founder@example.com")
    with user_context(user.pk):
        membership = Membership.objects.select_related("tenant").get(user=user)
    assert (membership.tenant.name, membership.role) == ("Rocket Science", "owner")
    with tenant_context(membership.tenant_id):
        assert AuditEvent.objects.get().action == "tenant.created"
    # Signed in by the confirmation; the landing page is the new tenant's dashboard.
    home = client.get("/")
    assert home.status_code == 302
    assert home["Location"] == reverse("tenants:dashboard", args=[membership.tenant.slug])


def test_signup_without_organisation_name_gets_a_default(db: None) -> None:
    signup(Client(), "Jean-Luc.Picard+crew@example.com", "a-long-unusual-passphrase")
    user = User.objects.get(email="jean-luc.picard+crew@example.com")
    with user_context(user.pk):
        assert Tenant.objects.get().name == "Jean-Luc Picard's organisation"


@pytest.mark.parametrize(
    ("email", "name"),
    [
        ("solo@example.com", "Solo's organisation"),
        ("mary_jane.watson-parker@example.com", "Mary Jane Watson-Parker's organisation"),
        ("o'brien@example.com", "O'Brien's organisation"),
        ("john.smith2@example.com", "John Smith's organisation"),
        ("r2d2@example.com", "R2d2's organisation"),
        ("1984@example.com", "My organisation"),
        ("__@example.com", "My organisation"),
        ("иван.петров@example.com", "Иван Петров's organisation"),
        ("李雷@example.com", "李雷's organisation"),
        # Georgian has no capitals in running text: title case leaves it as it is.
        ("ნინო@example.com", "ნინო's organisation"),
        # Tenant.name holds 80 characters: a word that does not fit is left out, and a
        # first word that does not fit is cut (65 + 15 characters).
        ("ann." + "b" * 62 + "@example.com", "Ann's organisation"),
        ("a" * 70 + "@example.com", "A" + "a" * 64 + "'s organisation"),
    ],
)
def test_the_default_organisation_name_reads_like_a_name(email: str, name: str) -> None:
    assert default_organisation_name(email) == name


def test_a_taken_address_looks_like_a_new_one_and_its_owner_is_told(
    owner: User, tenant: Tenant, mailoutbox: list[EmailMessage]
) -> None:
    fresh = signup(Client(), "newcomer@example.com", "a-long-unusual-passphrase", "New")
    taken = signup(Client(), "ALICE@example.com", "a-long-unusual-passphrase", "Dup")
    assert (taken.status_code, taken["Location"]) == (fresh.status_code, fresh["Location"])
    page = Client().get(taken["Location"])
    assert b"already" not in page.content
    # Nothing changed for the owner, who gets an email saying someone tried.
    assert User.objects.filter(email__iexact="alice@example.com").count() == 1
    with user_context(owner.pk):
        assert Tenant.objects.count() == 1
    to_owner = [m for m in mailoutbox if m.to == ["alice@example.com"]]
    assert len(to_owner) == 1
    assert "already" in to_owner[0].body
    assert "/accounts/confirm-email/" not in to_owner[0].body


def test_weak_password_is_refused(db: None) -> None:
    response = signup(Client(), "weak@example.com", "password", "Weak")
    assert response.status_code == 200
    assert b"too common" in response.content or b"too short" in response.content
    assert not User.objects.filter(email="weak@example.com").exists()


def test_same_names_get_distinct_addresses_of_the_same_shape(db: None) -> None:
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


def test_login_and_logout(owner: User, tenant: Tenant) -> None:
    client = Client()
    response = client.post(
        reverse("account_login"),
        {"login": "alice@example.com", "password": "correct-horse-battery-staple"},
    )
    assert response.status_code == 302
    assert client.get(reverse("tenants:dashboard", args=[tenant.slug])).status_code == 200
    client.post(reverse("account_logout"))
    assert client.get(reverse("tenants:dashboard", args=[tenant.slug])).status_code == 302


def test_wrong_password_is_refused(owner: User) -> None:
    response = Client().post(
        reverse("account_login"), {"login": "alice@example.com", "password": "nope-nope-nope"}
    )
    assert response.status_code == 200
    assert b"not correct" in response.content


def test_password_reset_answers_the_same_for_unknown_addresses(
    owner: User, mailoutbox: list[EmailMessage]
) -> None:
    known = Client().post(reverse("account_reset_password"), {"email": "alice@example.com"})
    unknown = Client().post(reverse("account_reset_password"), {"email": "nobody@example.com"})
    assert (known.status_code, known["Location"]) == (unknown.status_code, unknown["Location"])
    assert known.status_code == 302
    by_address = {m.to[0]: m.body for m in mailoutbox}
    assert "/accounts/password/reset/key/" in by_address["alice@example.com"]
    assert "/accounts/password/reset/key/" not in by_address.get("nobody@example.com", "")


def test_sign_in_and_sign_up_fields_show_their_labels(db: None) -> None:
    """A placeholder is no label: it is gone once someone types, and "Acme Inc." does
    not say that the field names the organisation."""
    labels = re.compile(r'<label for="(id_[a-z0-9]+)"( class="[^"]*")?>\s*([^<]+?)\s*</label>')
    found = {}
    for name in ("account_login", "account_signup", "account_reset_password"):
        html = Client().get(reverse(name)).content.decode()
        found[name] = {id_: (text, css) for id_, css, text in labels.findall(html)}
    assert found["account_login"]["id_login"] == ("Email", "")
    assert found["account_login"]["id_password"] == ("Password", "")
    assert found["account_signup"]["id_email"] == ("Email", "")
    assert found["account_signup"]["id_organisation"] == ("Organisation name (optional)", "")
    assert found["account_reset_password"]["id_email"] == ("Email", "")
