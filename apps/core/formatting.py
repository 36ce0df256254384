"""The project's code style applied to files Django writes (migrations), so that a
generated file passes ``make lint`` as it is: ``ruff check --fix`` (the imports' order)
then ``ruff format``, the same two steps as ``make format``.

Ruff is a development tool: where it is not installed (a production image), the files
stay as Django wrote them and nothing fails."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Sequence
from importlib.util import find_spec


def format_python(paths: Sequence[str]) -> bool:
    """Lint-fix and format ``paths`` with ruff; False if ruff is not installed."""
    if not paths or find_spec("ruff") is None:
        return False
    for step in (["check", "--fix", "--quiet"], ["format", "--quiet"]):
        command = [sys.executable, "-m", "ruff", *step, "--", *paths]
        subprocess.run(command, check=False)  # noqa: S603 - ruff on files Django wrote
    return True
