"""Shape checks shared by the test sets of cache pairs (semantic_cache_pairs_test*.jsonl).

Each test set is scored once per finished change and never tuned on (bench/data/README.md).
The checks keep a set loadable and balanced, and keep it apart from the other pair files:
a question that also occurs in another file could have been seen while the decision was
tuned or judged.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from bench import cache_pairs
from tests.test_cache_pairs_data import KINDS as HELDOUT_KINDS
from tests.test_cache_pairs_data import LABELS, MAX_QUESTION_CHARS

DATA = Path(__file__).resolve().parent.parent / "bench" / "data"
# The 14 kinds of the held-out set plus the two that semantic_cache_pairs_dev2.jsonl added.
KINDS = {*HELDOUT_KINDS, "units", "direction"}
MIN_PAIRS = 480
MIN_PER_KIND_AND_LABEL = 15


def normalised(text: str) -> str:
    return text.strip().lower()


def check_labelled_test_pairs(rows: list[dict[str, str]]) -> None:
    check_labelled_pairs(rows, split="test")


def check_labelled_pairs(rows: list[dict[str, str]], *, split: str) -> None:
    """Enough rows, every one of `split`, with a known label and kind and two short,
    different, non-empty questions."""
    assert len(rows) >= MIN_PAIRS
    for row in rows:
        assert row["split"] == split, row["id"]
        assert row["label"] in LABELS, row["id"]
        assert row["kind"] in KINDS, row["id"]
        cached, new = row["cached"].strip(), row["new"].strip()
        assert cached, row["id"]
        assert new, row["id"]
        assert normalised(cached) != normalised(new), row["id"]
        assert len(row["cached"]) < MAX_QUESTION_CHARS, row["id"]
        assert len(row["new"]) < MAX_QUESTION_CHARS, row["id"]


def check_ids_in_order_and_unique_pairs(rows: list[dict[str, str]], prefix: str) -> None:
    assert [row["id"] for row in rows] == [f"{prefix}{n:04d}" for n in range(1, len(rows) + 1)]
    pairs = Counter((row["cached"], row["new"]) for row in rows)
    assert [pair for pair, n in pairs.items() if n > 1] == []


def short_kinds_and_labels(
    rows: list[dict[str, str]], minimum: int = MIN_PER_KIND_AND_LABEL
) -> dict[tuple[str, str], int]:
    """The (kind, label) groups with fewer than ``minimum`` pairs."""
    per_label = Counter((row["kind"], row["label"]) for row in rows)
    return {
        (kind, label): per_label[kind, label]
        for kind in KINDS
        for label in LABELS
        if per_label[kind, label] < minimum
    }


def other_files(path: Path) -> list[Path]:
    return sorted(other for other in DATA.glob("semantic_cache_pairs*.jsonl") if other != path)


def ids_sharing_a_question(rows: list[dict[str, str]], others: list[Path]) -> list[str]:
    """Ids of the rows whose `cached` or `new` question occurs in one of `others`."""
    # Every string of every row: the older files do not all name their question fields
    # alike, and an id or a label never equals a question.
    seen = {
        normalised(value)
        for path in others
        for line in path.read_text(encoding="utf-8").splitlines()
        for value in json.loads(line).values()
        if isinstance(value, str)
    }
    assert len(seen) > 10_000, "the other pair files hold over 10,000 distinct questions"
    return [
        row["id"]
        for row in rows
        if normalised(row["cached"]) in seen or normalised(row["new"]) in seen
    ]


def record_opened_pair_files(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """The pair files ``bench/cache_pairs.py`` reads from now on in the test, in order: how
    a test shows a sealed test set is never opened."""
    opened: list[Path] = []
    original = cache_pairs._rows

    def rows(path: Path) -> list[dict[str, str]]:
        opened.append(path)
        return original(path)

    monkeypatch.setattr(cache_pairs, "_rows", rows)
    return opened
