"""New migrations come out in the project's style (apps/core/formatting.py): what
`makemigrations` writes passes `ruff check` and `ruff format --check` as it is."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command
from django.test import override_settings

from apps.core.formatting import format_python


def ruff_is_happy(path: Path) -> bool:
    checks = (["check", "--quiet"], ["format", "--check", "--quiet"])
    return all(
        subprocess.run([sys.executable, "-m", "ruff", *step, str(path)], check=False).returncode
        == 0
        for step in checks
    )


def test_format_python_fixes_imports_and_layout(tmp_path: Path) -> None:
    messy = tmp_path / "messy.py"
    messy.write_text("import sys\nimport os\nx = {'a':1,\n  'b':2}\nprint(os, sys, x)\n")
    assert not ruff_is_happy(messy)
    assert format_python([str(messy)])
    assert ruff_is_happy(messy)
    assert 'x = {"a": 1, "b": 2}' in messy.read_text()


def test_a_new_migration_passes_lint_as_written(
    db: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package = tmp_path / "fork_migrations"
    package.mkdir()
    (package / "__init__.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path))
    with override_settings(MIGRATION_MODULES={"summaries": "fork_migrations"}):
        call_command("makemigrations", "summaries", "--empty", "--name", "fork", verbosity=0)
    written = list(package.glob("0001_fork.py"))
    assert written, "makemigrations wrote no file"
    assert ruff_is_happy(written[0])


MIGRATION = """from django.db import migrations


class Migration(migrations.Migration):
    dependencies = {dependencies}
    operations = []
"""


def test_a_merge_migration_passes_lint_as_written(
    db: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package = tmp_path / "fork_merge_migrations"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "0001_initial.py").write_text(MIGRATION.format(dependencies=[]))
    for branch in ("0002_first_branch", "0002_second_branch"):
        parent = [("summaries", "0001_initial")]
        (package / f"{branch}.py").write_text(MIGRATION.format(dependencies=parent))
    monkeypatch.syspath_prepend(str(tmp_path))
    with override_settings(MIGRATION_MODULES={"summaries": "fork_merge_migrations"}):
        call_command("makemigrations", "summaries", "--merge", "--noinput", verbosity=0)
    written = list(package.glob("0003_merge_*.py"))
    assert len(written) == 1, "makemigrations --merge wrote no merge migration"
    assert ruff_is_happy(written[0])
    for branch in ("0002_first_branch", "0002_second_branch"):
        assert branch in written[0].read_text()
