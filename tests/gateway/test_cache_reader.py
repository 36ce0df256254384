"""The pair reader, alone (version 8) and after version 7 (version 9): its verdicts
through the real lookup (pgvector, the local provider's embeddings), one batch per lookup,
the fallback to version 7 without its weights, and its weights read without pickle."""

from __future__ import annotations

import dataclasses
import json
import logging
import sys
import zipfile
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from asgiref.sync import async_to_sync

from apps.gateway import semantic_cache
from apps.gateway.cache_verifier import decision, reader
from apps.gateway.cache_verifier.decision import Embeddings, decide
from apps.tenants.models import Tenant
from tests.gateway.conftest import MakeTenant

KEY = {"alias": "fast", "system_prompt_hash": "r" * 64}
# Version 7 refuses both (too different; routes differ); the reader tells them apart.
# Log-odds as shipped (both orders averaged): 6.48 and -5.55.
REWORDED = ("Does the Team plan come with SSO?", "Is SSO part of the Team plan?")
SWAPPED = ("How do I convert USD to EUR?", "How do I convert EUR to USD?")
# A batch of three pairs of different lengths (padding between them).
THREE = [REWORDED, SWAPPED, ("Hi", "How do I export all my invoices as a single PDF file?")]


Switch = Callable[..., None]


@pytest.fixture
def version(monkeypatch: pytest.MonkeyPatch) -> Switch:
    """``version(8)`` switches the reader on alone for the test, ``version(9)`` on after
    version 7, ``version(7)`` off."""

    def switch(number: int, candidates: str = "all") -> None:
        on = dataclasses.replace(
            decision.READER,
            enabled=number in (8, 9),
            candidates=candidates,
            mode="after_version_7" if number == 9 else "alone",
        )
        monkeypatch.setattr(decision, "READER", on)

    return switch


def embed(texts: list[str]) -> list[list[float]]:
    return async_to_sync(semantic_cache.embed_for_evaluation)(texts)


def store(tenant: Tenant, questions: list[str]) -> None:
    for question, vector in zip(questions, embed(questions), strict=True):
        semantic_cache.store_sync(
            tenant_id=str(tenant.id),
            **KEY,
            query=question,
            embedding=vector,
            response=f"answer to {question}",
            served_model="openai/local-fast",
            tokens_in=1,
            tokens_out=1,
            cost_usd=Decimal("0"),
        )


def lookup(tenant: Tenant, question: str) -> semantic_cache.SemanticHit | None:
    return semantic_cache.lookup_sync(
        tenant_id=str(tenant.id),
        **KEY,
        query=question,
        embedding=embed([question])[0],
        threshold=decision.DEFAULT_FLOOR,
    )


def counting_forwards(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The batch size of every forward the reader runs from now on in the test."""
    calls: list[int] = []
    original = reader.Reader.log_odds

    def counted(self: reader.Reader, pairs: Any, **how: Any) -> list[float]:
        calls.append(len(pairs))
        return original(self, pairs, **how)

    monkeypatch.setattr(reader.Reader, "log_odds", counted)
    return calls


def test_the_shipped_model_file_is_version_9() -> None:
    """Version 7 first, then the reader on the first candidate it refused."""
    assert decision.READER.enabled is True
    assert decision.READER.mode == "after_version_7"
    assert decision.READER.candidates == "first"
    assert decision.READER.cutoff_log_odds == pytest.approx(2.3)
    assert decision.READER.orders == "both"
    assert decision.READER.embedding_model == semantic_cache.LOCAL_EMBEDDINGS
    assert decision.READER.weights == "reader_r13b.npz"


def test_the_weights_file_is_a_setting_read_from_beside_the_reader(tmp_path: Path) -> None:
    model = {"reader": {"enabled": True, "cutoff_log_odds": 1.0, "weights": "reader_r12.npz"}}
    (tmp_path / "model.json").write_text(json.dumps(model), encoding="utf-8")
    switch = decision.ReaderSwitch.load(tmp_path / "model.json")
    assert switch.weights == "reader_r12.npz"
    assert reader.trained_file(switch.weights) == reader.WEIGHTS_DIR / "reader_r12.npz"
    for name in ("../reader_r11.npz", "/srv/reader.npz", "reader_r11.json", ".npz"):
        model["reader"]["weights"] = name
        (tmp_path / "model.json").write_text(json.dumps(model), encoding="utf-8")
        with pytest.raises(ValueError, match=r"not a \.npz file name"):
            decision.ReaderSwitch.load(tmp_path / "model.json")
    del model["reader"]["weights"]
    (tmp_path / "model.json").write_text(json.dumps(model), encoding="utf-8")
    assert decision.ReaderSwitch.load(tmp_path / "model.json").weights == reader.DEFAULT_WEIGHTS


def test_the_decision_reads_the_weights_its_setting_names(
    monkeypatch: pytest.MonkeyPatch, version: Switch
) -> None:
    loaded: list[str] = []
    original = reader.load

    def recorded(weights: str = reader.DEFAULT_WEIGHTS) -> reader.Reader | None:
        loaded.append(weights)
        return original(weights)

    monkeypatch.setattr(reader, "load", recorded)
    vectors = Embeddings("all-MiniLM-L6-v2", [1.0] + [0.0] * 383, [1.0] + [0.0] * 383)
    version(8)
    first = decide(REWORDED[1], REWORDED[0], 0.9, embeddings=vectors)
    monkeypatch.setattr(
        decision, "READER", dataclasses.replace(decision.READER, weights="reader_r12.npz")
    )
    second = decide(REWORDED[1], REWORDED[0], 0.9, embeddings=vectors)
    assert loaded == ["reader_r13b.npz", "reader_r12.npz"]
    assert first.score != second.score  # two readers, two scores


def test_version_8_serves_a_rewording_the_reader_reads_as_the_same_question(
    make_tenant: MakeTenant, version: Switch
) -> None:
    tenant = make_tenant()
    store(tenant, [REWORDED[0], SWAPPED[0]])
    version(8)
    hit = lookup(tenant, REWORDED[1])
    assert hit is not None
    assert hit.query == REWORDED[0]
    # The hit's score is the reader's probability; read back as log-odds (near 1, a
    # probability's tolerance would hide any sure score).
    assert np.log(hit.score / (1 - hit.score)) == pytest.approx(6.48, abs=0.05)


def test_version_8_refuses_swapped_arguments_with_the_readers_score(
    make_tenant: MakeTenant, version: Switch
) -> None:
    tenant = make_tenant()
    store(tenant, [SWAPPED[0]])
    version(8)
    assert lookup(tenant, SWAPPED[1]) is None
    [new] = embed([SWAPPED[1]])
    [cached] = embed([SWAPPED[0]])
    similarity = semantic_cache.cosine(new, cached)
    verdict = decide(
        SWAPPED[1], SWAPPED[0], similarity, embeddings=Embeddings("all-MiniLM-L6-v2", new, cached)
    )
    assert not verdict.hit
    assert verdict.reason.startswith("too different: reader log-odds -5.5")
    assert verdict.reason.endswith("under 2.30")


def test_version_8_reads_a_lookups_candidates_as_one_batch(
    make_tenant: MakeTenant, version: Switch, monkeypatch: pytest.MonkeyPatch
) -> None:
    tenant = make_tenant()
    store(tenant, ["How do I cancel my plan?", "How do I cancel my order?", SWAPPED[0]])
    calls = counting_forwards(monkeypatch)
    version(8)
    lookup(tenant, "How can I cancel my subscription?")
    assert len(calls) == 1
    assert calls[0] >= 2  # the two cancellations reach the floor; the conversion does not
    calls.clear()
    version(8, candidates="first")
    lookup(tenant, "How can I cancel my subscription?")
    assert calls == [1]
    calls.clear()
    version(7)
    lookup(tenant, "How can I cancel my subscription?")
    assert calls == []


def test_without_its_weights_version_7_decides_and_says_so_once(
    monkeypatch: pytest.MonkeyPatch, version: Switch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(reader, "_READERS", {})
    question, same = "How can I reset my password?", "How do I reset my password?"
    vectors = Embeddings("all-MiniLM-L6-v2", [1.0] + [0.0] * 383, [1.0] + [0.0] * 383)
    version(7)
    expected = decide(same, question, 0.95, embeddings=vectors)
    version(8)
    monkeypatch.setattr(
        decision, "READER", dataclasses.replace(decision.READER, weights="reader_none.npz")
    )
    with caplog.at_level(logging.WARNING, logger=reader.__name__):
        assert decide(same, question, 0.95, embeddings=vectors) == expected
        assert decide(same, question, 0.95, embeddings=vectors) == expected
    assert expected == decision.Decision(True, "same wording", 1.0)
    warnings = [r for r in caplog.records if "weights are missing" in r.getMessage()]
    assert len(warnings) == 1
    assert str(reader.WEIGHTS_DIR / "reader_none.npz") in warnings[0].getMessage()


def test_another_embedding_model_keeps_version_7(version: Switch) -> None:
    vectors = Embeddings("text-embedding-3-small", [1.0, 0.0], [1.0, 0.0])
    version(7)
    expected = decide(REWORDED[1], REWORDED[0], 0.9, embeddings=vectors)
    version(8)
    assert decide(REWORDED[1], REWORDED[0], 0.9, embeddings=vectors) == expected
    assert "reader" not in expected.reason


@pytest.mark.parametrize("name", sorted(p.name for p in reader.WEIGHTS_DIR.glob("reader_*.npz")))
def test_the_readers_weights_load_without_pickle(name: str) -> None:
    path = reader.trained_file(name)
    assert path.stat().st_size <= 16_000_000
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
    assert all(name.endswith(".npy") for name in names)
    with np.load(path, allow_pickle=False) as stored:
        kinds = {n: stored[n].dtype for n in stored.files}
    assert set(kinds.values()) <= {np.dtype(np.float16), np.dtype(np.float32)}
    # Layer 0, every bias and norm, and the head float32; layers 1-2's matrices float16.
    assert kinds["layer0.i.weight"] == kinds["layer2.ln1.weight"] == np.float32
    assert kinds["layer1.q.weight"] == kinds["layer2.f.weight"] == np.float16
    layers, (head, bias) = reader.read_trained(path)
    assert len(layers) == 3
    assert layers[2].up.dtype == np.float32
    assert layers[2].up.flags["C_CONTIGUOUS"]
    assert head.shape == (384,)
    assert isinstance(bias, float)


def test_a_batch_scores_each_pair_as_alone() -> None:
    pairs = THREE
    pair_reader = reader.load()
    assert pair_reader is not None
    alone = [pair_reader.log_odds([pair])[0] for pair in pairs]
    together = pair_reader.log_odds(pairs)
    assert together == pytest.approx(alone, abs=1e-4)
    assert together[0] >= decision.READER.cutoff_log_odds > together[1]


def build_shipped(**how: bool) -> reader.Reader:
    """A new reader of the shipped weights (``use_onnxruntime=False``: the numpy reference
    the graph must equal), built apart from the process's own."""
    model_dir = reader.package_dir()
    assert model_dir is not None
    return reader.build(model_dir, reader.trained_file(decision.READER.weights), **how)


def test_the_layers_run_on_onnxruntime_and_equal_the_numpy_forward() -> None:
    """The shipped reader runs on onnxruntime, on the calling thread alone; a padded batch
    read in both orders gives numpy's log-odds (14,445 development pairs: within 1.2e-5,
    docs/adr/0010 round 16)."""
    pair_reader = reader.load(decision.READER.weights)
    assert pair_reader is not None
    assert pair_reader.engine == "onnxruntime"
    options = pair_reader._compiled._session.get_session_options()  # type: ignore[union-attr]
    assert (options.intra_op_num_threads, options.inter_op_num_threads) == (1, 1)
    reference = build_shipped(use_onnxruntime=False)
    assert reference.engine == "numpy"
    for both in (False, True):
        got = pair_reader.log_odds(THREE, both_orders=both)
        assert got == pytest.approx(reference.log_odds(THREE, both_orders=both), abs=1e-4)
    assert got[0] >= decision.READER.cutoff_log_odds > got[1]


@pytest.mark.parametrize("how", ["not installed", "refuses the graph"])
def test_without_a_working_onnxruntime_the_reader_runs_on_numpy_and_says_so(
    how: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    if how == "not installed":
        monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import raises ImportError
        said = "runs on numpy"
    else:
        import onnxruntime

        def refuse(*args: Any, **kwargs: Any) -> None:
            raise onnxruntime.capi.onnxruntime_pybind11_state.Fail("no kernel for this CPU")

        monkeypatch.setattr(onnxruntime, "InferenceSession", refuse)
        said = "numpy forward runs instead"
    with caplog.at_level(logging.INFO):
        fallback = build_shipped()
    assert fallback.engine == "numpy"
    assert any(said in r.getMessage() for r in caplog.records)
    shipped = reader.load(decision.READER.weights)
    assert shipped is not None
    assert fallback.log_odds(THREE) == pytest.approx(shipped.log_odds(THREE), abs=1e-4)


def test_both_orders_average_the_two_readings_of_each_pair_in_one_batch() -> None:
    pairs = THREE
    pair_reader = reader.load()
    assert pair_reader is not None
    forward = pair_reader.log_odds(pairs)
    backward = pair_reader.log_odds([(new, cached) for cached, new in pairs])
    both = pair_reader.log_odds(pairs, both_orders=True)
    assert both == pytest.approx(
        [(a + b) / 2 for a, b in zip(forward, backward, strict=True)], abs=1e-4
    )
    assert abs(forward[0] - backward[0]) > 0.5  # the two readings of REWORDED differ
    assert pair_reader.log_odds([], both_orders=True) == []


def test_the_orders_setting_is_read_and_checked(tmp_path: Path) -> None:
    path = tmp_path / "model.json"
    model: dict[str, Any] = {"reader": {"enabled": True, "cutoff_log_odds": 1.0}}
    path.write_text(json.dumps(model), encoding="utf-8")
    assert decision.ReaderSwitch.load(path).orders == "one"
    model["reader"]["orders"] = "both"
    path.write_text(json.dumps(model), encoding="utf-8")
    assert decision.ReaderSwitch.load(path).orders == "both"
    model["reader"]["orders"] = "reversed"
    path.write_text(json.dumps(model), encoding="utf-8")
    with pytest.raises(ValueError, match=r"reader\.orders is 'reversed', not 'one' or 'both'"):
        decision.ReaderSwitch.load(path)


def test_the_decision_reads_the_pair_in_the_orders_its_setting_names(
    monkeypatch: pytest.MonkeyPatch, version: Switch
) -> None:
    vectors = Embeddings("all-MiniLM-L6-v2", [1.0] + [0.0] * 383, [1.0] + [0.0] * 383)
    version(8)
    both = decide(REWORDED[1], REWORDED[0], 0.9, embeddings=vectors)
    monkeypatch.setattr(decision, "READER", dataclasses.replace(decision.READER, orders="one"))
    one = decide(REWORDED[1], REWORDED[0], 0.9, embeddings=vectors)
    assert both.reason.startswith("reader: log-odds 6.48")
    assert one.reason.startswith("reader: log-odds 6.85")


REPEAT = ("How can I reset my password?", "How do I reset my password?")  # reader: 1.09


def test_version_9_serves_what_version_7_serves_without_reading(
    make_tenant: MakeTenant, version: Switch, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The near-verbatim repeat the reader alone turns away (version 8) is served.
    tenant = make_tenant()
    store(tenant, [REPEAT[0]])
    calls = counting_forwards(monkeypatch)
    version(8)
    assert lookup(tenant, REPEAT[1]) is None
    calls.clear()
    version(9, candidates="first")
    hit = lookup(tenant, REPEAT[1])
    assert hit is not None
    assert hit.query == REPEAT[0]
    assert calls == []


def test_version_9_serves_a_rewording_version_7_refuses_when_the_reader_is_sure(
    make_tenant: MakeTenant, version: Switch
) -> None:
    tenant = make_tenant()
    store(tenant, [REWORDED[0]])
    version(7)
    assert lookup(tenant, REWORDED[1]) is None
    version(9, candidates="first")
    hit = lookup(tenant, REWORDED[1])
    assert hit is not None
    assert hit.query == REWORDED[0]
    [new] = embed([REWORDED[1]])
    [cached] = embed([REWORDED[0]])
    verdict = decide(
        REWORDED[1],
        REWORDED[0],
        semantic_cache.cosine(new, cached),
        embeddings=Embeddings("all-MiniLM-L6-v2", new, cached),
    )
    assert verdict.hit
    assert verdict.reason.startswith("reader: log-odds 6.48")
    assert "(version 7: " in verdict.reason


def test_by_default_a_rewording_version_7_refuses_is_served(make_tenant: MakeTenant) -> None:
    """The shipped settings, nothing switched: version 9 serves what the reader is sure of."""
    tenant = make_tenant()
    store(tenant, [REWORDED[0], SWAPPED[0]])
    hit = lookup(tenant, REWORDED[1])
    assert hit is not None
    assert hit.query == REWORDED[0]
    assert lookup(tenant, SWAPPED[1]) is None


def test_version_9_keeps_version_7s_refusal_with_the_readers_score(version: Switch) -> None:
    [new] = embed([SWAPPED[1]])
    [cached] = embed([SWAPPED[0]])
    similarity = semantic_cache.cosine(new, cached)
    vectors = Embeddings("all-MiniLM-L6-v2", new, cached)
    version(7)
    refused = decide(SWAPPED[1], SWAPPED[0], similarity, embeddings=vectors)
    version(9)
    verdict = decide(SWAPPED[1], SWAPPED[0], similarity, embeddings=vectors)
    assert not refused.hit
    assert not verdict.hit
    assert verdict.reason.startswith(refused.reason + "; reader log-odds -5.5")


def test_version_9_reads_one_refused_candidate_per_lookup(
    make_tenant: MakeTenant, version: Switch, monkeypatch: pytest.MonkeyPatch
) -> None:
    tenant = make_tenant()
    store(tenant, ["How do I cancel my plan?", "How do I cancel my order?", SWAPPED[0]])
    calls = counting_forwards(monkeypatch)
    version(9, candidates="first")
    lookup(tenant, "How can I cancel my subscription?")
    assert calls == [1]
    calls.clear()
    version(9, candidates="all")
    # A cutoff no pair reaches: every candidate is refused, so the lookup reads them all.
    monkeypatch.setattr(
        decision, "READER", dataclasses.replace(decision.READER, cutoff_log_odds=99.0)
    )
    assert lookup(tenant, "How can I cancel my subscription?") is None
    assert len(calls) >= 2  # one forward per refused candidate
    assert set(calls) == {1}


def test_warm_up_builds_the_reader_only_when_the_decision_uses_it(
    monkeypatch: pytest.MonkeyPatch, version: Switch
) -> None:
    monkeypatch.setattr(reader, "_READERS", {})
    version(7)
    decision.warm_up()
    assert reader._READERS == {}
    version(9)
    decision.warm_up()
    assert reader._READERS[decision.READER.weights]._done is True
    assert reader.load(decision.READER.weights) is not None
