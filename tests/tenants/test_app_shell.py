"""The app shell around every tenant page: its <title> is text only, and the sidebar
marks the section the page belongs to (sub-pages included)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from html.parser import HTMLParser

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from apps.accounts.models import User
from apps.core import navigation
from apps.tenants.context_processors import lit_sections, sidebar_section
from apps.tenants.models import Tenant

# Every page of an organisation that needs nothing but its slug -> the sidebar link that
# must be marked current on it.
SECTIONS = {
    "tenants:dashboard": "Dashboard",
    "chat:index": "Chat",
    "rag:documents": "Documents",
    "summaries:jobs": "Documents",
    "tenants:members": "Members",
    "gateway:ai_settings": "AI settings",
    "gateway:cache_answers": "AI settings",
    "guardrails:events": "AI settings",
    "finops:usage": "Usage",
    "gateway:usage": "Usage",
    "chat:quality": "AI quality",
    "billing:billing": "Billing",
    "api:keys": "API keys",
    "tenants:settings": "Organisation",
    "tenants:webhook": "Organisation",
    "tenants:audit": "Audit log",
}


class _SidebarCurrent(HTMLParser):
    """The text of the links inside ``<aside class="sidebar">`` marked ``aria-current="page"``."""

    def __init__(self) -> None:
        super().__init__()
        self.in_sidebar = False
        self.link: list[str] | None = None
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "aside" and "sidebar" in (values.get("class") or "").split():
            self.in_sidebar = True
        elif tag == "a" and self.in_sidebar and values.get("aria-current") == "page":
            self.link = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "aside":
            self.in_sidebar = False
        elif tag == "a" and self.link is not None:
            self.found.append(" ".join("".join(self.link).split()))
            self.link = None

    def handle_data(self, data: str) -> None:
        if self.link is not None:
            self.link.append(data)


def sidebar_current(html: str) -> list[str]:
    """The sidebar items a page marks as the current one (it should mark exactly one)."""
    parser = _SidebarCurrent()
    parser.feed(html)
    return parser.found


@pytest.mark.parametrize(("name", "section"), SECTIONS.items())
def test_page_title_is_text_and_its_section_is_current(
    owner: User, tenant: Tenant, name: str, section: str
) -> None:
    client = Client()
    client.force_login(owner)
    response = client.get(reverse(name, args=[tenant.slug]))
    assert response.status_code == 200
    html = response.content.decode()
    title = re.search(r"<title>(.*?)</title>", html, re.S)
    assert title is not None
    assert "<" not in title[1]
    assert title[1].strip().endswith(tenant.name)
    assert sidebar_current(html) == [section]


# A page one level under another names the way back above its heading.
PARENTS = {
    "summaries:jobs": ("rag:documents", "Documents"),
    "gateway:cache_answers": ("gateway:ai_settings", "AI settings"),
    "guardrails:events": ("gateway:ai_settings", "AI settings"),
    "gateway:usage": ("finops:usage", "Usage &amp; cost"),
    "tenants:webhook": ("tenants:settings", "Organisation"),
}
CRUMB = re.compile(
    r'<nav class="breadcrumbs" aria-label="Breadcrumb"><a href="([^"]+)">([^<]+)</a>'
)


@pytest.mark.parametrize(("name", "parent"), PARENTS.items())
def test_sub_pages_lead_back_to_their_parent(
    owner: User, tenant: Tenant, name: str, parent: tuple[str, str]
) -> None:
    client = Client()
    client.force_login(owner)
    html = client.get(reverse(name, args=[tenant.slug])).content.decode()
    parent_name, label = parent
    assert CRUMB.findall(html) == [(reverse(parent_name, args=[tenant.slug]), label)]


def _url_names(resolver: URLResolver, namespace: str = "") -> Iterator[str]:
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            inner = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            if entry.namespace:
                yield inner.rstrip(":")
            yield from _url_names(entry, inner)
        elif isinstance(entry, URLPattern) and entry.name:
            yield f"{namespace}{entry.name}"


def test_the_sidebar_map_names_only_urls_that_exist() -> None:
    names = set(_url_names(get_resolver()))
    assert sorted(set(lit_sections()) - names) == []
    assert (
        sorted(item.url_name for item in navigation.nav_items() if item.url_name not in names) == []
    )
    # A page whose own name is mapped wins over its namespace.
    assert sidebar_section("chat:quality", "chat") == "quality"
    assert sidebar_section("chat:conversation", "chat") == "chat"
    assert sidebar_section("api:key_revoke", "api") is None
    assert sidebar_section("healthz", "") is None
