"""The answering features are written twice: ``ANSWER_FEATURES`` (apps/chat/quality.py,
which the FinOps drain passes to its statement) and, as SQL text, in chat migration 0006,
whose trigger functions filter the ledger rows by them. A migration is frozen history and
imports no app code, so these tests keep the two equal: a feature added on one side only
would be counted by the drain and not by the triggers, or the reverse, silently."""

from __future__ import annotations

import importlib
import re

import pytest
from django.db import connection

from apps.chat.quality import ANSWER_FEATURES

# A list of quoted names after "feature IN", as the migration writes its filter.
FEATURE_FILTER = re.compile(r"feature\s+IN\s*\(([^)]*)\)", re.IGNORECASE)
# The functions chat migration 0006 installs that pick answers by their feature.
FILTERING_FUNCTIONS = {"chat_quality_answer", "chat_quality_rated"}


def quoted(text: str) -> list[str]:
    return re.findall(r"'([^']*)'", text)


def feature_lists(sql: str) -> list[list[str]]:
    return [sorted(quoted(names)) for names in FEATURE_FILTER.findall(sql)]


def test_the_migration_constant_lists_the_answering_features() -> None:
    migration = importlib.import_module("apps.chat.migrations.0006_daily_quality")
    assert sorted(quoted(migration.FEATURES)) == sorted(ANSWER_FEATURES)
    # Its statements use the constant, not a copy of the list.
    assert feature_lists(migration.FUNCTIONS) == [sorted(ANSWER_FEATURES)] * 2


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
