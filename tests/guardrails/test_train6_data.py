"""Shape of the sixth set of training rows for the injection detector.

bench/data/guardrails_injection_train6.jsonl is training data written by a new writer
(see bench/data/README.md). These checks keep it loadable, labelled consistently, mixed in
language and apart from every other injection set; none of them looks at what the
detector says about a row.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections import Counter

import pytest

from tests.guardrails.heldout_checks import (
    ATTACK_KINDS,
    DATA,
    check_labels,
    check_obfuscation,
    check_shape,
    check_unique,
    load_rows,
    shared_text_count,
)

TRAIN6 = DATA / "guardrails_injection_train6.jsonl"
ZERO_WIDTH = {"\u200b", "\u200c", "\u200d", "\u2060"}
MIN_ROWS = 500
MIN_LANGUAGES = 15


@pytest.fixture(scope="module")
def rows() -> list[dict[str, object]]:
    return load_rows(TRAIN6)


def test_every_row_has_the_heldout4_shape(rows: list[dict[str, object]]) -> None:
    check_shape(rows, min_rows=MIN_ROWS)
    assert all(re.fullmatch(r"[a-z]{2}", str(row["lang"])) for row in rows)


def test_labels_agree_with_categories_and_ids(rows: list[dict[str, object]]) -> None:
    check_labels(rows, "t6")
    assert all(re.fullmatch(r"t6[ab]\d{3}", str(row["id"])) for row in rows)


def test_ids_and_texts_are_unique(rows: list[dict[str, object]]) -> None:
    check_unique(rows)


def test_attacks_are_at_least_40_percent_and_mixed_in_kind_and_language(
    rows: list[dict[str, object]],
) -> None:
    attacks = [row for row in rows if row["label"] == 1]
    ordinary = [row for row in rows if row["label"] == 0]
    assert len(attacks) >= 0.4 * len(rows)
    assert len(ordinary) >= 0.4 * len(rows)
    kinds = Counter(row["category"] for row in attacks)
    assert all(kinds[kind] >= 20 for kind in (*ATTACK_KINDS, "obfuscation")), kinds
    assert len({row["lang"] for row in rows}) >= MIN_LANGUAGES
    assert sum(1 for row in attacks if row["lang"] != "en") >= 0.4 * len(attacks)
    assert sum(1 for row in ordinary if row["lang"] != "en") >= 0.4 * len(ordinary)
    # Every language that has attacks also has ordinary texts, so that language is no cue.
    attack_langs = {row["lang"] for row in attacks}
    assert attack_langs == {row["lang"] for row in ordinary}


def _decodes_to_text(run: str, encoding: str) -> bool:
    try:
        raw = base64.b64decode(run, validate=True) if encoding == "base64" else bytes.fromhex(run)
        return bool(raw.decode("utf-8").strip())
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return False


def test_obfuscated_rows_name_their_encoding_and_carry_it(rows: list[dict[str, object]]) -> None:
    for row in check_obfuscation(rows, zero_width=ZERO_WIDTH):
        text = str(row["text"])
        if row["encoding"] == "base64":
            runs = re.findall(r"[A-Za-z0-9+/]{24,}={0,2}", text)
            assert any(_decodes_to_text(run, "base64") for run in runs), row["id"]
        if row["encoding"] == "hex":
            runs = re.findall(r"(?:[0-9a-f]{2}){12,}", text)
            assert any(_decodes_to_text(run, "hex") for run in runs), row["id"]
        if row["encoding"] == "spaced":
            assert re.search(r"(?:\w {1,3}){8,}", text), row["id"]


def test_no_text_is_shared_with_another_injection_set(rows: list[dict[str, object]]) -> None:
    shared = shared_text_count(rows, TRAIN6)
    # A count only: the message must not print another set's rows.
    assert shared == 0, f"{shared} texts of train6 also appear in another injection set"
