"""The app shell around every tenant page: its <title> is text only, and the sidebar
marks the section the page belongs to (sub-pages included)."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.urls import reverse

from apps.accounts.models import User
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
CURRENT = re.compile(
    r'<a class="nav-link active" href="[^"]*" aria-current="page">.*?</svg>\s*([^<]+?)\s*</a>', re.S
)


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
    assert CURRENT.findall(html) == [section]


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
