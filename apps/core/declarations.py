"""What apps declare in their ``AppConfig`` for the apps below them to read.

An app added to a fork brings its own sidebar link (``nav_items``, apps/core/navigation.py),
API scopes (``api_scopes``, apps/api/scopes.py), features' words (``feature_labels``,
apps/core/features.py) and audit actions (``audit_actions``, apps/tenants/models.py), so
the project's apps need no edit to take it in. This reads the mapping ones."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from django.apps import AppConfig, apps


def merged(
    attribute: str, configs: Iterable[AppConfig] | None = None, *, what: str
) -> dict[str, str]:
    """Every installed app's ``attribute`` mapping merged; one key given two values fails,
    naming both (``what`` names the key in the message: "Feature", "Audit action")."""
    found: dict[str, str] = {}
    for config in apps.get_app_configs() if configs is None else configs:
        declared: Mapping[str, str] = getattr(config, attribute, {})
        for key, value in declared.items():
            if found.setdefault(key, value) != value:
                raise ValueError(
                    f"{what} {key!r} is labelled both {found[key]!r} and {value!r}: keep one."
                )
    return found
