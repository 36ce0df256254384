"""Shape of the second test set of cache pairs (bench/data/semantic_cache_pairs_test2.jsonl).

The file is a measuring instrument, scored once per finished change and never tuned on
(bench/data/README.md). These checks keep it loadable and balanced, and keep it apart from
the other pair files: a question that also occurs in a development file would let a
decision tuned there be scored on something it has seen.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from tests.test_cache_pairs_data import KINDS as HELDOUT_KINDS
from tests.test_cache_pairs_data import LABELS, MAX_QUESTION_CHARS, _rows

DATA = Path(__file__).resolve().parent.parent / "bench" / "data"
TEST2 = DATA / "semantic_cache_pairs_test2.jsonl"
# The 14 kinds of the held-out set plus the two that semantic_cache_pairs_dev2.jsonl added.
KINDS = {*HELDOUT_KINDS, "units", "direction"}
MIN_PAIRS = 480
MIN_PER_KIND_AND_LABEL = 15


@pytest.fixture(scope="module")
def rows() -> list[dict[str, str]]:
    return _rows(TEST2)


def _normalised(text: str) -> str:
    return text.strip().lower()


def test_every_row_is_a_labelled_test_pair(rows: list[dict[str, str]]) -> None:
    assert len(rows) >= MIN_PAIRS
    for row in rows:
        assert row["split"] == "test", row["id"]
        assert row["label"] in LABELS, row["id"]
        assert row["kind"] in KINDS, row["id"]
        cached, new = row["cached"].strip(), row["new"].strip()
        assert cached, row["id"]
        assert new, row["id"]
        assert _normalised(cached) != _normalised(new), row["id"]
        assert len(row["cached"]) < MAX_QUESTION_CHARS, row["id"]
        assert len(row["new"]) < MAX_QUESTION_CHARS, row["id"]


def test_ids_are_numbered_in_order_and_pairs_are_unique(rows: list[dict[str, str]]) -> None:
    assert [row["id"] for row in rows] == [f"t{n:04d}" for n in range(1, len(rows) + 1)]
    pairs = Counter((row["cached"], row["new"]) for row in rows)
    assert [pair for pair, n in pairs.items() if n > 1] == []


def test_every_kind_has_enough_pairs_of_each_label(rows: list[dict[str, str]]) -> None:
    per_label = Counter((row["kind"], row["label"]) for row in rows)
    short = {
        (kind, label): per_label[kind, label]
        for kind in KINDS
        for label in LABELS
        if per_label[kind, label] < MIN_PER_KIND_AND_LABEL
    }
    assert short == {}


def test_no_question_is_shared_with_another_pair_file(rows: list[dict[str, str]]) -> None:
    others = sorted(path for path in DATA.glob("semantic_cache_pairs*.jsonl") if path != TEST2)
    assert len(others) >= 4, "the held-out and development pair files should be beside it"
    # Every string of every row: the older files do not all name their question fields
    # alike, and an id or a label never equals a question.
    seen = {
        _normalised(value)
        for path in others
        for line in path.read_text(encoding="utf-8").splitlines()
        for value in json.loads(line).values()
        if isinstance(value, str)
    }
    assert len(seen) > 10_000, "the other pair files hold over 10,000 distinct questions"
    shared = [
        row["id"]
        for row in rows
        if _normalised(row["cached"]) in seen or _normalised(row["new"]) in seen
    ]
    assert shared == []
