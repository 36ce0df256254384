"""API scopes are what the installed apps declare (apps/api/scopes.py): the key form, key
creation and ``require_scope`` all take an app's own scope without an edit to apps/api."""

from __future__ import annotations

from types import SimpleNamespace
from typing import cast

import pytest
from django.apps import AppConfig

from apps.api import scopes
from apps.api.auth import require_scope
from apps.api.forms import ApiKeyForm
from apps.api.models import ApiKey
from apps.api.scopes import BUILT_IN, ApiScope, declared_scopes

NOTES = ApiScope(name="notes", label="Notes", help="add notes")


def app(*declared: ApiScope) -> AppConfig:
    return cast(AppConfig, SimpleNamespace(api_scopes=declared))


def test_the_project_declares_its_three_scopes() -> None:
    assert [scope.name for scope in BUILT_IN] == ["chat", "documents", "read"]
    assert set(BUILT_IN) <= set(scopes.api_scopes())  # a fork's own may follow them


def test_a_forks_scope_follows_the_project_and_reaches_the_form(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    declared = declared_scopes([app(*BUILT_IN), SimpleNamespace(), app(NOTES)])  # type: ignore[list-item]
    assert [scope.name for scope in declared] == ["chat", "documents", "read", "notes"]
    monkeypatch.setattr(scopes, "api_scopes", lambda: declared)
    choices = dict(ApiKeyForm().fields["scopes"].choices)  # type: ignore[attr-defined]
    assert choices["notes"] == "Notes: add notes"
    assert choices["read"] == "Read: read the organisation's data"
    assert require_scope(ApiKey(scopes=["notes"]), "notes")
    with pytest.raises(ValueError, match="Unknown scopes"):
        require_scope(ApiKey(scopes=["notes"]), "nonsense")


def test_a_scope_declared_twice_fails_naming_it() -> None:
    with pytest.raises(ValueError, match="scope notes is declared twice: rename one"):
        declared_scopes([app(NOTES), app(ApiScope(name="notes", label="N", help="n"))])
