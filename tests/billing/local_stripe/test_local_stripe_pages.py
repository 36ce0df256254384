"""The local Stripe server's hosted pages in Chromium: Checkout and the portal, at 1280
and 390 px, with screenshots in test-artifacts/screenshots/. No database."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import stripe

from tests.billing.local_stripe.harness import (
    Receiver,
    make_catalogue,
    make_customer,
    record,
    start_checkout,
)
from tests.e2e.conftest import chromium

pytestmark = pytest.mark.e2e

WIDTHS = {"desktop": 1280, "mobile": 390}


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    # No database here, so none to set up before Playwright's loop starts.
    with chromium() as browser:
        yield browser


def shoot(browser: Any, url: str, path: Path) -> None:
    """A full-page screenshot at each width; fails if the page scrolls sideways."""
    for name, width in WIDTHS.items():
        page = browser.new_page(viewport={"width": width, "height": 900})
        page.goto(url)
        assert page.evaluate("document.documentElement.scrollWidth") <= width, name
        page.screenshot(path=str(path).format(name), full_page=True)
        page.close()


def test_checkout_and_portal_in_a_browser(
    browser: Any,
    client: stripe.StripeClient,
    receiver: Receiver,
    artifacts_dir: Path,
) -> None:
    from playwright.sync_api import expect

    shots = artifacts_dir / "screenshots"
    shots.mkdir(exist_ok=True)
    catalogue = make_catalogue(client)
    customer = make_customer(client)
    session = start_checkout(client, receiver, catalogue, customer.id)
    assert session.url is not None
    shoot(browser, session.url, shots / "local-stripe-checkout-{}.png")

    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(session.url)
    expect(page.get_by_text("Test mode.")).to_be_visible()
    page.fill("input[name=card]", "4000 0000 0000 0002")
    page.get_by_role("button", name="Subscribe").click()
    expect(page.get_by_role("alert")).to_have_text("Your card was declined.")
    page.fill("input[name=card]", "4242 4242 4242 4242")
    page.get_by_role("button", name="Subscribe").click()
    page.wait_for_url(re.compile(r"/billing/done\?session=cs_test_"))
    assert [e.type for e in receiver.events(client, 3)][-1] == "checkout.session.completed"

    record(client, customer.id, 4200, "usage-1")
    portal = client.v1.billing_portal.sessions.create(
        params={"customer": customer.id, "return_url": f"{receiver.url}/billing/"}
    )
    shoot(browser, portal.url, shots / "local-stripe-portal-{}.png")
    page.goto(portal.url)
    expect(page.get_by_text("4,200 units this period")).to_be_visible()
    page.get_by_role("button", name="Cancel plan").click()
    expect(page.get_by_text(re.compile(r"^Cancels "))).to_be_visible()
    page.get_by_role("button", name="Resume plan").click()
    expect(page.get_by_text("Active", exact=True)).to_be_visible()
    page.get_by_role("link", name="Return to the app").click()
    page.wait_for_url(f"{receiver.url}/billing/")
    page.close()
