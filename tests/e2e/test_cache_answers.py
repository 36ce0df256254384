"""The demo owner sees an answer the semantic cache served, reports it as wrong, and finds
the pair kept, in Chromium. Screenshots at 1280 and 390 px."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connections
from playwright.sync_api import Browser, ViewportSize
from pytest_django import DjangoDbBlocker

from apps.accounts.models import User
from apps.core.db import user_context
from apps.gateway.types import CallContext
from apps.tenants.selectors import membership_for_slug
from tests.gateway.conftest import PACED, stream
from tests.servers import asgi_server

pytestmark = pytest.mark.e2e

DESKTOP: ViewportSize = {"width": 1280, "height": 800}
MOBILE: ViewportSize = {"width": 390, "height": 844}
PASSWORD = "a-long-unusual-passphrase"
ASKED, REWORDED = "How can I export my invoices?", "How do I export my invoices?"


@pytest.fixture(scope="module")
def server(
    django_db_setup: None, django_db_blocker: DjangoDbBlocker, artifacts_dir: Path
) -> Iterator[str]:
    """The app, the demo seeded, and one answer served from the semantic cache in Acme
    (asked, then asked again in other words), before the browser starts."""
    with asgi_server(artifacts_dir / "e2e-cache") as app:
        with django_db_blocker.unblock():
            call_command("seed_demo", password=PASSWORD, stdout=open(os.devnull, "w"))  # noqa: SIM115
            demo = User.objects.get(email="demo@example.com")
            with user_context(demo.pk):
                membership = membership_for_slug(user_id=demo.pk, slug="acme")
                assert membership is not None
                acme = membership.tenant
            for request_id, question in (("e2e-ask", ASKED), ("e2e-hit", REWORDED)):
                ctx = CallContext(tenant_id=acme.id, feature="chat", request_id=request_id)
                stream(ctx, question, extra_headers=PACED)  # the cache beats a slow model
            connections.close_all()
        yield app


def test_an_admin_reports_a_wrong_cached_answer(
    server: str, browser: Browser, screenshots: Path
) -> None:
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    page.goto(f"{server}/accounts/login/")
    page.fill("input[name=login]", "demo@example.com")
    page.fill("input[name=password]", PASSWORD)
    page.get_by_role("button", name=re.compile("sign in", re.I)).click()
    page.wait_for_url(re.compile(r"/t/acme/$"))

    page.goto(f"{server}/t/acme/settings/ai/")
    page.get_by_role("link", name="Cached answers").click()
    page.wait_for_url(re.compile(r"/t/acme/settings/ai/cache/$"))
    served = page.locator("tbody tr").first
    assert REWORDED in served.inner_text()
    assert ASKED in served.inner_text()
    page.screenshot(path=screenshots / "cache-answers-desktop.png", full_page=True)

    served.get_by_role("button", name="Wrong answer").click()
    page.wait_for_url(re.compile(r"/t/acme/settings/ai/cache/$"))
    assert "will not be served from the cache again" in page.locator(".alert-success").inner_text()
    assert "No cached answers yet" in page.content()
    reported = page.locator(".card", has_text="Reported as wrong")
    assert REWORDED in reported.inner_text()
    assert "demo@example.com" in reported.inner_text()
    assert reported.get_by_role("link", name="Download JSON lines").is_visible()
    page.screenshot(path=screenshots / "cache-answers-reported-desktop.png", full_page=True)

    phone = browser.new_context(viewport=MOBILE, storage_state=context.storage_state())
    mobile = phone.new_page()
    mobile.goto(f"{server}/t/acme/settings/ai/cache/")
    mobile.screenshot(path=screenshots / "cache-answers-mobile.png", full_page=True)
    assert mobile.evaluate("document.documentElement.scrollWidth") <= MOBILE["width"]
    phone.close()
    context.close()
