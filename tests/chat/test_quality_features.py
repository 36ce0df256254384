"""The answering features are written twice: ``ANSWER_FEATURES`` (apps/chat/quality.py,
which the FinOps drain passes to its statement) and, as SQL text, in chat migration 0006,
whose trigger functions filter the ledger rows by them. A migration is frozen history and
imports no app code, so these tests keep the two equal: a feature added on one side only
would be counted by the drain and not by the triggers, or the reverse, silently."""

from __future__ import annotations

import importlib
import pkgutil
import re

import pytest
from django.db import connection

from apps.chat import migrations as chat_migrations
from apps.chat.quality import ANSWER_FEATURES

# A list of quoted names after "feature IN", as the migration writes its filter.
FEATURE_FILTER = re.compile(r"feature\s+IN\s*\(([^)]*)\)", re.IGNORECASE)
# The installed functions that pick answers by their feature (chat migrations 0006, 0007).
FILTERING_FUNCTIONS = {"chat_quality_answer", "chat_quality_rated"}


def quoted(text: str) -> list[str]:
    return re.findall(r"'([^']*)'", text)


def feature_lists(sql: str) -> list[list[str]]:
    return [sorted(quoted(names)) for names in FEATURE_FILTER.findall(sql)]


def migrations_with_features() -> list[str]:
    """The chat migrations that write the features into their SQL (a ``FEATURES`` text)."""
    names = [m.name for m in pkgutil.iter_modules(chat_migrations.__path__)]
    modules = [importlib.import_module(f"{chat_migrations.__name__}.{n}") for n in names]
    return sorted(m.__name__ for m in modules if hasattr(m, "FEATURES"))


def test_the_migration_constants_list_the_answering_features() -> None:
    found = migrations_with_features()
    assert "apps.chat.migrations.0006_daily_quality" in found
    for name in found:
        features = quoted(importlib.import_module(name).FEATURES)
        assert sorted(features) == sorted(ANSWER_FEATURES), name


@pytest.mark.django_db
def test_the_installed_trigger_functions_list_the_answering_features() -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT p.proname, pg_get_functiondef(p.oid) FROM pg_proc p "
            "JOIN pg_namespace n ON n.oid = p.pronamespace AND n.nspname = 'public' "
            "WHERE p.proname LIKE 'chat\\_quality\\_%%'"
        )
        installed = dict(cursor.fetchall())
    filters = {name: feature_lists(sql) for name, sql in installed.items()}
    assert {name for name, lists in filters.items() if lists} == FILTERING_FUNCTIONS
    for name in FILTERING_FUNCTIONS:
        assert filters[name] == [sorted(ANSWER_FEATURES)], name
