"""Answers across web instances: two uvicorn processes share PostgreSQL, Redis and a
paced provider, as behind a load balancer. The instance that generates serves its own
readers from memory; the other reads the Redis stream the generator flushes to."""

from __future__ import annotations

import json
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TypedDict
from urllib.parse import urlsplit

import httpx
import pytest

from apps.chat.models import Message
from apps.core.db import tenant_context
from apps.gateway.models import UsageRecord
from apps.tenants.models import Tenant
from apps.tenants.services import tenant_create
from tests.chat.test_chat_streams import browser_session, events, saved, send, text_of
from tests.conftest import make_user
from tests.servers import paced_cluster

ANSWER_TOKENS = 60


@pytest.fixture(scope="module")
def cluster(django_db_setup: None, artifacts_dir: Path) -> Iterator[list[str]]:
    with paced_cluster(
        artifacts_dir / "chat-cluster",
        instances=2,
        tokens_per_s=20,
        answer_tokens=ANSWER_TOKENS,
        CHAT_NO_READER_TIMEOUT_S="1",
    ) as bases:
        yield bases


class People(TypedDict):
    """The ``people`` fixture: one owner's browser session on each instance, ``a`` and
    ``b``, and a new conversation."""

    tenant: Tenant
    a: httpx.Client
    b: httpx.Client
    conversation_url: str


@pytest.fixture
def people(live_db: None, cluster: list[str]) -> People:
    suffix = uuid.uuid4().hex[:8]
    owner = make_user(f"cluster-{suffix}@example.com")
    tenant = tenant_create(owner=owner, name=f"Cluster {suffix}")
    a, b = (browser_session(base, owner) for base in cluster)
    # Both clients carry the same session, as one browser behind a load balancer.
    b.cookies = a.cookies
    b.headers["X-CSRFToken"] = a.headers["X-CSRFToken"]
    page = a.post(f"/t/{tenant.slug}/chat/new/", follow_redirects=False)
    return {"tenant": tenant, "a": a, "b": b, "conversation_url": page.headers["location"]}


def token_ids(stream: list[tuple[str, str, str]]) -> list[int]:
    return [int(i) for i, kind, _ in stream if kind == "token"]


def test_resume_on_another_instance_loses_and_repeats_nothing(people: People) -> None:
    body = send(people["a"], people["conversation_url"], "Explain refunds").json()
    first = events(people["a"], body["events_url"], stop_after_tokens=5)
    rest = events(people["b"], body["events_url"], last_id=first[-1][0])
    assert rest[-1][1] == "done"
    assert token_ids(first + rest) == list(range(1, ANSWER_TOKENS + 1))
    assert text_of(first) + text_of(rest) == saved(people["tenant"], body["message_id"]).content


def test_a_second_reader_elsewhere_sees_the_same_answer(people: People) -> None:
    body = send(people["a"], people["conversation_url"], "Explain invoices").json()
    events(people["a"], body["events_url"], stop_after_tokens=1)  # starts it on A
    on_b = events(people["b"], body["events_url"])
    on_a = events(people["a"], body["events_url"])
    assert text_of(on_a) == text_of(on_b) == saved(people["tenant"], body["message_id"]).content
    assert json.loads(on_b[-1][2])["status"] == "complete"


def test_stop_on_one_instance_stops_the_generation_on_the_other(people: People) -> None:
    a, b = people["a"], people["b"]
    body = send(a, people["conversation_url"], "Tell me a long story").json()

    def stop_at(count: int) -> None:
        if count == 4:
            assert b.post(body["stop_url"]).status_code == 202

    stream = events(a, body["events_url"], on_token=stop_at)
    assert json.loads(stream[-1][2])["status"] == "stopped"
    message = saved(people["tenant"], body["message_id"])
    assert message.status == "stopped"
    assert message.content == text_of(stream)
    assert 4 <= len(token_ids(stream)) < ANSWER_TOKENS


def test_a_generation_nobody_reads_is_stopped_and_billed(
    people: People, cluster: list[str]
) -> None:
    """The reader's socket closes mid-answer; with no reader on any instance for
    CHAT_NO_READER_TIMEOUT_S, the generation stops and bills what was streamed."""
    body = send(people["a"], people["conversation_url"], "Tell me a long story").json()
    url = urlsplit(cluster[0])
    jar = {cookie.name: cookie.value for cookie in people["a"].cookies.jar}
    cookies = "; ".join(f"{name}={value}" for name, value in jar.items())
    with socket.create_connection((url.hostname, url.port), timeout=10) as sock:
        request = (
            f"GET {body['events_url']} HTTP/1.1\r\nHost: {url.netloc}\r\n"
            f"Accept: text/event-stream\r\nCookie: {cookies}\r\n\r\n"
        )
        sock.sendall(request.encode())
        received = b""
        while received.count(b"event: token") < 3:
            received += sock.recv(4096)
    # The socket is closed: no reader anywhere now.
    deadline = time.monotonic() + 10
    message = saved(people["tenant"], body["message_id"])
    while message.status == "streaming" and time.monotonic() < deadline:
        time.sleep(0.2)
        message = saved(people["tenant"], body["message_id"])
    assert (message.status, message.error_code) == ("stopped", "no_reader")
    assert 3 <= len(message.content.split()) < ANSWER_TOKENS
    with tenant_context(people["tenant"].id):
        row = UsageRecord.objects.get(request_id=body["message_id"], feature="chat")
        assert Message.objects.filter(status="streaming").count() == 0
    assert row.status == "aborted"
    assert row.tokens_out > 0


def test_a_finished_answer_is_replayed_not_generated_again(people: People) -> None:
    """A reader returning after the generation's claim expired (here: deleted) on an
    instance that never saw the answer gets the saved answer; no second provider call."""
    from django.conf import settings
    from redis import Redis

    tenant = people["tenant"]
    body = send(people["a"], people["conversation_url"], "Explain refunds").json()
    first = events(people["a"], body["events_url"])
    assert json.loads(first[-1][2])["status"] == "complete"
    answer = saved(tenant, body["message_id"])
    keys = [f"chat:{{{tenant.id}}}:{kind}:{answer.id}" for kind in ("generation", "events")]
    assert Redis.from_url(settings.REDIS_URL).delete(*keys) == 2
    again = events(people["b"], body["events_url"])
    assert text_of(again) == answer.content
    assert json.loads(again[-1][2])["status"] == "complete"
    assert saved(tenant, body["message_id"]).content == answer.content
    with tenant_context(tenant.id):
        calls = UsageRecord.objects.filter(request_id=body["message_id"], feature="chat")
        assert calls.count() == 1
