"""Shape of the cache-pair files written by kind after the first ones: the test sets
(semantic_cache_pairs_test2/3/4/5/6/7/8/9/10/11/12/13.jsonl) and the fifth to ninth
development sets (dev5, dev6, dev7, dev8, dev9).

A test set is scored once per finished change and never tuned on; a development set trains
the decision (bench/data/README.md). The checks (tests/cache_test_sets.py) keep each file
loadable and balanced, every row of its split, every one of the 16 kinds with enough pairs
of each label, and no question shared with any other pair file: a question of a test set
must never have been seen while the decision was tuned or judged.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.cache_test_sets import (
    DATA,
    KINDS,
    MIN_PER_KIND_AND_LABEL,
    check_ids_in_order_and_unique_pairs,
    check_labelled_pairs,
    ids_sharing_a_question,
    other_files,
    short_kinds_and_labels,
)
from tests.test_cache_pairs_data import _rows


@dataclass(frozen=True)
class PairFile:
    name: str
    split: str
    id_prefix: str
    # Fewer only where pairs were dropped after writing for sharing a question with a set
    # written at the same time (bench/data/README.md says which).
    min_per_kind_and_label: int = MIN_PER_KIND_AND_LABEL

    @property
    def path(self) -> Path:
        return DATA / f"semantic_cache_pairs_{self.name}.jsonl"


FILES = (
    PairFile("test2", "test", "t"),
    PairFile("test3", "test", "v"),
    PairFile("test4", "test", "w"),
    PairFile("test5", "test", "x"),
    PairFile("test6", "test", "y", min_per_kind_and_label=14),
    PairFile("test7", "test", "z"),
    PairFile("test8", "test", "e"),
    PairFile("test9", "test", "t9_"),
    PairFile("test10", "test", "t10_"),
    PairFile("test11", "test", "t11_"),
    PairFile("test12", "test", "t12_"),
    PairFile("test13", "test", "t13_"),
    PairFile("dev5", "dev", "d5_"),
    PairFile("dev6", "dev", "d6_"),
    PairFile("dev7", "dev", "d7_"),
    PairFile("dev8", "dev", "d8_"),
    PairFile("dev9", "dev", "d9_"),
)
# Every file is checked against all the others: each needs these beside it.
EARLIER = ("", "_heldout", "_dev2", "_dev3", "_dev4")
ALL = {f"semantic_cache_pairs{suffix}.jsonl" for suffix in EARLIER}


@pytest.fixture(scope="module", params=FILES, ids=[file.name for file in FILES])
def pair_file(request: pytest.FixtureRequest) -> tuple[PairFile, list[dict[str, str]]]:
    file: PairFile = request.param
    # _rows checks that every line is a JSON object with exactly the pair keys.
    return file, _rows(file.path)


def test_every_row_is_a_labelled_pair_of_its_split(
    pair_file: tuple[PairFile, list[dict[str, str]]],
) -> None:
    file, rows = pair_file
    check_labelled_pairs(rows, split=file.split)


def test_ids_are_numbered_in_order_and_pairs_are_unique(
    pair_file: tuple[PairFile, list[dict[str, str]]],
) -> None:
    file, rows = pair_file
    check_ids_in_order_and_unique_pairs(rows, file.id_prefix)


def test_all_sixteen_kinds_have_enough_pairs_of_each_label(
    pair_file: tuple[PairFile, list[dict[str, str]]],
) -> None:
    file, rows = pair_file
    assert {row["kind"] for row in rows} == KINDS
    assert short_kinds_and_labels(rows, file.min_per_kind_and_label) == {}


def test_both_labels_are_balanced(pair_file: tuple[PairFile, list[dict[str, str]]]) -> None:
    # A set that leans to one label would let a decision that always serves (or never
    # serves) look better than it is on the other side's rate.
    _, rows = pair_file
    paraphrases = sum(row["label"] == "paraphrase" for row in rows)
    assert abs(paraphrases - (len(rows) - paraphrases)) <= len(rows) // 20


def test_no_question_is_shared_with_any_other_pair_file(
    pair_file: tuple[PairFile, list[dict[str, str]]],
) -> None:
    file, rows = pair_file
    others = other_files(file.path)
    names = {path.name for path in others}
    expected = ALL | {other.path.name for other in FILES if other != file}
    assert expected <= names, f"missing beside {file.name}: {sorted(expected - names)}"
    assert ids_sharing_a_question(rows, others) == []
