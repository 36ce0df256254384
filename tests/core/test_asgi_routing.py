"""Event streams are served by the handler without the synchronous middleware stack."""

from __future__ import annotations

import uuid

import pytest
from django.core.exceptions import ImproperlyConfigured

from apps.chat import views as chat_views
from apps.core.asgi import Application, StreamHandler


def scope(method: str, path: str, root_path: str = "") -> dict[str, object]:
    return {"type": "http", "method": method, "path": path, "root_path": root_path}


def test_only_marked_views_go_to_the_stream_handler():
    events = f"/t/acme/chat/messages/{uuid.uuid4()}/events/"
    assert getattr(chat_views.message_events, "serves_event_stream", False)
    assert Application._is_event_stream(scope("GET", events))
    assert Application._is_event_stream(scope("GET", "/app" + events, root_path="/app"))
    assert not Application._is_event_stream(scope("POST", events))
    assert not Application._is_event_stream(scope("GET", f"/t/acme/chat/{uuid.uuid4()}/"))
    assert not Application._is_event_stream(scope("GET", "/no/such/page/"))
    assert not Application._is_event_stream({"type": "lifespan"})


def test_the_stream_handler_runs_only_async_middleware(settings):
    settings.STREAM_MIDDLEWARE = ["apps.core.middleware.RequestContextMiddleware"]
    handler = StreamHandler()
    assert handler._view_middleware == []
    settings.STREAM_MIDDLEWARE = ["django.middleware.clickjacking.XFrameOptionsMiddleware"]
    StreamHandler()  # Django's MiddlewareMixin ones are async-capable: accepted
    settings.STREAM_MIDDLEWARE = ["apps.tenants.middleware.TenantMiddleware"]
    with pytest.raises(ImproperlyConfigured, match="must be async-capable"):
        StreamHandler()
