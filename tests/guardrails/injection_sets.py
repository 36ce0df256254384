"""What the data tests of the injection sets share: the row shape and the overlap count.

Used by the shape tests of held-out set 4 and of the training rows of train5. Nothing
here prints a row's text: a failure names ids and counts only.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

DATA = Path(__file__).resolve().parent.parent.parent / "bench" / "data"
KEYS = {"id", "text", "label", "category", "lang", "context"}
OBFUSCATED_KEYS = KEYS | {"encoding", "intent"}
ATTACK_KINDS = ("override", "extraction", "roleplay", "exfiltration", "tool_abuse", "indirect")
CATEGORIES = {*ATTACK_KINDS, "obfuscation", "benign"}
ENCODINGS = {"base64", "hex", "rot13", "zero_width", "homoglyph", "spaced", "leet", "split"}
CONTEXTS = {"chat", "email", "ticket", "slack", "code", "form", "document"}


def load_rows(path: Path) -> list[dict[str, object]]:
    loaded: list[dict[str, object]] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        row = json.loads(line)
        assert isinstance(row, dict), f"line {number} is not a JSON object"
        loaded.append(row)
    return loaded


def assert_row_shapes(rows: list[dict[str, object]]) -> None:
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


def assert_labels_and_ids(rows: list[dict[str, object]], attack_id: str, ordinary_id: str) -> None:
    """Label 1 exactly for the attack kinds, and ids that say which side a row is on."""
    for row in rows:
        attack = row["category"] != "benign"
        assert row["label"] == int(attack), row["id"]
        assert str(row["id"]).startswith(attack_id if attack else ordinary_id), row["id"]


def assert_unique_ids_and_texts(rows: list[dict[str, object]]) -> None:
    ids = Counter(row["id"] for row in rows)
    assert [i for i, n in ids.items() if n > 1] == []
    texts = Counter(normalised(row["text"]) for row in rows)
    assert sum(1 for n in texts.values() if n > 1) == 0


def normalised(text: object) -> str:
    return " ".join(str(text).lower().split())


def texts_shared_with_other_sets(rows: list[dict[str, object]], path: Path) -> int:
    """How many texts of the other guardrails_injection*.jsonl files appear in `rows`."""
    mine = {normalised(row["text"]) for row in rows}
    others = [other for other in DATA.glob("guardrails_injection*.jsonl") if other != path]
    assert others
    shared = 0
    for other in others:
        for line in other.read_text(encoding="utf-8").splitlines():
            if line.strip():
                shared += normalised(json.loads(line).get("text", "")) in mine
    return shared
