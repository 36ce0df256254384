"""The end of every benchmark: its result as a table on stdout, and as JSON in a file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def print_and_write(result: dict[str, Any], path: str | Path) -> None:
    """Print ``result`` one ``name  value`` line a key, aligned, and write it as JSON to
    ``path`` (its folder made if missing)."""
    width = max(len(name) for name in result)
    for name, value in result.items():
        print(f"{name:<{width}}  {value}")
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")
