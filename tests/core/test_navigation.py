"""The sidebar is what the installed apps declare (apps/core/navigation.py): their items in
order, the pages each lights, and a clear error when two apps claim the same thing."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, cast

import pytest
from django.apps import AppConfig

from apps.core.navigation import NavItem, declared_items, declared_sections, menu


def item(section: str, order: int, *lights: str, **extra: Any) -> NavItem:
    return NavItem(
        section=section,
        label=section.title(),
        url_name=f"{section}:index",
        icon=f"includes/icons/{section}.svg",
        order=order,
        lights=lights or (section,),
        **extra,
    )


def config(*items: NavItem, lights: dict[str, str] | None = None) -> AppConfig:
    """Stands in for an AppConfig: the registry reads only these two attributes."""
    return cast(AppConfig, SimpleNamespace(nav_items=items, nav_lights=lights or {}))


def test_items_are_drawn_in_order_whichever_app_declares_them() -> None:
    later = config(item("billing", 80), item("notes", 35))
    earlier = config(item("dashboard", 10), item("documents", 30))
    assert [i.section for i in declared_items([later, earlier])] == [
        "dashboard",
        "documents",
        "notes",
        "billing",
    ]


def test_an_app_lights_another_apps_item_without_editing_it() -> None:
    rag = config(item("documents", 30, "rag"))
    summaries = config(lights={"summaries": "documents"})
    assert declared_sections([rag, summaries]) == {"rag": "documents", "summaries": "documents"}


def test_two_items_of_one_section_fail_with_what_to_change() -> None:
    with pytest.raises(ValueError, match="share the section notes: rename one"):
        declared_items([config(item("notes", 35)), config(item("notes", 36, "other"))])


def test_a_page_lighting_two_items_fails() -> None:
    apps = [config(item("chat", 20, "chat")), config(item("quality", 70, "chat"))]
    with pytest.raises(ValueError, match="'chat' lights both 'chat' and 'quality'"):
        declared_sections(apps)


def test_lighting_a_section_nobody_declares_fails() -> None:
    with pytest.raises(ValueError, match="'notes' lights 'nowhere', which no app"):
        declared_sections([config(item("dashboard", 10), lights={"notes": "nowhere"})])


def test_the_installed_apps_menus() -> None:
    """The project's links in their order; a fork's own links may fall in between."""
    project = [
        "Dashboard",
        "Chat",
        "Documents",
        "Members",
        "AI settings",
        "Usage",
        "AI quality",
        "Billing",
        "API keys",
        "Organisation",
        "Audit log",
    ]
    main = [i.label for i in menu("main")]
    assert [label for label in main if label in project] == project
    everyone = [i.label for i in menu("main") if not i.managers_only]
    assert [label for label in everyone if label in project] == project[:4]
    assert "Operator console" in [i.label for i in menu("platform")]


def test_manage_py_check_names_a_forks_sidebar_mistakes(monkeypatch: pytest.MonkeyPatch) -> None:
    from apps.core import checks

    assert checks.sidebar_items_resolve(None) == []
    broken = [
        config(
            item("nowhere", 35),  # no URL "nowhere:index", no icon template
            NavItem(
                section="ops",
                label="Ops",
                url_name="operator",
                icon="includes/icons/operator.svg",
                order=5,
                lights=("operator",),
                menu="platform",
            ),
        )
    ]
    monkeypatch.setattr(checks, "declared_items", lambda: declared_items(broken))
    monkeypatch.setattr(checks, "declared_sections", lambda: declared_sections(broken))
    assert [(e.id, e.msg) for e in checks.sidebar_items_resolve(None)] == [
        (
            "core.E002",
            "Sidebar item 'Nowhere': no URL 'nowhere:index' that takes the organisation slug.",
        ),
        (
            "core.E003",
            "Sidebar item 'Nowhere': no template 'includes/icons/nowhere.svg' for its icon.",
        ),
    ]
    clash = [config(item("a", 1, "x")), config(item("b", 2, "x"))]
    monkeypatch.setattr(checks, "declared_sections", lambda: declared_sections(clash))
    assert [e.id for e in checks.sidebar_items_resolve(None)] == ["core.E001"]
