"""Answers cite a conversation's attachment, through the real server: the file is uploaded
over HTTP, ingested (tasks run inline in the test server), retrieved for that
conversation's answers with the tenant's shared documents, cited with checked citations
that lead to the file's passages in the conversation; the owner's other conversations
and a colleague's do not draw on it."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from apps.core.db import tenant_context
from apps.gateway.models import AISettings
from apps.tenants.services import tenant_create
from tests.chat.test_attachments import FALCON_MD
from tests.chat.test_chat_streams import browser_session, events, text_of
from tests.conftest import add_member, make_user
from tests.rag.conftest import HANDBOOK_MD, ingest, upload
from tests.servers import paced_stack

QUESTION = "When is the Falcon launch, and what is its budget?"


@pytest.fixture(scope="module")
def server(django_db_setup: None, artifacts_dir: Path) -> Iterator[str]:
    with paced_stack(artifacts_dir / "chat-attachments", tokens_per_s=400) as base:
        yield base


def new_conversation(http: httpx.Client, slug: str) -> str:
    return str(http.post(f"/t/{slug}/chat/new/", follow_redirects=False).headers["location"])


def answer(http: httpx.Client, conversation_url: str) -> dict[str, object]:
    body = http.post(f"{conversation_url}messages/", data={"content": QUESTION}).json()
    stream = events(http, body["events_url"])
    done = json.loads(stream[-1][2])
    assert done["status"] == "complete", done
    done["text"] = text_of(stream)
    return dict(done)


def test_an_answer_cites_the_attachment_only_in_its_conversation(
    live_db: None, server: str
) -> None:
    suffix = uuid.uuid4().hex[:8]
    owner = make_user(f"attach-owner-{suffix}@example.com")
    colleague = make_user(f"attach-colleague-{suffix}@example.com")
    tenant = tenant_create(owner=owner, name=f"Attach {suffix}")
    add_member(tenant, colleague)
    with tenant_context(tenant.id):
        AISettings.objects.update_or_create(
            tenant=tenant, defaults=dict(rag_enabled=True, rag_top_k=3)
        )
    handbook = ingest(upload(tenant, owner, "handbook.md", HANDBOOK_MD.encode()))
    http = browser_session(server, owner)
    conversation_url = new_conversation(http, tenant.slug)
    attached = http.post(
        f"{conversation_url}attachments/", files={"file": ("falcon.md", FALCON_MD.encode())}
    )
    assert attached.status_code == 201, attached.text
    document_id = attached.json()["id"]
    (listed,) = http.get(f"{conversation_url}attachments/").json()["attachments"]
    assert listed["status"] == "ready", listed

    done = answer(http, conversation_url)
    rag = done["rag"]
    assert isinstance(rag, dict)
    cited = {c["n"] for c in rag["citations"] if c["valid"] and c["supported"]}
    from_file = [s for s in rag["sources"] if s["document_id"] == document_id]
    assert from_file, rag
    assert {s["n"] for s in from_file} & cited, done["text"]
    assert "14 March" in str(done["text"])
    # The citation leads to the file's passages in this conversation, for its owner.
    source = from_file[0]
    page_url, anchor = source["url"].split("#")
    assert page_url == f"{conversation_url}attachments/{document_id}/"
    page = http.get(page_url)
    assert page.status_code == 200
    assert f'id="{anchor}"' in page.text

    # The owner's other conversation: the shared handbook only.
    other = answer(http, new_conversation(http, tenant.slug))
    other_rag = other["rag"]
    assert isinstance(other_rag, dict)
    assert {s["document_id"] for s in other_rag.get("sources", [])} <= {str(handbook.id)}
    assert "14 March" not in str(other["text"])
    # A colleague's conversation: the same, and the file's page is not theirs.
    theirs = browser_session(server, colleague)
    colleague_answer = answer(theirs, new_conversation(theirs, tenant.slug))
    colleague_rag = colleague_answer["rag"]
    assert isinstance(colleague_rag, dict)
    assert {s["document_id"] for s in colleague_rag.get("sources", [])} <= {str(handbook.id)}
    assert "14 March" not in str(colleague_answer["text"])
    assert theirs.get(page_url).status_code == 404
