"""The one chat screen: history beside the conversation (search, new, rename, delete),
a drawer on a phone, suggested prompts, the pinned composer that grows, follow-while-at-
the-bottom with "Jump to latest", copy buttons, the serving model, Esc and Ctrl+K.
Screenshots at 1280 and 390 px."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page

from tests.e2e.conftest import sign_up
from tests.servers import paced_stack

pytestmark = pytest.mark.e2e

CONVERSATION = re.compile(r"/chat/[0-9a-f-]{36}/")


@pytest.fixture(scope="module")
def chat_server(django_db_setup: None, artifacts_dir: Path) -> Iterator[str]:
    with paced_stack(artifacts_dir / "e2e-chat-screen", tokens_per_s=40) as base:
        yield base


def no_sideways_scroll(page: Page) -> None:
    width = page.viewport_size["width"] if page.viewport_size else 0
    assert page.evaluate("document.documentElement.scrollWidth") <= width


def test_chat_screen_desktop_and_phone(
    browser: Browser, chat_server: str, screenshots: Path
) -> None:
    suffix = uuid.uuid4().hex[:6]
    context = browser.new_context(
        viewport={"width": 1280, "height": 800},
        permissions=["clipboard-read", "clipboard-write"],
    )
    page = context.new_page()
    sign_up(page, chat_server, f"screen-{suffix}@example.com", f"Screen {suffix}")
    page.get_by_role("link", name="Chat").first.click()

    # The empty screen: suggested prompts; picking one starts a chat with it in the composer.
    prompts = page.locator(".suggestion")
    assert prompts.count() >= 3
    page.screenshot(path=screenshots / "chat-screen-empty-desktop.png")
    picked = prompts.first.inner_text()
    prompts.first.click()
    page.wait_for_url(CONVERSATION)
    assert page.input_value("#composer-input") == picked

    # The composer grows with its text, up to a limit.
    page.fill("#composer-input", "")
    one_line = page.locator("#composer-input").bounding_box()
    page.fill("#composer-input", "line\n" * 4)
    page.dispatch_event("#composer-input", "input")
    four_lines = page.locator("#composer-input").bounding_box()
    page.fill("#composer-input", "line\n" * 60)
    page.dispatch_event("#composer-input", "input")
    many_lines = page.locator("#composer-input").bounding_box()
    assert one_line
    assert four_lines
    assert many_lines
    assert four_lines["height"] > one_line["height"] + 30
    assert many_lines["height"] <= 260
    # Pinned to the bottom of the window, not floating under a short conversation.
    composer = page.locator("#composer").bounding_box()
    assert composer
    assert composer["y"] + composer["height"] > 800 - 80

    # An answer with a code block: copy buttons on the block and on the answer; the model.
    page.fill("#composer-input", "Show **code**:\n```python\nprint('hi')\n```")
    page.keyboard.press("Enter")
    page.wait_for_selector(".bubble-assistant[data-status=complete]", timeout=30_000)
    answer = page.locator(".bubble-assistant").last
    # The dev model echoes on one line: a block drawn by the same renderer gets the button.
    page.evaluate("""() => {
        const box = document.createElement("article");
        box.className = "bubble"; box.id = "code-sample";
        box.innerHTML = '<div class="bubble-text"></div>';
        renderMarkdown(box.firstChild, "```python\\nprint('hi')\\n```");
        document.getElementById("chat-log").appendChild(box);
        addCodeCopy(box);
    }""")
    page.locator("#code-sample").get_by_role("button", name="Copy code").click()
    assert page.evaluate("navigator.clipboard.readText()") == "print('hi')"
    page.evaluate("document.getElementById('code-sample').remove()")
    answer.get_by_role("button", name="Copy answer as Markdown").click()
    copied = page.evaluate("navigator.clipboard.readText()")
    assert "**code**" in copied
    answer.hover()
    assert answer.locator("[data-model]").inner_text().strip() != ""
    assert answer.locator("time").is_visible()

    # A long answer: following while at the bottom; scrolled up, "Jump to latest" shows.
    # A question tall enough that the log overflows while the (short) answer still streams.
    page.fill("#composer-input", "Tell me a long story " + "about invoices and refunds " * 70)
    page.keyboard.press("Enter")
    streaming = page.locator(".bubble-assistant.streaming")
    streaming.wait_for()
    page.wait_for_function(
        "() => { const s = document.getElementById('chat-scroll');"
        " return s.scrollHeight > s.clientHeight + 200; }",
        timeout=30_000,
    )
    at_bottom = (
        "() => { const s = document.getElementById('chat-scroll');"
        " return s.scrollHeight - s.scrollTop - s.clientHeight < 40; }"
    )
    assert page.evaluate(at_bottom)
    page.evaluate("document.getElementById('chat-scroll').scrollTop = 0")
    page.locator("#jump-latest").wait_for(state="visible")
    page.screenshot(path=screenshots / "chat-screen-jump-desktop.png")
    # Esc stops the answer.
    page.keyboard.press("Escape")
    page.wait_for_selector(".bubble-assistant[data-status=stopped]", timeout=30_000)
    page.locator("#jump-latest").click()
    assert page.evaluate(at_bottom)

    # Rename in place; the history shows it; search finds it; Ctrl+K focuses search.
    page.get_by_text("Rename", exact=True).click()
    page.fill("#rename-title", f"Quarterly invoices {suffix}")
    page.get_by_role("button", name="Save").click()
    page.wait_for_url(CONVERSATION)
    assert page.locator(".chat-history-item.active").inner_text().startswith("Quarterly")
    page.get_by_role("button", name="New chat").click()
    page.wait_for_url(CONVERSATION)
    assert page.locator(".chat-history-item").count() == 2
    page.keyboard.press("Control+k")
    assert page.evaluate("document.activeElement.id") == "chat-search"
    page.keyboard.type("quarterly")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"\?q=quarterly"))
    assert page.locator(".chat-history-item").count() == 1
    page.locator(".chat-history-item").first.click()
    page.wait_for_url(CONVERSATION)
    page.screenshot(path=screenshots / "chat-screen-desktop.png")

    # The history panel collapses, and stays collapsed on the next page.
    page.get_by_role("button", name="Hide history").click()
    assert not page.locator("#chat-history").is_visible()
    page.reload()
    assert not page.locator("#chat-history").is_visible()
    page.get_by_role("button", name="Show history").click()
    assert page.locator("#chat-history").is_visible()
    no_sideways_scroll(page)

    # On a phone: history is a drawer; nothing scrolls sideways.
    phone = browser.new_context(
        viewport={"width": 390, "height": 844}, storage_state=context.storage_state()
    ).new_page()
    phone.goto(page.url)
    assert not phone.locator("#chat-history").is_visible()
    phone.screenshot(path=screenshots / "chat-screen-mobile.png")
    no_sideways_scroll(phone)
    phone.get_by_role("button", name="Show history").click()
    phone.locator("#chat-history").wait_for(state="visible")
    phone.wait_for_timeout(300)
    phone.screenshot(path=screenshots / "chat-screen-drawer-mobile.png")
    phone.keyboard.press("Escape")
    phone.locator("#chat-history").wait_for(state="hidden")
    phone.goto(page.url.split("/chat/")[0] + "/chat/")
    phone.screenshot(path=screenshots / "chat-screen-empty-mobile.png")
    no_sideways_scroll(phone)

    # Delete in place: back to the empty screen, one conversation fewer.
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Delete").click()
    page.wait_for_url(re.compile(r"/chat/$"))
    assert page.locator(".chat-history-item").count() == 1
    context.close()
