from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Page

from tests.servers import MAIL_DIR, asgi_server

CHROMIUM = Path(os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@contextmanager
def chromium() -> Iterator[Browser]:
    """Debian's Chromium under Playwright; skips the test when it is not installed (fails
    with REQUIRE_BROWSER set)."""
    if not CHROMIUM.exists():
        message = f"{CHROMIUM} not found: install Debian's chromium (apt-get install chromium)"
        if os.environ.get("REQUIRE_BROWSER"):
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


# Content-Security-Policy violations the browser reported during the current test
# (console errors); the autouse fixture below fails the test on any.
CSP_VIOLATIONS: list[str] = []


def _watch_console(context: BrowserContext) -> BrowserContext:
    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error" and "Content Security Policy" in message.text:
            CSP_VIOLATIONS.append(f"{message.page.url if message.page else '?'}: {message.text}")

    context.on("console", on_console)
    return context


def _csp_checked(browser: Browser) -> Browser:
    """Every context (so every page) made from ``browser`` reports CSP errors to
    ``CSP_VIOLATIONS``: each e2e test checks the policy without doing anything."""
    new_context = browser.new_context

    def checked_new_context(*args: Any, **kwargs: Any) -> BrowserContext:
        return _watch_console(new_context(*args, **kwargs))

    new_page = browser.new_page

    def checked_new_page(*args: Any, **kwargs: Any) -> Page:
        page = new_page(*args, **kwargs)
        _watch_console(page.context)
        return page

    browser.new_context = checked_new_context  # type: ignore[method-assign]
    browser.new_page = checked_new_page  # type: ignore[method-assign]
    return browser


@pytest.fixture(autouse=True)
def _no_csp_violations() -> Iterator[None]:
    CSP_VIOLATIONS.clear()
    yield
    assert not CSP_VIOLATIONS, "The browser reported Content-Security-Policy errors:\n" + (
        "\n".join(CSP_VIOLATIONS)
    )


@pytest.fixture(scope="module")
def browser(django_db_setup: None) -> Iterator[Browser]:
    # Playwright's sync API keeps an event loop on this thread while it runs, and Django
    # refuses ORM calls beside a running loop: so the database is set up first, and the
    # browser lives for one module only (tests that run after e2e get a clean thread).
    with chromium() as browser:
        yield _csp_checked(browser)


@pytest.fixture(scope="session")
def server(django_db_setup: None, artifacts_dir: Path) -> Iterator[str]:
    """The real ASGI server (uvicorn) on the test database; tasks run inline."""
    with asgi_server(artifacts_dir / "e2e") as base:
        yield base


def emails_to(address: str) -> list[str]:
    """The messages the test servers sent to ``address``, oldest first."""
    files = sorted(MAIL_DIR.glob("*.log"), key=lambda path: path.stat().st_mtime)
    texts = [path.read_text() for path in files]
    return [text for text in texts if f"To: {address}" in text]


def sign_up(
    page: Page, server: str, email: str, organisation: str = "", *, screenshots: Path | None = None
) -> str:
    """Sign up, confirm the address from the emailed link (which signs the person in),
    land on the new organisation's dashboard; returns its slug."""
    page.goto(f"{server}/accounts/signup/")
    page.fill("input[name=email]", email)
    page.fill("input[name=password1]", "a-long-unusual-passphrase")
    if organisation:
        page.fill("input[name=organisation]", organisation)
    if screenshots:
        page.screenshot(path=screenshots / "signup-desktop.png", full_page=True)
    page.get_by_role("button", name=re.compile("sign up", re.I)).click()
    page.wait_for_url(re.compile(r"/accounts/confirm-email/$"))
    if screenshots:
        page.screenshot(path=screenshots / "verify-email-desktop.png", full_page=True)
    (mail,) = emails_to(email)
    link = re.search(r"https?://\S+/accounts/confirm-email/\S+/", mail)
    assert link is not None, mail
    page.goto(link[0])
    if screenshots:
        page.screenshot(path=screenshots / "confirm-email-desktop.png", full_page=True)
    page.get_by_role("button", name=re.compile("confirm", re.I)).click()
    dashboard = re.compile(r"/t/([-a-z0-9]+)/$")
    page.wait_for_url(dashboard)
    found = dashboard.search(page.url)
    assert found is not None
    return found[1]


@pytest.fixture(scope="session")
def screenshots(artifacts_dir: Path) -> Path:
    path = artifacts_dir / "screenshots"
    path.mkdir(exist_ok=True)
    return path
