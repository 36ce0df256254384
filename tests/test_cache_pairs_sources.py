"""Which labelled cache pairs the trainer may read (bench/cache_pairs.py).

bench/train_cache_decision.py trains on ``split == "dev"`` only; a spent test set is read
as development data, a fresh one never is. This pins the reading of each file.
"""

from __future__ import annotations

from collections import Counter

import pytest

from bench.cache_pairs import TEST_SOURCE, Pair, load_pairs
from bench.semantic_cache_quality import split_halves


def test_spent_test_sets_are_read_as_development_pairs() -> None:
    splits = Counter((p.source, p.split) for p in load_pairs())
    for spent in (f"test{n}" for n in range(2, 13)):
        assert splits[spent, "dev"] > 500, spent
        assert splits[spent, "test"] == 0, spent


def test_only_the_held_out_test_half_and_the_fresh_test_set_are_test() -> None:
    sources = {p.source for p in load_pairs() if p.split == "test"}
    # The sealed set is present only once the lead adds it; nothing else is ever test.
    assert sources <= {"heldout", TEST_SOURCE}
    assert "heldout" in sources


def test_the_casual_development_pairs_are_read() -> None:
    dev5 = [p for p in load_pairs() if p.source == "dev5"]
    assert len(dev5) > 500
    assert {p.split for p in dev5} == {"dev"}


@pytest.mark.parametrize(
    ("source", "least"), [("dev6", 700), ("dev7", 800), ("dev8", 700), ("dev9", 700)]
)
def test_the_development_sets_written_apart_are_read_as_development_pairs(
    source: str, least: int
) -> None:
    rows = [p for p in load_pairs() if p.source == source]
    assert len(rows) > least
    assert {p.split for p in rows} == {"dev"}


def test_the_bench_s_test_half_is_the_sealed_set_only() -> None:
    pairs = [
        Pair("a?", "b?", "paraphrase", "k", "test", "heldout"),
        Pair("c?", "d?", "near_miss", "k", "dev", "test5"),
        Pair("e?", "f?", "paraphrase", "k", "test", TEST_SOURCE),
        Pair("g?", "h?", "near_miss", "k", "dev", "test6"),
        Pair("i?", "j?", "paraphrase", "k", "dev", "dev6"),
        Pair("k?", "l?", "near_miss", "k", "dev", "dev7"),
        Pair("m?", "n?", "paraphrase", "k", "dev", "test7"),
    ]
    halves = split_halves(pairs)
    assert halves["test"] == [2]
    assert halves["heldout_test"] == [0]
    assert halves["test5"] == [1]
    assert halves["test6"] == [3]
    assert halves["dev6"] == [4]
    assert halves["dev7"] == [5]
    assert halves["test7"] == [6]
    assert halves["dev"] == [1, 3, 4, 5, 6]
    # Without the sealed set's file the test half is empty, not an error.
    assert split_halves([pairs[i] for i in (0, 1, 3)])["test"] == []
