"""Rounds 9 to 12's experiment (bench/cache_cross_encoder.py): its folds keep whole
files and test5 and test6 apart, its numpy forward's arithmetic is BERT's (a truncated
reader's frozen layers from the base model), the newest writer stays out of the
cross-validation, it reads the development pairs without opening the unscored sealed
test set (``cache_pairs.TEST``), and round 12's near-verbatim repeats keep every content
word, never repeat the question as it is, and stay in their source file."""

from __future__ import annotations

import math
import random
from collections import Counter

import numpy as np
import pytest

from bench import cache_cross_encoder as ce
from bench import cache_pairs
from bench.cache_pairs import Pair
from tests.cache_test_sets import record_opened_pair_files


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


def test_the_sealed_test_set_is_not_opened(monkeypatch: pytest.MonkeyPatch) -> None:
    opened = record_opened_pair_files(monkeypatch)
    dev = ce.dev_pairs()
    ce.left_out_pairs()
    assert dev
    assert all(p.split == "dev" for p in dev)
    assert cache_pairs.TEST not in opened
    assert (
        cache_pairs.TEST.name == f"semantic_cache_pairs_{cache_pairs.TEST_SOURCE}.jsonl"
    )  # restored
    # The seventh is spent: a development file of the cross-validation now.
    assert cache_pairs.TEST7 in opened
    assert any(p.source == "test7" for p in dev)


def test_the_newest_writer_is_left_out_of_the_cross_validation() -> None:
    dev = ce.dev_pairs()
    assert all(p.source != ce.LEFT_OUT for p in dev)
    assert all(p.source == ce.LEFT_OUT for p in ce.left_out_pairs())


def test_keep_out_and_seed_are_read_from_the_command_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``--keep-out test11`` drops that file from the training pairs; ``--seed`` is the run's."""
    monkeypatch.setattr(ce, "KEPT_OUT", ce.KEPT_OUT)  # put back after the test
    monkeypatch.setattr(ce, "SEED", ce.SEED)
    everything = Counter(p.source for p in ce.dev_pairs())
    assert everything["test11"] > 0
    trained: list[Counter[str]] = []

    def train_all(args: object, dev: list[Pair], path: object) -> None:
        trained.append(Counter(p.source for p in dev))

    monkeypatch.setattr(ce, "train_all", train_all)
    ce.main(["--keep-out", "test11", "--seed", "27", "--all-files", "/nowhere.npz"])
    assert ce.SEED == 27
    assert trained[0]["test11"] == 0
    assert trained[0] == everything - Counter({"test11": everything["test11"]})


def _layer(rng: np.random.Generator) -> dict[str, np.ndarray]:
    shapes = {"q": 384, "k": 384, "v": 384, "o": 384, "i": 1536, "f": 384}
    out: dict[str, np.ndarray] = {}
    for name, rows in shapes.items():
        cols = 1536 if name == "f" else 384
        out[f"{name}.weight"] = rng.normal(0, 0.05, (rows, cols)).astype(np.float32)
        out[f"{name}.bias"] = rng.normal(0, 0.05, rows).astype(np.float32)
    for name in ("ln1", "ln2"):
        out[f"{name}.weight"] = np.ones(384, np.float32)
        out[f"{name}.bias"] = np.zeros(384, np.float32)
    return out


def test_a_truncated_reader_takes_its_frozen_layers_from_the_base_model() -> None:
    # Layer 0 frozen (from the base weights) and layer 1 trained (from the delta) must
    # give what the same two layers give when both come from the delta.
    rng = np.random.default_rng(1)
    full = {
        "attention.self.query": "q",
        "attention.self.key": "k",
        "attention.self.value": "v",
        "attention.output.dense": "o",
        "attention.output.LayerNorm": "ln1",
        "intermediate.dense": "i",
        "output.dense": "f",
        "output.LayerNorm": "ln2",
    }
    base_layer, trained_layer = _layer(rng), _layer(rng)
    sd = {
        "embeddings.word_embeddings.weight": rng.normal(0, 1, (50, 384)).astype(np.float32),
        "embeddings.position_embeddings.weight": rng.normal(0, 1, (20, 384)).astype(np.float32),
        "embeddings.token_type_embeddings.weight": rng.normal(0, 1, (2, 384)).astype(np.float32),
        "embeddings.LayerNorm.weight": np.ones(384, np.float32),
        "embeddings.LayerNorm.bias": np.zeros(384, np.float32),
    }
    for long, short in full.items():
        for kind in ("weight", "bias"):
            sd[f"encoder.layer.0.{long}.{kind}"] = base_layer[f"{short}.{kind}"]
    head = {
        "head.weight": rng.normal(0, 0.1, (1, 384)).astype(np.float32),
        "head.bias": np.zeros(1, np.float32),
    }
    frozen_one = {
        **head,
        "trunc_layers": np.array([2], np.float32),
        "trunc_frozen": np.array([1], np.float32),
        **{f"layer0.{k}": v for k, v in trained_layer.items()},
    }
    all_trained = {
        **head,
        "trunc_layers": np.array([2], np.float32),
        **{f"layer0.{k}": v for k, v in base_layer.items()},
        **{f"layer1.{k}": v for k, v in trained_layer.items()},
    }
    ids, types = [1, 7, 9, 2, 11, 2], [0, 0, 0, 0, 1, 1]
    a = ce.NumpyForward(sd, frozen_one)
    b = ce.NumpyForward(sd, all_trained)
    assert len(a.layers) == len(b.layers) == 2
    assert abs(a.logit(ids, types) - b.logit(ids, types)) < 1e-5


# --- round 12: near-verbatim repeats as extra paraphrases ----------------------------

QUESTIONS = [
    "How can I reset my password?",
    "How do I export the invoices for March as a PDF?",
    "What is the refund policy for annual plans?",
    "What's the difference between `git reset --hard` and `git revert`?",
    "Which team owns the billing service?",
    "Can you convert 25 USD to EUR?",
    "Wie viele Meter hat eine Meile?",
    "I",
]


@pytest.mark.parametrize("seed", range(40))
def test_a_repeat_keeps_every_content_word_and_is_never_the_question(seed: int) -> None:
    rng = random.Random(seed)
    for question in QUESTIONS:
        repeat = ce.repeat_of(question, rng)
        assert repeat != question
        assert ce.content_words(question) <= ce.content_words(repeat), (question, repeat)


def test_a_repeat_leaves_code_as_written() -> None:
    question = "What does `psql -h db -U Reporting` do with the `-U` flag?"
    for seed in range(60):
        repeat = ce.repeat_of(question, random.Random(seed))
        assert "`psql -h db -U Reporting`" in repeat
        assert "`-U`" in repeat


def test_the_rewrites_are_the_ones_people_make() -> None:
    seen = {ce.repeat_of("How do I reset my password?", random.Random(s)) for s in range(300)}
    assert "how do i reset my password?" in seen
    assert "How do I reset my password" in seen
    assert "How do I reset my password??" in seen
    assert "How can I reset my password?" in seen
    assert "How to reset my password?" in seen
    assert "how would I reset my password?" in seen
    assert "How do I reset my password please?" in seen
    assert "How do I reset  my password?" in seen
    assert "Hwo do I reset my password?" in seen
    whats = {ce.repeat_of("What is my plan?", random.Random(s)) for s in range(100)}
    assert "What's my plan?" in whats


def test_repeats_are_paraphrases_of_their_files_cached_questions() -> None:
    dev = [
        Pair(f"{source} question {i}?", f"new {i}", label, "kind", "dev", source)
        for source in ("dev2", "test3", "heldout")
        for i in range(50)
        for label in ("paraphrase", "near_miss")
    ]
    extra = ce.repeats(dev, 0.12)
    cached = {(p.source, p.cached) for p in dev}
    for source in ("dev2", "test3", "heldout"):
        mine = [p for p in extra if p.source == source]
        assert len(mine) == 12  # 12% of the file's 100 pairs
        assert len({p.cached for p in mine}) == 12  # distinct cached questions
    for p in extra:
        assert (p.source, p.cached) in cached  # within the source file
        assert p.label == "paraphrase"
        assert p.kind == ce.REPEAT_KIND
        assert p.new != p.cached
    assert ce.repeats(dev, 0.12) == extra  # deterministic
    assert ce.repeats(dev, 0.12, seed=7) != extra
    assert ce.repeats(dev, 0.0) == []


def test_repeats_of_the_development_files_stay_in_their_fold() -> None:
    dev = ce.dev_pairs()
    extra = ce.repeats(dev, 0.12)
    assert 0.10 <= len(extra) / (len(dev) + len(extra)) <= 0.15
    files = {p.source for p in dev}
    assert {p.source for p in extra} == files
    assert ce.LEFT_OUT not in files
    by_file = {(p.source, p.cached) for p in dev}
    assert all((p.source, p.cached) in by_file for p in extra)
    assert all(ce.content_words(p.cached) <= ce.content_words(p.new) for p in extra)
