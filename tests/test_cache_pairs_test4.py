"""Shape of the fourth test set of cache pairs (bench/data/semantic_cache_pairs_test4.jsonl).

Written apart from the decision by a fourth hand while the three earlier test sets were
spent, and like them scored once per finished change and never tuned on
(bench/data/README.md). The checks are those of the third set (tests/cache_test_sets.py):
every one of the 16 kinds with enough pairs of each label, and no question shared with any
other pair file, the earlier test sets included.
"""

from __future__ import annotations

import pytest

from tests.cache_test_sets import (
    DATA,
    KINDS,
    check_ids_in_order_and_unique_pairs,
    check_labelled_test_pairs,
    ids_sharing_a_question,
    other_files,
    short_kinds_and_labels,
)
from tests.test_cache_pairs_data import _rows

TEST4 = DATA / "semantic_cache_pairs_test4.jsonl"


@pytest.fixture(scope="module")
def rows() -> list[dict[str, str]]:
    # _rows checks that every line is a JSON object with exactly the pair keys.
    return _rows(TEST4)


def test_every_row_is_a_labelled_test_pair(rows: list[dict[str, str]]) -> None:
    check_labelled_test_pairs(rows)


def test_ids_are_numbered_in_order_and_pairs_are_unique(rows: list[dict[str, str]]) -> None:
    check_ids_in_order_and_unique_pairs(rows, "w")


def test_all_sixteen_kinds_have_enough_pairs_of_each_label(rows: list[dict[str, str]]) -> None:
    assert {row["kind"] for row in rows} == KINDS
    assert short_kinds_and_labels(rows) == {}


def test_both_labels_are_balanced(rows: list[dict[str, str]]) -> None:
    # A set that leans to one label would let a decision that always serves (or never
    # serves) look better than it is on the other side's rate.
    paraphrases = sum(row["label"] == "paraphrase" for row in rows)
    near_misses = len(rows) - paraphrases
    assert abs(paraphrases - near_misses) <= len(rows) // 20


def test_no_question_is_shared_with_any_other_pair_file(rows: list[dict[str, str]]) -> None:
    others = other_files(TEST4)
    names = {path.name for path in others}
    assert {"semantic_cache_pairs_test2.jsonl", "semantic_cache_pairs_test3.jsonl"} <= names
    assert len(others) >= 6, "the held-out, development and earlier test files should be beside it"
    assert ids_sharing_a_question(rows, others) == []
