"""The README tells the truth about the Makefile and the settings."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
MAKEFILE = (ROOT / "Makefile").read_text()


def makefile_targets() -> set[str]:
    return set(re.findall(r"^([a-z][a-z-]*):", MAKEFILE, flags=re.M))


def test_readme_opens_with_the_two_commands() -> None:
    first_block = re.search(r"```sh\n(.*?)```", README, flags=re.S)
    assert first_block is not None
    commands = [line.split("#")[0].strip() for line in first_block.group(1).splitlines()]
    assert commands == ["make run", "make test"]


def test_every_make_command_in_the_readme_exists() -> None:
    mentioned = set(re.findall(r"\bmake ([a-z][a-z-]*)", README))
    assert {"run", "test", "lint"} <= mentioned
    assert mentioned - makefile_targets() == set()


def test_ci_runs_the_readme_test_command() -> None:
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in ci
    assert "make lint" in ci


def test_every_environment_variable_is_documented() -> None:
    sources = [*(ROOT / "config").glob("*.py"), ROOT / "apps" / "core" / "devstack.py"]
    code = "\n".join(p.read_text() for p in sources)
    names = set(re.findall(r'env_(?:str|bool|int|float|list)\(\s*"([A-Z_]+)"', code))
    names |= set(re.findall(r'environ(?:\.get\(|\[)\s*"([A-Z_]+)"', code))
    names -= {"DJANGO_SETTINGS_MODULE"}
    assert len(names) > 20
    undocumented = sorted(name for name in names if f"`{name}`" not in README)
    assert undocumented == []
