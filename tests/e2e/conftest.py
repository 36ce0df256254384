from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.servers import asgi_server

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


@pytest.fixture(scope="module")
def browser(django_db_setup: None) -> Iterator[Any]:
    # Playwright's sync API keeps an event loop on this thread while it runs, and Django
    # refuses ORM calls beside a running loop: so the database is set up first, and the
    # browser lives for one module only (tests that run after e2e get a clean thread).
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


@pytest.fixture(scope="session")
def server(django_db_setup: None, artifacts_dir: Path) -> Iterator[str]:
    """The real ASGI server (uvicorn) on the test database; tasks run inline."""
    with asgi_server(artifacts_dir / "e2e") as base:
        yield base


@pytest.fixture(scope="session")
def screenshots(artifacts_dir: Path) -> Path:
    path = artifacts_dir / "screenshots"
    path.mkdir(exist_ok=True)
    return path
