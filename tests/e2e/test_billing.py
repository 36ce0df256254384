"""The demo owner upgrades Acme to Pro through Checkout on the local Stripe server and
sees the new plan and its limits, in Chromium. Screenshots at 1280 and 390 px."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connections
from django.test import override_settings
from playwright.sync_api import Browser, ViewportSize
from pytest_django import DjangoDbBlocker

from tests.billing.conftest import deliver_webhooks_to
from tests.servers import asgi_server, stripe_server

pytestmark = pytest.mark.e2e

DESKTOP: ViewportSize = {"width": 1280, "height": 800}
MOBILE: ViewportSize = {"width": 390, "height": 844}
PASSWORD = "a-long-unusual-passphrase"


@pytest.fixture(scope="module")
def billing_stack(
    django_db_setup: None, django_db_blocker: DjangoDbBlocker, artifacts_dir: Path
) -> Iterator[tuple[str, str]]:
    """(the app, the local Stripe server), webhooks delivered from one to the other, the
    catalogue synced and the demo seeded, as `make run` does. Before the browser starts:
    Django refuses the ORM beside Playwright's event loop."""
    log = artifacts_dir / "e2e-billing" / "local-stripe.log"
    with (
        stripe_server(log) as stripe,
        asgi_server(artifacts_dir / "e2e-billing", STRIPE_API_BASE=stripe) as app,
    ):
        deliver_webhooks_to(stripe, app)
        quiet = open(os.devnull, "w")  # noqa: SIM115
        with django_db_blocker.unblock(), override_settings(STRIPE_API_BASE=stripe):
            call_command("stripe_sync", stdout=quiet)
            call_command("seed_demo", password=PASSWORD, stdout=quiet)
            connections.close_all()
        yield app, stripe


def test_the_demo_owner_upgrades_to_pro_through_checkout(
    billing_stack: tuple[str, str], browser: Browser, screenshots: Path
) -> None:
    server, stripe = billing_stack

    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    page.goto(f"{server}/accounts/login/")
    page.fill("input[name=login]", "demo@example.com")
    page.fill("input[name=password]", PASSWORD)
    page.get_by_role("button", name=re.compile("sign in", re.I)).click()
    page.wait_for_url(re.compile(r"/t/acme/$"))

    page.get_by_role("link", name="Billing").click()
    page.wait_for_url(re.compile(r"/t/acme/billing/$"))
    assert page.locator("[data-plan]").first.inner_text() == "Free"
    page.screenshot(path=screenshots / "billing-free-desktop.png", full_page=True)

    page.locator('[data-plan-card="pro"]').get_by_role("button", name="Upgrade to Pro").click()
    page.wait_for_url(re.compile(rf"^{re.escape(stripe)}/checkout/"))
    page.screenshot(path=screenshots / "checkout-desktop.png", full_page=True)
    page.get_by_role("button", name="Subscribe").click()

    page.wait_for_url(re.compile(r"/t/acme/billing/$"))
    assert "You are on the Pro plan now." in page.locator(".alert-success").inner_text()
    assert page.locator("[data-plan]").first.inner_text() == "Pro"
    pro = page.locator('[data-plan-card="pro"]')
    assert "Current" in pro.inner_text()
    assert "1,000,000 tokens a day" in pro.inner_text()
    assert page.get_by_role("button", name="Manage billing").is_visible()
    page.screenshot(path=screenshots / "billing-pro-desktop.png", full_page=True)

    phone = browser.new_context(viewport=MOBILE, storage_state=context.storage_state())
    mobile = phone.new_page()
    mobile.goto(f"{server}/t/acme/billing/")
    mobile.screenshot(path=screenshots / "billing-pro-mobile.png", full_page=True)
    assert mobile.evaluate("document.documentElement.scrollWidth") <= MOBILE["width"]
    phone.close()
    context.close()
