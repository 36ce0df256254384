"""Errors a person can act on.

Services raise these; views turn them into a message (or an API error body) and
change nothing. ``permanent`` tells callers whether retrying the same call can help.
"""

from __future__ import annotations


class ServiceError(Exception):
    permanent = True

    def __init__(self, message: str, *, code: str = "invalid") -> None:
        super().__init__(message)
        self.message = message
        self.code = code


class NotAllowed(ServiceError):
    """The actor may not do this (their role is too low, or the target is protected)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, code="forbidden")
