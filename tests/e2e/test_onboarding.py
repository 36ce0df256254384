"""A person signs up, lands on their dashboard, invites a teammate and switches
organisation, in Chromium against the real ASGI server. Screenshots at desktop and
mobile widths are saved to test-artifacts/screenshots/."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import pytest
from playwright.sync_api import Browser, ViewportSize

from tests.e2e.conftest import sign_up

pytestmark = pytest.mark.e2e

DESKTOP: ViewportSize = {"width": 1280, "height": 800}
MOBILE: ViewportSize = {"width": 390, "height": 844}


def test_signup_confirm_invite_and_switch_tenant(
    browser: Browser, server: str, screenshots: Path
) -> None:
    suffix = uuid.uuid4().hex[:6]
    email = f"founder-{suffix}@example.com"
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()

    page.goto(f"{server}/accounts/login/")
    page.screenshot(path=screenshots / "login-desktop.png", full_page=True)

    slug = sign_up(page, server, email, f"Nimbus {suffix}", screenshots=screenshots)
    assert re.fullmatch(rf"nimbus-{suffix}-[0-9a-f]{{6}}", slug)
    assert page.locator("h1").first.inner_text() == f"Nimbus {suffix}"
    page.screenshot(path=screenshots / "dashboard-desktop.png", full_page=True)

    # Invite a member.
    page.get_by_role("link", name="Members").first.click()
    page.wait_for_url(re.compile(r"/members/$"))
    page.fill("input[name=email]", f"teammate-{suffix}@example.com")
    page.get_by_role("button", name="Send invitation").click()
    page.wait_for_url(re.compile(r"/members/$"))
    assert page.locator(".alert-success").inner_text().strip() == (
        f"Invitation sent to teammate-{suffix}@example.com."
    )
    assert page.locator(f'tr[data-invitation="teammate-{suffix}@example.com"]').count() == 1
    page.screenshot(path=screenshots / "members-desktop.png", full_page=True)

    # A second organisation, then switch back through the switcher.
    page.goto(f"{server}/organisations/new/")
    page.fill("input[name=name]", f"Second {suffix}")
    page.get_by_role("button", name="Create organisation").click()
    page.wait_for_url(re.compile(rf"/t/second-{suffix}-[0-9a-f]{{6}}/$"))
    page.locator(".tenant-switcher summary").click()
    page.screenshot(path=screenshots / "switcher-desktop.png")
    page.locator(".tenant-menu").get_by_role("link", name=f"Nimbus {suffix}").click()
    page.wait_for_url(re.compile(rf"/t/{slug}/$"))
    assert page.locator("h1").first.inner_text() == f"Nimbus {suffix}"

    # The same session on a phone.
    mobile = browser.new_context(viewport=MOBILE, storage_state=context.storage_state())
    phone = mobile.new_page()
    phone.goto(f"{server}/t/{slug}/")
    phone.screenshot(path=screenshots / "dashboard-mobile.png", full_page=True)
    phone.goto(f"{server}/t/{slug}/members/")
    phone.screenshot(path=screenshots / "members-mobile.png", full_page=True)
    # No horizontal scrolling on a phone.
    assert phone.evaluate("document.documentElement.scrollWidth") <= MOBILE["width"]
    anonymous = browser.new_context(viewport=MOBILE).new_page()
    anonymous.goto(f"{server}/accounts/login/")
    anonymous.screenshot(path=screenshots / "login-mobile.png", full_page=True)
    mobile.close()
    context.close()


def test_outsider_gets_plain_404(browser: Browser, server: str) -> None:
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    sign_up(page, server, f"stranger-{uuid.uuid4().hex[:6]}@example.com")
    response = page.goto(f"{server}/t/acme-does-not-exist/")
    assert response is not None
    assert response.status == 404
    context.close()


def test_admin_tunes_ai_settings_and_sees_usage(
    browser: Browser, server: str, screenshots: Path
) -> None:
    """An owner opens AI settings, sees a validation error, saves, and finds the usage page."""
    suffix = uuid.uuid4().hex[:6]
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    slug = sign_up(page, server, f"admin-{suffix}@example.com", f"Tuning {suffix}")
    assert slug.startswith(f"tuning-{suffix}-")

    page.get_by_role("link", name="AI settings").click()
    page.fill("input[name=semantic_threshold]", "0.2")
    page.get_by_role("button", name="Save settings").click()
    assert "greater than or equal to 0.50" in page.locator(".errorlist").first.inner_text()
    page.fill("input[name=semantic_threshold]", "0.80")
    page.fill("input[name=monthly_budget_usd]", "12.50")
    page.select_option("select[name=budget_action]", "block")
    page.get_by_role("button", name="Save settings").click()
    assert page.locator(".alert-success").inner_text().strip() == "AI settings saved."
    assert page.input_value("input[name=monthly_budget_usd]") == "12.50"
    page.screenshot(path=screenshots / "ai-settings-desktop.png", full_page=True)

    page.get_by_role("link", name="Usage", exact=True).click()
    page.wait_for_url(re.compile(r"/usage/$"))
    assert "No AI calls yet" in page.content()
    assert "0% of $12.50" in page.locator(".stat").first.inner_text()
    page.screenshot(path=screenshots / "usage-desktop.png", full_page=True)

    phone = browser.new_context(viewport=MOBILE, storage_state=context.storage_state()).new_page()
    phone.goto(page.url.replace("/usage/", "/settings/ai/"))
    phone.screenshot(path=screenshots / "ai-settings-mobile.png", full_page=True)
    assert phone.evaluate("document.documentElement.scrollWidth") <= MOBILE["width"]
    context.close()
