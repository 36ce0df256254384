"""Round 9's experiment (bench/cache_cross_encoder.py): its folds keep whole files and
the two newest writers apart, its numpy forward's arithmetic is BERT's, and it reads the
development pairs without opening the unscored seventh test set."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from bench import cache_cross_encoder as ce
from bench import cache_pairs
from bench.cache_pairs import Pair


def pairs(sizes: dict[str, int]) -> list[Pair]:
    return [
        Pair(f"{source} {i}", f"new {i}", "paraphrase", "kind", "dev", source)
        for source, n in sizes.items()
        for i in range(n)
    ]


def test_folds_hold_whole_files_and_keep_test5_and_test6_apart() -> None:
    # test5 and test6 the two largest: balance alone would put them together... never.
    sizes = {"test5": 900, "test6": 880, "a": 100, "b": 90, "c": 80, "d": 70, "e": 60}
    folds = ce.assign_folds(pairs(sizes))
    assert set(folds) == set(sizes)
    assert set(folds.values()) == set(range(ce.FOLDS))
    assert folds["test5"] != folds["test6"]


def test_folds_balance_the_pairs() -> None:
    sizes = {f"f{i}": 100 + 10 * i for i in range(11)}
    folds = ce.assign_folds(pairs(sizes))
    load = [sum(n for s, n in sizes.items() if folds[s] == f) for f in range(ce.FOLDS)]
    assert max(load) - min(load) <= max(sizes.values())


def test_gelu_is_the_erf_form() -> None:
    x = np.linspace(-6, 6, 241, dtype=np.float32)
    exact = np.array([0.5 * v * (1 + math.erf(v / math.sqrt(2))) for v in x.tolist()])
    got = ce._gelu(x)
    assert got.dtype == np.float32
    assert np.max(np.abs(got - exact)) < 2e-6


def test_layer_norm_centres_and_scales_each_row() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(3.0, 2.0, (4, 384)).astype(np.float32)
    out = ce._layer_norm(x, np.ones(384, np.float32), np.zeros(384, np.float32))
    assert np.allclose(out.mean(-1), 0.0, atol=1e-5)
    assert np.allclose(out.std(-1), 1.0, atol=1e-3)


def test_the_seventh_test_set_is_not_opened(monkeypatch: pytest.MonkeyPatch) -> None:
    opened: list[Path] = []
    original = cache_pairs._rows

    def rows(path: Path) -> list[dict[str, str]]:
        opened.append(path)
        return original(path)

    monkeypatch.setattr(cache_pairs, "_rows", rows)
    dev = ce.dev_pairs()
    assert dev
    assert all(p.split == "dev" for p in dev)
    assert cache_pairs.TEST7 not in opened
    assert cache_pairs.TEST7.name == "semantic_cache_pairs_test7.jsonl"  # restored
