"""Shape of the third test set of cache pairs (bench/data/semantic_cache_pairs_test3.jsonl).

Written apart from the decision by a new hand, and like the second test set scored once
per finished change and never tuned on (bench/data/README.md). Besides the checks of the
second set (tests/cache_test_sets.py), every one of the 16 kinds must be present, and no
question may be shared with any other pair file, the second test set included.
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

TEST3 = DATA / "semantic_cache_pairs_test3.jsonl"


@pytest.fixture(scope="module")
def rows() -> list[dict[str, str]]:
    # _rows checks that every line is a JSON object with exactly the pair keys.
    return _rows(TEST3)


def test_every_row_is_a_labelled_test_pair(rows: list[dict[str, str]]) -> None:
    check_labelled_test_pairs(rows)


def test_ids_are_numbered_in_order_and_pairs_are_unique(rows: list[dict[str, str]]) -> None:
    check_ids_in_order_and_unique_pairs(rows, "v")


def test_all_sixteen_kinds_have_enough_pairs_of_each_label(rows: list[dict[str, str]]) -> None:
    assert {row["kind"] for row in rows} == KINDS
    assert short_kinds_and_labels(rows) == {}


def test_no_question_is_shared_with_any_other_pair_file(rows: list[dict[str, str]]) -> None:
    others = other_files(TEST3)
    assert DATA / "semantic_cache_pairs_test2.jsonl" in others
    assert len(others) >= 5, "the held-out, development and second test files should be beside it"
    assert ids_sharing_a_question(rows, others) == []
