"""A person chats in the browser: the message shows at once, tokens arrive, Stop ends
the answer, and a refresh shows the saved partial answer. Screenshots at both widths."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser

from tests.e2e.conftest import sign_up
from tests.servers import paced_stack

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def chat_server(django_db_setup: None, artifacts_dir: Path) -> Iterator[str]:
    with paced_stack(artifacts_dir / "e2e-chat", tokens_per_s=8) as base:
        yield base


def test_chat_stream_stop_and_refresh(
    browser: Browser, chat_server: str, screenshots: Path
) -> None:
    server = chat_server
    suffix = uuid.uuid4().hex[:6]
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    sign_up(page, server, f"chatter-{suffix}@example.com", f"Talk {suffix}")

    page.get_by_role("link", name="Chat").first.click()
    page.get_by_role("button", name="New chat").click()
    page.wait_for_url(re.compile(r"/chat/[0-9a-f-]{36}/$"))
    # A whole answer: the dev model echoes the question, so its Markdown comes back.
    page.fill("#composer-input", "Explain **invoices** and `refunds` <img src=x onerror=alert(1)>")
    page.keyboard.press("Enter")
    user_bubble = page.locator(".bubble-user .bubble-text").last
    assert user_bubble.inner_text().endswith("<img src=x onerror=alert(1)>")  # shown as text
    page.wait_for_selector(".bubble-assistant[data-status=complete]", timeout=30_000)
    rendered = page.locator(".bubble-assistant .bubble-text").last
    assert rendered.locator("strong").inner_text() == "invoices"
    assert rendered.locator("code").inner_text() == "refunds"
    assert page.locator(".bubble img").count() == 0

    # The renderer on its own: unclosed fences, unsafe links, raw HTML.
    checks = page.evaluate("""() => {
        const box = document.createElement("div");
        renderMarkdown(box, "Intro\\n```js\\nlet a = 1");
        const fence = box.querySelector("pre code")?.textContent;
        renderMarkdown(box, "[click](javascript:alert(1)) <script>x</script>");
        return [fence, box.querySelectorAll("a, script").length];
    }""")
    assert checks == ["let a = 1", 0]

    # Code is coloured by highlight.js, and markup inside code stays text.
    code = page.evaluate("""() => {
        const box = document.createElement("div");
        const source = "def f(x):\\n    return '<img src=x onerror=alert(1)>'";
        renderMarkdown(box, "```python\\n" + source + "\\n```");
        const el = box.querySelector("pre code");
        return [el.textContent, el.querySelectorAll("span.hljs-keyword").length,
                el.querySelectorAll("img, script").length,
                [...el.querySelectorAll("*")].every(n => n.tagName === "SPAN")];
    }""")
    assert code == ["def f(x):\n    return '<img src=x onerror=alert(1)>'", 2, 0, True]

    # A second answer, stopped half-way.
    page.fill("#composer-input", "Please explain invoices in detail")
    page.keyboard.press("Enter")
    answer = page.locator(".bubble-assistant .bubble-text").last
    page.wait_for_function(
        "el => el.textContent.split(' ').length >= 4", arg=answer.element_handle()
    )
    page.screenshot(path=screenshots / "chat-streaming-desktop.png")
    page.get_by_role("button", name="Stop").click()
    page.wait_for_selector(".bubble-assistant[data-status=stopped]")
    partial = answer.inner_text()
    assert partial.startswith("[dev model]")

    # A streamed bubble's time reads as the server renders saved ones ("5 Dec, 04:24").
    stamp = re.compile(r"\d{1,2} [A-Z][a-z]{2}, \d{2}:\d{2}")
    assert stamp.fullmatch(page.locator(".bubble-assistant time").last.inner_text())
    page.reload()
    saved = page.locator(".bubble-assistant .bubble-text").last.inner_text()
    assert saved == partial
    assert stamp.fullmatch(page.locator(".bubble-assistant time").last.inner_text())
    last = page.locator(".bubble-assistant").last
    assert last.locator(".bubble-note").first.inner_text() == "Stopped."
    # The owner also sees what the partial answer cost.
    assert " out · $" in last.locator("[data-usage]").inner_text()
    # Regenerate the stopped answer: a whole new one replaces it.
    page.get_by_role("button", name="Regenerate").click()
    page.wait_for_selector(".bubble-assistant[data-status=complete] >> nth=1", timeout=30_000)
    assert page.locator(".bubble-assistant").count() == 2
    assert page.locator(".bubble-assistant[data-status=stopped]").count() == 0
    page.reload()
    page.screenshot(path=screenshots / "chat-desktop.png", full_page=True)

    phone = browser.new_context(
        viewport={"width": 390, "height": 844}, storage_state=context.storage_state()
    ).new_page()
    phone.goto(page.url)
    phone.screenshot(path=screenshots / "chat-mobile.png", full_page=True)
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390
    context.close()
