"""Chat over SSE against the real stack: uvicorn, the gateway, a paced local provider
(12 tokens/s, so answers take a few seconds), Redis streams and PostgreSQL."""

from __future__ import annotations

import json
import time
import urllib.parse
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypedDict

import httpx
import pytest
from django.conf import settings
from django.test import Client

from apps.accounts.models import User
from apps.chat.models import DailyQuality, Message
from apps.core.db import tenant_context
from apps.core.redis_client import sync_redis
from apps.finops.rollups import drain
from apps.gateway.models import UsageRecord
from apps.tenants.models import Membership, Tenant
from apps.tenants.services import member_remove, tenant_create
from tests.conftest import add_member, make_user
from tests.servers import paced_stack


@pytest.fixture(scope="module")
def server(django_db_setup: None, artifacts_dir: Path) -> Iterator[str]:
    with paced_stack(artifacts_dir / "chat", CHAT_NO_READER_TIMEOUT_S="1") as base:
        yield base


def browser_session(server: str, user: User) -> httpx.Client:
    """An HTTP client logged in as ``user`` (session cookie) with a CSRF token."""
    django_client = Client()
    django_client.force_login(user)
    session = django_client.cookies[settings.SESSION_COOKIE_NAME].value
    csrf = uuid.uuid4().hex  # a CSRF secret of Django's length, sent as cookie and header
    cookies = {settings.SESSION_COOKIE_NAME: session, settings.CSRF_COOKIE_NAME: csrf}
    return httpx.Client(base_url=server, cookies=cookies, headers={"X-CSRFToken": csrf}, timeout=30)


class ChatSetup(TypedDict):
    """The ``setup`` fixture: an owner's new conversation, open in a logged-in client."""

    tenant: Tenant
    owner: User
    http: httpx.Client
    conversation_url: str


@pytest.fixture
def setup(live_db: None, server: str) -> ChatSetup:
    suffix = uuid.uuid4().hex[:8]
    owner = make_user(f"chat-{suffix}@example.com")
    tenant = tenant_create(owner=owner, name=f"Chat {suffix}")
    http = browser_session(server, owner)
    page = http.post(f"/t/{tenant.slug}/chat/new/", follow_redirects=False)
    assert page.status_code == 302
    return {
        "tenant": tenant,
        "owner": owner,
        "http": http,
        "conversation_url": page.headers["location"],
    }


def send(http: httpx.Client, conversation_url: str, text: str) -> httpx.Response:
    return http.post(f"{conversation_url}messages/", data={"content": text})


def events(
    http: httpx.Client,
    url: str,
    *,
    last_id: str | None = None,
    stop_after_tokens: int | None = None,
    on_token: Callable[[int], None] | None = None,
    until: str = "done",
) -> list[tuple[str, str, str]]:
    """The stream's events up to ``done`` (``until="title"``: up to the title event that
    follows a ``done`` with ``title_pending``, where the stream ends)."""
    headers = {"Last-Event-ID": last_id} if last_id else {}
    out: list[tuple[str, str, str]] = []
    with http.stream("GET", url, headers=headers) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        event_id, kind, data = "", "", []
        for line in response.iter_lines():
            if line.startswith("id: "):
                event_id = line[4:]
            elif line.startswith("event: "):
                kind = line[7:]
            elif line.startswith("data: "):
                data.append(line[6:])
            elif line == "" and kind:
                out.append((event_id, kind, "\n".join(data)))
                if kind == "token" and on_token:
                    on_token(len([e for e in out if e[1] == "token"]))
                if kind == "title" or (
                    kind == "done"
                    and (until == "done" or not json.loads(out[-1][2])["title_pending"])
                ):
                    break
                if (
                    stop_after_tokens
                    and len([e for e in out if e[1] == "token"]) >= stop_after_tokens
                ):
                    break
                event_id, kind, data = "", "", []
    return out


def text_of(stream: list[tuple[str, str, str]]) -> str:
    return "".join(json.loads(d) for _, k, d in stream if k == "token")


def saved(tenant: Tenant, message_id: str) -> Message:
    with tenant_context(tenant.id):
        return Message.objects.get(id=message_id)


def test_answer_streams_and_is_saved_and_billed(setup: ChatSetup) -> None:
    sent = send(setup["http"], setup["conversation_url"], "How do invoices work?")
    assert sent.status_code == 201
    body = sent.json()
    stream = events(setup["http"], body["events_url"])
    assert stream[-1][1] == "done"
    assert json.loads(stream[-1][2])["status"] == "complete"
    message = saved(setup["tenant"], body["message_id"])
    assert message.status == "complete"
    assert message.content == text_of(stream)
    assert message.content.startswith("[dev model] You asked:")
    with tenant_context(setup["tenant"].id):
        row = UsageRecord.objects.get(request_id=body["message_id"], feature="chat")
    assert (row.feature, row.status) == ("chat", "ok")
    assert str(message.usage_record_id) == str(row.id)


def test_the_post_starts_the_answer_before_its_events_are_asked_for(setup: ChatSetup) -> None:
    """The generation is claimed by the post itself (the provider's first token is on
    its way while the 201 travels); the event stream then reads it from this process."""
    tenant_id = setup["tenant"].id
    sent = send(setup["http"], setup["conversation_url"], "How do invoices work?")
    assert sent.status_code == 201
    message_id = sent.json()["message_id"]
    assert sync_redis().get(f"chat:{{{tenant_id}}}:generation:{message_id}") == b"1"
    stream = events(setup["http"], sent.json()["events_url"])
    assert json.loads(stream[-1][2])["status"] == "complete"
    assert saved(setup["tenant"], message_id).content == text_of(stream)
    assert [e[0] for e in stream] == [str(n) for n in range(1, len(stream) + 1)]


def test_a_refused_post_starts_nothing(setup: ChatSetup) -> None:
    before = set(sync_redis().scan_iter(f"chat:{{{setup['tenant'].id}}}:generation:*"))
    assert send(setup["http"], setup["conversation_url"], "   ").status_code == 400
    after = set(sync_redis().scan_iter(f"chat:{{{setup['tenant'].id}}}:generation:*"))
    assert after == before


def test_resume_with_last_event_id_loses_and_repeats_nothing(setup: ChatSetup) -> None:
    body = send(setup["http"], setup["conversation_url"], "Explain refunds").json()
    first = events(setup["http"], body["events_url"], stop_after_tokens=5)
    rest = events(setup["http"], body["events_url"], last_id=first[-1][0])
    ids = [i for i, _, _ in first + rest if i]
    assert len(ids) == len(set(ids))
    assert rest[-1][1] == "done"
    assert text_of(first) + text_of(rest) == saved(setup["tenant"], body["message_id"]).content


def test_stop_saves_and_bills_the_partial_answer(setup: ChatSetup) -> None:
    http = setup["http"]
    body = send(http, setup["conversation_url"], "Tell me a long story").json()

    def stop_at(count: int) -> None:
        if count == 3:
            assert http.post(body["stop_url"]).status_code == 202

    stream = events(http, body["events_url"], on_token=stop_at)
    assert json.loads(stream[-1][2])["status"] == "stopped"
    message = saved(setup["tenant"], body["message_id"])
    assert message.status == "stopped"
    assert message.content == text_of(stream)
    assert 3 <= len(message.content.split()) < 30
    with tenant_context(setup["tenant"].id):
        row = UsageRecord.objects.get(request_id=body["message_id"], feature="chat")
    assert row.status == "aborted"
    assert row.tokens_out > 0
    assert row.cost_usd > 0


def test_bad_messages_are_refused_and_store_nothing(setup: ChatSetup) -> None:
    http = setup["http"]
    empty = send(http, setup["conversation_url"], "   ")
    long = send(http, setup["conversation_url"], "x" * 16_001)
    assert (empty.status_code, long.status_code) == (400, 400)
    assert "empty" in empty.json()["error"]["message"]
    assert "16,000" in long.json()["error"]["message"]
    with tenant_context(setup["tenant"].id):
        assert Message.objects.count() == 0


def test_other_users_and_tenants_reach_nothing(setup: ChatSetup, server: str) -> None:
    body = send(setup["http"], setup["conversation_url"], "Private question").json()
    events(setup["http"], body["events_url"])
    colleague = make_user(f"colleague-{uuid.uuid4().hex[:6]}@example.com")
    add_member(setup["tenant"], colleague)
    stranger = make_user(f"stranger-{uuid.uuid4().hex[:6]}@example.com")
    tenant_create(owner=stranger, name="Elsewhere")
    for user in (colleague, stranger):
        http = browser_session(server, user)
        assert http.get(body["events_url"]).status_code == 404
        assert http.post(body["stop_url"]).status_code == 404
        assert (
            http.post(f"{setup['conversation_url']}messages/", data={"content": "hi"}).status_code
            == 404
        )
        assert http.get(setup["conversation_url"]).status_code == 404


def test_events_need_a_fresh_ticket_for_that_message_and_the_users_live_session(
    setup: ChatSetup, server: str
) -> None:
    from unittest import mock

    from apps.chat import tickets

    http = setup["http"]
    first = send(http, setup["conversation_url"], "First question").json()
    events(http, first["events_url"])
    second = send(http, setup["conversation_url"], "Second question").json()
    path, _, query = second["events_url"].partition("?ticket=")
    ticket = urllib.parse.unquote(query)
    _, _, other_ticket = first["events_url"].partition("?ticket=")
    old = time.time() - settings.CHAT_STREAM_TTL_S - 5
    with mock.patch("django.core.signing.time.time", return_value=old):
        expired = tickets.issue(
            tenant_id=setup["tenant"].id,
            slug=setup["tenant"].slug,
            user_id=setup["owner"].pk,
            message_id=second["message_id"],
        )
    refused = {
        "no ticket": http.get(path),
        "tampered": http.get(path, params={"ticket": ticket[:-2] + "xx"}),
        "another message's": http.get(f"{path}?ticket={other_ticket}"),
        "expired": http.get(path, params={"ticket": expired}),
        "no session": httpx.get(server + second["events_url"]),
    }
    assert {name: r.status_code for name, r in refused.items()} == dict.fromkeys(refused, 404)
    # The same URL with the user's session streams the answer.
    assert events(http, second["events_url"])[-1][1] == "done"
    # Logged out: the session is gone on the server, so even its old cookie is refused.
    name = settings.SESSION_COOKIE_NAME
    old_cookie = next(c.value for c in http.cookies.jar if c.name == name and c.value)
    assert http.post("/accounts/logout/").status_code in (200, 302)
    stale = httpx.get(server + second["events_url"], cookies={name: old_cookie})
    assert stale.status_code == 404


def test_a_removed_member_cannot_open_or_resume_an_answers_events(
    setup: ChatSetup, server: str
) -> None:
    tenant = setup["tenant"]
    member = make_user(f"leaver-{uuid.uuid4().hex[:6]}@example.com")
    add_member(tenant, member)
    http = browser_session(server, member)
    own = http.post(f"/t/{tenant.slug}/chat/new/", follow_redirects=False)
    first = send(http, own.headers["location"], "Before I go").json()
    received = events(http, first["events_url"])  # admitted: membership now cached
    assert received[-1][1] == "done"
    with tenant_context(tenant.id):
        owner = Membership.objects.get(tenant=tenant, user=setup["owner"])
        leaver = Membership.objects.select_related("user", "tenant").get(user=member)
        member_remove(actor=owner, membership=leaver)
    # The same ticket, within its hour and within the cache's 10 s: refused, from the
    # start and on resume.
    assert http.get(first["events_url"]).status_code == 404
    resume = http.get(first["events_url"], headers={"Last-Event-ID": received[0][0]})
    assert resume.status_code == 404


def test_admins_see_tokens_and_cost_per_answer_members_do_not(
    setup: ChatSetup, server: str
) -> None:
    body = send(setup["http"], setup["conversation_url"], "What does it cost?").json()
    events(setup["http"], body["events_url"])
    page = setup["http"].get(setup["conversation_url"]).text
    with tenant_context(setup["tenant"].id):
        row = UsageRecord.objects.get(request_id=body["message_id"], feature="chat")
    assert f"{row.tokens_in} in · {row.tokens_out} out" in page
    member = make_user(f"member-{uuid.uuid4().hex[:6]}@example.com")
    add_member(setup["tenant"], member)
    http = browser_session(server, member)
    own = http.post(f"/t/{setup['tenant'].slug}/chat/new/", follow_redirects=False)
    conversation_url = own.headers["location"]
    sent = send(http, conversation_url, "Me too?").json()
    events(http, sent["events_url"])
    assert "data-usage" not in http.get(conversation_url).text


def test_regenerate_and_edit_the_last_question(setup: ChatSetup) -> None:
    http, url = setup["http"], setup["conversation_url"]
    first = send(http, url, "Original question").json()
    events(http, first["events_url"])
    again = http.post(f"{url}regenerate/")
    assert again.status_code == 201
    regenerated = again.json()
    events(http, regenerated["events_url"])
    with tenant_context(setup["tenant"].id):
        contents = list(Message.objects.order_by("created_at").values_list("role", "status"))
        assert contents == [("user", "complete"), ("assistant", "complete")]
        assert not Message.objects.filter(id=first["message_id"]).exists()
    edited = http.post(f"{url}edit/", data={"content": "Edited question"})
    assert edited.status_code == 201
    stream = events(http, edited.json()["events_url"])
    assert 'You asked: "Edited question"' in text_of(stream)
    with tenant_context(setup["tenant"].id):
        rows = list(Message.objects.order_by("created_at").values_list("role", "content"))
    assert rows[0] == ("user", "Edited question")
    assert len(rows) == 2
    # Nothing to regenerate while an answer streams; an empty edit is refused.
    assert http.post(f"{url}edit/", data={"content": " "}).status_code == 400


def test_posting_needs_csrf_and_the_users_live_session(setup: ChatSetup, server: str) -> None:
    """Messages are posted through the lean handler (apps/core/asgi.py), which runs
    Django's own CSRF and session checks itself: each failure is refused, nothing stored."""
    http, url = setup["http"], f"{setup['conversation_url']}messages/"
    name = settings.SESSION_COOKIE_NAME
    cookie = next(c.value for c in http.cookies.jar if c.name == name and c.value)
    csrf = {settings.CSRF_COOKIE_NAME: "b" * 32}
    refused = {
        "no CSRF token": httpx.post(server + url, data={"content": "hi"}, cookies={name: cookie}),
        "wrong CSRF token": httpx.post(
            server + url,
            data={"content": "hi"},
            cookies={name: cookie, **csrf},
            headers={"X-CSRFToken": "c" * 32},
        ),
        "no session": httpx.post(
            server + url, data={"content": "hi"}, cookies=csrf, headers={"X-CSRFToken": "b" * 32}
        ),
    }
    codes = {reason: response.status_code for reason, response in refused.items()}
    assert codes == {"no CSRF token": 403, "wrong CSRF token": 403, "no session": 302}
    assert refused["no session"].headers["location"].startswith("/accounts/login/?next=")
    accepted = send(http, setup["conversation_url"], "hi")
    assert accepted.status_code == 201
    assert accepted.headers["X-Content-Type-Options"] == "nosniff"
    events(http, accepted.json()["events_url"])
    # A changed password signs other sessions out (Django's session auth hash).
    owner = setup["owner"]
    owner.set_password("a-new-password-0451")
    owner.save()
    assert send(http, setup["conversation_url"], "hi again").status_code == 302
    with tenant_context(setup["tenant"].id):
        assert Message.objects.count() == 2  # the accepted question and its answer


@pytest.fixture(scope="module")
def journal_server(django_db_setup: None, artifacts_dir: Path) -> Iterator[str]:
    # The production default: the ledger row written by the journal's writer thread.
    with paced_stack(artifacts_dir / "chat-journal", GATEWAY_LEDGER_JOURNAL="1") as base:
        yield base


def test_with_the_ledger_journal_an_answer_is_billed_and_counted_for_quality(
    live_db: None, journal_server: str
) -> None:
    suffix = uuid.uuid4().hex[:8]
    owner = make_user(f"journal-{suffix}@example.com")
    tenant = tenant_create(owner=owner, name=f"Journal {suffix}")
    http = browser_session(journal_server, owner)
    page = http.post(f"/t/{tenant.slug}/chat/new/", follow_redirects=False)
    sent = send(http, page.headers["location"], "How do refunds work?")
    assert sent.status_code == 201
    stream = events(http, sent.json()["events_url"])
    assert json.loads(stream[-1][2])["status"] == "complete"
    message = saved(tenant, sent.json()["message_id"])
    assert message.usage_record_id is not None
    # The journal's writer thread writes the ledger row after the answer went out (the
    # answer does not wait for it), so the row may come a moment after the stream ends.
    deadline = time.monotonic() + 20
    while True:
        with tenant_context(tenant.id):
            row = UsageRecord.objects.filter(id=message.usage_record_id).first()
        if row is not None or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert row is not None, "the journal never wrote the answer's ledger row"
    # The answer's side of the quality counts is keyed by its ledger row: counted by the
    # trigger as the answer is saved when the row was already there, else by the FinOps
    # drain once it is (chat migration 0007). Either way exactly once.
    drain()
    with tenant_context(tenant.id):
        counted = list(
            DailyQuality.objects.filter(
                source="answers", feature="chat", model=row.served_model or row.requested_model
            ).values_list("chat_answers", flat=True)
        )
    assert (row.feature, row.status, row.request_id) == ("chat", "ok", str(message.id))
    assert counted == [1]
