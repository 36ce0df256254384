"""What apps declare in their ``AppConfig`` for the apps below them to read.

An app added to a fork brings its own sidebar link (``nav_items``, apps/core/navigation.py),
API scopes (``api_scopes``, apps/api/scopes.py), features' words (``feature_labels``,
apps/core/features.py) and audit actions (``audit_actions``, apps/tenants/models.py), so
the project's apps need no edit to take it in. This reads them: the tuples with
``collected`` and ``twice``, the mappings with ``merged``."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from django.apps import AppConfig, apps


def _configs(configs: Iterable[AppConfig] | None) -> Iterable[AppConfig]:
    return apps.get_app_configs() if configs is None else configs


def collected(attribute: str, configs: Iterable[AppConfig] | None = None) -> list[Any]:
    """Every installed app's ``attribute`` tuple, in app order, one list."""
    return [found for config in _configs(configs) for found in getattr(config, attribute, ())]


def twice(names: Iterable[str]) -> list[str]:
    """The names that stand more than once, sorted (for a clash's message)."""
    return sorted(name for name, count in Counter(names).items() if count > 1)


def merged(
    attribute: str, configs: Iterable[AppConfig] | None = None, *, what: str
) -> dict[str, str]:
    """Every installed app's ``attribute`` mapping merged; one key given two values fails,
    naming both (``what`` names the key in the message: "Feature", "Audit action")."""
    found: dict[str, str] = {}
    for config in _configs(configs):
        declared: Mapping[str, str] = getattr(config, attribute, {})
        for key, value in declared.items():
            if found.setdefault(key, value) != value:
                raise ValueError(
                    f"{what} {key!r} is labelled both {found[key]!r} and {value!r}: keep one."
                )
    return found
