"""The request type of pages for signed-in people."""

from __future__ import annotations

from django.http import HttpRequest

from apps.accounts.models import User


class UserRequest(HttpRequest):
    """A request from a signed-in person: behind ``login_required``, or under
    ``/t/<slug>/``, where ``TenantMiddleware`` sends anonymous visitors to the login."""

    user: User
