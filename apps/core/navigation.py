"""The app shell's sidebar, declared by the apps that own its pages.

Each app lists its links in its ``AppConfig`` (``nav_items = (NavItem(...), ...)``), so an
app added to a fork brings its own link: no edit to the shell's template or to the app
that renders it. ``templates/app_base.html`` draws the items of each menu in ``order``;
a page lights the item whose ``lights`` names the page's URL name or, failing that, its
namespace ("chat:quality" before "chat"). An app whose pages belong under another app's
link says so with ``nav_lights = {"summaries": "documents"}`` in its ``AppConfig`` (the
summary jobs light Documents) instead of editing that app. A page named by neither lights
nothing.

The shell's own places that are not links of a menu (the account pages, the new
organisation form) light through ``SHELL_SECTIONS`` in ``apps/tenants/context_processors.py``.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from django.apps import AppConfig, apps

from apps.core.declarations import collected, twice

Menu = Literal["main", "platform"]


@dataclass(frozen=True, kw_only=True)
class NavItem:
    """One link of the sidebar.

    ``section`` is the key pages light; ``url_name`` is reversed with the organisation's
    slug (with no argument on the ``platform`` menu, which belongs to no organisation);
    ``icon`` is a template under ``templates/includes/icons/`` (a 24 by 24 stroked SVG);
    ``order`` places it (the project's links use steps of 10, leaving room between);
    ``managers_only`` hides it from members who cannot manage the organisation.
    ``lights``: URL names or namespaces whose pages light this item.
    """

    section: str
    label: str
    url_name: str
    icon: str
    order: int
    lights: tuple[str, ...]
    managers_only: bool = False
    menu: Menu = "main"


def declared_items(configs: Iterable[AppConfig] | None = None) -> tuple[NavItem, ...]:
    """Every app's ``nav_items``, in ``order`` (then label); two items of one section fail."""
    found: list[NavItem] = collected("nav_items", configs)
    shared = twice(item.section for item in found)
    if shared:
        raise ValueError(f"Two sidebar items share the section {', '.join(shared)}: rename one.")
    return tuple(sorted(found, key=lambda item: (item.order, item.label)))


def declared_sections(configs: Iterable[AppConfig] | None = None) -> dict[str, str]:
    """URL name or namespace -> the section its pages light: the items' own ``lights``,
    then every app's ``nav_lights``. A name lighting two sections, or a section no item
    has, fails at the first page drawn, with what to change."""
    chosen = list(apps.get_app_configs() if configs is None else configs)
    items = declared_items(chosen)
    pairs = [(name, item.section) for item in items for name in item.lights]
    pairs += [
        (name, section)
        for config in chosen
        for name, section in getattr(config, "nav_lights", {}).items()
    ]
    known = {item.section for item in items}
    lit: dict[str, str] = {}
    for name, section in pairs:
        if section not in known:
            raise ValueError(f"{name!r} lights {section!r}, which no app's nav_items declares.")
        if lit.setdefault(name, section) != section:
            raise ValueError(f"{name!r} lights both {lit[name]!r} and {section!r}: name it once.")
    return lit


@functools.cache
def nav_items() -> tuple[NavItem, ...]:
    """The installed apps' items, read once (the app registry does not change)."""
    return declared_items()


def menu(name: Menu) -> tuple[NavItem, ...]:
    return tuple(item for item in nav_items() if item.menu == name)


@functools.cache
def lit_sections() -> dict[str, str]:
    """URL name or namespace -> the section its pages light."""
    return declared_sections()
