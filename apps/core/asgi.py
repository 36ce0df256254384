"""One URLconf, two handlers: event streams skip the synchronous middleware stack.

Django's middleware stack (sessions, authentication, CSRF, messages, the tenant
middleware) is synchronous: under ASGI every request through it runs on a thread made
for it, and loads the session, the user and the membership. For ordinary pages that is
the right trade. For a server-sent event stream it is most of the cost of the request,
and a chat opens one per answer (docs/chat.md, "Measured").

Views marked ``@event_stream`` are served by ``StreamHandler``: the same URLconf, the
same view API, but only ``settings.STREAM_MIDDLEWARE`` around them, all of it async. Such
a view gets no ``request.user`` and no ``request.session``: it authenticates the request
itself (the chat's events check a signed ticket and the session cookie, see
``apps.chat.tickets``). Anything else goes to Django's usual handler. Under WSGI or the
test client the marked views run through the full stack, which they ignore.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.handlers.asgi import ASGIHandler
from django.core.handlers.exception import convert_exception_to_response
from django.urls import Resolver404, get_resolver
from django.utils.module_loading import import_string

View = TypeVar("View", bound=Callable[..., Any])
_MARK = "serves_event_stream"

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[Mapping[str, Any]], Awaitable[None]]


def event_stream(view: View) -> View:
    """Serve this async view through ``StreamHandler`` (see the module docstring)."""
    setattr(view, _MARK, True)
    return view


class StreamHandler(ASGIHandler):
    """Django's ASGI handler with ``settings.STREAM_MIDDLEWARE`` as its middleware."""

    def load_middleware(self, is_async: bool = False) -> None:
        self._view_middleware: list[Any] = []
        self._template_response_middleware: list[Any] = []
        self._exception_middleware: list[Any] = []
        handler = convert_exception_to_response(self._get_response_async)  # type: ignore[attr-defined]
        for path in reversed(settings.STREAM_MIDDLEWARE):
            middleware = import_string(path)
            if not getattr(middleware, "async_capable", False):
                raise ImproperlyConfigured(f"{path} in STREAM_MIDDLEWARE must be async-capable.")
            handler = convert_exception_to_response(middleware(handler))
        self._middleware_chain = handler


class Application:
    """The project's ASGI application: routes each HTTP request to one of the handlers."""

    def __init__(self, django: ASGIHandler, streams: StreamHandler) -> None:
        self.django = django
        self.streams = streams

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        handler = self.streams if self._is_event_stream(scope) else self.django
        await handler(scope, receive, send)

    @staticmethod
    def _is_event_stream(scope: Scope) -> bool:
        if scope["type"] != "http" or scope["method"] != "GET":
            return False
        path: str = scope["path"]
        root = scope.get("root_path", "")
        if root and path.startswith(root):
            path = path[len(root) :]
        try:
            match = get_resolver().resolve(path)
        except Resolver404:
            return False
        return bool(getattr(match.func, _MARK, False))
