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

``compile_layers`` returns None when onnxruntime or onnx is not installed (the provider
extra brings both); the reader then runs on numpy.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from apps.gateway.cache_verifier.reader import Layer

logger = logging.getLogger(__name__)

Array = npt.NDArray[np.float32]
OPSET = 17  # LayerNormalization
IR_VERSION = 9  # what onnxruntime 1.31 reads (onnx 1.23 writes 14 by default)


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
    serialized = graph.model().SerializeToString()
    del graph  # the weights' protobuf copies
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    session = onnxruntime.InferenceSession(serialized, options, providers=["CPUExecutionProvider"])
    del serialized
    _give_back_freed_memory()
    return CompiledLayers(session)


def _give_back_freed_memory() -> None:
    """Return the build's freed copies of the weights to the system (glibc's malloc_trim;
    a no-op elsewhere): about 80 MB of resident memory per process that would otherwise
    stay with the allocator."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


class _Graph:
    """Nodes and initialisers of the graph being built."""

    def __init__(self, onnx: Any, *, heads: int, d: int) -> None:
        self._onnx = onnx
        self.heads, self.d = heads, d
        self._nodes: list[Any] = []
        self._constants: list[Any] = []
        self._names = 0

    def _name(self) -> str:
        self._names += 1
        return f"v{self._names}"

    def const(self, value: Any) -> str:
        name = self._name()
        self._constants.append(self._onnx.numpy_helper.from_array(np.asarray(value), name))
        return name

    def op(self, kind: str, *inputs: str, out: str | None = None, **attributes: Any) -> str:
        name = out or self._name()
        self._nodes.append(self._onnx.helper.make_node(kind, list(inputs), [name], **attributes))
        return name

    def split(self, x: str, sizes: list[int], *, axis: int) -> list[str]:
        names = [self._name() for _ in sizes]
        sized = self.const(np.array(sizes, dtype=np.int64))
        self._nodes.append(self._onnx.helper.make_node("Split", [x, sized], names, axis=axis))
        return names

    def _linear(self, x: str, weight: Array, bias: Array) -> str:
        return self.op("Add", self.op("MatMul", x, self.const(weight)), self.const(bias))

    def _layer_norm(self, x: str, scale_and_bias: tuple[Array, Array]) -> str:
        scale, bias = scale_and_bias
        return self.op(
            "LayerNormalization",
            x,
            self.const(scale),
            self.const(bias),
            axis=-1,
            epsilon=1e-12,
        )

    def _gelu(self, x: str) -> str:
        """x * Phi(x) = x / 2 * (1 + erf(x / sqrt 2))."""
        erf = self.op("Erf", self.op("Div", x, self.const(np.float32(math.sqrt(2)))))
        half = self.op("Mul", x, self.const(np.float32(0.5)))
        return self.op("Mul", half, self.op("Add", erf, self.const(np.float32(1.0))))

    def _heads(self, x: str, perm: list[int]) -> str:
        split = self.const(np.array([0, -1, self.heads, self.d // self.heads], dtype=np.int64))
        return self.op("Transpose", self.op("Reshape", x, split), perm=perm)

    def layer(self, x: str, p: Layer, *, cls_only: bool) -> str:
        """``reader._layer``: attention, residual, layer norm, FFN, residual, layer norm."""
        d = self.d
        k, v = self.split(self._linear(x, p.qkv[:, d:], p.qkv_bias[d:]), [d, d], axis=2)
        rows = x
        if cls_only:  # tokens [0, 1) of axis 1
            start, end, axis = (self.const(np.array([n], dtype=np.int64)) for n in (0, 1, 1))
            rows = self.op("Slice", x, start, end, axis)
        q = self._linear(rows, p.qkv[:, :d], p.qkv_bias[:d])
        scores = self.op(
            "MatMul", self._heads(q, [0, 2, 1, 3]), self._heads(k, [0, 2, 3, 1])
        )  # (batch, heads, queries, tokens); q is pre-scaled
        weights = self.op("Softmax", self.op("Add", scores, "padding"), axis=-1)
        context = self.op(
            "Reshape",
            self.op(
                "Transpose",
                self.op("MatMul", weights, self._heads(v, [0, 2, 1, 3])),
                perm=[0, 2, 1, 3],
            ),
            self.const(np.array([0, -1, d], dtype=np.int64)),
        )
        y = self._layer_norm(self.op("Add", self._linear(context, p.out, p.out_bias), rows), p.ln1)
        ff = self._gelu(self._linear(y, p.up, p.up_bias))
        return self._layer_norm(self.op("Add", self._linear(ff, p.down, p.down_bias), y), p.ln2)

    def model(self) -> Any:
        helper, tensor = self._onnx.helper, self._onnx.TensorProto
        graph = helper.make_graph(
            self._nodes,
            "pair_reader",
            [
                helper.make_tensor_value_info("x", tensor.FLOAT, [None, None, self.d]),
                helper.make_tensor_value_info("padding", tensor.FLOAT, [None, 1, 1, None]),
            ],
            [helper.make_tensor_value_info("log_odds", tensor.FLOAT, [None, 1])],
            self._constants,
        )
        model = helper.make_model(
            graph, opset_imports=[helper.make_opsetid("", OPSET)], ir_version=IR_VERSION
        )
        self._onnx.checker.check_model(model)
        return model
