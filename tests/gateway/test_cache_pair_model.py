"""The decision's pair model: gradient-boosted trees shipped as JSON, what they read, and
the fallback to the lexical scorer when the vectors are missing or come from another model.

Rates on labelled pairs are measured in bench/semantic_cache_quality.py; these tests pin
when the pair model runs, what it computes from the shipped JSON, and that the lookup and
``cache_decide`` hand it the vectors.
"""

from __future__ import annotations

import dataclasses
import io
import json
import math
import uuid
from decimal import Decimal
from typing import Any

import pytest
from django.core.management import call_command
from pytest_django import Settings

from apps.gateway import semantic_cache
from apps.gateway.cache_verifier import decision, pair_model
from apps.gateway.cache_verifier.decision import Decision, Embeddings, Scorer, decide
from apps.gateway.cache_verifier.pair_model import LEAF, Forest, Tree
from apps.gateway.router import Deployment
from tests.gateway.conftest import MakeTenant, deployments

MINILM = "all-MiniLM-L6-v2"
# A pair the rules let through that is not the same wording: step 6 decides it.


@pytest.fixture(autouse=True)
def _version_7(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests pin version 7's steps and trees: the pair reader stays out of them
    (tests/gateway/test_cache_reader.py tests it, alone and after version 7)."""
    monkeypatch.setattr(decision, "READER", dataclasses.replace(decision.READER, enabled=False))


CACHED, NEW = "How do I reset my password?", "I forgot my password. How do I reset it?"
SIMILARITY = 0.9
# A pair the alignment check refuses: the arguments are swapped.
SWAP_CACHED, SWAP_NEW = "How do I convert USD to EUR?", "How do I convert EUR to USD?"


def unit(seed: int, dimension: int = 384) -> list[float]:
    raw = [math.sin(seed * 7.1 + i * 0.37) for i in range(dimension)]
    norm = math.sqrt(sum(x * x for x in raw))
    return [x / norm for x in raw]


def constant_forest(log_odds: float) -> Forest:
    """A forest whose verdict is one leaf: +60 always serves, -60 never does."""
    leaf = Tree(feature=(0,), threshold=(0.0,), left=(LEAF,), right=(LEAF,), value=(log_odds,))
    return Forest(MINILM, 384, ("similarity",), 0.0, (leaf,), cutoff=0.5)


@pytest.fixture
def forest_serves_scorer_refuses(monkeypatch: pytest.MonkeyPatch) -> None:
    """The forest says yes to everything, the lexical scorer no: the verdict tells which ran."""
    monkeypatch.setattr(decision, "FOREST", constant_forest(60.0))
    never = Scorer(("similarity",), (0.0,), -60.0, 0.5, decision.SCORER.floor, 0.8)
    monkeypatch.setattr(decision, "SCORER", never)


def test_the_rules_leave_the_pair_to_step_six() -> None:
    assert decision.screen(NEW, CACHED, SIMILARITY, floor=decision.DEFAULT_FLOOR) is None
    assert not decision.same_words(NEW, CACHED)


@pytest.mark.usefixtures("forest_serves_scorer_refuses")
def test_the_forest_decides_with_vectors_of_its_model() -> None:
    pair = Embeddings(MINILM, unit(1), unit(2))
    assert decide(NEW, CACHED, SIMILARITY, embeddings=pair) == Decision(True, "ok", 1.0)


@pytest.mark.usefixtures("forest_serves_scorer_refuses")
@pytest.mark.parametrize(
    "embeddings",
    [
        None,
        Embeddings("text-embedding-3-small", unit(1), unit(2)),  # another model, same size
        Embeddings(None, unit(1), unit(2)),  # the model is not known
        Embeddings(MINILM, unit(1, 383), unit(2, 383)),  # another dimension
        Embeddings(MINILM, unit(1), []),  # the cached vector is missing
    ],
)
def test_without_vectors_of_its_model_the_lexical_scorer_decides(
    embeddings: Embeddings | None,
) -> None:
    verdict = decide(NEW, CACHED, SIMILARITY, embeddings=embeddings)
    assert not verdict.hit
    assert verdict.reason == "too different: score 0.00 under 0.50"


@pytest.mark.usefixtures("forest_serves_scorer_refuses")
@pytest.mark.parametrize(
    ("new", "cached", "similarity", "reason"),
    [
        (NEW, CACHED, 0.3, "under the floor"),
        ("What does `docker ps -a` do?", "What does `docker ps` do?", 0.99, "code differs"),
        ("12345 678", "12345 679", 0.99, "only numbers or code"),
        ("   ", CACHED, 0.99, "empty question"),
        ("x" * 2_001, CACHED, 0.99, "longer than"),
    ],
)
def test_steps_one_and_two_refuse_before_the_forest(
    new: str, cached: str, similarity: float, reason: str
) -> None:
    verdict = decide(new, cached, similarity, embeddings=Embeddings(MINILM, unit(1), unit(2)))
    assert not verdict.hit
    assert reason in verdict.reason


def test_the_rules_refuse_for_the_lexical_scorer_and_inform_the_forest(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pair = Embeddings(MINILM, unit(1), unit(2))
    fallback = decide(SWAP_NEW, SWAP_CACHED, 0.99)
    assert not fallback.hit
    assert "differ" in fallback.reason
    # A forest that refuses gives the rule's reason; one that serves overrides it.
    monkeypatch.setattr(decision, "FOREST", constant_forest(-60.0))
    refused = decide(SWAP_NEW, SWAP_CACHED, 0.99, embeddings=pair)
    assert (refused.hit, refused.reason) == (False, fallback.reason)
    monkeypatch.setattr(decision, "FOREST", constant_forest(60.0))
    served = decide(SWAP_NEW, SWAP_CACHED, 0.99, embeddings=pair)
    assert (served.hit, served.reason) == (True, f"ok, though {fallback.reason}")
    # What the rules found reaches the trees as two features.
    swapped = decision.pair_features(SWAP_NEW, SWAP_CACHED, 0.99)
    assert swapped["facet_differs"] + swapped["roles_differ"] >= 1.0
    plain = decision.pair_features(NEW, CACHED, SIMILARITY)
    assert (plain["facet_differs"], plain["roles_differ"]) == (0.0, 0.0)


def test_the_forest_adds_the_leaves_its_pair_reaches() -> None:
    # Tree 1 splits on similarity at 0.8, then (left) on jaccard at 0.5; tree 2 is one leaf.
    first = Tree(
        feature=(0, 1, 0, 0, 0),
        threshold=(0.8, 0.5, 0.0, 0.0, 0.0),
        left=(1, 3, LEAF, LEAF, LEAF),
        right=(2, 4, LEAF, LEAF, LEAF),
        value=(0.0, 0.0, 2.0, -1.5, 0.25),
    )
    second = Tree(feature=(0,), threshold=(0.0,), left=(LEAF,), right=(LEAF,), value=(0.5,))
    forest = Forest(MINILM, 384, ("similarity", "jaccard"), -0.1, (first, second), 0.5)
    assert forest.log_odds({"similarity": 0.9, "jaccard": 0.0}) == pytest.approx(-0.1 + 2.0 + 0.5)
    assert forest.log_odds({"similarity": 0.8, "jaccard": 0.5}) == pytest.approx(-0.1 - 1.5 + 0.5)
    assert forest.log_odds({"similarity": 0.7, "jaccard": 0.6}) == pytest.approx(-0.1 + 0.25 + 0.5)
    expected = 1.0 / (1.0 + math.exp(-(0.65)))
    assert forest.probability({"similarity": 0.7, "jaccard": 0.6}) == pytest.approx(expected)


def _walk(tree: dict[str, list[Any]], x: list[float]) -> float:
    node = 0
    while tree["left"][node] != -1:
        go_left = x[tree["feature"][node]] <= tree["threshold"][node]
        node = tree["left"][node] if go_left else tree["right"][node]
    return float(tree["value"][node])


@pytest.mark.parametrize(
    ("new", "cached", "similarity"),
    [
        (NEW, CACHED, SIMILARITY),
        (SWAP_NEW, SWAP_CACHED, 0.97),
        ("Wie viel kostet Pro?", CACHED, 0.7),
    ],
)
def test_the_shipped_forest_computes_what_its_json_says(
    new: str, cached: str, similarity: float
) -> None:
    data = json.loads(decision.MODEL_FILE.read_text(encoding="utf-8"))["pair_model"]
    values = decision.pair_features(new, cached, similarity)
    x = [values[name] for name in data["features"]]
    log_odds = data["base"] + sum(_walk(tree, x) for tree in data["trees"])
    assert decision.FOREST is not None
    assert decision.FOREST.log_odds(values) == pytest.approx(log_odds)
    served = 1.0 / (1.0 + math.exp(-log_odds)) >= data["cutoff"]
    pair = Embeddings(MINILM, unit(1), unit(2))
    screened = decision.hard_screen(new, cached, similarity, floor=decision.DEFAULT_FLOOR)
    rules = decision.rule_findings(new, cached)
    same = rules == (None, None) and decision.same_words(new, cached)
    if screened is None and not same:
        assert decide(new, cached, similarity, embeddings=pair).hit is served


def test_the_shipped_decision_refuses_swapped_arguments_and_serves_a_reordering() -> None:
    # Similarities as all-MiniLM-L6-v2 gives them for these pairs. Since version 7 (thirteen
    # writers, every file within 1%) the forest serves few rewordings with other words; the
    # same words in another order still reach the cached answer.
    pair = Embeddings(MINILM, unit(1), unit(2))
    swapped = decide(SWAP_NEW, SWAP_CACHED, 0.992, embeddings=pair)
    assert not swapped.hit
    assert "differ" in swapped.reason
    reordered = decide(
        "Export my invoices as a CSV file: how?",
        "How can I export my invoices as a CSV file?",
        0.93,
        embeddings=pair,
    )
    assert reordered.hit
    assert reordered.reason == "same wording"


def test_the_shipped_model_is_plain_json_for_the_local_embedding_model() -> None:
    data = json.loads(decision.MODEL_FILE.read_text(encoding="utf-8"))
    forest = data["pair_model"]
    assert (forest["embedding_model"], forest["dimension"]) == (MINILM, 384)
    assert "dev half" in forest["trained"]["on"]
    assert set(forest["features"]) <= set(pair_model.FEATURES)
    assert len(forest["trees"]) >= 50
    assert decision.FOREST is not None
    assert decision.FOREST.embedding_model == semantic_cache.LOCAL_EMBEDDINGS
    assert set(data["features"]) <= set(decision.pair_features(NEW, CACHED, SIMILARITY))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda f: f["trees"][0]["left"].__setitem__(0, 10_000), "points outside"),
        (lambda f: f["trees"][0]["value"].pop(), "different lengths"),
        (lambda f: f["features"].append("vibes"), "not computed here"),
    ],
)
def test_a_broken_forest_does_not_load(change: Any, message: str) -> None:
    data = json.loads(decision.MODEL_FILE.read_text(encoding="utf-8"))["pair_model"]
    change(data)
    with pytest.raises(ValueError, match=message):
        Forest.from_json(data)


@pytest.mark.parametrize(
    ("embed", "expected"),
    [
        ([], MINILM),  # the local provider's alias
        ([Deployment("embed", "openai/text-embedding-3-small", api_key="k")], None),  # two
    ],
)
def test_the_embedding_model_is_named_only_when_one_deployment_embeds(
    settings: Settings, embed: list[Deployment], expected: str | None
) -> None:
    settings.GATEWAY_DEPLOYMENTS = deployments() + embed
    assert semantic_cache.embedding_model() == expected


def test_another_provider_s_embedding_model_is_named_as_it_is(settings: Settings) -> None:
    settings.GATEWAY_DEPLOYMENTS = [d for d in deployments() if d.alias != "embed"] + [
        Deployment("embed", "openai/text-embedding-3-small", api_key="k")
    ]
    assert semantic_cache.embedding_model() == "text-embedding-3-small"


def test_the_lookup_hands_the_stored_vector_and_the_model_to_the_decision(
    make_tenant: MakeTenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    tenant = make_tenant()
    stored, query = unit(3), unit(4)
    key = {"alias": "fast", "system_prompt_hash": uuid.uuid4().hex}
    semantic_cache.store_sync(
        tenant_id=str(tenant.id),
        query=CACHED,
        embedding=stored,
        response="Use the reset link.",
        served_model="local-fast",
        tokens_in=3,
        tokens_out=4,
        cost_usd=Decimal("0.0001"),
        **key,
    )
    seen: list[dict[str, Any]] = []

    def recording(query: str, cached: str, similarity: float, **kwargs: Any) -> Decision:
        seen.append({"query": query, "cached": cached, **kwargs})
        return Decision(False, "recorded")

    # The lookup decides its candidates through decide_candidates, which calls decide.
    monkeypatch.setattr("apps.gateway.cache_verifier.decision.decide", recording)
    found = semantic_cache.lookup_sync(
        tenant_id=str(tenant.id), query=NEW, embedding=query, threshold=-1.0, **key
    )
    assert found is None
    [call] = seen
    assert (call["query"], call["cached"]) == (NEW, CACHED)
    pair = call["embeddings"]
    assert pair.model == MINILM
    assert list(pair.query) == query
    assert list(pair.cached) == pytest.approx(stored, abs=1e-6)  # stored as float4


def test_cache_decide_hands_both_vectors_to_the_decision_and_keeps_its_format(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[Embeddings] = []
    real = decide

    def recording(query: str, cached: str, similarity: float, **kwargs: Any) -> Decision:
        seen.append(kwargs["embeddings"])
        return real(query, cached, similarity, **kwargs)

    monkeypatch.setattr("apps.gateway.management.commands.cache_decide.decide", recording)
    source = json.dumps({"id": "a", "cached": CACHED, "new": NEW}) + "\n"
    monkeypatch.setattr("sys.stdin", io.StringIO(source))
    out = io.StringIO()
    call_command("cache_decide", "-", stdout=out)
    [row] = [json.loads(line) for line in out.getvalue().splitlines()]
    assert set(row) == {"id", "hit", "similarity", "reason"}
    assert row["id"] == "a"
    assert isinstance(row["hit"], bool)
    [pair] = seen
    assert pair.model == MINILM
    assert len(pair.query) == len(pair.cached) == 384
    assert semantic_cache.cosine(list(pair.query), list(pair.cached)) == pytest.approx(
        row["similarity"], abs=1e-4
    )
