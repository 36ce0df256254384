"""Every page carries the security headers, and no page has inline script or style.

The pages are found by walking the URL configuration: every GET route whose only
argument is an organisation's slug (or that takes none), as the tenant's owner and as
a signed-out visitor, so a new page is checked without anyone listing it here.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator

import pytest
from django.conf import settings
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from apps.accounts.models import User
from apps.tenants.models import Tenant

# Routes that are not pages: they act (log out), stream, or answer machines.
NOT_PAGES = re.compile(r"^(api/|admin/|health|static/|media/|accounts/logout/|.*/stream/)")
INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*type=\"application/json\")[^>]*>")
HANDLER_ATTRIBUTE = re.compile(r"<[a-z][^>]*\son[a-z]+\s*=", re.IGNORECASE)
STYLE_ATTRIBUTE = re.compile(r"<[a-z][^>]*\sstyle\s*=", re.IGNORECASE)


def _routes(
    patterns: list[URLPattern | URLResolver], prefix: str = "", namespace: str = ""
) -> Iterator[tuple[str, str]]:
    """(route, URL name) of every named pattern, namespaces joined."""
    for pattern in patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            inner = f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace
            yield from _routes(pattern.url_patterns, route, inner)
        elif pattern.name:
            yield route, namespace + pattern.name


def _pages(slug: str) -> list[str]:
    urls = []
    for route, name in _routes(get_resolver().url_patterns):
        arguments = re.findall(r"<(?:\w+:)?(\w+)>", route)
        if NOT_PAGES.match(route) or set(arguments) - {"slug"}:
            continue
        urls.append(reverse(name, kwargs={"slug": slug} if arguments else {}))
    return sorted(set(urls))


def _assert_secure(url: str, response: object) -> None:
    headers = response.headers  # type: ignore[attr-defined]
    policy = headers.get("Content-Security-Policy", "")
    assert "script-src 'self'" in policy, url
    assert "style-src 'self'" in policy, url
    assert "frame-ancestors 'none'" in policy, url
    assert "object-src 'none'" in policy, url
    assert "unsafe-inline" not in policy, url
    assert headers.get("X-Content-Type-Options") == "nosniff", url
    assert headers.get("Referrer-Policy") == "same-origin", url
    assert headers.get("X-Frame-Options") == "DENY", url
    assert headers.get("Cross-Origin-Opener-Policy") == "same-origin", url


def _assert_no_inline_code(url: str, html: str) -> None:
    assert not INLINE_SCRIPT.search(html), f"{url} has an inline <script>"
    assert not HANDLER_ATTRIBUTE.search(html), f"{url} has an on*= handler attribute"
    assert not STYLE_ATTRIBUTE.search(html), f"{url} has a style= attribute"
    assert "<style" not in html, f"{url} has an inline <style>"


@pytest.mark.django_db
def test_every_page_of_an_organisation_is_secured(owner: User, tenant: Tenant) -> None:
    client = Client()
    client.force_login(owner)
    checked = []
    for url in _pages(tenant.slug):
        response = client.get(url)
        if response.status_code != 200 or "text/html" not in response["Content-Type"]:
            continue
        _assert_secure(url, response)
        _assert_no_inline_code(url, response.content.decode())
        checked.append(url)
    # The walk found the pages (dashboard, members, settings, keys, chat, documents, …).
    assert len(checked) >= 12, checked
    assert reverse("tenants:settings", args=[tenant.slug]) in checked
    assert reverse("api:keys", args=[tenant.slug]) in checked
    assert reverse("mfa_index") in checked


@pytest.mark.django_db
def test_signed_out_pages_are_secured() -> None:
    client = Client()
    checked = []
    for url in _pages("no-such-organisation"):
        response = client.get(url)
        if response.status_code != 200 or "text/html" not in response["Content-Type"]:
            continue
        _assert_secure(url, response)
        _assert_no_inline_code(url, response.content.decode())
        checked.append(url)
    assert reverse("account_login") in checked
    assert reverse("account_signup") in checked
    assert reverse("account_reset_password") in checked


@pytest.mark.django_db
def test_error_pages_are_secured(owner: User) -> None:
    client = Client()
    client.force_login(owner)
    response = client.get("/t/no-such-organisation/")
    assert response.status_code == 404
    _assert_no_inline_code("404", response.content.decode())
    # The 500 page renders without a request; its template has no inline style either.
    html = (settings.BASE_DIR / "templates" / "500.html").read_text()
    _assert_no_inline_code("500", html)


def test_production_settings_send_hsts() -> None:
    """With DEBUG off (as in production) the settings turn HSTS and secure cookies on."""
    code = (
        "from django.conf import settings as s; "
        "print(s.SECURE_HSTS_SECONDS, s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE)"
    )
    env = {**os.environ, "DJANGO_DEBUG": "false", "DJANGO_SECRET_KEY": "x" * 50}
    env.pop("DJANGO_HSTS_SECONDS", None)
    env.pop("DJANGO_SECURE_COOKIES", None)
    out = subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); {code}"],
        env={**env, "DJANGO_SETTINGS_MODULE": "config.settings"},
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.split() == ["3600", "True", "True"]
