"""Views marked @lean are served by the handler without the synchronous middleware stack."""

from __future__ import annotations

import uuid

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import RequestFactory
from pytest_django import Settings

from apps.chat import views as chat_views
from apps.core.asgi import Application, LeanHandler


def scope(method: str, path: str, root_path: str = "") -> dict[str, object]:
    return {"type": "http", "method": method, "path": path, "root_path": root_path}


def test_only_marked_views_go_to_the_lean_handler() -> None:
    events = f"/t/acme/chat/messages/{uuid.uuid4()}/events/"
    send = f"/t/acme/chat/{uuid.uuid4()}/messages/"
    assert getattr(chat_views.message_events, "served_lean", False)
    assert Application._is_lean(scope("GET", events))
    assert Application._is_lean(scope("GET", "/app" + events, root_path="/app"))
    assert Application._is_lean(scope("POST", send))
    assert not Application._is_lean(scope("GET", f"/t/acme/chat/{uuid.uuid4()}/"))
    assert not Application._is_lean(scope("POST", f"/t/acme/chat/{uuid.uuid4()}/rename/"))
    assert not Application._is_lean(scope("GET", "/no/such/page/"))
    assert not Application._is_lean({"type": "lifespan"})


def test_the_lean_handler_runs_only_async_middleware(settings: Settings) -> None:
    settings.LEAN_MIDDLEWARE = ["apps.core.middleware.RequestContextMiddleware"]
    handler = LeanHandler()
    assert handler._view_middleware == []
    settings.LEAN_MIDDLEWARE = ["django.middleware.clickjacking.XFrameOptionsMiddleware"]
    LeanHandler()  # Django's MiddlewareMixin ones are async-capable: accepted
    settings.LEAN_MIDDLEWARE = ["apps.tenants.middleware.TenantMiddleware"]
    with pytest.raises(ImproperlyConfigured, match="must be async-capable"):
        LeanHandler()


def test_lean_views_get_djangos_csrf_check(rf: RequestFactory, settings: Settings) -> None:
    from apps.core.lean import csrf_refusal

    secret = "d" * 32
    unsigned = rf.post("/t/acme/chat/x/messages/", {"content": "hi"})
    refusal = csrf_refusal(unsigned)
    assert refusal is not None
    assert refusal.status_code == 403
    signed = rf.post("/t/acme/chat/x/messages/", {"content": "hi"}, HTTP_X_CSRFTOKEN=secret)
    signed.COOKIES[settings.CSRF_COOKIE_NAME] = secret
    assert csrf_refusal(signed) is None
    settings.CSRF_USE_SESSIONS = True
    with pytest.raises(ImproperlyConfigured, match="turn CSRF_USE_SESSIONS off"):
        csrf_refusal(signed)
