"""The injection detector's evaluation sets stay apart from what it was built on, so
their rates stay honest: the fresh set (bench/data/guardrails_injection_fresh.jsonl, now
spent and used for development) and held-out 2
(bench/data/guardrails_injection_heldout2.jsonl, spent since detector g4); the
development rows of guardrails_injection_train3.jsonl and _train4.jsonl are new text, not
copies."""

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


def texts_of(*names: str) -> set[str]:
    return {normalised(row["text"]) for name in names for row in rows(name)}


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
    built_on = texts_of(
        "guardrails_injection.jsonl",
        "guardrails_injection_fresh.jsonl",
        "guardrails_injection_more.jsonl",
    )
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


def test_the_train3_rows_are_well_formed_and_new() -> None:
    train3 = rows("guardrails_injection_train3.jsonl")
    assert len({row["id"] for row in train3}) == len(train3)
    assert all(row["split"] == "train" and row["label"] in (0, 1) for row in train3)
    labels = Counter(row["label"] for row in train3)
    assert labels[0] > labels[1] >= 100
    attacks = Counter(row["category"] for row in train3 if row["label"] == 1)
    assert set(attacks) == KINDS
    assert all(row["category"] == "benign" for row in train3 if row["label"] == 0)
    earlier = texts_of(
        "guardrails_injection.jsonl",
        "guardrails_injection_fresh.jsonl",
        "guardrails_injection_more.jsonl",
        "guardrails_injection_heldout2.jsonl",
    )
    shared = [row["id"] for row in train3 if normalised(row["text"]) in earlier]
    assert not shared, f"{shared} copy rows of an earlier set"


def test_the_train4_rows_are_well_formed_multilingual_and_new() -> None:
    train4 = rows("guardrails_injection_train4.jsonl")
    assert len({row["id"] for row in train4}) == len(train4) >= 400
    assert all(row["split"] == "train" and row["label"] in (0, 1) for row in train4)
    attacks = Counter(row["category"] for row in train4 if row["label"] == 1)
    assert set(attacks) == KINDS
    assert all(row["category"] == "benign" for row in train4 if row["label"] == 0)
    # At least 35% in other languages, ordinary texts as well as attacks, in ten of them.
    foreign = [row for row in train4 if row["lang"] != "en"]
    assert len(foreign) >= 0.35 * len(train4)
    assert {row["label"] for row in foreign} == {0, 1}
    assert {row["lang"] for row in foreign} >= {
        "it",
        "pt",
        "pl",
        "es",
        "fr",
        "de",
        "nl",
        "sv",
        "tr",
        "cs",
    }
    earlier = texts_of(
        "guardrails_injection.jsonl",
        "guardrails_injection_fresh.jsonl",
        "guardrails_injection_more.jsonl",
        "guardrails_injection_heldout2.jsonl",
        "guardrails_injection_train3.jsonl",
        "guardrails_injection_heldout3.jsonl",
    )
    shared = [row["id"] for row in train4 if normalised(row["text"]) in earlier]
    assert not shared, f"{shared} copy rows of an earlier set"
