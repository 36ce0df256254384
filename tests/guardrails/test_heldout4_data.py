"""Shape of held-out set 4 for the injection detector.

bench/data/guardrails_injection_heldout4.jsonl is data scored once on a finished detector
(see bench/data/README.md). These checks keep it loadable, balanced and apart from every
other injection set; none of them looks at what the detector says about a row.
"""

from __future__ import annotations

from collections import Counter

import pytest

from tests.guardrails.injection_sets import (
    ATTACK_KINDS,
    DATA,
    ENCODINGS,
    assert_labels_and_ids,
    assert_row_shapes,
    assert_unique_ids_and_texts,
    load_rows,
    texts_shared_with_other_sets,
)

HELDOUT4 = DATA / "guardrails_injection_heldout4.jsonl"
ZERO_WIDTH = {"\u200b", "\u200c", "\u200d"}
MIN_ROWS = 560
MIN_PER_ATTACK_CATEGORY = 30
MIN_LANGUAGES = 10


@pytest.fixture(scope="module")
def rows() -> list[dict[str, object]]:
    return load_rows(HELDOUT4)


def test_every_row_has_the_heldout_shape(rows: list[dict[str, object]]) -> None:
    assert len(rows) >= MIN_ROWS
    assert_row_shapes(rows)


def test_labels_agree_with_categories_and_ids(rows: list[dict[str, object]]) -> None:
    assert_labels_and_ids(rows, "h4a", "h4b")


def test_ids_and_texts_are_unique(rows: list[dict[str, object]]) -> None:
    assert_unique_ids_and_texts(rows)


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
    shared = texts_shared_with_other_sets(rows, HELDOUT4)
    # A count only: the message must not print another set's rows.
    assert shared == 0, f"{shared} texts of held-out set 4 also appear in another injection set"
