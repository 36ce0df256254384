"""Gateway tests run the real pipeline: LiteLLM's Router over real HTTP to the local
provider that `make test` starts, real Valkey for limits and caches, real PostgreSQL
for the ledger and the semantic cache."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Protocol, TypeVar

import httpx
import pytest
from asgiref.sync import async_to_sync
from django.conf import settings

from apps.accounts.models import User
from apps.core.db import tenant_context
from apps.gateway.models import AISettings, UsageRecord
from apps.gateway.router import Deployment, local_deployment
from apps.gateway.types import (
    CallContext,
    DoneEvent,
    ErrorEvent,
    StreamEvent,
    TokenEvent,
    UsageEvent,
)
from apps.tenants.models import Tenant
from apps.tenants.services import tenant_create

FAST = {"X-Dev-TTFT-Ms": "0", "X-Dev-Tokens-Per-S": "0"}
# A provider slower to answer than the semantic lookup, as hosted models are: the cache
# can answer first (the lookup races the provider, apps/gateway/semantic_race.py). The
# unpaced local provider answers before the lookup, so the cache would never serve.
PACED = {"X-Dev-TTFT-Ms": "1500", "X-Dev-Tokens-Per-S": "0"}

E = TypeVar("E", TokenEvent, UsageEvent, DoneEvent, ErrorEvent)


@pytest.fixture(scope="session", autouse=True)
def _local_provider() -> None:
    try:
        httpx.get(f"{settings.LOCAL_PROVIDER_URL}/health", timeout=2).raise_for_status()
    except httpx.HTTPError:
        pytest.fail(
            f"The local provider is not answering at {settings.LOCAL_PROVIDER_URL}: "
            "run the tests with `make test` (it starts the stack)."
        )


@pytest.fixture(autouse=True)
def _relay_not_cooling() -> None:
    """A relay failure in one test must not send the next test's streams to LiteLLM."""
    from apps.gateway import relay

    relay.reset_breakers()


class MakeTenant(Protocol):
    """The ``make_tenant`` fixture: a new tenant of ``owner`` on ``plan``, with these
    AISettings fields set."""

    def __call__(self, plan: str = "pro", **ai_settings: Any) -> Tenant: ...


@pytest.fixture
def make_tenant(owner: User) -> MakeTenant:
    counter = iter(range(1000))

    def make(plan: str = "pro", **ai_settings: Any) -> Tenant:
        tenant = tenant_create(owner=owner, name=f"Gateway {next(counter)}", plan=plan)
        if ai_settings:
            with tenant_context(tenant.id):
                AISettings.objects.update_or_create(tenant=tenant, defaults=ai_settings)
        return tenant

    return make


def ctx_for(tenant: Tenant, feature: str = "chat") -> CallContext:
    return CallContext(tenant_id=tenant.id, feature=feature, request_id="test")


async def collect(
    ctx: CallContext, messages: list[dict[str, str]], **kwargs: Any
) -> list[StreamEvent]:
    from apps.gateway import api

    kwargs.setdefault("extra_headers", FAST)
    return [event async for event in api.stream_chat(ctx, messages, **kwargs)]


def stream(ctx: CallContext, text: str, **kwargs: Any) -> list[StreamEvent]:
    return async_to_sync(collect)(ctx, [{"role": "user", "content": text}], **kwargs)


def expect(kind: type[E], event: StreamEvent) -> E:
    """``event``, which the test expects to be a ``kind``: fails with the event if not."""
    assert isinstance(event, kind), event
    return event


def tokens(events: list[StreamEvent]) -> str:
    return "".join(e.text for e in events if e.type == "token")


def rows(tenant: Tenant, **filters: Any) -> list[UsageRecord]:
    with tenant_context(tenant.id):
        return list(UsageRecord.objects.filter(**filters).order_by("created_at"))


def deployments(**by_alias: str) -> list[Deployment]:
    """Local deployments by model name, e.g. deployments(fast="local-fault-500")."""
    chosen = {"fast": "local-fast", "smart": "local-smart", "embed": "local-embed", **by_alias}
    return [local_deployment(alias, name) for alias, name in chosen.items()]


def price(model: str) -> tuple[Decimal, Decimal]:
    from apps.gateway.router import LOCAL_PRICES

    p = LOCAL_PRICES[model.removeprefix("openai/")]
    return p[0], p[1]
