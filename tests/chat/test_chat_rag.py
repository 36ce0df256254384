"""Chat answers from the organisation's documents, through the real server: retrieval
under RLS, passages in the prompt, every [n] checked against the passages retrieved for
that answer, the check saved with the message and shown on reload."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypedDict

import httpx
import pytest

from apps.api.services import api_key_create
from apps.core.db import tenant_context
from apps.gateway.models import AISettings, UsageRecord
from apps.tenants.models import Membership, Tenant
from apps.tenants.services import tenant_create
from tests.chat.test_chat_streams import browser_session, events, saved, send, text_of
from tests.conftest import make_user
from tests.rag.conftest import HANDBOOK_MD, ingest, upload
from tests.servers import paced_stack


@pytest.fixture(scope="module")
def server(django_db_setup: None, artifacts_dir: Path) -> Iterator[str]:
    with paced_stack(artifacts_dir / "chat-rag", tokens_per_s=200) as base:
        yield base


class Organisation(TypedDict):
    """A tenant and its owner's new conversation, open in a logged-in client."""

    tenant: Tenant
    http: httpx.Client
    conversation_url: str


def organisation(server: str, *, rag: bool, handbook: bool) -> Organisation:
    suffix = uuid.uuid4().hex[:8]
    owner = make_user(f"rag-chat-{suffix}@example.com")
    tenant = tenant_create(owner=owner, name=f"Rag Chat {suffix}")
    with tenant_context(tenant.id):
        AISettings.objects.update_or_create(
            tenant=tenant, defaults=dict(rag_enabled=rag, rag_top_k=3)
        )
    if handbook:
        assert ingest(upload(tenant, owner, "handbook.md", HANDBOOK_MD.encode())).status == "ready"
    http = browser_session(server, owner)
    page = http.post(f"/t/{tenant.slug}/chat/new/", follow_redirects=False)
    return {"tenant": tenant, "http": http, "conversation_url": page.headers["location"]}


def ask(org: Organisation, question: str) -> tuple[dict[str, Any], list[tuple[str, str, str]]]:
    body = send(org["http"], org["conversation_url"], question).json()
    return body, events(org["http"], body["events_url"])


def test_an_answer_cites_the_passages_it_was_given(live_db: None, server: str) -> None:
    org = organisation(server, rag=True, handbook=True)
    body, stream = ask(org, "How many days of paid holiday do we get?")
    done = json.loads(stream[-1][2])
    assert done["status"] == "complete"
    rag = done["rag"]
    assert 1 <= len(rag["sources"]) <= 3
    assert rag["citations"], text_of(stream)
    assert all(c["valid"] and c["supported"] for c in rag["citations"])
    slug = org["tenant"].slug
    for source in rag["sources"]:
        assert source["url"].startswith(f"/t/{slug}/documents/{source['document_id']}/#chunk-")
    assert "28 days" in text_of(stream)
    message = saved(org["tenant"], body["message_id"])
    assert message.rag == rag
    # The passage page the citation links to answers for the owner.
    cited = next(s for s in rag["sources"] if s["n"] == rag["citations"][0]["n"])
    page = org["http"].get(cited["url"].split("#")[0])
    assert page.status_code == 200
    assert f'id="chunk-{cited["chunk_id"]}"' in page.text
    # Reload: the check comes with the page, for the browser to draw the same links.
    assert f'id="rag-{message.pk}"' in org["http"].get(org["conversation_url"]).text
    with tenant_context(org["tenant"].id):
        features = set(UsageRecord.objects.values_list("feature", flat=True))
        actor = Membership.objects.get(tenant=org["tenant"])
        _, key = api_key_create(tenant=org["tenant"], actor=actor, name="Reader", scopes=["read"])
    assert {"rag_search", "chat"} <= features
    # The API returns the same checked citations with the conversation.
    conversation_id = org["conversation_url"].rstrip("/").rsplit("/", 1)[1]
    detail = httpx.get(
        f"{server}/api/v1/conversations/{conversation_id}",
        headers={"Authorization": f"Bearer {key}"},
    ).json()
    assert detail["messages"][-1]["rag"] == rag


def test_without_ready_documents_the_answer_says_so(live_db: None, server: str) -> None:
    org = organisation(server, rag=True, handbook=False)
    body, stream = ask(org, "How many days of paid holiday do we get?")
    done = json.loads(stream[-1][2])
    assert done["status"] == "complete"
    assert "No document is ready" in done["rag"]["notice"]
    assert "[1]" not in text_of(stream)
    assert saved(org["tenant"], body["message_id"]).rag == done["rag"]


def test_with_rag_off_documents_are_not_used(live_db: None, server: str) -> None:
    org = organisation(server, rag=False, handbook=True)
    body, stream = ask(org, "How many days of paid holiday do we get?")
    done = json.loads(stream[-1][2])
    assert done["status"] == "complete"
    assert done["rag"] == {}  # nothing retrieved, nothing to say
    assert saved(org["tenant"], body["message_id"]).rag == {}
    with tenant_context(org["tenant"].id):
        assert not UsageRecord.objects.filter(feature="rag_search").exists()
