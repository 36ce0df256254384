"""The request type of pages for signed-in people."""

from __future__ import annotations

from apps.accounts.models import User
from apps.core.http import TracedRequest


class UserRequest(TracedRequest):
    """A request from a signed-in person: behind ``login_required``, or under
    ``/t/<slug>/``, where ``TenantMiddleware`` sends anonymous visitors to the login."""

    user: User
