"""Non-streaming calls: the cascade escalates on low confidence or failure, and every
call (cheap and strong) is in the ledger; embeddings are recorded too."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.test import override_settings

from apps.gateway import api
from apps.gateway.types import Completion, GatewayError
from apps.tenants.models import Tenant
from tests.gateway.conftest import FAST, MakeTenant, ctx_for, deployments, rows

QUESTION = [{"role": "user", "content": "Summarise our refund policy."}]


def complete(tenant: Tenant, **kwargs: Any) -> Completion:
    return api.complete_sync(
        ctx_for(tenant, "batch_summary"), QUESTION, extra_headers=FAST, **kwargs
    )


def test_confident_cheap_answer_is_kept(make_tenant: MakeTenant) -> None:
    tenant = make_tenant(cache_enabled=False, model_alias="smart", cascade_enabled=True)
    result = complete(tenant)
    assert result.served_model == "openai/local-fast"
    assert result.mean_logprob is not None
    assert result.mean_logprob > -0.5
    ledger = rows(tenant, feature="batch_summary")
    assert [r.served_model for r in ledger] == ["openai/local-fast"]
    assert result.usage_record_ids == [ledger[0].id]


@override_settings(GATEWAY_DEPLOYMENTS=deployments(fast="local-unsure"))
def test_unsure_cheap_answer_escalates_and_both_calls_are_recorded(make_tenant: MakeTenant) -> None:
    tenant = make_tenant(cache_enabled=False, model_alias="smart", cascade_enabled=True)
    result = complete(tenant)
    assert result.served_model == "openai/local-smart"
    ledger = rows(tenant, feature="batch_summary")
    assert [r.served_model for r in ledger] == ["openai/local-unsure", "openai/local-smart"]
    assert all(r.status == "ok" and r.cost_usd > 0 for r in ledger)
    assert result.usage_record_ids == [r.id for r in ledger]


@override_settings(GATEWAY_DEPLOYMENTS=deployments(fast="local-fault-500", smart="local-smart"))
def test_failing_cheap_model_escalates(make_tenant: MakeTenant) -> None:
    tenant = make_tenant(cache_enabled=False, model_alias="smart")
    result = complete(tenant, cascade=True)
    assert result.served_model == "openai/local-smart"
    # LiteLLM fell back inside the cheap call, then the cascade judged the answer.
    assert [r.served_model for r in rows(tenant, feature="batch_summary")][
        -1
    ] == "openai/local-smart"


def test_without_cascade_the_requested_alias_answers(make_tenant: MakeTenant) -> None:
    tenant = make_tenant(cache_enabled=False, model_alias="smart")
    result = complete(tenant)
    assert result.served_model == "openai/local-smart"
    assert len(rows(tenant, feature="batch_summary")) == 1


@override_settings(GATEWAY_DEPLOYMENTS=deployments(fast="local-fault-500", smart="local-fault-500"))
def test_complete_with_every_provider_down(make_tenant: MakeTenant) -> None:
    tenant = make_tenant(cache_enabled=False)
    with pytest.raises(GatewayError, match="not answering") as excinfo:
        complete(tenant)
    assert excinfo.value.code == "provider_unavailable"
    assert excinfo.value.permanent is False
    [row] = rows(tenant, feature="batch_summary")
    assert (row.status, row.cost_usd) == ("error", Decimal(0))


def test_embed_returns_vectors_and_records_usage(make_tenant: MakeTenant) -> None:
    tenant = make_tenant()
    vectors = api.embed_sync(ctx_for(tenant, "rag_ingest"), ["first text", "second text"])
    assert [len(v) for v in vectors] == [384, 384]
    [row] = rows(tenant, feature="rag_ingest")
    assert (row.requested_model, row.served_model, row.status) == (
        "embed",
        "openai/local-embed",
        "ok",
    )
    assert row.tokens_in > 0
    assert row.cost_usd > 0


def test_embed_rejects_bad_input(make_tenant: MakeTenant) -> None:
    tenant = make_tenant()
    with pytest.raises(GatewayError, match="non-empty list"):
        api.embed_sync(ctx_for(tenant, "rag_ingest"), [])
    assert rows(tenant) == []
