"""Shape of the fifth set of development cache pairs (bench/data/semantic_cache_pairs_dev5.jsonl).

Casual short forms written by a new hand as training data for the cache's decision
(bench/data/README.md). It is development data, so every row is `dev`; like the test sets
it must cover the 16 kinds on both sides and share no question with another pair file, so
that a question of a test set never becomes a training question through it.
"""

from __future__ import annotations

import pytest

from tests.cache_test_sets import (
    DATA,
    KINDS,
    check_ids_in_order_and_unique_pairs,
    check_labelled_pairs,
    ids_sharing_a_question,
    other_files,
    short_kinds_and_labels,
)
from tests.test_cache_pairs_data import _rows

DEV5 = DATA / "semantic_cache_pairs_dev5.jsonl"


@pytest.fixture(scope="module")
def rows() -> list[dict[str, str]]:
    # _rows checks that every line is a JSON object with exactly the pair keys.
    return _rows(DEV5)


def test_every_row_is_a_labelled_dev_pair(rows: list[dict[str, str]]) -> None:
    check_labelled_pairs(rows, split="dev")


def test_ids_are_numbered_in_order_and_pairs_are_unique(rows: list[dict[str, str]]) -> None:
    check_ids_in_order_and_unique_pairs(rows, "d5_")


def test_all_sixteen_kinds_have_enough_pairs_of_each_label(rows: list[dict[str, str]]) -> None:
    assert {row["kind"] for row in rows} == KINDS
    assert short_kinds_and_labels(rows) == {}


def test_no_question_is_shared_with_any_other_pair_file(rows: list[dict[str, str]]) -> None:
    others = other_files(DEV5)
    assert DATA / "semantic_cache_pairs_test3.jsonl" in others
    assert len(others) >= 7, "the seven other pair files should be beside it"
    assert ids_sharing_a_question(rows, others) == []
