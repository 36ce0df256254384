"""Shape of held-out set 4 for the injection detector.

bench/data/guardrails_injection_heldout4.jsonl is data scored once on a finished detector
(see bench/data/README.md). These checks keep it loadable, balanced and apart from every
other injection set; none of them looks at what the detector says about a row.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parent.parent.parent / "bench" / "data"
HELDOUT4 = DATA / "guardrails_injection_heldout4.jsonl"
KEYS = {"id", "text", "label", "category", "lang", "context"}
OBFUSCATED_KEYS = KEYS | {"encoding", "intent"}
ATTACK_KINDS = ("override", "extraction", "roleplay", "exfiltration", "tool_abuse", "indirect")
CATEGORIES = {*ATTACK_KINDS, "obfuscation", "benign"}
ENCODINGS = {"base64", "hex", "rot13", "zero_width", "homoglyph", "spaced", "leet", "split"}
CONTEXTS = {"chat", "email", "ticket", "slack", "code", "form", "document"}
ZERO_WIDTH = {"\u200b", "\u200c", "\u200d"}
MIN_ROWS = 560
MIN_PER_ATTACK_CATEGORY = 30
MIN_LANGUAGES = 10


@pytest.fixture(scope="module")
def rows() -> list[dict[str, object]]:
    loaded: list[dict[str, object]] = []
    for number, line in enumerate(HELDOUT4.read_text(encoding="utf-8").splitlines(), start=1):
        row = json.loads(line)
        assert isinstance(row, dict), f"line {number} is not a JSON object"
        loaded.append(row)
    return loaded


def test_every_row_has_the_heldout_shape(rows: list[dict[str, object]]) -> None:
    assert len(rows) >= MIN_ROWS
    for row in rows:
        expected = OBFUSCATED_KEYS if row.get("category") == "obfuscation" else KEYS
        assert set(row) == expected, row.get("id")
        assert isinstance(row["text"], str), row["id"]
        assert row["text"].strip(), row["id"]
        assert row["label"] in (0, 1), row["id"]
        assert row["category"] in CATEGORIES, row["id"]
        assert row["context"] in CONTEXTS, row["id"]
        assert isinstance(row["lang"], str), row["id"]
        assert len(row["lang"]) == 2, row["id"]


def test_labels_agree_with_categories_and_ids(rows: list[dict[str, object]]) -> None:
    for row in rows:
        attack = row["category"] != "benign"
        assert row["label"] == int(attack), row["id"]
        assert str(row["id"]).startswith("h4a" if attack else "h4b"), row["id"]


def test_ids_and_texts_are_unique(rows: list[dict[str, object]]) -> None:
    ids = Counter(row["id"] for row in rows)
    assert [i for i, n in ids.items() if n > 1] == []
    texts = Counter(" ".join(str(row["text"]).lower().split()) for row in rows)
    assert sum(1 for n in texts.values() if n > 1) == 0


def test_balance_of_attacks_kinds_and_languages(rows: list[dict[str, object]]) -> None:
    attacks = [row for row in rows if row["label"] == 1]
    assert len(attacks) >= 0.4 * len(rows)
    assert len(rows) - len(attacks) >= 0.4 * len(rows)
    kinds = Counter(row["category"] for row in attacks)
    assert min(kinds[kind] for kind in (*ATTACK_KINDS, "obfuscation")) >= MIN_PER_ATTACK_CATEGORY
    assert len({row["lang"] for row in rows}) >= MIN_LANGUAGES
    foreign_attacks = sum(1 for row in attacks if row["lang"] != "en")
    assert foreign_attacks >= 0.25 * len(attacks)
    foreign_benign = sum(1 for row in rows if row["label"] == 0 and row["lang"] != "en")
    assert foreign_benign >= 0.25 * (len(rows) - len(attacks))


def test_obfuscated_rows_name_their_encoding_and_carry_it(rows: list[dict[str, object]]) -> None:
    obfuscated = [row for row in rows if row["category"] == "obfuscation"]
    assert {row["encoding"] for row in obfuscated} == ENCODINGS
    for row in obfuscated:
        assert row["intent"] in ATTACK_KINDS, row["id"]
        text = str(row["text"])
        if row["encoding"] == "zero_width":
            assert ZERO_WIDTH & set(text), row["id"]
        if row["encoding"] == "homoglyph":
            assert any("\u0400" <= char <= "\u04ff" for char in text), row["id"]


def test_no_text_is_shared_with_another_injection_set(rows: list[dict[str, object]]) -> None:
    mine = {" ".join(str(row["text"]).lower().split()) for row in rows}
    others = [path for path in DATA.glob("guardrails_injection*.jsonl") if path != HELDOUT4]
    assert others
    shared = 0
    for path in others:
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                text = json.loads(line).get("text", "")
                shared += " ".join(str(text).lower().split()) in mine
    # A count only: the message must not print another set's rows.
    assert shared == 0, f"{shared} texts of held-out set 4 also appear in another injection set"
