"""The injection detector's evaluation sets stay apart from what it was built on, so
their rates stay honest: the fresh set (bench/data/guardrails_injection_fresh.jsonl, now
spent and used for development) and the held-out set
(bench/data/guardrails_injection_heldout2.jsonl, never tuned on)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

DATA = Path(__file__).resolve().parents[2] / "bench" / "data"
KINDS = {"override", "extraction", "roleplay", "exfiltration", "tool_abuse", "indirect"}


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
    assert set(attacks) >= KINDS
    assert len({row["lang"] for row in fresh}) >= 5


def test_the_held_out_set_shares_no_text_with_any_development_set() -> None:
    held_out = rows("guardrails_injection_heldout2.jsonl")
    built_on = {
        normalised(row["text"])
        for name in (
            "guardrails_injection.jsonl",
            "guardrails_injection_fresh.jsonl",
            "guardrails_injection_more.jsonl",
        )
        for row in rows(name)
    }
    shared = [row["id"] for row in held_out if normalised(row["text"]) in built_on]
    assert not shared, f"{shared} also appear in a development set"


def test_the_held_out_set_is_well_formed_and_covers_every_kind() -> None:
    held_out = rows("guardrails_injection_heldout2.jsonl")
    assert len(held_out) >= 300
    assert len({row["id"] for row in held_out}) == len(held_out)
    assert len({normalised(row["text"]) for row in held_out}) == len(held_out)
    labels = Counter(row["label"] for row in held_out)
    assert set(labels) == {0, 1}
    assert labels[0] >= labels[1] >= 150
    attacks = Counter(row["category"] for row in held_out if row["label"] == 1)
    assert set(attacks) == KINDS | {"obfuscation"}
    assert min(attacks.values()) >= 20
    encodings = {row["encoding"] for row in held_out if row["category"] == "obfuscation"}
    assert encodings >= {"base64", "hex", "rot13", "zero_width", "homoglyph"}
    assert {row["intent"] for row in held_out if row["category"] == "obfuscation"} <= KINDS
    assert len({row["lang"] for row in held_out if row["label"] == 1}) >= 6
    assert all(row["category"] == "benign" for row in held_out if row["label"] == 0)
