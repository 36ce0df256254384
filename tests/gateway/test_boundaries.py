"""The gateway is the only door to a model provider; torch stays in the local provider."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROVIDER_MODULES = {
    "litellm",
    "openai",
    "anthropic",
    "google.generativeai",
    "google.genai",
    "mistralai",
    "cohere",
    "torch",
    "sentence_transformers",
    "transformers",
}


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def offenders(paths: list[Path]) -> list[str]:
    found = []
    for path in paths:
        for name in imported_modules(path):
            if any(name == m or name.startswith(m + ".") for m in PROVIDER_MODULES):
                found.append(f"{path.relative_to(ROOT)} imports {name}")
    return found


def test_no_module_outside_the_gateway_imports_a_provider_sdk() -> None:
    paths = [
        p
        for p in [*ROOT.glob("apps/**/*.py"), *ROOT.glob("config/*.py")]
        if "apps/gateway" not in p.as_posix()
    ]
    assert len(paths) > 20
    assert offenders(paths) == []


def test_the_check_catches_an_import(tmp_path: Path) -> None:
    sneaky = ROOT / "apps" / "core" / "_sneaky_test_module.py"
    sneaky.write_text("from litellm import completion\n")
    try:
        assert offenders([sneaky]) == ["apps/core/_sneaky_test_module.py imports litellm"]
    finally:
        sneaky.unlink()


def test_torch_is_imported_only_by_the_local_provider() -> None:
    gateway = [p for p in ROOT.glob("apps/gateway/**/*.py") if "local_provider" not in p.as_posix()]
    assert [o for o in offenders(gateway) if "torch" in o or "transformers" in o] == []
    probe = (
        "import django, sys; django.setup();"
        "import config.asgi, apps.gateway.api, apps.gateway.pipeline, threading;"
        "[t.join() for t in threading.enumerate() if t.name == 'warm-up'];"
        "print('litellm' in sys.modules,"
        " 'torch' in sys.modules, 'sentence_transformers' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=ROOT
    ).stdout.split()
    assert out == ["True", "False", "False"]  # LiteLLM warmed, and still no torch
