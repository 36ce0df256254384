"""An owner creates API keys, rotates one (both secrets work during the overlap), and
chooses to suspend keys on unusual use; a key used from a new network is suspended,
shown as such with its reason and the last address, and re-enabled. Screenshots at 1280
and 390 px in test-artifacts/screenshots/."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, ViewportSize

from tests.e2e.conftest import sign_up

pytestmark = pytest.mark.e2e

DESKTOP: ViewportSize = {"width": 1280, "height": 800}
MOBILE: ViewportSize = {"width": 390, "height": 844}


def create_key(page: Page, server: str, slug: str, name: str) -> str:
    page.goto(f"{server}/t/{slug}/api-keys/")
    page.fill("input[name=name]", name)
    page.get_by_role("button", name="Create key").click()
    return page.locator("#new-api-key").input_value()


def me(server: str, raw_key: str, ip: str) -> httpx.Response:
    # uvicorn takes the client address from X-Forwarded-For on a local connection.
    headers = {"Authorization": f"Bearer {raw_key}", "X-Forwarded-For": ip}
    return httpx.get(f"{server}/api/v1/me", headers=headers, timeout=10)


def test_rotation_suspension_and_last_use(browser: Browser, server: str, screenshots: Path) -> None:
    suffix = uuid.uuid4().hex[:6]
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    slug = sign_up(page, server, f"keys-{suffix}@example.com", f"Keyholders {suffix}")

    page.goto(f"{server}/t/{slug}/settings/")
    page.check("#id_suspend_anomalous_keys")
    page.get_by_role("button", name="Save security settings").click()
    assert page.locator(".alert-success").inner_text() == "Security settings saved."

    reporting = create_key(page, server, slug, "Reporting job")
    backend = create_key(page, server, slug, "Production backend")
    assert me(server, backend, "203.0.113.7").status_code == 200
    assert me(server, reporting, "198.51.100.4").status_code == 200

    # Rotate the backend key: a new secret, shown once; the old one still works.
    page.goto(f"{server}/t/{slug}/api-keys/")
    row = page.locator("tr", has_text="Production backend")
    row.get_by_role("link", name="Rotate").click()
    assert page.locator("select[name=overlap_hours]").input_value() == "24"
    page.screenshot(path=screenshots / "api-key-rotate-desktop.png", full_page=True)
    page.get_by_role("button", name="Rotate key").click()
    heading = page.get_by_role("heading", name="New secret for Production backend")
    assert heading.is_visible()
    rotated = page.locator("#new-api-key").input_value()
    assert rotated != backend
    assert me(server, backend, "203.0.113.7").status_code == 200
    assert me(server, rotated, "203.0.113.8").status_code == 200  # same /24: not unusual
    assert page.locator("tr", has_text="Rotating out").count() == 1

    # The reporting key is used from a network it never used: suspended.
    refused = me(server, reporting, "192.0.2.10")
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "suspended_api_key"
    page.goto(f"{server}/t/{slug}/api-keys/")
    suspended = page.locator("tr", has_text="Reporting job")
    assert "Suspended" in suspended.inner_text()
    assert "use from a new network, 192.0.2.0/24" in suspended.inner_text()
    assert "from 192.0.2.10" in suspended.inner_text()  # the refused use is the last one
    backend_rows = page.locator("tr", has_text="Production backend")
    assert "from 203.0.113.8" in backend_rows.first.inner_text()
    page.screenshot(path=screenshots / "api-keys-desktop.png", full_page=True)

    page.goto(f"{server}/t/{slug}/")
    assert "Unusual use of the API key Reporting job" in page.locator("main").inner_text()
    page.goto(f"{server}/t/{slug}/audit/")
    log = page.locator("table").inner_text()
    assert "API key suspended" in log
    assert "API key rotated" in log

    page.goto(f"{server}/t/{slug}/api-keys/")
    page.on("dialog", lambda dialog: dialog.accept())
    page.locator("tr", has_text="Reporting job").get_by_role("button", name="Re-enable").click()
    assert re.search("works again", page.locator(".alert-success").inner_text())
    assert me(server, reporting, "192.0.2.10").status_code == 200

    page.set_viewport_size(MOBILE)
    page.goto(f"{server}/t/{slug}/api-keys/")
    page.screenshot(path=screenshots / "api-keys-mobile.png", full_page=True)
    context.close()
