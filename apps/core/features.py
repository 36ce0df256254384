"""What people read for a ledger row's ``feature``: the callers name it in code
("rag_ingest"), the pages name it in words ("Document indexing"). The keys stay as they are
in the ledger, the CSV and JSON exports and the API; only the pages translate them.

Each app that calls the gateway declares the words for its features in its ``AppConfig``
(``feature_labels = {"rag_ingest": "Document indexing"}``), beside the code that records
them, so an app added to a fork brings its own words. A feature no app names reads as its
own name with spaces ("new_thing" → "New thing")."""

from __future__ import annotations

import functools
from collections.abc import Iterable

from django.apps import AppConfig

from apps.core.declarations import merged


def declared_labels(configs: Iterable[AppConfig] | None = None) -> dict[str, str]:
    """Every app's ``feature_labels``; one feature given two labels fails, naming both."""
    return merged("feature_labels", configs, what="Feature")


@functools.cache
def feature_labels() -> dict[str, str]:
    """The installed apps' labels, read once (the app registry does not change)."""
    return declared_labels()


def feature_label(feature: str) -> str:
    """``feature`` in words: its label, else its name with spaces, capitalised."""
    return feature_labels().get(feature) or feature.replace("_", " ").strip().capitalize()
