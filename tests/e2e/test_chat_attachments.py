"""A person attaches files to a conversation in Chromium: by the paperclip and by dropping
them on the conversation; each shows as a chip with its progress (a real Celery worker
ingests it), a wrong type fails on its chip with the reason and nothing else is lost, the
answer cites the file and its citation opens the file's passages; Remove takes a file away.
Screenshots at 1280 and 390 px in test-artifacts/screenshots/."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, FilePayload, Page, ViewportSize

from tests.e2e.conftest import sign_up
from tests.servers import worker_stack

pytestmark = pytest.mark.e2e

DESKTOP: ViewportSize = {"width": 1280, "height": 800}
MOBILE: ViewportSize = {"width": 390, "height": 844}
BRIEF = """# Project Falcon brief

## Launch

The Falcon launch is on 14 March. The launch budget is 80,000 EUR, approved by Dana.

## Team

Priya leads design; Tomas runs the launch event in Lisbon.
"""
NOTES = "Falcon retro notes: the beta had 412 testers and 37 bug reports.\n"


@pytest.fixture(scope="module")
def attach_server(django_db_setup: None, artifacts_dir: Path) -> Iterator[str]:
    """uvicorn that enqueues tasks and a real worker (tests/servers.py ``worker_stack``)."""
    with worker_stack(artifacts_dir / "e2e-chat-attachments") as base:
        yield base


def drop_on_conversation(page: Page, name: str, text: str) -> None:
    """Drag a file from the desktop onto the conversation."""
    page.evaluate(
        """([name, text]) => {
            const zone = document.getElementById("chat-scroll");
            const data = new DataTransfer();
            data.items.add(new File([text], name, {type: "text/plain"}));
            for (const type of ["dragenter", "dragover", "drop"]) {
                zone.dispatchEvent(new DragEvent(type, {dataTransfer: data, bubbles: true}));
            }
        }""",
        [name, text],
    )


def no_sideways_scroll(page: Page, width: int) -> None:
    assert page.evaluate("document.documentElement.scrollWidth") <= width


def test_attach_watch_cite_and_remove(
    browser: Browser, attach_server: str, screenshots: Path
) -> None:
    suffix = uuid.uuid4().hex[:6]
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    slug = sign_up(page, attach_server, f"attach-{suffix}@example.com", f"Attach {suffix}")
    base = f"{attach_server}/t/{slug}"
    page.goto(f"{base}/settings/ai/")
    page.get_by_label("Answer from the organisation's documents").check()
    page.get_by_role("button", name=re.compile("save", re.I)).click()
    page.wait_for_selector(".alert-success")
    page.goto(f"{base}/chat/")
    page.locator("form[action$='/chat/new/'] button[type=submit]").first.click()
    page.wait_for_url(re.compile(r"/chat/[0-9a-f-]{36}/$"))
    conversation_url = page.url

    # The paperclip sits in the composer; what is typed stays through every refusal.
    clip = page.locator("#composer #attach-button")
    assert clip.is_visible()
    page.fill("#composer-input", "When is the Falcon launch, and what is its budget?")
    with page.expect_file_chooser() as chooser:
        clip.click()
    chooser.value.set_files(
        [FilePayload(name="falcon-brief.md", mimeType="text/markdown", buffer=BRIEF.encode())]
    )
    chip = page.locator(".attach-chip", has_text="falcon-brief.md")
    chip.wait_for()
    # A wrong type fails on its own chip, with what to do.
    with page.expect_file_chooser() as chooser:
        clip.click()
    chooser.value.set_files(
        [FilePayload(name="budget.xlsx", mimeType="application/octet-stream", buffer=b"PK\x03")]
    )
    refused = page.locator(".attach-chip.is-failed", has_text="budget.xlsx")
    refused.wait_for()
    assert "Attach txt, md, html, pdf, docx" in refused.inner_text()
    # One more, dropped on the conversation: dragging over it shows where it goes.
    page.evaluate(
        """() => {
            const data = new DataTransfer();
            data.items.add(new File(["x"], "x.txt", {type: "text/plain"}));
            document.getElementById("chat-scroll").dispatchEvent(
                new DragEvent("dragenter", {dataTransfer: data, bubbles: true}));
        }"""
    )
    assert page.locator("#attach-drop").is_visible()
    page.screenshot(path=screenshots / "chat-attachments-drop-desktop.png")
    drop_on_conversation(page, "retro-notes.txt", NOTES)
    assert page.locator("#attach-drop").is_hidden()
    page.locator(".attach-chip", has_text="retro-notes.txt").wait_for()
    page.locator(".attach-chip.is-ready", has_text="falcon-brief.md").wait_for(timeout=60_000)
    page.locator(".attach-chip.is-ready", has_text="retro-notes.txt").wait_for(timeout=60_000)
    assert "Ready · Markdown" in chip.inner_text()
    # Screen readers hear the outcome, not every progress tick.
    assert "is ready: answers in this conversation" in (
        page.locator("#attach-live").text_content() or ""
    )
    assert page.input_value("#composer-input").startswith("When is the Falcon launch")
    page.screenshot(path=screenshots / "chat-attachments-desktop.png")

    # The failed chip goes with its Remove button; the answer cites the brief.
    refused.get_by_role("button", name="Remove budget.xlsx").click()
    assert page.locator(".attach-chip", has_text="budget.xlsx").count() == 0
    page.locator("#composer-input").press("Enter")
    page.wait_for_selector(".bubble-assistant[data-status=complete]", timeout=60_000)
    answer = page.locator(".bubble-assistant").last
    assert "14 March" in answer.locator(".bubble-text").inner_text()
    citations = answer.locator(".bubble-text a.cite")
    assert citations.count() >= 1
    page.screenshot(path=screenshots / "chat-attachments-cited-desktop.png")

    # At 390 px: the chips scroll in their row, nothing scrolls sideways.
    phone = browser.new_context(viewport=MOBILE, storage_state=context.storage_state())
    mobile = phone.new_page()
    mobile.goto(conversation_url)
    mobile.locator(".attach-chip.is-ready").first.wait_for()
    assert mobile.locator("#composer #attach-button").is_visible()
    no_sideways_scroll(mobile, 390)
    mobile.screenshot(path=screenshots / "chat-attachments-mobile.png")
    phone.close()

    # The citation opens the file's passages, in this conversation.
    citations.first.click()
    page.wait_for_url(re.compile(r"/chat/[0-9a-f-]{36}/attachments/[0-9a-f-]{36}/#chunk-"))
    cited = page.url.rsplit("#", 1)[1]
    assert page.locator(f"#{cited}").evaluate("el => el.matches(':target')") is True
    assert "14 March" in page.locator(f"#{cited}").inner_text()
    page.screenshot(path=screenshots / "chat-attachment-passages-desktop.png")

    # Removed with its Remove button: gone after a reload too.
    page.goto(conversation_url)
    notes = page.locator(".attach-chip", has_text="retro-notes.txt")
    notes.wait_for()
    notes.get_by_role("button", name="Remove retro-notes.txt").click()
    notes.wait_for(state="detached")
    page.reload()
    page.locator(".attach-chip", has_text="falcon-brief.md").wait_for()
    assert page.locator(".attach-chip", has_text="retro-notes.txt").count() == 0
    context.close()
