"""Every page of the product, at 1280 and 390 px, in the light and the dark theme: no
serious or critical accessibility violation found by axe-core (vendored in
tests/e2e/vendor, run inside the real page), nothing that scrolls sideways, no control
past the right edge of a phone, no table on a phone that scrolls inside its box, and a
<title> that is text; and each page marks one sidebar item as the current one.

``test_every_page_is_listed`` keeps the walk honest: a new URL in one of the project's
apps fails until it is either walked here or named as not a page, with the reason."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from playwright.sync_api import Browser, Page

from apps.api.services import api_key_create
from apps.chat.models import DailyQuality, Message, MessageRole, MessageStatus, QualitySource
from apps.chat.services import conversation_create
from apps.core.db import tenant_context
from apps.tenants.models import Role
from apps.tenants.services import invitation_create, tenant_create
from tests.conftest import add_member, make_user, owner_of
from tests.e2e.conftest import chromium
from tests.rag.conftest import ingest, upload
from tests.tenants.test_app_shell import sidebar_current

pytestmark = pytest.mark.e2e

AXE = (Path(__file__).parent / "vendor" / "axe-4.14.1.min.js").read_text()
AXE_OPTIONS = {
    "runOnly": {
        "type": "tag",
        "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"],
    },
    "resultTypes": ["violations"],
}
FAILING_IMPACTS = {"serious", "critical"}
WIDTHS = {"desktop": (1280, 800), "phone": (390, 844)}

# A long answer with a wide table, a long unbroken word and a code block: what makes a
# narrow screen scroll sideways when a container forgets to wrap or to scroll itself.
ANSWER = (
    "Here is the **summary** you asked for.\n\n"
    "| Region | Q1 revenue | Q2 revenue | Q3 revenue | Q4 revenue | Growth |\n"
    "|---|---|---|---|---|---|\n"
    "| Europe, Middle East and Africa | 1,204,331 | 1,318,920 | 1,402,117 | 1,530,882 | 27% |\n\n"
    "Reference: supercalifragilisticexpialidocious-configuration-value-that-never-breaks\n\n"
    "```python\nfor region, revenue in sorted(quarterly_revenue.items(), key=lambda item: item[1]):"
    "\n    print(region, revenue)\n```\n"
)
HANDBOOK = b"# Travel policy\n\nSubmit receipts within 30 days of travel.\n"


@dataclass(frozen=True)
class Site:
    slug: str
    conversation_id: uuid.UUID
    document_id: uuid.UUID
    attachment_id: uuid.UUID
    invitation_token: str
    api_key_id: uuid.UUID
    session_cookie: str


# Pages walked signed in as the organisation's owner: name -> URL from the seeded site.
OWNER_PAGES: dict[str, Callable[[Site], str]] = {
    "home": lambda s: reverse("home"),
    "tenants:create": lambda s: reverse("tenants:create"),
    "tenants:dashboard": lambda s: reverse("tenants:dashboard", args=[s.slug]),
    "tenants:members": lambda s: reverse("tenants:members", args=[s.slug]),
    "tenants:settings": lambda s: reverse("tenants:settings", args=[s.slug]),
    "tenants:audit": lambda s: reverse("tenants:audit", args=[s.slug]),
    "tenants:webhook": lambda s: reverse("tenants:webhook", args=[s.slug]),
    # Staff only: the site's owner is made staff for it (tenant pages ignore the flag).
    "operator": lambda s: reverse("operator"),
    "gateway:ai_settings": lambda s: reverse("gateway:ai_settings", args=[s.slug]),
    "gateway:usage": lambda s: reverse("gateway:usage", args=[s.slug]),
    "finops:usage": lambda s: reverse("finops:usage", args=[s.slug]),
    "gateway:cache_answers": lambda s: reverse("gateway:cache_answers", args=[s.slug]),
    "guardrails:events": lambda s: reverse("guardrails:events", args=[s.slug]),
    "api:keys": lambda s: reverse("api:keys", args=[s.slug]),
    "api:key_rotate": lambda s: reverse("api:key_rotate", args=[s.slug, s.api_key_id]),
    "billing:billing": lambda s: reverse("billing:billing", args=[s.slug]),
    "chat:index": lambda s: reverse("chat:index", args=[s.slug]),
    "chat:conversation": lambda s: reverse("chat:conversation", args=[s.slug, s.conversation_id]),
    "chat:attachment": lambda s: reverse(
        "chat:attachment", args=[s.slug, s.conversation_id, s.attachment_id]
    ),
    "chat:quality": lambda s: reverse("chat:quality", args=[s.slug]),
    "summaries:jobs": lambda s: reverse("summaries:jobs", args=[s.slug]),
    "rag:documents": lambda s: reverse("rag:documents", args=[s.slug]),
    "rag:document": lambda s: reverse("rag:document", args=[s.slug, s.document_id]),
    "account_email": lambda s: reverse("account_email"),
    "account_change_password": lambda s: reverse("account_change_password"),
    "mfa_index": lambda s: reverse("mfa_index"),
    "mfa_activate_totp": lambda s: reverse("mfa_activate_totp"),
}
# The sidebar item each page above marks as current (apps/tenants/context_processors.py's
# SIDEBAR_SECTIONS): exactly one on every page with a sidebar.
SIDEBAR_ITEM: dict[str, str | None] = {
    "home": "Dashboard",  # it redirects there
    "tenants:create": "New organisation",
    "tenants:dashboard": "Dashboard",
    "tenants:members": "Members",
    "tenants:settings": "Organisation",
    "tenants:audit": "Audit log",
    "tenants:webhook": "Organisation",
    "operator": "Operator console",
    "gateway:ai_settings": "AI settings",
    "gateway:usage": "Usage",
    "finops:usage": "Usage",
    "gateway:cache_answers": "AI settings",
    "guardrails:events": "AI settings",
    "api:keys": "API keys",
    "api:key_rotate": "API keys",
    "billing:billing": "Billing",
    "chat:index": "Chat",
    "chat:conversation": "Chat",
    "chat:attachment": "Chat",
    "chat:quality": "AI quality",
    "summaries:jobs": "Documents",
    "rag:documents": "Documents",
    "rag:document": "Documents",
    "account_email": "Account",
    "account_change_password": "Account",
    "mfa_index": "Account",
    # allauth first asks a session as old as this one to confirm the password, on a
    # sign-in page with no sidebar.
    "mfa_activate_totp": None,
}
# Pages walked signed out.
ANONYMOUS_PAGES: dict[str, Callable[[Site], str]] = {
    "account_login": lambda s: reverse("account_login"),
    "account_signup": lambda s: reverse("account_signup"),
    "account_reset_password": lambda s: reverse("account_reset_password"),
    "invitation_accept": lambda s: reverse("invitation_accept", args=[s.invitation_token]),
}
# The project's URLs that are not pages a person reads, and why.
NOT_PAGES = {
    "healthz": "probe, JSON",
    "readyz": "probe, JSON",
    "metrics": "Prometheus text, behind a bearer token",
    "api_chat_completions": "API",
    "billing:checkout": "POST, redirects to Stripe",
    "billing:checkout_done": "redirects to the billing page",
    "billing:portal": "POST, redirects to Stripe",
    "billing:stripe_webhook": "Stripe's webhook",
    "api:key_revoke": "POST",
    "api:key_reenable": "POST",
    "chat:new": "redirects to a new conversation",
    "chat:rename": "POST",
    "chat:delete": "POST",
    "chat:send": "POST",
    "chat:regenerate": "POST",
    "chat:edit": "POST",
    "chat:events": "event stream",
    "chat:stop": "POST",
    "chat:attachments": "JSON list and upload",
    "chat:attachment_delete": "POST",
    "chat:report": "POST",
    "chat:feedback": "POST",
    "chat:feedback_delete": "POST",
    "gateway:cache_answer_report": "POST",
    "gateway:cache_reports_download": "a JSON lines download",
    "finops:usage_csv": "a CSV download",
    "rag:rows": "HTMX fragment of rag:documents",
    "rag:status": "HTMX fragment of rag:document",
    "rag:file": "the stored file",
    "rag:reingest": "POST",
    "rag:delete": "POST",
    "summaries:rows": "HTMX fragment of summaries:jobs",
    "summaries:start": "POST",
    "summaries:cancel": "POST",
    "summaries:results": "a CSV or JSON lines download",
    "tenants:member_role": "POST",
    "tenants:member_remove": "POST",
    "tenants:invitation_revoke": "POST",
    "tenants:notification_dismiss": "POST",
}


def _project_url_names(
    patterns: list[URLPattern | URLResolver], namespace: str = ""
) -> Iterator[str]:
    for entry in patterns:
        if isinstance(entry, URLResolver):
            if entry.namespace == "admin" or entry.urlconf_name == "allauth.urls":
                continue
            inner = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            yield from _project_url_names(entry.url_patterns, inner)
        elif entry.name and entry.callback.__module__.startswith(("apps.", "config.")):
            yield f"{namespace}{entry.name}"


def test_every_page_is_listed() -> None:
    names = set(_project_url_names(get_resolver().url_patterns))
    covered = set(OWNER_PAGES) | set(ANONYMOUS_PAGES) | set(NOT_PAGES)
    missing = sorted(names - covered)
    assert not missing, (
        f"{missing}: add each to OWNER_PAGES or ANONYMOUS_PAGES in {Path(__file__).name} "
        "(walked for accessibility and overflow), or to NOT_PAGES with the reason"
    )
    allauth = {"account_email", "account_change_password", "mfa_index", "mfa_activate_totp"}
    assert not (covered - names - allauth) - set(ANONYMOUS_PAGES), "a listed name no longer exists"


@pytest.fixture
def site(live_db: None) -> Site:
    """An organisation with every kind of object a page shows, and its owner's session."""
    suffix = uuid.uuid4().hex[:8]
    owner = make_user(f"pages-owner-{suffix}@example.com")
    owner.is_staff = True  # for the operator console; no tenant page reads it
    owner.save(update_fields=["is_staff"])
    tenant = tenant_create(owner=owner, name=f"Every Page {suffix}")
    add_member(tenant, make_user(f"pages-member-{suffix}@example.com"), Role.ADMIN)
    document = ingest(upload(tenant, owner, "travel-policy.md", HANDBOOK))
    actor = owner_of(tenant.id)
    with tenant_context(tenant.id):
        conversation = conversation_create(tenant=tenant, user=owner)
        conversation.title = "A very long conversation title that runs past the card's edge " * 2
        conversation.save(update_fields=["title"])
        for role, content in (
            (MessageRole.USER, "Summarise revenue by region"),
            (MessageRole.ASSISTANT, ANSWER),
        ):
            Message.objects.create(
                tenant=tenant,
                conversation=conversation,
                role=role,
                content=content,
                status=MessageStatus.COMPLETE,
                served_model="local/fast",
            )
        _, token = invitation_create(
            tenant=tenant, actor=actor, email=f"pages-invitee-{suffix}@example.com"
        )
        key, _ = api_key_create(tenant=tenant, actor=actor, name="Reporting", scopes=["chat"])
        # A day of AI quality counts, so its page shows its tables (the rollups would add
        # them from ledger rows a minute later).
        DailyQuality.objects.create(
            tenant=tenant,
            day=datetime.now(UTC).date(),
            feature="chat",
            model="local/fast",
            source=QualitySource.LEDGER,
            answers=40,
            stopped=2,
            errors=1,
            chat_answers=40,
            cited=12,
            citations_passed=11,
            rated=9,
            thumbs_up=7,
        )
    client = Client()
    client.force_login(owner)
    attached = client.post(
        reverse("chat:attachments", args=[tenant.slug, conversation.id]),
        {"file": SimpleUploadedFile("expenses.md", b"# Expenses\n\nKeep every receipt.\n")},
    )
    assert attached.status_code == 201, attached.content
    # A summary job, so its page shows a job's row with its progress.
    started = client.post(reverse("summaries:start", args=[tenant.slug]), {"scope": "all"})
    assert started.status_code == 302
    return Site(
        slug=tenant.slug,
        conversation_id=conversation.id,
        document_id=document.id,
        attachment_id=uuid.UUID(attached.json()["id"]),
        invitation_token=token,
        api_key_id=key.id,
        session_cookie=client.cookies[settings.SESSION_COOKIE_NAME].value,
    )


def test_every_page_marks_its_one_sidebar_item(site: Site) -> None:
    assert set(SIDEBAR_ITEM) == set(OWNER_PAGES)
    client = Client()
    client.cookies[settings.SESSION_COOKIE_NAME] = site.session_cookie
    marked = {}
    for name, url_for in OWNER_PAGES.items():
        response = client.get(url_for(site), follow=True)
        assert response.status_code == 200, name
        marked[name] = sidebar_current(response.content.decode())
    assert marked == {name: [item] if item else [] for name, item in SIDEBAR_ITEM.items()}


def _violations(page: Page) -> list[dict[str, Any]]:
    page.evaluate(AXE)
    found: list[dict[str, Any]] = page.evaluate(
        """async (options) => {
            const results = await axe.run(document, options);
            return results.violations.map((v) => ({
                id: v.id, impact: v.impact, help: v.help,
                targets: v.nodes.slice(0, 3).map((n) => n.target.join(' ')),
            }));
        }""",
        AXE_OPTIONS,
    )
    return [v for v in found if v["impact"] in FAILING_IMPACTS]


def _overflowing(page: Page) -> list[str]:
    """Elements that reach past the viewport's right edge outside any scrolling box."""
    found: list[str] = page.evaluate(
        """() => {
            const width = document.documentElement.clientWidth;
            if (document.documentElement.scrollWidth <= width) return [];
            const clipped = (el) => {
                for (let p = el.parentElement; p; p = p.parentElement) {
                    const x = getComputedStyle(p).overflowX;
                    if (x !== 'visible') return p !== document.body
                        && p !== document.documentElement;
                }
                return false;
            };
            const out = [];
            for (const el of document.body.querySelectorAll('*')) {
                const box = el.getBoundingClientRect();
                if (box.right > width + 1 && box.width > 0 && !clipped(el)) {
                    const name = el.tagName.toLowerCase()
                        + (el.id ? '#' + el.id : '')
                        + (el.classList.length ? '.' + [...el.classList].join('.') : '');
                    out.push(`${name} (right edge ${Math.round(box.right)} px)`);
                }
            }
            return out.length ? out.slice(0, 5) : ['the page (scrollWidth > width)'];
        }"""
    )
    return found


def _out_of_reach(page: Page) -> list[str]:
    """Controls of the page's main part that start or end past the viewport's right edge:
    on a phone they hide in a box that scrolls sideways, where nobody looks for them."""
    found: list[str] = page.evaluate(
        """() => {
            const width = document.documentElement.clientWidth;
            const out = [];
            const controls = document.querySelectorAll(
                'main button, main a[href], main select, main input:not([type=hidden])');
            for (const el of controls) {
                const box = el.getBoundingClientRect();
                if (!box.width || getComputedStyle(el).visibility === 'hidden') continue;
                if (box.right > width + 1) {
                    const text = (el.innerText || el.name || el.getAttribute('aria-label') || '');
                    out.push(`${el.tagName.toLowerCase()} "${text.trim().slice(0, 40)}"`);
                }
            }
            return out.slice(0, 5);
        }"""
    )
    return found


def _tables_scrolling_sideways(page: Page) -> list[str]:
    """Tables of the page's main part that scroll sideways inside their box: on a phone a
    row read by scrolling a box, a column at a time, reads badly (``.table-cards`` turns
    each row into a card). A chat answer's own tables scroll, as they must."""
    found: list[str] = page.evaluate(
        """() => {
            const out = [];
            for (const wrap of document.querySelectorAll('main .table-wrap')) {
                if (wrap.scrollWidth > wrap.clientWidth + 1) {
                    out.push(`${wrap.getAttribute('aria-label') || 'a table'} `
                        + `(${wrap.scrollWidth} px in ${wrap.clientWidth} px)`);
                }
            }
            return out.slice(0, 5);
        }"""
    )
    return found


def _walk(
    browser: Browser,
    base: str,
    site: Site,
    pages: dict[str, Callable[[Site], str]],
    *,
    signed_in: bool,
    screenshots: Path,
) -> list[str]:
    problems: list[str] = []
    for scheme in ("light", "dark"):
        for label, (width, height) in WIDTHS.items():
            context = browser.new_context(
                viewport={"width": width, "height": height}, color_scheme=scheme
            )
            if signed_in:
                context.add_cookies(
                    [
                        {
                            "name": settings.SESSION_COOKIE_NAME,
                            "value": site.session_cookie,
                            "url": base,
                        }
                    ]
                )
            page = context.new_page()
            for name, url_for in pages.items():
                url = base + url_for(site)
                response = page.goto(url)
                where = f"{name} at {width} px, {scheme}"
                if response is None or response.status >= 400:
                    problems.append(f"{where}: HTTP {response.status if response else '?'}")
                    continue
                page.wait_for_load_state("networkidle")
                for violation in _violations(page):
                    problems.append(
                        f"{where}: {violation['impact']} {violation['id']} "
                        f"({violation['help']}) at {violation['targets']}"
                    )
                for element in _overflowing(page):
                    problems.append(f"{where}: scrolls sideways: {element}")
                for control in _out_of_reach(page):
                    problems.append(f"{where}: past the right edge: {control}")
                if label == "phone":
                    for table in _tables_scrolling_sideways(page):
                        problems.append(f"{where}: a table scrolls inside its box: {table}")
                title = page.title()
                if not title or "<" in title:
                    problems.append(f"{where}: title {title!r} (text, naming the page)")
                if label == "phone":
                    shot = f"page-{name.replace(':', '-')}-{scheme}-{label}.png"
                    page.screenshot(path=screenshots / shot, full_page=True)
            context.close()
    return problems


def test_every_page_is_accessible_and_fits_a_phone(
    site: Site, server: str, screenshots: Path
) -> None:
    # The site is seeded through the ORM first: Playwright's running loop would refuse it.
    with chromium() as browser:
        problems = _walk(
            browser, server, site, OWNER_PAGES, signed_in=True, screenshots=screenshots
        )
        problems += _walk(
            browser, server, site, ANONYMOUS_PAGES, signed_in=False, screenshots=screenshots
        )
        table = _answer_table(browser, server, site)
    assert not problems, "\n".join(problems)
    # The answer's pipe table is a table, scrolling inside its own box on a phone.
    assert table == {
        "headers": ["Region", "Q1 revenue", "Q2 revenue", "Q3 revenue", "Q4 revenue", "Growth"],
        "first_row": "Europe, Middle East and Africa",
        "scrolls_inside": True,
    }


def _answer_table(browser: Browser, base: str, site: Site) -> dict[str, Any]:
    context = browser.new_context(viewport={"width": 390, "height": 844})
    context.add_cookies(
        [{"name": settings.SESSION_COOKIE_NAME, "value": site.session_cookie, "url": base}]
    )
    page = context.new_page()
    page.goto(base + OWNER_PAGES["chat:conversation"](site))
    found: dict[str, Any] = page.evaluate(
        """() => {
            const wrap = document.querySelector(".bubble-assistant .md-table");
            return {
                headers: [...wrap.querySelectorAll("th")].map((th) => th.textContent),
                first_row: wrap.querySelector("tbody td").textContent,
                scrolls_inside: wrap.scrollWidth > wrap.clientWidth,
            };
        }"""
    )
    context.close()
    return found
