"""The decision's pair head: the scorer that reads both questions' embeddings, and the
fallback to the lexical scorer when the vectors are missing or come from another model.

Rates on labelled pairs are measured in bench/semantic_cache_quality.py; these tests pin
when the head runs, what it computes, and that the lookup and ``cache_decide`` hand it the
vectors.
"""

from __future__ import annotations

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
from apps.gateway.cache_verifier import decision
from apps.gateway.cache_verifier.decision import Decision, Embeddings, PairHead, Scorer, decide
from apps.gateway.router import Deployment
from tests.gateway.conftest import MakeTenant, deployments

MINILM = "all-MiniLM-L6-v2"
# A pair the rules let through that is not the same wording: step 6 decides it.
CACHED, NEW = "How do I reset my password?", "I forgot my password. How do I reset it?"
SIMILARITY = 0.9


def unit(seed: int, dimension: int = 384) -> list[float]:
    raw = [math.sin(seed * 7.1 + i * 0.37) for i in range(dimension)]
    norm = math.sqrt(sum(x * x for x in raw))
    return [x / norm for x in raw]


def constant_head(bias: float, dimension: int = 384) -> PairHead:
    """A head whose verdict is its bias alone: +60 always serves, -60 never does."""
    return PairHead(
        embedding_model=MINILM,
        dimension=dimension,
        features=("similarity",),
        weights=(0.0,),
        product=(0.0,) * dimension,
        difference=(0.0,) * dimension,
        bias=bias,
        cutoff=0.5,
    )


@pytest.fixture
def head_serves_scorer_refuses(monkeypatch: pytest.MonkeyPatch) -> None:
    """The head says yes to everything, the lexical scorer no: the verdict tells which ran."""
    monkeypatch.setattr(decision, "HEAD", constant_head(60.0))
    never = Scorer(("similarity",), (0.0,), -60.0, 0.5, decision.SCORER.floor, 0.8)
    monkeypatch.setattr(decision, "SCORER", never)


def test_the_rules_leave_the_pair_to_step_six() -> None:
    assert decision.screen(NEW, CACHED, SIMILARITY, floor=decision.DEFAULT_FLOOR) is None
    assert not decision.same_words(NEW, CACHED)


@pytest.mark.usefixtures("head_serves_scorer_refuses")
def test_the_head_decides_with_vectors_of_its_model() -> None:
    pair = Embeddings(MINILM, unit(1), unit(2))
    assert decide(NEW, CACHED, SIMILARITY, embeddings=pair) == Decision(True, "ok", 1.0)


@pytest.mark.usefixtures("head_serves_scorer_refuses")
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


@pytest.mark.usefixtures("head_serves_scorer_refuses")
def test_the_rules_still_refuse_before_the_head() -> None:
    pair = Embeddings(MINILM, unit(1), unit(2))
    verdict = decide("How do I convert EUR to USD?", "How do I convert USD to EUR?", 0.99)
    assert verdict == decide(
        "How do I convert EUR to USD?", "How do I convert USD to EUR?", 0.99, embeddings=pair
    )
    assert not verdict.hit
    under = decide(NEW, CACHED, 0.3, embeddings=pair)
    assert not under.hit
    assert "under the floor" in under.reason


def test_the_head_computes_products_and_differences_per_dimension() -> None:
    head = PairHead(
        embedding_model=MINILM,
        dimension=3,
        features=("similarity", "jaccard"),
        weights=(2.0, -1.0),
        product=(1.0, 0.0, -3.0),
        difference=(0.0, 4.0, 0.5),
        bias=-0.25,
        cutoff=0.5,
    )
    q, c = [0.6, 0.0, 0.8], [0.0, 0.6, 0.8]
    z = -0.25 + 2.0 * 0.9 - 1.0 * 0.5
    z += 1.0 * 0.0 + 0.0 * 0.0 - 3.0 * 0.64 + 0.0 * 0.6 + 4.0 * 0.6 + 0.5 * 0.0
    expected = 1.0 / (1.0 + math.exp(-z))
    got = head.probability({"similarity": 0.9, "jaccard": 0.5}, Embeddings(MINILM, q, c))
    assert got == pytest.approx(expected)


def test_the_shipped_head_is_plain_json_for_the_local_embedding_model() -> None:
    data = json.loads(decision.MODEL_FILE.read_text(encoding="utf-8"))
    head = data["pair_head"]
    assert (head["embedding_model"], head["dimension"]) == (MINILM, 384)
    assert len(head["product_weights"]) == len(head["difference_weights"]) == 384
    assert "dev half" in head["trained"]["on"]
    assert decision.HEAD is not None
    assert decision.HEAD.embedding_model == semantic_cache.LOCAL_EMBEDDINGS
    computed = decision.pair_features(NEW, CACHED, SIMILARITY)
    assert set(head["features"]) <= set(computed)


def test_a_head_whose_weights_do_not_match_its_dimension_does_not_load() -> None:
    data = json.loads(decision.MODEL_FILE.read_text(encoding="utf-8"))["pair_head"]
    data["product_weights"] = data["product_weights"][:-1]
    with pytest.raises(ValueError, match="do not match its dimension"):
        PairHead.from_json(data)


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

    monkeypatch.setattr(semantic_cache, "decide", recording)
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
