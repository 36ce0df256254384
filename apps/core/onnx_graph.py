"""Small onnxruntime graphs built in memory from weights the project already holds (no
model file shipped, nothing downloaded): the semantic cache's pair reader
(``apps/gateway/cache_verifier/reader_graph.py``) and the injection detector's e5 encoder
(``apps/guardrails/e5_graph.py``) build their encoder layers with ``GraphBuilder`` and run
them in a ``session``: one intra-op thread and no spinning, on the calling thread, as the
rest of a web process's CPU work.

onnx and onnxruntime are passed in by the caller, which imports them and decides what to
do without them: nothing here imports either.
"""

from __future__ import annotations

import contextlib
import ctypes
import math
from typing import Any

import numpy as np

OPSET = 17  # LayerNormalization
IR_VERSION = 9  # what onnxruntime 1.31 reads (onnx 1.23 writes 14 by default)
CONTRIB = "com.microsoft"  # onnxruntime's own operators (DynamicQuantizeMatMul)


class GraphBuilder:
    """Nodes and initialisers of a graph being built; each helper returns its output's
    name. ``heads`` and ``d``: the attention's head count and model width."""

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

    def linear(self, x: str, weight: Any, bias: Any) -> str:
        """x @ weight + bias, float32, weight (in, out)."""
        return self.op("Add", self.op("MatMul", x, self.const(weight)), self.const(bias))

    def layer_norm(self, x: str, scale: Any, bias: Any, *, epsilon: float) -> str:
        return self.op(
            "LayerNormalization", x, self.const(scale), self.const(bias), axis=-1, epsilon=epsilon
        )

    def gelu(self, x: str) -> str:
        """x * Phi(x) = x / 2 * (1 + erf(x / sqrt 2))."""
        erf = self.op("Erf", self.op("Div", x, self.const(np.float32(math.sqrt(2)))))
        half = self.op("Mul", x, self.const(np.float32(0.5)))
        return self.op("Mul", half, self.op("Add", erf, self.const(np.float32(1.0))))

    def split_heads(self, x: str, perm: list[int]) -> str:
        """(batch, tokens, d) -> (batch, tokens, heads, d / heads), then ``perm``."""
        shape = self.const(np.array([0, -1, self.heads, self.d // self.heads], dtype=np.int64))
        return self.op("Transpose", self.op("Reshape", x, shape), perm=perm)

    def merge_heads(self, x: str) -> str:
        """(batch, heads, tokens, d / heads) -> (batch, tokens, d)."""
        merged = self.op("Transpose", x, perm=[0, 2, 1, 3])
        return self.op("Reshape", merged, self.const(np.array([0, -1, self.d], dtype=np.int64)))

    def model(self, name: str, inputs: list[Any], outputs: list[Any]) -> Any:
        """The checked model; ``inputs`` and ``outputs`` are ``helper.make_tensor_value_info``."""
        helper = self._onnx.helper
        graph = helper.make_graph(self._nodes, name, inputs, outputs, self._constants)
        opsets = [helper.make_opsetid("", OPSET)]
        if any(node.domain == CONTRIB for node in self._nodes):
            opsets.append(helper.make_opsetid(CONTRIB, 1))
        model = helper.make_model(graph, opset_imports=opsets, ir_version=IR_VERSION)
        self._onnx.checker.check_model(model)
        return model


def session(onnxruntime: Any, serialized: bytes) -> Any:
    """An onnxruntime CPU session on one intra-op thread, without spinning: a web process
    runs requests side by side, and a spinning pool would burn the CPU they need."""
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    return onnxruntime.InferenceSession(serialized, options, providers=["CPUExecutionProvider"])


def give_back_freed_memory() -> None:
    """Return a build's freed copies of the weights to the system (glibc's malloc_trim; a
    no-op elsewhere): tens of MB of resident memory per process that would otherwise stay
    with the allocator."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)
