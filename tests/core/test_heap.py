"""The web worker's garbage-collector settings (apps/core/heap.py, config/asgi.py).

Freezing changes the whole process, so the behaviour is checked in subprocesses.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from apps.core import heap

ROOT = Path(__file__).resolve().parents[2]


def run_python(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings", **env},
        timeout=120,
    )


def test_thresholds_parse_and_default() -> None:
    assert heap.parse_thresholds("") == heap.DEFAULT_THRESHOLDS
    assert heap.parse_thresholds(" 1000, 5,7 ") == (1000, 5, 7)


@pytest.mark.parametrize("raw", ["abc", "1,2", "1,2,3,4", "0,10,10", "700,-1,10"])
def test_bad_thresholds_say_what_to_write(raw: str) -> None:
    with pytest.raises(ValueError, match=r"GC_THRESHOLDS must be three positive integers"):
        heap.parse_thresholds(raw)


def test_freezing_moves_the_live_heap_out_of_collections() -> None:
    out = run_python(
        "import gc; from apps.core import heap;"
        "before = gc.get_freeze_count(); n = heap.freeze_startup_heap();"
        "young = len(gc.get_objects());"
        "print(before, n > 1000, n == gc.get_freeze_count(), young < n // 10)"
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["0", "True", "True", "True"]


def test_the_worker_sets_thresholds_and_freezes_after_warm_up() -> None:
    out = run_python(
        "import gc, threading, config.asgi;"
        "[t.join() for t in threading.enumerate() if t.name == 'warm-up'];"
        "print(*gc.get_threshold(), gc.get_freeze_count() > 100_000)",
        GC_THRESHOLDS="1234,5,6",
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["1234", "5", "6", "True"]


def test_the_worker_refuses_to_start_with_bad_thresholds() -> None:
    out = run_python("import config.asgi", GC_THRESHOLDS="fast")
    assert out.returncode != 0
    assert "GC_THRESHOLDS must be three positive integers like 20000,20,100" in out.stderr
