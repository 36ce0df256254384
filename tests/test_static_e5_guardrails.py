"""The pure helpers of bench/static_e5_guardrails.py, without the model: the vocabulary
parser on a tiny hand-made model image, the tokenizer built from it, the weighted mean."""

from __future__ import annotations

import math
import struct

import numpy as np
import pytest

from bench.static_e5_guardrails import Tokenizer, parse_vocab, sif_weights, weighted_mean

PIECES = ["<s>", "<pad>", "</s>", "<unk>", "\u2581ab", "\u2581a", "b", "\u2581c"]
SCORES = [0.0, 0.0, 0.0, 0.0, -1.0, -2.0, -3.0, -2.5]
# code point -> replacement: a tab is a space, a control character goes
NORM = {0x01: "", 0x09: " "}


def image() -> bytes:
    """A model image's header and tokenizer section, laid out as e5.c's loader reads it."""
    head = b"E5S1" + struct.pack("<I", 1) + struct.pack("<7i", 384, 12, 12, 1536, 8, 512, 2)
    head += struct.pack("<fi", 1e-12, 32)
    blob = b"".join(p.encode() for p in PIECES)
    offs = [0]
    for piece in PIECES:
        offs.append(offs[-1] + len(piece.encode()))
    out = head + struct.pack("<5i", len(PIECES), 0, 2, 1, 3) + struct.pack("<Q", len(blob))
    out += struct.pack(f"<{len(offs)}I", *offs) + struct.pack(f"<{len(SCORES)}f", *SCORES)
    out += blob
    entries = b"".join(
        struct.pack("<I", cp) + bytes([len(to)]) + b"".join(struct.pack("<I", ord(c)) for c in to)
        for cp, to in sorted(NORM.items())
    )
    return out + struct.pack("<iI", len(NORM), len(entries)) + entries + b"tensors follow"


def test_the_parser_reads_pieces_scores_specials_and_the_map() -> None:
    vocab = parse_vocab(image())
    assert vocab.pieces == PIECES
    assert vocab.scores == pytest.approx(SCORES)
    assert (vocab.bos, vocab.eos, vocab.pad, vocab.unk) == (0, 2, 1, 3)
    assert vocab.norm == NORM


def test_the_parser_refuses_another_file() -> None:
    with pytest.raises(ValueError, match="E5S1"):
        parse_vocab(b"GGUF" + image()[4:])


def test_the_tokenizer_maps_collapses_and_takes_the_best_pieces() -> None:
    tok = Tokenizer(parse_vocab(image()))
    assert tok.normalize("ab\t\t\x01c") == "ab c"
    # "▁ab" (-1) beats "▁a" + "b" (-5); a leading space is the marker, not a second one
    assert tok.ids("ab\tc") == [4, 7]
    assert tok.ids(" ab") == [4]


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
