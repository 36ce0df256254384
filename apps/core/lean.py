"""What the middleware stack does for a request, for views served lean (apps/core/asgi.py).

Django's own code does the checking: ``CsrfViewMiddleware`` for CSRF, the configured
session engine and ``django.contrib.auth.get_user`` for the user (which also checks the
session's auth hash, so a changed password or a logout elsewhere still signs the
session out). Nothing here reimplements a check.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from django.conf import settings
from django.contrib import auth
from django.contrib.sessions.backends.base import SessionBase
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.middleware.csrf import CsrfViewMiddleware


def _not_called(request: HttpRequest) -> HttpResponse:
    raise AssertionError("only the middleware's checks are used")


# Process-wide state: one CsrfViewMiddleware, as Django's handler keeps one per process.
# It caches what it derives from CSRF_TRUSTED_ORIGINS on first use (cached_property), so
# a test that overrides that setting for a lean view would need its own instance; none
# does. It holds nothing per request: safe from any thread.
_csrf = CsrfViewMiddleware(_not_called)


def csrf_refusal(request: HttpRequest, view: Any = None) -> HttpResponseBase | None:
    """Django's CSRF failure response (403) for this request, or None when it passes.
    No database, no session: safe on the event loop."""
    if settings.CSRF_USE_SESSIONS:  # the secret would be in the session, not loaded yet
        raise ImproperlyConfigured(
            "Lean views check CSRF from the cookie: turn CSRF_USE_SESSIONS off."
        )
    _csrf.process_request(request)
    return _csrf.process_view(request, view, (), {})


def session_store(session_key: str | None) -> SessionBase:
    """The configured engine's session for this key, as SessionMiddleware makes it (lazy:
    the store is read on first access)."""
    store: SessionBase = import_module(settings.SESSION_ENGINE).SessionStore(session_key)
    return store


def authenticate(request: HttpRequest) -> None:
    """Set ``request.session`` and ``request.user`` from the session cookie, as
    SessionMiddleware and AuthenticationMiddleware do (the user may be anonymous).
    Synchronous: reads the session store and the user; call it on a worker thread."""
    request.session = session_store(request.COOKIES.get(settings.SESSION_COOKIE_NAME))
    request.user = auth.get_user(request)
