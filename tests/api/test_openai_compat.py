"""The official OpenAI SDK against the running product (uvicorn, real gateway, local
provider), authenticated by a tenant API key."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam

from apps.api import selectors as key_selectors
from apps.api import services as key_services
from apps.core.db import tenant_context
from apps.gateway.models import UsageRecord
from apps.tenants.models import Membership, Tenant
from apps.tenants.services import tenant_create
from tests.conftest import make_user
from tests.servers import asgi_server

QUESTION: list[ChatCompletionMessageParam] = [
    {"role": "user", "content": "What does row-level security do?"}
]


@pytest.fixture(scope="module")
def server(django_db_setup: None, artifacts_dir: Path) -> Iterator[str]:
    with asgi_server(artifacts_dir / "openai-compat", LOCAL_PROVIDER_TTFT_MS="0") as base:
        yield base


def new_key(scopes: list[str] | None = None) -> tuple[Tenant, str]:
    suffix = uuid.uuid4().hex[:8]
    owner = make_user(f"api-{suffix}@example.com")
    tenant = tenant_create(owner=owner, name=f"API {suffix}", plan="pro")
    with tenant_context(tenant.id):
        actor = Membership.objects.get(user=owner)
        _, raw = key_services.api_key_create(
            tenant=tenant, actor=actor, name="SDK test", scopes=scopes or ["chat", "read"]
        )
    return tenant, raw


def client(server: str, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{server}/api/v1", api_key=key, max_retries=0)


def ledger(tenant: Tenant) -> list[UsageRecord]:
    with tenant_context(tenant.id):
        return list(UsageRecord.objects.filter(feature="api_chat").order_by("created_at"))


def body(error: openai.APIStatusError) -> dict[str, Any]:
    """The error object the SDK parsed from the response: our errors always have one."""
    assert isinstance(error.body, dict), error.body
    return error.body


def test_sdk_streams_a_completion_with_usage(live_db: None, server: str) -> None:
    tenant, key = new_key()
    stream = client(server, key).chat.completions.create(
        model="fast",
        messages=QUESTION,
        stream=True,
        stream_options={"include_usage": True},
        extra_headers={"X-Dev-Tokens-Per-S": "0"},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text.startswith("[dev model] You asked:")
    assert chunks[-2].choices[0].finish_reason == "stop"
    usage = chunks[-1].usage
    assert usage is not None
    [row] = ledger(tenant)
    assert (row.tokens_in, row.tokens_out) == (usage.prompt_tokens, usage.completion_tokens)
    assert row.api_key_id is not None
    assert row.cost_usd > 0


def test_sdk_non_streaming_completion(live_db: None, server: str) -> None:
    tenant, key = new_key()
    result = client(server, key).chat.completions.create(model="smart", messages=QUESTION)
    assert result.choices[0].message.content is not None
    assert result.choices[0].message.content.startswith("[dev model]")
    assert result.usage is not None
    assert result.usage.total_tokens == result.usage.prompt_tokens + result.usage.completion_tokens
    assert ledger(tenant)[0].served_model == "openai/local-smart"


def test_bad_requests_get_openai_errors_and_store_nothing(live_db: None, server: str) -> None:
    tenant, key = new_key()
    sdk = client(server, key)
    with pytest.raises(openai.NotFoundError) as unknown:
        sdk.chat.completions.create(model="gpt-99", messages=QUESTION)
    assert body(unknown.value)["code"] == "model_not_found"
    with pytest.raises(openai.BadRequestError) as empty:
        sdk.chat.completions.create(model="fast", messages=[])
    assert "empty" in body(empty.value)["message"] or "at least one" in body(empty.value)["message"]
    with pytest.raises(openai.BadRequestError) as too_long:
        sdk.chat.completions.create(
            model="fast", messages=[{"role": "user", "content": "word " * 20_000}]
        )
    assert body(too_long.value)["code"] == "context_length_exceeded"
    malformed = httpx.post(
        f"{server}/api/v1/chat/completions",
        content=b"{not json",
        headers={"Authorization": f"Bearer {key}"},
    )
    assert malformed.status_code == 400
    assert malformed.json()["error"]["code"] == "invalid_json"
    assert ledger(tenant) == []


def test_wrong_revoked_and_unscoped_keys_are_refused(live_db: None, server: str) -> None:
    _, key = new_key()
    with pytest.raises(openai.AuthenticationError) as wrong:
        client(server, key[:-3] + "xyz").chat.completions.create(model="fast", messages=QUESTION)
    assert body(wrong.value)["code"] == "invalid_api_key"
    missing = httpx.post(
        f"{server}/api/v1/chat/completions", json={"model": "fast", "messages": QUESTION}
    )
    assert missing.status_code == 401
    assert missing.json()["error"]["code"] == "missing_api_key"
    _, read_only = new_key(scopes=["read"])
    with pytest.raises(openai.PermissionDeniedError) as unscoped:
        client(server, read_only).chat.completions.create(model="fast", messages=QUESTION)
    assert body(unscoped.value)["code"] == "missing_scope"


def test_a_revoked_key_gets_the_same_answer_here_as_on_every_endpoint(
    live_db: None, server: str
) -> None:
    tenant, key = new_key()
    with tenant_context(tenant.id):
        revoked = key_selectors.api_key_by_raw_key(key)
        assert revoked is not None
        key_services.api_key_revoke(
            tenant=tenant, actor=Membership.objects.get(tenant=tenant), key=revoked
        )
    with pytest.raises(openai.AuthenticationError) as refused:
        client(server, key).chat.completions.create(model="fast", messages=QUESTION)
    other = httpx.get(f"{server}/api/v1/me", headers={"Authorization": f"Bearer {key}"})
    assert other.status_code == 401
    assert refused.value.body == other.json()["error"]
    assert body(refused.value)["code"] == "revoked_api_key"
    assert ledger(tenant) == []


def test_budget_refusal_is_429_before_streaming(live_db: None, server: str) -> None:
    from apps.gateway.models import AISettings

    tenant, key = new_key()
    with tenant_context(tenant.id):
        AISettings.objects.update_or_create(
            tenant=tenant, defaults=dict(monthly_budget_usd=0, budget_action="block")
        )
    with pytest.raises(openai.RateLimitError) as refused:
        client(server, key).chat.completions.create(model="fast", messages=QUESTION, stream=True)
    assert body(refused.value)["code"] == "insufficient_quota"
