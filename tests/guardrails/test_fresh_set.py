"""The injection detector's fresh set (bench/data/guardrails_injection_fresh.jsonl) stays
apart from the labelled set the rules and the classifier were built on, so its rate
stays an honest one."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

DATA = Path(__file__).resolve().parents[2] / "bench" / "data"


def rows(name: str) -> list[dict[str, Any]]:
    lines = (DATA / name).read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line]


def normalised(text: str) -> str:
    return " ".join(text.lower().split())


def test_the_fresh_set_shares_no_text_with_the_training_set() -> None:
    fresh = rows("guardrails_injection_fresh.jsonl")
    built_on = {normalised(row["text"]) for row in rows("guardrails_injection.jsonl")}
    shared = [row["id"] for row in fresh if normalised(row["text"]) in built_on]
    assert not shared, f"{shared} also appear in guardrails_injection.jsonl"


def test_the_fresh_set_is_well_formed_and_balanced() -> None:
    fresh = rows("guardrails_injection_fresh.jsonl")
    assert len({row["id"] for row in fresh}) == len(fresh)
    assert {row["label"] for row in fresh} == {0, 1}
    labels = Counter(row["label"] for row in fresh)
    assert labels[1] >= 50
    assert labels[0] >= labels[1]
    attacks = Counter(row["category"] for row in fresh if row["label"] == 1)
    kinds = {"override", "extraction", "roleplay", "exfiltration", "tool_abuse", "indirect"}
    assert kinds <= set(attacks)
    assert len({row["lang"] for row in fresh}) >= 5
