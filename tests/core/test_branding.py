"""PRODUCT_NAME renames the product: page titles and the header, signed in or out, and
the emails allauth sends (subject and greeting). A fork sets one variable, not templates."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from django.core.mail import EmailMessage
from django.test import Client
from django.urls import reverse
from pytest_django import Settings

from apps.accounts.models import User
from apps.tenants.models import Tenant
from tests.conftest import login

ROOT = Path(__file__).resolve().parents[2]


def title_of(html: str) -> str:
    found = re.search(r"<title>(.*?)</title>", html, re.S)
    assert found is not None
    return " ".join(found[1].split())


def test_the_pages_carry_the_product_name(settings: Settings, owner: User, tenant: Tenant) -> None:
    reverse("home")  # URLs (and the API, whose docs' title is read once) load as they are
    settings.PRODUCT_NAME = "Acme AI"
    signed_out = Client().get(reverse("account_login")).content.decode()
    assert title_of(signed_out) == "Sign in · Acme AI"
    assert '<span class="brand-name">Acme AI</span>' in signed_out
    client = login(owner)
    for url in (reverse("tenants:create"), reverse("tenants:dashboard", args=[tenant.slug])):
        html = client.get(url).content.decode()
        assert '<span class="brand-name">Acme AI</span>' in html, url
        assert "Starter" not in html, url
    assert title_of(client.get(reverse("tenants:create")).content.decode()) == (
        "New organisation · Acme AI"
    )


def test_the_default_name_is_starter(db: None) -> None:
    html = Client().get(reverse("account_signup")).content.decode()
    assert title_of(html) == "Sign up · Starter"
    assert '<span class="brand-name">Starter</span>' in html


def test_allauths_emails_carry_the_product_name(
    db: None, settings: Settings, mailoutbox: list[EmailMessage]
) -> None:
    signup = reverse("account_signup")  # before the change, as in the test above
    settings.PRODUCT_NAME = "Acme AI"
    settings.SITE_URL = "https://app.acme.example"
    response = Client().post(
        signup,
        {"email": "new@example.com", "password1": "a-long-unusual-passphrase"},
    )
    assert response.status_code == 302
    [message] = mailoutbox
    assert message.subject.startswith("[Acme AI] ")
    body = str(message.body)
    assert body.startswith("Hello from Acme AI!")
    assert "Thank you for using Acme AI!\napp.acme.example" in body
    # The request's host stays in the confirmation link only.
    assert "testserver" not in message.subject + body.replace("http://testserver/accounts/", "")


def settings_in_a_new_process(**env: str) -> dict[str, str]:
    """Some settings as config/settings.py computes them from ``env``."""
    names = ("PRODUCT_NAME", "DEFAULT_FROM_EMAIL", "MFA_TOTP_ISSUER")
    clean = {k: v for k, v in os.environ.items() if k not in names}
    show = "import json, config.settings as s; print(json.dumps({n: getattr(s, n) for n in %r}))"
    result = subprocess.run(
        [sys.executable, "-c", show % (names,)],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    values: dict[str, str] = json.loads(result.stdout.splitlines()[-1])
    return values


def test_the_sender_and_the_authenticator_name_follow_the_product_name() -> None:
    # docker-compose.yml passes DEFAULT_FROM_EMAIL through empty when it is not set.
    assert settings_in_a_new_process(PRODUCT_NAME="Acme AI", DEFAULT_FROM_EMAIL="") == {
        "PRODUCT_NAME": "Acme AI",
        "DEFAULT_FROM_EMAIL": "Acme AI <no-reply@example.com>",
        "MFA_TOTP_ISSUER": "Acme AI",
    }
    chosen = settings_in_a_new_process(
        PRODUCT_NAME="Acme AI",
        DEFAULT_FROM_EMAIL="Acme <hello@acme.example>",
        MFA_TOTP_ISSUER="Acme",
    )
    assert (chosen["DEFAULT_FROM_EMAIL"], chosen["MFA_TOTP_ISSUER"]) == (
        "Acme <hello@acme.example>",
        "Acme",
    )
    assert settings_in_a_new_process(PRODUCT_NAME="")["PRODUCT_NAME"] == "Starter"
