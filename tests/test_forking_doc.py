"""docs/forking.md's worked example is the code kept in docs/examples/notes/: each block
marked ``<!-- example: PATH -->`` is that file, byte for byte, and every file of the
example is shown (the empty ``__init__.py`` files aside). The files themselves were run
in a fork (copied into place, migrated, linted and tested); keeping them as files rather
than prose means they stay lint-clean here too (ruff reads docs/examples/)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "forking.md"
EXAMPLE = ROOT / "docs" / "examples" / "notes"
MARKED_BLOCK = re.compile(r"^<!-- example: (\S+) -->\n```[a-z]*\n(.*?)^```$", re.M | re.S)


def marked_blocks(text: str) -> dict[str, str]:
    return {path: body for path, body in MARKED_BLOCK.findall(text)}


def example_files() -> dict[str, str]:
    return {
        path.relative_to(EXAMPLE).as_posix(): path.read_text()
        for path in sorted(EXAMPLE.rglob("*"))
        if path.is_file() and "__pycache__" not in path.parts
    }


def test_each_block_is_the_file_it_names() -> None:
    blocks = marked_blocks(DOC.read_text())
    files = example_files()
    assert len(blocks) >= 10
    for path, body in blocks.items():
        assert path in files, f"docs/forking.md shows {path}, which docs/examples/notes lacks"
        assert body == files[path], f"docs/forking.md's {path} differs from the example's file"


def test_every_file_of_the_example_is_shown() -> None:
    shown = set(marked_blocks(DOC.read_text()))
    empty = {path for path, text in example_files().items() if not text}
    assert {p for p in empty if not p.endswith("__init__.py")} == set()
    assert set(example_files()) - empty - shown == set()


def test_the_migration_puts_the_table_under_row_level_security() -> None:
    migration = (EXAMPLE / "apps" / "notes" / "migrations" / "0001_initial.py").read_text()
    calls = [
        node.func.id
        for node in ast.walk(ast.parse(migration))
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
    ]
    assert "EnableRLS" in calls


def test_only_marked_blocks_are_read_whole() -> None:
    text = (
        "<!-- example: apps/notes/x.py -->\n```python\nA = 1\n\nB = 2\n```\n\n"
        "```python\nnot = 'an example'\n```\n"
    )
    assert marked_blocks(text) == {"apps/notes/x.py": "A = 1\n\nB = 2\n"}
