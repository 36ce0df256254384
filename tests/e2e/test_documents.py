"""A person uploads documents in Chromium and watches them become Ready without reloading
(HTMX polls while a real Celery worker ingests them), opens one, turns on answers from
documents, asks the chat a question and follows the answer's citation to its passage.
Screenshots at 1280 and 390 px in test-artifacts/screenshots/."""

from __future__ import annotations

import re
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, FilePayload, Page, ViewportSize

from apps.rag.chunking import HEADING_SEPARATOR
from tests.e2e.conftest import sign_up
from tests.rag.conftest import WORKER
from tests.servers import asgi_server, process_env, running

pytestmark = pytest.mark.e2e

DESKTOP: ViewportSize = {"width": 1280, "height": 800}
MOBILE: ViewportSize = {"width": 390, "height": 844}
GUIDE = """# Travel guide

How we travel for work, and how expenses come back to you.

## Booking

Book flights through the travel desk at least two weeks ahead. Economy class is the rule
for flights under six hours; longer flights may be premium economy.

## Expenses

Submit receipts within 30 days in the expenses tool. Refunds are paid with the next salary.

## Safety

Share your itinerary with your manager. In an emergency call the 24-hour travel line.
"""


@pytest.fixture(scope="module")
def docs_server(django_db_setup: None, artifacts_dir: Path) -> Iterator[str]:
    """uvicorn that enqueues tasks (not eager) and a real worker, sharing a temp MEDIA_ROOT."""
    log_dir = artifacts_dir / "e2e-documents"
    with tempfile.TemporaryDirectory() as media:
        env = process_env(MEDIA_ROOT=media)
        with (
            running(WORKER, env=env, log=log_dir / "worker.log"),
            asgi_server(log_dir, CELERY_TASK_ALWAYS_EAGER="false", MEDIA_ROOT=media) as base,
        ):
            yield base


def drop_file(page: Page, name: str, text: str) -> None:
    """Drag a file onto the drop zone, as a person would from their desktop."""
    page.evaluate(
        """([name, text]) => {
            const zone = document.querySelector("form[data-dropzone]");
            const data = new DataTransfer();
            data.items.add(new File([text], name, {type: "text/plain"}));
            zone.dispatchEvent(new DragEvent("dragover", {dataTransfer: data, bubbles: true}));
            zone.dispatchEvent(new DragEvent("drop", {dataTransfer: data, bubbles: true}));
        }""",
        [name, text],
    )


def test_upload_watch_ready_and_open_a_citation(
    browser: Browser, docs_server: str, screenshots: Path
) -> None:
    server = docs_server
    suffix = uuid.uuid4().hex[:6]
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    sign_up(page, server, f"librarian-{suffix}@example.com", f"Shelf {suffix}")

    page.get_by_role("link", name="Documents").first.click()
    page.wait_for_url(re.compile(r"/documents/$"))
    assert page.locator(".empty-state h3").inner_text() == "No documents yet"
    page.screenshot(path=screenshots / "documents-empty-desktop.png", full_page=True)

    page.set_input_files(
        "input[name=file]",
        files=[
            FilePayload(name="travel-guide.md", mimeType="text/markdown", buffer=GUIDE.encode())
        ],
    )
    assert page.locator("[data-file-name]").inner_text() == "Selected: travel-guide.md"
    page.get_by_role("button", name="Upload").click()
    page.wait_for_url(re.compile(r"/documents/$"))
    assert "“travel-guide.md” was uploaded" in page.locator(".alert-success").inner_text()
    # The worker is still on it (its first task also loads the gateway): the list shows
    # the state, then HTMX polling brings it to Ready without a page load.
    row = page.locator(".doc-row").first
    assert row.get_attribute("data-status") in {"queued", "parsing", "embedding"}
    assert page.locator("#document-list").get_attribute("hx-trigger") == "every 2s"
    page.screenshot(path=screenshots / "documents-progress-desktop.png", full_page=True)
    page.evaluate("window.__sameDocument = true")
    page.wait_for_selector(".doc-row[data-status=ready]", timeout=90_000)
    assert page.evaluate("window.__sameDocument") is True  # updated in place, not reloaded
    assert page.locator("#document-list").get_attribute("hx-trigger") is None  # polling stopped

    # A second file, dragged and dropped onto the upload form.
    drop_file(page, "safety-notes.txt", "Carry a copy of your passport.\n\nKnow the exits.")
    page.wait_for_selector(".doc-row >> nth=1")
    assert "“safety-notes.txt” was uploaded" in page.locator(".alert-success").inner_text()
    page.wait_for_selector(".doc-row[data-status=ready] >> nth=1", timeout=90_000)
    assert page.locator(".doc-row .badge-success").all_inner_texts() == ["Ready", "Ready"]
    assert page.locator(".doc-icon").all_inner_texts() == ["TXT", "MD"]

    # A damaged PDF is accepted (it starts like one), then fails with a reason.
    page.set_input_files(
        "input[name=file]",
        files=[FilePayload(name="scan.pdf", mimeType="application/pdf", buffer=b"%PDF-1.4 junk")],
    )
    page.get_by_role("button", name="Upload").click()
    failed = page.locator(".doc-row[data-status=failed]")
    failed.wait_for(timeout=90_000)
    assert failed.locator(".badge-danger").inner_text() == "Failed"
    assert "could not be read as PDF" in failed.locator(".doc-error").inner_text()
    assert page.locator(".doc-row .badge-success").count() == 2  # the others are untouched
    page.screenshot(path=screenshots / "documents-desktop.png", full_page=True)

    page.get_by_role("link", name="travel-guide").click()
    page.wait_for_url(re.compile(r"/documents/[0-9a-f-]{36}/$"))
    assert page.locator("h1").inner_text() == "travel-guide"
    passages = page.locator("li.chunk")
    assert passages.count() == 4
    heading = passages.nth(2).locator(".chunk-heading").inner_text()
    assert heading == HEADING_SEPARATOR.join(["Travel guide", "Expenses"])
    chunk_id = passages.nth(2).get_attribute("id") or ""
    assert re.fullmatch(r"chunk-[0-9a-f-]{36}", chunk_id)

    # A citation link jumps to its passage and highlights it.
    page.goto(f"{page.url}#{chunk_id}")
    target = page.locator(f"#{chunk_id}")
    assert target.evaluate("el => el.matches(':target')") is True
    assert target.evaluate("el => getComputedStyle(el).boxShadow") != "none"
    page.wait_for_timeout(1900)  # let the highlight flash settle before the screenshot
    page.screenshot(path=screenshots / "document-citation-desktop.png")
    page.screenshot(path=screenshots / "document-desktop.png", full_page=True)

    phone = browser.new_context(viewport=MOBILE, storage_state=context.storage_state())
    mobile = phone.new_page()
    mobile.goto(page.url)
    mobile.wait_for_timeout(1900)
    mobile.screenshot(path=screenshots / "document-citation-mobile.png")
    assert mobile.evaluate("document.documentElement.scrollWidth") <= 390
    mobile.goto(page.url.split("/documents/")[0] + "/documents/")
    mobile.screenshot(path=screenshots / "documents-mobile.png", full_page=True)
    assert mobile.evaluate("document.documentElement.scrollWidth") <= 390
    phone.close()

    # Chat answers from these documents: turn it on, ask, follow a citation.
    base = page.url.split("/documents/")[0]
    page.goto(f"{base}/settings/ai/")
    page.get_by_label("Answer from the organisation's documents").check()
    page.get_by_role("button", name=re.compile("save", re.I)).click()
    page.wait_for_selector(".alert-success")
    page.goto(f"{base}/chat/")
    page.get_by_role("button", name="New chat").click()
    page.wait_for_url(re.compile(r"/chat/[0-9a-f-]{36}/$"))
    page.fill("#composer-input", "How long do I have to submit receipts?")
    page.keyboard.press("Enter")
    page.wait_for_selector(".bubble-assistant[data-status=complete]", timeout=60_000)
    answer = page.locator(".bubble-assistant").last
    citations = answer.locator(".bubble-text a.cite")
    assert citations.count() >= 1
    assert "30 days" in answer.locator(".bubble-text").inner_text()
    assert answer.locator(".bubble-sources .source-chip").first.inner_text().startswith("[")
    page.screenshot(path=screenshots / "chat-cited-desktop.png")
    chat_url = page.url
    citations.first.click()
    page.wait_for_url(re.compile(r"/documents/[0-9a-f-]{36}/#chunk-[0-9a-f-]{36}$"))
    cited = page.url.rsplit("#", 1)[1]
    assert page.locator(f"#{cited}").evaluate("el => el.matches(':target')") is True
    assert "30 days" in page.locator(f"#{cited}").inner_text()

    phone = browser.new_context(viewport=MOBILE, storage_state=context.storage_state())
    mobile = phone.new_page()
    mobile.goto(chat_url)  # a reload draws the same checked citations from the page
    mobile.wait_for_selector(".bubble-assistant .bubble-text a.cite")
    mobile.screenshot(path=screenshots / "chat-cited-mobile.png", full_page=True)
    assert mobile.evaluate("document.documentElement.scrollWidth") <= 390
    phone.close()
    context.close()
