"""An owner turns on two-factor authentication and requires it; a member without it is
sent to set it up before any page of the organisation, does so with a real TOTP code,
and is shown the way back. Screenshots at 1280 and 390 px in test-artifacts/screenshots/."""

from __future__ import annotations

import re
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from allauth.mfa.totp.internal.auth import format_hotp_value, hotp_value
from django.db import connections
from playwright.sync_api import Browser, Page, ViewportSize

from apps.accounts.models import User
from apps.core.db import user_context
from apps.tenants.models import Role
from apps.tenants.selectors import membership_for_slug
from tests.conftest import PASSWORD, add_member, make_user
from tests.e2e.conftest import sign_up

pytestmark = pytest.mark.e2e

DESKTOP: ViewportSize = {"width": 1280, "height": 800}
MOBILE: ViewportSize = {"width": 390, "height": 844}
PASSPHRASE = "a-long-unusual-passphrase"  # what sign_up uses


def totp_now(secret: str) -> str:
    code: str = format_hotp_value(hotp_value(secret, int(time.time()) // 30))
    return code


def add_member_by_email(owner_email: str, slug: str, email: str) -> None:
    """A verified member of the organisation, written from a thread of its own: Django
    refuses the ORM beside Playwright's event loop."""

    def write() -> None:
        try:
            user = make_user(email)
            owner = User.objects.get(email=owner_email)
            with user_context(owner.pk):
                membership = membership_for_slug(user_id=owner.pk, slug=slug)
                assert membership is not None
                add_member(membership.tenant, user, Role.MEMBER)
        finally:
            connections.close_all()

    with ThreadPoolExecutor(1) as pool:
        pool.submit(write).result()


def set_up_totp(page: Page, server: str, password: str, *, shots: Path | None = None) -> None:
    """From wherever the page is: confirm the password if asked, scan (read) the secret,
    enter the current code; ends on the recovery codes page."""
    if "/reauthenticate/" in page.url:
        page.fill("input[name=password]", password)
        page.get_by_role("button", name=re.compile("confirm", re.I)).click()
    page.wait_for_url(re.compile(r"/accounts/2fa/totp/activate/"))
    assert page.locator("img.mfa-qr").is_visible()
    if shots:
        page.screenshot(path=shots, full_page=True)
    secret = page.locator("#authenticator_secret").input_value()
    page.fill("input[name=code]", totp_now(secret))
    page.get_by_role("button", name="Activate").click()
    page.wait_for_url(re.compile(r"/accounts/2fa/recovery-codes/"))


def test_required_two_factor_is_enforced(
    browser: Browser, server: str, screenshots: Path, live_db: None
) -> None:
    suffix = uuid.uuid4().hex[:6]
    owner_email = f"mfa-owner-{suffix}@example.com"
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    slug = sign_up(page, server, owner_email, f"Secure {suffix}")

    # Requiring it before having it is refused, with what to do.
    page.goto(f"{server}/t/{slug}/settings/")
    page.check("#id_require_mfa")
    page.get_by_role("button", name="Save security settings").click()
    assert "Turn on two-factor authentication for your own account first" in (
        page.locator("#security .alert-error").inner_text()
    )

    page.goto(f"{server}/accounts/2fa/totp/activate/")
    set_up_totp(page, server, PASSPHRASE, shots=screenshots / "mfa-activate-desktop.png")
    codes = page.locator("#recovery_codes").input_value().split()
    assert len(codes) == 10
    page.screenshot(path=screenshots / "mfa-recovery-codes-desktop.png", full_page=True)

    page.goto(f"{server}/accounts/2fa/")
    assert "Authentication using an authenticator app is active." in page.inner_text("main")
    page.screenshot(path=screenshots / "mfa-index-desktop.png", full_page=True)

    # Signing in again asks for a code after the password.
    page.get_by_role("button", name="Log out").click()
    page.goto(f"{server}/accounts/login/")
    page.fill("input[name=login]", owner_email)
    page.fill("input[name=password]", PASSPHRASE)
    page.get_by_role("button", name=re.compile("sign in", re.I)).click()
    page.wait_for_url(re.compile(r"/accounts/2fa/authenticate/"))
    page.screenshot(path=screenshots / "mfa-sign-in-code-desktop.png", full_page=True)
    page.fill("input[name=code]", codes[0])  # a recovery code works once
    page.get_by_role("button", name=re.compile("sign in", re.I)).click()
    page.wait_for_url(re.compile(rf"/t/{slug}/$"))

    page.goto(f"{server}/t/{slug}/settings/")
    page.check("#id_require_mfa")
    page.get_by_role("button", name="Save security settings").click()
    assert page.locator(".alert-success").inner_text() == "Security settings saved."
    assert page.locator("#security .badge-success").inner_text() == "2FA required"
    page.locator("#security").screenshot(path=screenshots / "mfa-organisation-setting-desktop.png")
    page.goto(f"{server}/t/{slug}/audit/")
    assert "require_mfa on" in page.locator("table").inner_text()

    # A member without two-factor authentication signs in: sent to set it up.
    member_email = f"mfa-member-{suffix}@example.com"
    add_member_by_email(owner_email, slug, member_email)
    member_context = browser.new_context(viewport=DESKTOP)
    member = member_context.new_page()
    member.goto(f"{server}/accounts/login/")
    member.fill("input[name=login]", member_email)
    member.fill("input[name=password]", PASSWORD)
    member.get_by_role("button", name=re.compile("sign in", re.I)).click()
    member.wait_for_url(re.compile(r"/accounts/reauthenticate/"))
    notice = member.locator(".alert-info").inner_text()
    assert f"Secure {suffix} requires two-factor authentication" in notice
    member.screenshot(path=screenshots / "mfa-required-desktop.png", full_page=True)
    # Any page of the organisation leads back here until it is done.
    member.goto(f"{server}/t/{slug}/members/")
    assert "/accounts/" in member.url
    assert f"/t/{slug}/" not in member.url

    set_up_totp(member, server, PASSWORD)
    member.screenshot(path=screenshots / "mfa-continue-desktop.png", full_page=True)
    member.locator("[data-mfa-continue]").click()
    member.wait_for_url(f"{server}/t/{slug}/members/")
    assert member.get_by_role("heading", name="Members").is_visible()

    # The same at phone width, for a second member.
    phone_email = f"mfa-phone-{suffix}@example.com"
    add_member_by_email(owner_email, slug, phone_email)
    phone_context = browser.new_context(viewport=MOBILE)
    phone = phone_context.new_page()
    phone.goto(f"{server}/accounts/login/")
    phone.fill("input[name=login]", phone_email)
    phone.fill("input[name=password]", PASSWORD)
    phone.get_by_role("button", name=re.compile("sign in", re.I)).click()
    phone.wait_for_url(re.compile(r"/accounts/reauthenticate/"))
    phone.screenshot(path=screenshots / "mfa-required-mobile.png", full_page=True)
    set_up_totp(phone, server, PASSWORD, shots=screenshots / "mfa-activate-mobile.png")
    phone.screenshot(path=screenshots / "mfa-continue-mobile.png", full_page=True)
    page.set_viewport_size(MOBILE)
    page.goto(f"{server}/t/{slug}/settings/")
    page.locator("#security").screenshot(path=screenshots / "mfa-organisation-setting-mobile.png")
    for ctx in (context, member_context, phone_context):
        ctx.close()
