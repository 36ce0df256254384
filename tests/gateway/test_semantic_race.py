"""The semantic cache races the provider (apps/gateway/semantic_race.py, ADR 0011): the
cache serves only when its hit comes before the provider's answer; one answer, one
settlement, the overtaken call recorded with nothing billed."""

from __future__ import annotations

import asyncio
import uuid
from decimal import Decimal
from typing import Any

import pytest
from asgiref.sync import async_to_sync

from apps.core.db import tenant_context
from apps.core.redis_client import sync_redis
from apps.gateway import api, semantic_race
from apps.gateway.models import SemanticCacheEntry
from apps.gateway.pipeline import Looked
from apps.gateway.semantic_cache import SemanticHit
from apps.tenants.models import Tenant
from tests.gateway.conftest import FAST, PACED, MakeTenant, ctx_for, rows, stream, tokens

QUESTION = "How can I reset my password?"
PARAPHRASE = "How do I reset my password?"


def ask(tenant: Tenant, text: str, headers: dict[str, str]) -> Any:
    return api.complete_sync(
        ctx_for(tenant, "api_chat"), [{"role": "user", "content": text}], extra_headers=headers
    )


def entries(tenant: Tenant) -> int:
    with tenant_context(tenant.id):
        return SemanticCacheEntry.objects.count()


def tokens_today(tenant: Tenant) -> int:
    keys = sync_redis().keys(f"gw:{{{tenant.id}}}:tokens:*")
    return sum(int(sync_redis().get(key) or 0) for key in keys)


def test_a_whole_answer_from_the_cache_cancels_the_provider_and_settles_once(
    make_tenant: MakeTenant,
) -> None:
    tenant = make_tenant(semantic_threshold=Decimal("0.80"))
    first = ask(tenant, QUESTION, FAST)
    used = tokens_today(tenant)
    assert used == first.tokens_in + first.tokens_out > 0
    second = ask(tenant, PARAPHRASE, PACED)
    assert (second.cache, second.content) == ("semantic", first.content)
    answers = rows(tenant, feature="api_chat")
    assert [(r.cache, r.status, r.cost_usd > 0) for r in answers] == [
        ("", "ok", True),
        ("semantic", "ok", False),
    ]
    [overtaken] = rows(tenant, feature="semantic_cache", status="aborted")
    assert (overtaken.error_code, overtaken.tokens_out, overtaken.cost_usd) == (
        "cache_answered",
        0,
        Decimal(0),
    )
    # The hit's reservation was released: the day's count holds the first call only.
    assert tokens_today(tenant) == used


def test_a_provider_faster_than_the_lookup_answers_and_the_answer_is_still_cached(
    make_tenant: MakeTenant,
) -> None:
    tenant = make_tenant(semantic_threshold=Decimal("0.80"))
    ask(tenant, QUESTION, FAST)
    # The unpaced provider answers before the paraphrase's lookup: its answer is served.
    second = ask(tenant, PARAPHRASE, FAST)
    assert second.cache == ""
    assert [r.cache for r in rows(tenant, feature="api_chat")] == ["", ""]
    assert rows(tenant, feature="semantic_cache", status="aborted") == []
    # The first answer was stored once its lookup finished; the paraphrase's lookup
    # found that entry, so no second entry.
    assert entries(tenant) == 1


def test_a_stream_overtaken_by_the_cache_shows_only_the_cached_answer(
    make_tenant: MakeTenant,
) -> None:
    tenant = make_tenant(semantic_threshold=Decimal("0.80"))
    first = stream(ctx_for(tenant), QUESTION)
    second = stream(ctx_for(tenant), PARAPHRASE, extra_headers=PACED)
    assert tokens(second) == tokens(first)
    assert [e.type for e in second].count("done") == 1
    assert [r.cache for r in rows(tenant, feature="chat")] == ["", "semantic"]
    assert len(rows(tenant, feature="semantic_cache", status="aborted")) == 1


def _hit() -> SemanticHit:
    return SemanticHit(
        entry_id=uuid.uuid4(),
        question="q",
        query="q",
        response="cached",
        served_model="openai/local-fast",
        tokens_in=1,
        tokens_out=1,
        cost_usd=Decimal(0),
        similarity=1.0,
        score=1.0,
    )


def test_an_answer_that_arrives_as_the_cache_hits_is_the_one_served() -> None:
    """The provider call cannot be cancelled any more (it answered): the hit is dropped."""

    async def run() -> tuple[SemanticHit | None, str]:
        async def lookup() -> Looked:
            return Looked(_hit(), None)

        async def provider() -> str:
            try:
                await asyncio.sleep(10)
            except asyncio.CancelledError:
                return "provider answer"  # finished anyway
            return "late"

        looking = asyncio.create_task(lookup())
        answering = asyncio.create_task(provider())
        await asyncio.sleep(0)
        hit = await semantic_race.race(looking, answering)
        return hit, answering.result()

    hit, answer = async_to_sync(run)()
    assert (hit, answer) == (None, "provider answer")


def test_a_hit_before_the_provider_cancels_it() -> None:
    async def run() -> tuple[SemanticHit | None, bool]:
        async def lookup() -> Looked:
            return Looked(_hit(), None)

        answering = asyncio.create_task(asyncio.sleep(10))
        hit = await semantic_race.race(asyncio.create_task(lookup()), answering)
        return hit, answering.cancelled()

    hit, cancelled = async_to_sync(run)()
    assert hit is not None
    assert hit.response == "cached"
    assert cancelled


def test_a_reader_gone_during_the_race_leaves_one_aborted_row_and_no_charge(
    make_tenant: MakeTenant,
) -> None:
    tenant = make_tenant(semantic_threshold=Decimal("0.80"))
    ask(tenant, QUESTION, FAST)
    used = tokens_today(tenant)

    async def leave_early() -> None:
        events = api.stream_chat(
            ctx_for(tenant),
            [{"role": "user", "content": "Something else entirely?"}],
            extra_headers=PACED,
        )
        first = asyncio.ensure_future(anext(events))
        await asyncio.sleep(0.3)  # the provider is still thinking, the race still on
        first.cancel()
        with pytest.raises(asyncio.CancelledError):
            await first
        await semantic_race.drain()

    async_to_sync(leave_early)()
    [row] = rows(tenant, feature="chat")
    assert (row.status, row.tokens_out, row.cost_usd) == ("aborted", 0, Decimal(0))
    assert tokens_today(tenant) == used  # the reservation was released
