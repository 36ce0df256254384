"""``bench/semantic_cache_quality.py --sealed`` never opens the sealed test set
(``cache_pairs.TEST``): every run
but the lead's one scoring after a decision uses it."""

from __future__ import annotations

import pytest

from bench import cache_pairs
from bench import semantic_cache_quality as quality
from tests.cache_test_sets import record_opened_pair_files


class Stop(Exception):
    """Raised where the bench would start embedding: nothing further is needed."""


def test_sealed_pairs_never_open_the_sealed_test_set(monkeypatch: pytest.MonkeyPatch) -> None:
    opened = record_opened_pair_files(monkeypatch)
    pairs = cache_pairs.load_pairs(sealed=True)
    assert cache_pairs.TEST not in opened
    assert cache_pairs.TEST9 in opened  # spent: development pairs
    assert not any(p.source == cache_pairs.TEST_SOURCE for p in pairs)
    assert {p.split for p in pairs if p.source != "heldout"} == {"dev"}


def test_the_bench_reads_sealed_when_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[dict[str, bool]] = []

    def load_pairs(**kwargs: bool) -> list[cache_pairs.Pair]:
        asked.append(kwargs)
        raise Stop

    monkeypatch.setattr(quality, "load_pairs", load_pairs)
    with pytest.raises(Stop):
        quality.main(["--sealed"])
    with pytest.raises(Stop):
        quality.main([])
    assert asked == [{"sealed": True}, {"sealed": False}]
