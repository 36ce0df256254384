"""Audit actions are the project's own and what the apps declare (``audit_actions`` in an
AppConfig): an app added to a fork records its own without a migration of the audit
table, the log shows them in words, and a typo fails loudly instead of logging nonsense."""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace
from typing import cast

import pytest
from django.apps import AppConfig
from django.apps import apps as django_apps
from django.urls import reverse

from apps.accounts.models import User
from apps.core.db import tenant_context
from apps.tenants import models, services
from apps.tenants.models import AuditAction, Tenant
from tests.conftest import login


def declaring(actions: dict[str, str]) -> AppConfig:
    return cast(AppConfig, SimpleNamespace(audit_actions=actions))


@pytest.fixture
def notes_app(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The installed apps plus a fork's app that declares one action."""
    installed = list(django_apps.get_app_configs())
    fork = declaring({"note.deleted": "Note deleted"})
    monkeypatch.setattr(django_apps, "get_app_configs", lambda: [*installed, fork])
    models.audit_action_labels.cache_clear()
    yield
    models.audit_action_labels.cache_clear()


def test_an_apps_own_action_is_recorded_and_shown_in_words(
    notes_app: None, owner: User, tenant: Tenant
) -> None:
    with tenant_context(tenant.id):
        services.audit_record(tenant=tenant, actor=owner, action="note.deleted", target="Hi")
    page = login(owner).get(reverse("tenants:audit", args=[tenant.slug])).content.decode()
    assert "Note deleted" in page
    assert "Organisation created" in page  # the project's own, as before


def test_an_undeclared_action_is_refused_with_what_to_do(owner: User, tenant: Tenant) -> None:
    with tenant_context(tenant.id), pytest.raises(ValueError, match="declare it in your app"):
        services.audit_record(tenant=tenant, actor=owner, action="note.delted")


def test_an_app_cannot_take_over_the_projects_actions(monkeypatch: pytest.MonkeyPatch) -> None:
    thief = declaring({AuditAction.MEMBER_REMOVED.value: "Gone"})
    monkeypatch.setattr(django_apps, "get_app_configs", lambda: [thief])
    models.audit_action_labels.cache_clear()
    try:
        with pytest.raises(ValueError, match=r"member\.removed is the project's own"):
            models.audit_action_labels()
    finally:
        models.audit_action_labels.cache_clear()
