"""The pure helpers of bench/static_e5_guardrails.py, without the model: the weighted mean
and the pieces' weights (its parser and tokenizer are the product's, tested in
tests/guardrails/test_e5_engine.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from bench.static_e5_guardrails import sif_weights, weighted_mean


def test_the_weighted_mean_is_normalised() -> None:
    rows = np.array([[1.0, 0.0], [0.0, 1.0]])
    assert weighted_mean(rows, [3.0, 1.0]) == pytest.approx([3 / math.sqrt(10), 1 / math.sqrt(10)])
    assert weighted_mean(np.zeros((0, 2)), []).tolist() == [0.0, 0.0]


def test_sif_weights_fall_with_the_piece_probability() -> None:
    scores = np.log([0.1, 0.001])
    assert sif_weights(scores, None).tolist() == [1.0, 1.0]
    weights = sif_weights(scores, 1e-3)
    assert weights[0] == pytest.approx(1e-3 / (1e-3 + 0.1))
    assert weights[1] == pytest.approx(0.5)


def test_the_sealed_held_out_sets_are_not_among_the_sources() -> None:
    from bench.static_e5_guardrails import SEALED, sources

    assert SEALED.search("guardrails_injection_heldout13.jsonl")
    assert SEALED.search("guardrails_injection_heldout14.jsonl")
    assert not any(SEALED.search(name) for name in sources())
    assert "guardrails_injection_heldout12.jsonl" in sources()
