"""Thumbs up / down on a chat answer in the browser, by mouse and by keyboard, with a
reason for a thumbs down; the rating is still there after a reload, and the AI quality
page counts it. In Chromium at 1280 and 390 px, with screenshots."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.db import connections
from playwright.sync_api import Browser, Page, expect
from pytest_django import DjangoDbBlocker

from apps.tenants.services import tenant_create
from tests.conftest import make_user
from tests.e2e.test_chat_choices import (
    VIEWPORTS,
    Person,
    ask,
    new_chat,
    no_sideways_scroll,
    signed_in,
)
from tests.servers import paced_stack

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def people(django_db_setup: None, django_db_blocker: DjangoDbBlocker) -> dict[str, Person]:
    """An owner per viewport, made before the browser starts (no ORM beside its loop)."""
    found = {}
    with django_db_blocker.unblock():
        for name in VIEWPORTS:
            email = f"rater-{name}-{uuid.uuid4().hex[:6]}@example.com"
            tenant = tenant_create(owner=make_user(email), name=f"Raters {uuid.uuid4().hex[:4]}")
            found[name] = Person(email, tenant.slug)
        connections.close_all()
    return found


@pytest.fixture(scope="module")
def app(django_db_setup: None, artifacts_dir: Path) -> Iterator[str]:
    with paced_stack(artifacts_dir / "e2e-chat-feedback", tokens_per_s=0) as base:
        yield base


def pressed(page: Page, rating: str) -> str | None:
    button = page.locator(".bubble-assistant").last.locator(f"[data-rating={rating}]")
    return button.get_attribute("aria-pressed")


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
def test_thumbs_persist_after_a_reload_and_count_on_the_quality_page(
    people: dict[str, Person], browser: Browser, app: str, screenshots: Path, viewport: str
) -> None:
    person = people[viewport]
    page = signed_in(browser, app, person, viewport)
    new_chat(page, app, person)
    ask(page, "How do refunds work?")
    answer = page.locator(".bubble-assistant").last
    up = answer.get_by_role("button", name="Good answer")
    down = answer.get_by_role("button", name="Bad answer")
    status = answer.locator("[data-feedback-status]")

    # Thumbs up, then changed to a thumbs down with a reason and a comment.
    up.click()
    expect(up).to_have_attribute("aria-pressed", "true")
    expect(status).to_have_text("Thanks for the feedback.")
    down.click()
    expect(down).to_have_attribute("aria-pressed", "true")
    expect(up).to_have_attribute("aria-pressed", "false")
    form = answer.locator("[data-feedback-form]")
    expect(form).to_be_visible()
    form.get_by_text("Wrong or made up").click()
    form.get_by_placeholder("Tell us more (optional)").fill("The refund window is 30 days.")
    no_sideways_scroll(page)
    page.screenshot(path=screenshots / f"chat-feedback-reason-{viewport}.png")
    form.get_by_role("button", name="Send feedback").click()
    expect(form).to_be_hidden()
    expect(down).to_be_focused()

    # After a reload: still a thumbs down, with its reason and comment.
    page.reload()
    answer = page.locator(".bubble-assistant").last
    down = answer.get_by_role("button", name="Bad answer")
    expect(down).to_have_attribute("aria-pressed", "true")
    assert pressed(page, "up") == "false"
    form = answer.locator("[data-feedback-form]")
    expect(form.locator("input[value=inaccurate]")).to_be_checked()
    expect(form.locator("textarea")).to_have_value("The refund window is 30 days.")

    # By keyboard: the thumbs-down opens the form, Escape closes it without stopping
    # anything, a second press takes the rating back, and the thumbs up rates again.
    down.focus()
    page.keyboard.press("Enter")  # pressed already: takes it back
    expect(down).to_have_attribute("aria-pressed", "false")
    expect(answer.locator("[data-feedback-status]")).to_have_text("Feedback removed.")
    page.keyboard.press("Enter")
    expect(form).to_be_visible()
    page.keyboard.press("Escape")
    expect(form).to_be_hidden()
    expect(down).to_be_focused()
    up = answer.get_by_role("button", name="Good answer")
    up.focus()
    page.keyboard.press("Space")
    expect(up).to_have_attribute("aria-pressed", "true")
    expect(down).to_have_attribute("aria-pressed", "false")
    page.screenshot(path=screenshots / f"chat-feedback-{viewport}.png")
    page.reload()
    assert pressed(page, "up") == "true"
    assert pressed(page, "down") == "false"

    # The AI quality page, from the navigation: one answer, rated, thumbs up.
    if viewport == "phone":
        page.locator(".menu-toggle").click()
    page.get_by_role("link", name="AI quality").click()
    page.wait_for_url(re.compile(rf"/t/{person.slug}/quality/$"))
    expect(page.get_by_role("heading", name="AI quality", level=1)).to_be_visible()
    stats = page.locator(".quality-stats")
    expect(stats.locator(".stat").nth(1)).to_contain_text("1 of 1 ratings")
    expect(stats.locator(".stat").nth(2)).to_contain_text("1 of 1 chat answers")
    table = page.get_by_role("region", name="Quality by model and feature")
    expect(table.locator("tbody tr")).to_have_count(1)
    expect(table.locator("tbody tr td").first).to_have_text(
        re.compile(r"local-fast\s*Chat answers")
    )
    no_sideways_scroll(page)
    page.screenshot(path=screenshots / f"quality-{viewport}.png", full_page=True)
    page.context.close()
