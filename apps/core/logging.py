"""Request-scoped log fields (request id, user id, tenant id) carried in contextvars."""

from __future__ import annotations

import contextvars
import logging
from collections.abc import Iterator
from contextlib import contextmanager

_FIELDS = ("request_id", "user_id", "tenant_id")
_context: contextvars.ContextVar[dict[str, str]] = contextvars.ContextVar(
    "log_context",
    default={},  # noqa: B039 - never mutated; replaced on bind
)


@contextmanager
def bind_log_context(**fields: str | None) -> Iterator[None]:
    """Add fields to every log record emitted inside the block (in this context)."""
    merged = {**_context.get(), **{k: v for k, v in fields.items() if v is not None}}
    token = _context.set(merged)
    try:
        yield
    finally:
        _context.reset(token)


class RequestContextFilter(logging.Filter):
    """Copies the bound fields onto each record so the JSON formatter emits them."""

    def filter(self, record: logging.LogRecord) -> bool:
        bound = _context.get()
        for name in _FIELDS:
            if not hasattr(record, name):
                setattr(record, name, bound.get(name))
        return True
