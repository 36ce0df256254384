"""GUARDRAILS_BACKEND=onnx:PATH: a sequence classifier in ONNX, run by onnxruntime, whose
injection probability reaches the engine's verdict. The model here is built by the test
(a real ONNX file, scored by the real runtime): it calls a text an injection when it holds
the word piece "ignore"."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import onnx
import pytest
from asgiref.sync import async_to_sync
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings
from onnx import TensorProto, helper, numpy_helper
from tokenizers import Tokenizer

from apps.gateway.cache_verifier import reader
from apps.guardrails import backends
from apps.guardrails.engine import Direction, ascan
from apps.guardrails.policy import Check, Policy

# Builtin checks let it through; the model below flags it for its "ignore".
ORDINARY_BUT_FLAGGED = "Could you ignore the typo in my last message and answer the question?"


def tokenizer_file() -> Path:
    model_dir = reader.package_dir()
    assert model_dir is not None
    return model_dir / "tokenizer.json"


def write_model(path: Path) -> Path:
    """logits = [0, 6 * (count of "ignore") - 3 - (padding attended)] for input_ids (1, n)
    and attention_mask: a mask that covers padding (id 0) lowers the score."""
    tokenizer = Tokenizer.from_file(str(tokenizer_file()))
    tokenizer.no_padding()
    [ignore] = tokenizer.encode("ignore", add_special_tokens=False).ids
    consts = [
        numpy_helper.from_array(np.array(ignore, dtype=np.int64), "word"),
        numpy_helper.from_array(np.array(6.0, dtype=np.float32), "weight"),
        numpy_helper.from_array(np.array(-3.0, dtype=np.float32), "bias"),
        numpy_helper.from_array(np.zeros((1, 1), dtype=np.float32), "zero"),
        numpy_helper.from_array(np.array([1], dtype=np.int64), "axis1"),
        numpy_helper.from_array(np.array(0, dtype=np.int64), "pad"),
    ]
    nodes = [
        helper.make_node("Equal", ["input_ids", "word"], ["same"]),
        helper.make_node("Cast", ["same"], ["ones"], to=TensorProto.FLOAT),
        helper.make_node("ReduceSum", ["ones", "axis1"], ["count"], keepdims=1),
        helper.make_node("Mul", ["count", "weight"], ["scaled"]),
        helper.make_node("Add", ["scaled", "bias"], ["raw"]),
        helper.make_node("Cast", ["attention_mask"], ["attended"], to=TensorProto.FLOAT),
        helper.make_node("Equal", ["input_ids", "pad"], ["is_pad"]),
        helper.make_node("Cast", ["is_pad"], ["pads"], to=TensorProto.FLOAT),
        helper.make_node("Mul", ["attended", "pads"], ["attended_pads"]),
        helper.make_node("ReduceSum", ["attended_pads", "axis1"], ["wrong"], keepdims=1),
        helper.make_node("Sub", ["raw", "wrong"], ["attack"]),
        helper.make_node("Concat", ["zero", "attack"], ["logits"], axis=1),
    ]
    ids = [helper.make_tensor_value_info(n, TensorProto.INT64, [1, None]) for n in
           ("input_ids", "attention_mask")]  # fmt: skip
    out = [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 2])]
    graph = helper.make_graph(nodes, "ignore_classifier", ids, out, consts)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=9)
    onnx.checker.check_model(model)
    target = path / "classifier.onnx"
    onnx.save(model, str(target))
    return target


@pytest.fixture
def model_path(tmp_path: Path) -> Path:
    target = write_model(tmp_path)
    shutil.copy(tokenizer_file(), tmp_path / "tokenizer.json")
    return target


def test_the_models_probability_is_the_injection_score(model_path: Path) -> None:
    backend = backends.OnnxBackend(str(model_path))
    flagged = async_to_sync(backend.classify)(ORDINARY_BUT_FLAGGED)
    plain = async_to_sync(backend.classify)("What is our refund policy?")
    assert flagged.injection == pytest.approx(1 / (1 + np.exp(-3.0)), abs=1e-5)
    assert plain.injection == pytest.approx(1 / (1 + np.exp(3.0)), abs=1e-5)
    options = backend._session.get_session_options()
    assert (options.intra_op_num_threads, options.inter_op_num_threads) == (1, 1)


def test_the_configured_onnx_backend_flags_what_the_builtin_checks_allow(
    model_path: Path,
) -> None:
    policy = Policy()
    alone = async_to_sync(ascan)(
        ORDINARY_BUT_FLAGGED, policy, Direction.INPUT, backend=backends.BuiltinBackend()
    )
    assert not [h for h in alone.hits if h.check == Check.PROMPT_INJECTION]
    with override_settings(GUARDRAILS_BACKEND=f"onnx:{model_path}"):
        backends.configured.cache_clear()
        try:
            backend = backends.configured()
            assert backend.name == f"onnx:{model_path}"
            scan = async_to_sync(ascan)(ORDINARY_BUT_FLAGGED, policy, Direction.INPUT)
            plain = async_to_sync(ascan)("What is our refund policy?", policy, Direction.INPUT)
        finally:
            backends.configured.cache_clear()
    [hit] = [h for h in scan.hits if h.check == Check.PROMPT_INJECTION]
    assert hit.kind == backend.name[:40]
    assert hit.action == policy.action(Check.PROMPT_INJECTION)
    assert scan.score == pytest.approx(0.9526, abs=1e-3)
    assert not [h for h in plain.hits if h.check == Check.PROMPT_INJECTION]


def test_a_model_without_its_tokenizer_is_refused_by_name(tmp_path: Path) -> None:
    target = write_model(tmp_path)
    with pytest.raises(ImproperlyConfigured, match=r"tokenizer\.json"):
        backends.OnnxBackend(str(target))
    with pytest.raises(ImproperlyConfigured, match="put the model"):
        backends.OnnxBackend(str(tmp_path / "missing.onnx"))
