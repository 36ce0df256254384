"""``bench/semantic_cache_quality.py --sealed`` never opens the sealed test set
(``cache_pairs.TEST``): every run
but the lead's one scoring after a decision uses it."""

from __future__ import annotations

import pytest

from apps.gateway.cache_verifier import decision
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


def test_the_reader_can_be_run_at_another_cutoff_and_weights_file(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``--reader-cutoff``, ``--reader-weights`` and ``--reader-orders`` change the run's
    reader, not the file."""
    monkeypatch.setattr(decision, "READER", decision.READER)  # put back after the test
    shipped = decision.READER
    seen: list[tuple[float, str, str]] = []

    def load_pairs(**kwargs: bool) -> list[cache_pairs.Pair]:
        reader = decision.READER
        seen.append((reader.cutoff_log_odds, reader.weights, reader.orders))
        raise Stop

    monkeypatch.setattr(quality, "load_pairs", load_pairs)
    with pytest.raises(Stop):
        quality.main(["--reader-cutoff", "1.25", "--reader-weights", shipped.weights])
    assert seen == [(1.25, shipped.weights, shipped.orders)]
    monkeypatch.setattr(decision, "READER", shipped)
    other = "one" if shipped.orders == "both" else "both"
    with pytest.raises(Stop):
        quality.main(["--reader-orders", other])
    assert seen[1] == (shipped.cutoff_log_odds, shipped.weights, other)
    for wrong in (
        ["--reader-weights", "../reader_r11.npz"],
        ["--reader-weights", "reader_absent.npz"],
        ["--reader-orders", "reversed"],
    ):
        with pytest.raises(SystemExit):
            quality.main(wrong)
    assert len(seen) == 2  # a wrong file or order stops the run before any pair is read
