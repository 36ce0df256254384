"""The chat screen's model picker (and the plan's refusal), the generated title arriving
in the open screen, "Report wrong answer" on an answer from the semantic cache, the
guardrails' notice, the organisation's suggested prompts, and user bubbles without empty
space under their text. In Chromium at 1280 and 390 px, with screenshots."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.db import connections
from playwright.sync_api import Browser, Page, ViewportSize, expect
from pytest_django import DjangoDbBlocker

from apps.core.db import tenant_context
from apps.gateway.models import AISettings
from apps.guardrails.policy import Policy
from apps.tenants.services import tenant_create
from tests.conftest import PASSWORD, make_user
from tests.servers import paced_stack

pytestmark = pytest.mark.e2e

VIEWPORTS: dict[str, ViewportSize] = {
    "desktop": {"width": 1280, "height": 800},
    "phone": {"width": 390, "height": 844},
}
ASKED, REWORDED = "How can I export my invoices?", "How do I export my invoices?"
PROMPTS = ["Summarise this week's support tickets", "Draft the release note for 2.4"]
CONVERSATION = re.compile(r"/chat/[0-9a-f-]{36}/")


@dataclass(frozen=True)
class Person:
    email: str
    slug: str


@pytest.fixture(scope="module")
def people(django_db_setup: None, django_db_blocker: DjangoDbBlocker) -> dict[str, Person]:
    """Before the browser starts (no ORM beside Playwright's loop): per viewport, an owner
    on the free plan, and one on the pro plan whose organisation redacts personal data and
    suggests its own prompts."""
    found = {}
    with django_db_blocker.unblock():
        for name in VIEWPORTS:
            for plan in ("free", "pro"):
                email = f"{plan}-{name}-{uuid.uuid4().hex[:6]}@example.com"
                tenant = tenant_create(
                    owner=make_user(email), name=f"{plan.title()} {uuid.uuid4().hex[:4]}", plan=plan
                )
                if plan == "pro":
                    with tenant_context(tenant.id):
                        AISettings.objects.update_or_create(
                            tenant=tenant,
                            defaults={
                                "suggested_prompts": PROMPTS,
                                "guardrails": Policy.parse(
                                    {"actions": {"pii": "redact"}}
                                ).to_dict(),
                            },
                        )
                found[f"{plan}-{name}"] = Person(email, tenant.slug)
        connections.close_all()
    return found


@pytest.fixture(scope="module")
def app(django_db_setup: None, artifacts_dir: Path) -> Iterator[str]:
    # The provider waits 800 ms before its first token, as a hosted model does: the semantic
    # cache answers a reworded question first (it races the provider).
    with paced_stack(artifacts_dir / "e2e-chat-choices", tokens_per_s=0, ttft_ms=800) as base:
        yield base


def signed_in(browser: Browser, app: str, person: Person, viewport: str) -> Page:
    """A page at ``viewport`` size, signed in as ``person``, on their dashboard."""
    page = browser.new_context(viewport=VIEWPORTS[viewport]).new_page()
    page.goto(f"{app}/accounts/login/")
    page.fill("input[name=login]", person.email)
    page.fill("input[name=password]", PASSWORD)
    page.get_by_role("button", name=re.compile("sign in", re.I)).click()
    page.wait_for_url(re.compile(rf"/t/{person.slug}/$"))
    return page


def new_chat(page: Page, app: str, person: Person) -> None:
    page.goto(f"{app}/t/{person.slug}/chat/")
    page.evaluate("document.querySelector('form[action$=\"/chat/new/\"]').submit()")
    page.wait_for_url(CONVERSATION)


def ask(page: Page, text: str) -> None:
    count = page.locator(".bubble-assistant:not(.streaming)").count()
    page.fill("#composer-input", text)
    page.keyboard.press("Enter")
    page.locator(".bubble-assistant:not(.streaming)").nth(count).wait_for()
    page.wait_for_selector(".bubble-assistant:last-child[data-status=complete]")


def no_sideways_scroll(page: Page) -> None:
    width = page.viewport_size["width"] if page.viewport_size else 0
    assert page.evaluate("document.documentElement.scrollWidth") <= width


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
def test_a_free_plan_sees_smart_offered_on_pro_and_is_refused_it(
    people: dict[str, Person], browser: Browser, app: str, screenshots: Path, viewport: str
) -> None:
    person = people[f"free-{viewport}"]
    page = signed_in(browser, app, person, viewport)
    page.goto(f"{app}/t/{person.slug}/chat/")
    # No prompts of its own: the defaults.
    expect(page.locator(".suggestion").first).to_have_text(
        "Summarise our latest documents in five bullet points"
    )
    new_chat(page, app, person)
    picker = page.locator("#model-picker")
    expect(picker).to_have_value("fast")
    smart = picker.locator("option[value=smart]")
    assert smart.is_disabled()
    assert smart.inner_text() == "Smart (on the Pro and Enterprise plans)"
    page.screenshot(path=screenshots / f"chat-model-free-{viewport}.png")
    # A page that offered Smart anyway (an old tab, a plan changed since): refused.
    page.evaluate(
        "() => { const o = document.querySelector('#model-picker option[value=smart]');"
        " o.disabled = false; o.selected = true; }"
    )
    page.fill("#composer-input", "Hello")
    page.keyboard.press("Enter")
    error = page.locator("#composer-error")
    expect(error).to_be_visible()
    expect(error).to_contain_text("The Smart model is on the Pro and Enterprise plans")
    assert page.locator(".bubble").count() == 0
    expect(page.locator("#chat-empty")).to_be_visible()  # the empty state is back
    assert page.input_value("#composer-input") == "Hello"
    no_sideways_scroll(page)
    page.screenshot(path=screenshots / f"chat-model-refused-{viewport}.png")
    page.context.close()


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
def test_model_title_report_and_notice_on_the_chat_screen(
    people: dict[str, Person], browser: Browser, app: str, screenshots: Path, viewport: str
) -> None:
    phone = viewport == "phone"
    person = people[f"pro-{viewport}"]
    page = signed_in(browser, app, person, viewport)

    # The organisation's suggested prompts on the empty chat.
    page.goto(f"{app}/t/{person.slug}/chat/")
    expect(page.locator(".suggestion")).to_have_text(PROMPTS)
    page.screenshot(path=screenshots / f"chat-own-prompts-{viewport}.png")

    # Smart picked for this conversation: the answer says which model served it, and the
    # first exchange's generated title replaces the first words in the bar and the panel.
    new_chat(page, app, person)
    page.select_option("#model-picker", "smart")
    ask(page, ASKED)
    answer = page.locator(".bubble-assistant").last
    if phone:
        answer.locator(".bubble-text").click()
    else:
        answer.hover()
    expect(answer.locator("[data-model]")).to_have_text("openai/local-smart")
    title = page.locator(".chat-title")
    expect(title).not_to_have_text(ASKED, timeout=15_000)
    generated = title.inner_text()
    assert generated == "How can I export my invoices"  # the dev model's title
    expect(page.locator(".chat-history-item.active .truncate")).to_have_text(generated)
    assert generated in page.title()
    # Remembered: after a reload the picker still says Smart.
    page.reload()
    expect(page.locator("#model-picker")).to_have_value("smart")
    expect(page.locator(".chat-title")).to_have_text(generated)

    # A user bubble keeps no empty line for its (hidden) time under the text.
    question = page.locator(".bubble-user").first
    box, text = question.bounding_box(), question.locator(".bubble-text").bounding_box()
    assert box
    assert text
    assert box["y"] + box["height"] - (text["y"] + text["height"]) <= 12
    page.screenshot(path=screenshots / f"chat-model-title-{viewport}.png")

    # The same question in other words, in a new chat: served from the semantic cache,
    # so the answer offers "Report wrong answer".
    new_chat(page, app, person)
    page.select_option("#model-picker", "smart")  # the cache keeps answers per model
    ask(page, REWORDED)
    answer = page.locator(".bubble-assistant").last
    report = answer.get_by_role("button", name="Report wrong answer")
    expect(report).to_be_visible()
    page.screenshot(path=screenshots / f"chat-report-{viewport}.png")
    report.click()
    expect(answer.locator("[data-action=report]")).to_have_text(re.compile("Reported"))
    expect(answer.locator("[role=status]")).to_have_text(
        "Thanks: this answer will not be reused again."
    )
    page.reload()
    kept = page.locator(".bubble-assistant").last.locator("[data-action=report]")
    expect(kept).to_have_text(re.compile("Reported"))
    expect(kept).to_be_disabled()
    # An answer from the provider has no such button.
    ask(page, "And as a spreadsheet?")
    assert page.locator(".bubble-assistant").last.locator("[data-action=report]").is_hidden()

    # Personal data redacted by the organisation's guardrails: a notice, not the value.
    ask(page, "Send the export to jane.doe@example.com please")
    answer = page.locator(".bubble-assistant").last
    notice = answer.locator("[data-guard-notice]")
    expect(notice).to_have_text(
        "Guardrails replaced personal data (an email, phone number, card or id number) in "
        "this exchange with a placeholder."
    )
    assert "jane.doe@example.com" not in answer.inner_text()
    page.reload()
    expect(page.locator(".bubble-assistant").last.locator("[data-guard-notice]")).to_have_count(1)
    no_sideways_scroll(page)
    page.screenshot(path=screenshots / f"chat-guard-notice-{viewport}.png")
    page.context.close()


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
def test_an_admin_sets_the_suggested_prompts(
    people: dict[str, Person], browser: Browser, app: str, screenshots: Path, viewport: str
) -> None:
    person = people[f"free-{viewport}"]
    page = signed_in(browser, app, person, viewport)
    page.goto(f"{app}/t/{person.slug}/settings/ai/")
    field = page.get_by_label("Suggested prompts")
    field.fill("\n".join(f"Prompt number {n}" for n in range(1, 8)))
    page.get_by_role("button", name=re.compile("save", re.I)).click()
    error = page.locator(".form-field", has=field).locator(".errorlist")
    expect(error).to_have_text(
        "7 prompts: keep at most 6 (one per line); an empty chat has room for a few."
    )
    field.scroll_into_view_if_needed()
    no_sideways_scroll(page)
    page.screenshot(path=screenshots / f"ai-settings-prompts-error-{viewport}.png")
    field.fill("Plan the sprint review\nWrite a status update for the board")
    page.get_by_role("button", name=re.compile("save", re.I)).click()
    expect(page.locator(".alert-success")).to_contain_text("AI settings saved")
    page.goto(f"{app}/t/{person.slug}/chat/")
    expect(page.locator(".suggestion")).to_have_text(
        ["Plan the sprint review", "Write a status update for the board"]
    )
    page.screenshot(path=screenshots / f"chat-admin-prompts-{viewport}.png")
    page.context.close()
