"""Shape of the second test set of cache pairs (bench/data/semantic_cache_pairs_test2.jsonl).

The file is a measuring instrument, scored once per finished change and never tuned on
(bench/data/README.md). These checks (tests/cache_test_sets.py) keep it loadable and
balanced, and keep it apart from the other pair files: a question that also occurs in a
development file would let a decision tuned there be scored on something it has seen.
"""

from __future__ import annotations

import pytest

from tests.cache_test_sets import (
    DATA,
    check_ids_in_order_and_unique_pairs,
    check_labelled_test_pairs,
    ids_sharing_a_question,
    other_files,
    short_kinds_and_labels,
)
from tests.test_cache_pairs_data import _rows

TEST2 = DATA / "semantic_cache_pairs_test2.jsonl"


@pytest.fixture(scope="module")
def rows() -> list[dict[str, str]]:
    return _rows(TEST2)


def test_every_row_is_a_labelled_test_pair(rows: list[dict[str, str]]) -> None:
    check_labelled_test_pairs(rows)


def test_ids_are_numbered_in_order_and_pairs_are_unique(rows: list[dict[str, str]]) -> None:
    check_ids_in_order_and_unique_pairs(rows, "t")


def test_every_kind_has_enough_pairs_of_each_label(rows: list[dict[str, str]]) -> None:
    assert short_kinds_and_labels(rows) == {}


def test_no_question_is_shared_with_another_pair_file(rows: list[dict[str, str]]) -> None:
    others = other_files(TEST2)
    assert len(others) >= 4, "the held-out and development pair files should be beside it"
    assert ids_sharing_a_question(rows, others) == []
