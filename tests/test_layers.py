"""Every app takes its place in the import layers (pyproject.toml, docs/architecture.md):
import-linter checks only the modules a contract names, so an app left out of the list
could import anything, and `make lint` would still pass."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def layered_modules(pyproject: str) -> set[str]:
    contracts = tomllib.loads(pyproject)["tool"]["importlinter"]["contracts"]
    [layers] = [c["layers"] for c in contracts if c["id"] == "layers"]
    return {module.strip() for layer in layers for module in layer.split("|")}


def apps_in(root: Path) -> set[str]:
    return {f"apps.{p.parent.name}" for p in (root / "apps").glob("*/__init__.py")}


def test_every_app_is_in_the_layers_contract() -> None:
    layered = layered_modules((ROOT / "pyproject.toml").read_text())
    assert len(apps_in(ROOT)) >= 10
    missing = sorted(apps_in(ROOT) - layered)
    assert missing == [], (
        f"{missing}: add each to the `layers` list in pyproject.toml at its level "
        "(docs/architecture.md, 'Where a new file goes')"
    )


def test_an_app_left_out_is_found(tmp_path: Path) -> None:
    (tmp_path / "apps" / "core").mkdir(parents=True)
    (tmp_path / "apps" / "core" / "__init__.py").write_text("")
    (tmp_path / "apps" / "notes").mkdir()
    (tmp_path / "apps" / "notes" / "__init__.py").write_text("")
    pyproject = '[[tool.importlinter.contracts]]\nid = "layers"\nlayers = ["config", "apps.core"]\n'
    assert apps_in(tmp_path) - layered_modules(pyproject) == {"apps.notes"}
    siblings = pyproject.replace('"config"', '"config", "apps.rag | apps.notes"')
    assert apps_in(tmp_path) - layered_modules(siblings) == set()
