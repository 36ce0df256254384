"""An admin ticks documents in Chromium, summarises them, watches the job's progress bar
fill without reloading (HTMX polls while a real Celery worker sends the batch to the local
provider and collects it), and a member-visible summary appears on the document's page
with links to its passages. Screenshots at 1280 and 390 px in test-artifacts/screenshots/."""

from __future__ import annotations

import re
import time
import uuid
from pathlib import Path

import pytest
from playwright.sync_api import Browser, FilePayload, Page

from tests.e2e.conftest import sign_up
from tests.e2e.test_documents import DESKTOP, GUIDE, MOBILE, docs_server

pytestmark = pytest.mark.e2e
__all__ = ["docs_server"]

NOTES = "Carry a copy of your passport.\n\nKnow the exits.\n\nCall the travel line if lost."


def upload(page: Page, name: str, text: str) -> None:
    page.set_input_files(
        "input[name=file]",
        files=[FilePayload(name=name, mimeType="text/markdown", buffer=text.encode())],
    )
    page.get_by_role("button", name="Upload").click()
    page.wait_for_url(re.compile(r"/documents/$"))


def no_inline_script(page: Page, container: str) -> None:
    """What a Content-Security-Policy without 'unsafe-inline' would block: none here."""
    assert page.locator(f"{container} script").count() == 0
    handlers = page.evaluate(
        """(sel) => [...document.querySelectorAll(sel + ' *')].flatMap(
            el => [...el.attributes].filter(a => a.name.startsWith('on')).map(a => a.name))""",
        container,
    )
    assert handlers == []


def test_summarise_a_selection_and_read_it(
    browser: Browser, docs_server: str, screenshots: Path
) -> None:
    from apps.summaries import tasks
    from config.celery import app

    app.conf.task_always_eager = False  # this process only sends beat's poll, as beat would
    server = docs_server
    suffix = uuid.uuid4().hex[:6]
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    sign_up(page, server, f"summariser-{suffix}@example.com", f"Digest {suffix}")
    page.get_by_role("link", name="Documents").first.click()
    page.wait_for_url(re.compile(r"/documents/$"))
    upload(page, "travel-guide.md", GUIDE)
    upload(page, "safety-notes.md", NOTES)
    upload(page, "expenses.md", GUIDE.replace("Travel guide", "Expenses guide"))
    page.wait_for_selector(".doc-row[data-status=ready] >> nth=2", timeout=90_000)

    # Tick two of the three, then summarise the selection.
    page.check("input[aria-label='Select travel-guide to summarise']")
    page.check("input[aria-label='Select safety-notes to summarise']")
    # The list redraws itself every few seconds while a document ingests: ticks survive.
    page.evaluate(
        """(url) => htmx.ajax("GET", url, {target: "#document-list", swap: "outerHTML"})""",
        page.url + "list/",
    )
    ticked = page.locator("#document-list input[name=document]:checked")
    assert ticked.count() == 2
    no_inline_script(page, "#document-list")
    page.screenshot(path=screenshots / "summaries-select-desktop.png", full_page=True)
    page.set_viewport_size(MOBILE)
    page.screenshot(path=screenshots / "summaries-select-mobile.png", full_page=True)
    page.set_viewport_size(DESKTOP)
    page.get_by_role("button", name="Summarise selected").click()
    page.wait_for_url(re.compile(r"/summaries/$"))
    assert "Summarising 2 documents" in page.locator(".alert-success").inner_text()
    row = page.locator(".job-row").first
    assert row.get_attribute("data-status") in {"queued", "submitted"}
    assert page.locator("#job-list").get_attribute("hx-trigger") == "every 3s"
    page.screenshot(path=screenshots / "summaries-running-desktop.png", full_page=True)

    page.evaluate("window.__sameDocument = true")
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if page.locator(".job-row[data-status=done]").count():
            break
        tasks.poll_running.delay()
        page.wait_for_timeout(1000)
    assert page.locator(".job-row").first.get_attribute("data-status") == "done"
    assert page.evaluate("window.__sameDocument") is True  # updated in place
    assert page.locator(".job-counts").first.inner_text() == "2 done · 2 total"
    assert page.locator(".job-bar").first.get_attribute("value") == "2"
    cost = page.locator(".job-cost dd").all_inner_texts()
    assert len(cost) == 3  # cost, in real time, saved
    assert all(re.fullmatch(r"\$0\.0000\d\d", c) for c in cost), cost  # cents of a cent
    assert page.locator("a", has_text="CSV").count() == 1
    no_inline_script(page, "#job-list")
    page.screenshot(path=screenshots / "summaries-jobs-desktop.png", full_page=True)
    page.set_viewport_size(MOBILE)
    page.screenshot(path=screenshots / "summaries-jobs-mobile.png", full_page=True)
    page.set_viewport_size(DESKTOP)

    # The summary on the document's page, linking to its passages.
    page.get_by_role("link", name="Documents").first.click()
    page.get_by_role("link", name="travel-guide").click()
    page.wait_for_url(re.compile(r"/documents/[0-9a-f-]{36}/$"))
    assert page.locator(".summary-text").inner_text().startswith("[dev model]")
    chips = page.locator(".summary-sources .source-chip")
    assert chips.count() == 4
    first = chips.first.get_attribute("href") or ""
    assert page.locator(first).count() == 1  # the chip points at a passage on this page
    page.screenshot(path=screenshots / "summaries-document-desktop.png", full_page=False)
    page.set_viewport_size(MOBILE)
    page.screenshot(path=screenshots / "summaries-document-mobile.png", full_page=False)
    context.close()
