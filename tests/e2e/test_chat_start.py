"""A new customer opens Chat on a phone and types a question at once: the empty screen
has a composer, and the question is asked in a new conversation. Screenshots at 390 px."""

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
    with paced_stack(artifacts_dir / "e2e-chat-start", tokens_per_s=200) as base:
        yield base


def test_a_question_typed_on_the_empty_screen_is_asked(
    browser: Browser, chat_server: str, screenshots: Path
) -> None:
    suffix = uuid.uuid4().hex[:6]
    page = browser.new_context(viewport={"width": 390, "height": 844}).new_page()
    slug = sign_up(page, chat_server, f"starter-{suffix}@example.com", f"Start {suffix}")
    page.goto(f"{chat_server}/t/{slug}/chat/")
    box = page.locator("#start-input")
    assert box.is_visible()  # no drawer to open first
    page.screenshot(path=screenshots / "chat-start-empty-phone.png")

    box.fill("What is our refund policy?")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/chat/[0-9a-f-]{36}/$"))  # the question left the address
    page.wait_for_selector(".bubble-assistant[data-status=complete]", timeout=30_000)
    assert page.locator(".bubble-user .bubble-text").all_inner_texts() == [
        "What is our refund policy?"
    ]
    assert page.input_value("#composer-input") == ""
    page.screenshot(path=screenshots / "chat-start-answered-phone.png")

    page.reload()  # asked once: a reload shows the same single question
    page.wait_for_selector(".bubble-assistant[data-status=complete]")
    assert page.locator(".bubble-user").count() == 1
