"""Shape of the held-out semantic-cache pair set (bench/data/semantic_cache_pairs_heldout.jsonl).

The file is data, not code: these checks keep it loadable and balanced, so that a score
on either split covers every kind on both sides (see bench/data/README.md).
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

PAIRS = (
    Path(__file__).resolve().parent.parent / "bench" / "data" / "semantic_cache_pairs_heldout.jsonl"
)
KEYS = {"id", "cached", "new", "label", "kind", "split"}
LABELS = ("paraphrase", "near_miss")
SPLITS = ("dev", "test")
KINDS = (
    "argument_swap",
    "preposition_flip",
    "qualifier",
    "negation",
    "number_or_date",
    "entity_swap",
    "statement_plus_question",
    "abbreviation",
    "word_order",
    "scope_change",
    "action_change",
    "multilingual",
    "code_and_numbers",
    "casual_rewording",
)
MIN_PAIRS = 720
MIN_PER_KIND_AND_LABEL = 20
MAX_QUESTION_CHARS = 200


def _rows(path: Path = PAIRS) -> list[dict[str, str]]:
    rows: list[dict[str, str]] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        row = json.loads(line)
        assert isinstance(row, dict), f"line {number} is not a JSON object"
        assert set(row) == KEYS, f"line {number} has keys {sorted(row)}, expected {sorted(KEYS)}"
        assert all(isinstance(value, str) for value in row.values()), f"line {number}"
        rows.append(row)
    return rows


@pytest.fixture(scope="module")
def rows() -> list[dict[str, str]]:
    return _rows()


def test_file_has_enough_valid_lines(rows: list[dict[str, str]]) -> None:
    assert len(rows) >= MIN_PAIRS
    labels = Counter(row["label"] for row in rows)
    assert set(labels) == set(LABELS)
    assert labels["paraphrase"] >= MIN_PAIRS // 2
    assert labels["near_miss"] >= MIN_PAIRS // 2
    assert {row["split"] for row in rows} == set(SPLITS)


def test_questions_are_distinct_nonempty_and_short(rows: list[dict[str, str]]) -> None:
    for row in rows:
        cached, new = row["cached"].strip(), row["new"].strip()
        assert cached, row["id"]
        assert new, row["id"]
        assert cached != new, row["id"]
        assert len(row["cached"]) < MAX_QUESTION_CHARS, row["id"]
        assert len(row["new"]) < MAX_QUESTION_CHARS, row["id"]


def test_ids_and_pairs_are_unique(rows: list[dict[str, str]]) -> None:
    ids = Counter(row["id"] for row in rows)
    assert [i for i, n in ids.items() if n > 1] == []
    pairs = Counter((row["cached"], row["new"]) for row in rows)
    assert [p for p, n in pairs.items() if n > 1] == []


def test_every_kind_has_both_labels_in_both_splits(rows: list[dict[str, str]]) -> None:
    assert {row["kind"] for row in rows} >= set(KINDS)
    per_label = Counter((row["kind"], row["label"]) for row in rows)
    per_split = Counter((row["kind"], row["label"], row["split"]) for row in rows)
    for kind in {row["kind"] for row in rows}:
        for label in LABELS:
            assert per_label[kind, label] >= MIN_PER_KIND_AND_LABEL, (kind, label)
            for split in SPLITS:
                assert per_split[kind, label, split] > 0, (kind, label, split)


# The extra development files, each with the fewest pairs it must hold and the fewest of
# each kind and label (dev4 adds a few kinds only).
EXTRA_DEV = {
    "semantic_cache_pairs_dev2.jsonl": (1_000, MIN_PER_KIND_AND_LABEL),
    "semantic_cache_pairs_dev3.jsonl": (1_500, MIN_PER_KIND_AND_LABEL),
    "semantic_cache_pairs_dev4.jsonl": (200, 14),
}


def _extra_rows(name: str) -> list[dict[str, str]]:
    path = PAIRS.with_name(name)
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.mark.parametrize(("name", "least"), EXTRA_DEV.items())
def test_the_extra_dev_pairs_are_dev_only_balanced_and_well_formed(
    name: str, least: tuple[int, int]
) -> None:
    rows = _extra_rows(name)
    least_pairs, least_per_kind = least
    assert len(rows) >= least_pairs
    for row in rows:
        assert set(row) == KEYS, row
        assert row["split"] == "dev", row["id"]
        assert row["label"] in LABELS, row["id"]
        assert row["cached"].strip(), row["id"]
        assert row["new"].strip() != row["cached"].strip(), row["id"]
        assert len(row["cached"]) < MAX_QUESTION_CHARS, row["id"]
        assert len(row["new"]) < MAX_QUESTION_CHARS, row["id"]
    assert len({row["id"] for row in rows}) == len(rows)
    per_label = Counter((row["kind"], row["label"]) for row in rows)
    for kind in {row["kind"] for row in rows}:
        for label in LABELS:
            assert per_label[kind, label] >= least_per_kind, (kind, label)
    pairs = Counter((row["cached"], row["new"]) for row in rows)
    assert [p for p, n in pairs.items() if n > 1] == []


@pytest.mark.parametrize("name", EXTRA_DEV)
def test_no_extra_dev_pair_shares_a_question_with_the_test_half(
    rows: list[dict[str, str]], name: str
) -> None:
    test_questions = {
        text.strip().lower()
        for row in rows
        if row["split"] == "test"
        for text in (row["cached"], row["new"])
    }
    shared = [
        row["id"]
        for row in _extra_rows(name)
        if row["cached"].strip().lower() in test_questions
        or row["new"].strip().lower() in test_questions
    ]
    assert shared == []
