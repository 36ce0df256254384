"""Views marked @lean are served by the handler without the synchronous middleware stack."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Mapping
from typing import Any

import pytest
from django.core import signals
from django.core.exceptions import ImproperlyConfigured
from django.core.handlers.asgi import ASGIHandler
from django.test import RequestFactory
from django.urls import get_resolver
from pytest_django import Settings

from apps.chat import views as chat_views
from apps.core.asgi import Application, LeanHandler, _lean_match


def scope(method: str, path: str, root_path: str = "") -> dict[str, object]:
    return {"type": "http", "method": method, "path": path, "root_path": root_path}


def test_only_marked_views_go_to_the_lean_handler() -> None:
    events = f"/t/acme/chat/messages/{uuid.uuid4()}/events/"
    send = f"/t/acme/chat/{uuid.uuid4()}/messages/"
    assert getattr(chat_views.message_events, "served_lean", False)
    assert _lean_match(scope("GET", events)) is not None
    assert _lean_match(scope("GET", "/app" + events, root_path="/app")) is not None
    assert _lean_match(scope("POST", send)) is not None
    assert not _lean_match(scope("GET", f"/t/acme/chat/{uuid.uuid4()}/")) is not None
    assert not _lean_match(scope("POST", f"/t/acme/chat/{uuid.uuid4()}/rename/")) is not None
    assert not _lean_match(scope("GET", "/no/such/page/")) is not None
    assert not _lean_match({"type": "lifespan"}) is not None


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


def serve_lean(path: str, app: Any = None) -> list[dict[str, object]]:
    """One GET through ``LeanHandler`` (or ``app``) on this thread's new event loop; the
    ASGI messages it sent."""
    sent: list[dict[str, object]] = []

    async def run() -> None:
        requested = False
        never = asyncio.Event()

        async def receive() -> dict[str, object]:
            nonlocal requested
            if not requested:
                requested = True
                return {"type": "http.request", "body": b"", "more_body": False}
            await never.wait()  # no disconnect: the handler cancels this listener
            return {"type": "http.disconnect"}

        async def send(message: Mapping[str, object]) -> None:
            sent.append(dict(message))

        request = scope("GET", path) | {"headers": [], "query_string": b"", "server": None}
        await (app or LeanHandler())(request, receive, send)

    asyncio.run(run())
    return sent


def test_a_lean_requests_signals_run_on_the_event_loop_without_a_thread_hop() -> None:
    """``request_started`` and ``request_finished`` (the response's close) are sent on
    the event loop's thread, once each: Django's receivers have no connection to act on
    there, and the hop to a worker thread cost turns of a busy loop."""
    seen: list[tuple[str, int]] = []

    def started(**kwargs: object) -> None:
        seen.append(("started", threading.get_ident()))

    def finished(**kwargs: object) -> None:
        seen.append(("finished", threading.get_ident()))

    signals.request_started.connect(started)
    signals.request_finished.connect(finished)
    try:
        sent = serve_lean(f"/t/acme/chat/messages/{uuid.uuid4()}/events/")  # no ticket: 404
    finally:
        signals.request_started.disconnect(started)
        signals.request_finished.disconnect(finished)
    assert sent[0]["status"] == 404
    assert seen == [("started", threading.get_ident()), ("finished", threading.get_ident())]


def test_with_an_async_receiver_the_signals_go_djangos_way() -> None:
    seen: list[str] = []

    def started(**kwargs: object) -> None:
        seen.append("sync on the loop" if threading.get_ident() == loop_thread else "sync hop")

    async def started_async(**kwargs: object) -> None:
        seen.append("async")

    loop_thread = threading.get_ident()
    signals.request_started.connect(started)
    signals.request_started.connect(started_async)
    try:
        sent = serve_lean(f"/t/acme/chat/messages/{uuid.uuid4()}/events/")
    finally:
        signals.request_started.disconnect(started)
        signals.request_started.disconnect(started_async)
    assert sent[0]["status"] == 404
    assert sorted(seen) == ["async", "sync hop"]  # run concurrently by Django


def test_a_lean_request_is_resolved_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """``Application`` resolves the path to route it; the lean handler reuses that."""
    resolver = get_resolver()
    resolved: list[str] = []
    resolve = resolver.resolve

    def counted(path: str) -> Any:
        resolved.append(path)
        return resolve(path)

    monkeypatch.setattr(resolver, "resolve", counted)
    path = f"/t/acme/chat/messages/{uuid.uuid4()}/events/"
    sent = serve_lean(path, Application(ASGIHandler(), LeanHandler()))
    assert sent[0]["status"] == 404  # the view ran: no ticket
    assert resolved == [path]
