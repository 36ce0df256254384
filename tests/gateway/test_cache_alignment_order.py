"""The alignment check names the same conflict in every process: its reasons are read in
wrong-answer reports and compared between runs, and a set's order changes with Python's
salted string hashing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PAIRS = ROOT / "bench" / "data" / "semantic_cache_pairs_dev8.jsonl"
SCRIPT = """
import json, sys
from apps.gateway.cache_verifier import alignment
for line in open(sys.argv[1], encoding="utf-8"):
    pair = json.loads(line)
    print(alignment.conflict(alignment.read(pair["new"]), alignment.read(pair["cached"])))
"""


def reasons(seed: str) -> list[str]:
    env = {**os.environ, "PYTHONHASHSEED": seed}
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(PAIRS)],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        env=env,
    )
    return out.stdout.splitlines()


def test_the_reason_of_a_conflict_does_not_depend_on_the_hash_seed() -> None:
    pairs = sum(1 for line in PAIRS.open(encoding="utf-8") if line.strip())
    first = reasons("1")
    assert len(first) == pairs
    assert sum(reason != "None" for reason in first) > 100  # conflicts are found
    for seed in ("2", "3", "4"):
        assert reasons(seed) == first, seed
