"""System checks of what the apps declare (``manage.py check``): a fork's mistake in its
``AppConfig`` shows there, with what to change, not as an error on every page."""

from __future__ import annotations

from typing import Any

from django.core.checks import CheckMessage, Error, Tags, register
from django.template import TemplateDoesNotExist
from django.template.loader import get_template
from django.urls import NoReverseMatch, reverse

from apps.core.navigation import declared_items, declared_sections


@register(Tags.urls, Tags.templates)
def sidebar_items_resolve(app_configs: Any, **kwargs: Any) -> list[CheckMessage]:
    """Every declared sidebar item reverses, has its icon, and clashes with no other."""
    try:
        items = declared_items()
        declared_sections()
    except ValueError as exc:
        return [Error(str(exc), id="core.E001")]
    errors: list[CheckMessage] = []
    for item in items:
        args = [] if item.menu == "platform" else ["an-organisation"]
        try:
            reverse(item.url_name, args=args)
        except NoReverseMatch:
            errors.append(
                Error(
                    f"Sidebar item {item.label!r}: no URL {item.url_name!r} that takes "
                    f"{'no argument' if not args else 'the organisation slug'}.",
                    hint="Name the page's URL as in its app's urls.py (app_name:name).",
                    id="core.E002",
                )
            )
        try:
            get_template(item.icon)
        except TemplateDoesNotExist:
            errors.append(
                Error(
                    f"Sidebar item {item.label!r}: no template {item.icon!r} for its icon.",
                    hint="Add a 24 by 24 SVG under templates/includes/icons/.",
                    id="core.E003",
                )
            )
    return errors
