"""The pair reader's layers and head as an onnxruntime graph, built in memory from the
weights ``reader.py`` loads (nothing read from disk, no model file shipped).

The same arithmetic as ``reader._layer`` (float32; q, k and v from one pre-scaled
matrix; in the last layer only the [CLS] row past the attention), run by onnxruntime's
CPU kernels on the calling thread: one intra-op thread and no spinning, as the numpy
forward keeps OpenBLAS to one thread. A pair read in both orders (a batch of two,
about 30 word pieces) measured 5.5 ms p95 against numpy's 9.6, and equal to numpy within
1.2e-5 in log-odds on all 14,445 development pairs, none decided otherwise
(docs/adr/0010-semantic-cache-decision.md, round 16). It costs about 80 MB more resident
memory per process than numpy: 46 MB the two libraries, the rest the session's own,
pre-packed copy of the weights (the numpy copies are then dropped).

``compile_layers`` returns None when onnxruntime or onnx is not installed (both are
dependencies since ADR 0018; an install without them still works); the reader then runs
on numpy.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from apps.core.onnx_graph import GraphBuilder, give_back_freed_memory, session

if TYPE_CHECKING:
    from apps.gateway.cache_verifier.reader import Layer

logger = logging.getLogger(__name__)

Array = npt.NDArray[np.float32]


class CompiledLayers:
    """The layers and head as one onnxruntime session: ``(x, padding) -> log-odds``, x the
    embedded batch (batch, tokens, d) and padding the attention's additive mask (batch,
    1, 1, tokens). ``run`` is thread-safe (onnxruntime sessions are)."""

    def __init__(self, session: Any) -> None:
        self._session = session

    def run(self, x: Array, padding: Array) -> Array:
        logits: Array = self._session.run(["log_odds"], {"x": x, "padding": padding})[0]
        return logits[:, 0]


def compile_layers(
    layers: Sequence[Layer], head: tuple[Array, float], *, heads: int
) -> CompiledLayers | None:
    """The session, or None without onnxruntime and onnx, or when onnxruntime refuses the
    graph (logged: the numpy forward then runs, as slow as before, but no lookup fails)."""
    try:
        import onnx
        import onnxruntime
    except ImportError:
        return None
    try:
        return _compile(onnx, onnxruntime, layers, head, heads=heads)
    except Exception:  # onnxruntime's errors derive from Exception alone
        logger.warning(
            "onnxruntime could not build the pair reader's graph: the numpy forward runs instead.",
            exc_info=True,
        )
        return None


def _compile(
    onnx: Any, onnxruntime: Any, layers: Sequence[Layer], head: tuple[Array, float], *, heads: int
) -> CompiledLayers:
    graph = _Graph(onnx, heads=heads, d=int(layers[0].out.shape[0]))
    x = "x"
    for n, layer in enumerate(layers):
        x = graph.layer(x, layer, cls_only=n == len(layers) - 1)
    weight, bias = head
    cls = graph.op("Reshape", x, graph.const(np.array([0, graph.d], dtype=np.int64)))
    graph.op(
        "Add",
        graph.op("MatMul", cls, graph.const(weight.reshape(-1, 1))),
        graph.const(np.array([bias], dtype=np.float32)),
        out="log_odds",
    )
    tensor = onnx.TensorProto
    serialized = graph.model(
        "pair_reader",
        [
            onnx.helper.make_tensor_value_info("x", tensor.FLOAT, [None, None, graph.d]),
            onnx.helper.make_tensor_value_info("padding", tensor.FLOAT, [None, 1, 1, None]),
        ],
        [onnx.helper.make_tensor_value_info("log_odds", tensor.FLOAT, [None, 1])],
    ).SerializeToString()
    del graph  # the weights' protobuf copies
    compiled = session(onnxruntime, serialized)
    del serialized
    give_back_freed_memory()
    return CompiledLayers(compiled)


class _Graph(GraphBuilder):
    """The reader's layer on the shared builder."""

    def _layer_norm(self, x: str, scale_and_bias: tuple[Array, Array]) -> str:
        return self.layer_norm(x, *scale_and_bias, epsilon=1e-12)

    def layer(self, x: str, p: Layer, *, cls_only: bool) -> str:
        """``reader._layer``: attention, residual, layer norm, FFN, residual, layer norm."""
        d = self.d
        k, v = self.split(self.linear(x, p.qkv[:, d:], p.qkv_bias[d:]), [d, d], axis=2)
        rows = x
        if cls_only:  # tokens [0, 1) of axis 1
            start, end, axis = (self.const(np.array([n], dtype=np.int64)) for n in (0, 1, 1))
            rows = self.op("Slice", x, start, end, axis)
        q = self.linear(rows, p.qkv[:, :d], p.qkv_bias[:d])
        scores = self.op(
            "MatMul", self.split_heads(q, [0, 2, 1, 3]), self.split_heads(k, [0, 2, 3, 1])
        )  # (batch, heads, queries, tokens); q is pre-scaled
        weights = self.op("Softmax", self.op("Add", scores, "padding"), axis=-1)
        context = self.merge_heads(self.op("MatMul", weights, self.split_heads(v, [0, 2, 1, 3])))
        y = self._layer_norm(self.op("Add", self.linear(context, p.out, p.out_bias), rows), p.ln1)
        ff = self.gelu(self.linear(y, p.up, p.up_bias))
        return self._layer_norm(self.op("Add", self.linear(ff, p.down, p.down_bias), y), p.ln2)
