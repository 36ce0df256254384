"""Thumbs up / down on answers (services.feedback_set): from the chat and over the API,
changed in place, taken back; one per person and answer; nobody else reaches it.

Personas: the owner rates an answer in their own conversation; a colleague (a member of
the same organisation) and an outsider (another organisation) must not reach it by any
path: the chat's URLs, the API with their own keys, raw SQL under the runtime role.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from django.db import ProgrammingError, connection, transaction
from django.test import Client
from pytest_django import DjangoAssertNumQueries

from apps.accounts.models import User
from apps.chat.models import Feedback, Message, MessageRole, MessageStatus
from apps.chat.services import conversation_create
from apps.core.db import tenant_context
from apps.tenants.models import Role, Tenant
from tests.conftest import add_member, make_user
from tests.rag.conftest import api_key, bearer, error_of, login


def exchange(tenant: Tenant, user: User, *, status: str = MessageStatus.COMPLETE) -> Message:
    """A conversation of ``user`` with one question and its answer; the answer."""
    with tenant_context(tenant.id):
        conversation = conversation_create(tenant=tenant, user=user)
        Message.objects.create(
            tenant=tenant, conversation=conversation, role=MessageRole.USER, content="Hi?"
        )
        return Message.objects.create(
            tenant=tenant,
            conversation=conversation,
            role=MessageRole.ASSISTANT,
            content="Hello.",
            status=status,
            served_model="local/fast",
        )


def feedback_url(tenant: Tenant, message: Message, suffix: str = "") -> str:
    return f"/t/{tenant.slug}/chat/messages/{message.id}/feedback/{suffix}"


def ratings(tenant: Tenant, message: Message) -> list[tuple[str, str, str, str]]:
    with tenant_context(tenant.id):
        return list(
            Feedback.objects.filter(message=message).values_list(
                "rating", "reason", "comment", "via"
            )
        )


@pytest.fixture
def answer(tenant: Tenant, owner: User) -> Message:
    return exchange(tenant, owner)


# --- from the chat ------------------------------------------------------------------------


def test_the_owner_rates_changes_and_takes_back_a_rating(
    tenant: Tenant, owner: User, answer: Message
) -> None:
    client = login(owner)
    rated = client.post(feedback_url(tenant, answer), {"rating": "up"})
    assert rated.status_code == 200
    assert json.loads(rated.content)["rating"] == "up"
    assert ratings(tenant, answer) == [("up", "", "", "chat")]

    changed = client.post(
        feedback_url(tenant, answer),
        {"rating": "down", "reason": "inaccurate", "comment": "  The date is wrong. "},
    )
    assert changed.status_code == 200
    assert ratings(tenant, answer) == [("down", "inaccurate", "The date is wrong.", "chat")]

    gone = client.post(feedback_url(tenant, answer, "delete/"))
    assert gone.status_code == 200
    assert ratings(tenant, answer) == []
    assert client.post(feedback_url(tenant, answer, "delete/")).status_code == 200  # idempotent


def test_the_page_shows_the_rating_after_a_reload(
    tenant: Tenant, owner: User, answer: Message
) -> None:
    client = login(owner)
    page_url = f"/t/{tenant.slug}/chat/{answer.conversation_id}/"
    before = client.get(page_url).content.decode()
    assert 'data-rating="up" title="Good answer" aria-pressed="false"' in before
    client.post(feedback_url(tenant, answer), {"rating": "down", "reason": "sources"})
    after = client.get(page_url).content.decode()
    assert 'data-rating="down" title="Bad answer" aria-pressed="true"' in after
    assert 'data-rating="up" title="Good answer" aria-pressed="false"' in after
    assert 'value="sources" checked' in after


def test_the_ratings_on_a_page_cost_one_query_however_many(
    tenant: Tenant,
    owner: User,
    answer: Message,
    django_assert_num_queries: DjangoAssertNumQueries,
    django_assert_max_num_queries: DjangoAssertNumQueries,
) -> None:
    client = login(owner)
    page_url = f"/t/{tenant.slug}/chat/{answer.conversation_id}/"
    client.post(feedback_url(tenant, answer), {"rating": "up"})
    with django_assert_max_num_queries(60) as one:
        assert client.get(page_url).status_code == 200
    with tenant_context(tenant.id):
        for n in range(3):
            more = Message.objects.create(
                tenant=tenant,
                conversation_id=answer.conversation_id,
                role=MessageRole.ASSISTANT,
                content=f"Answer {n}",
            )
            Feedback.objects.create(tenant=tenant, message=more, user=owner, rating="down")
    with django_assert_num_queries(len(one.captured_queries)):
        html = client.get(page_url).content.decode()
    assert html.count('aria-pressed="true"') == 4


@pytest.mark.parametrize(
    ("data", "code", "param"),
    [
        ({"rating": "meh"}, "invalid_rating", "rating"),
        ({}, "invalid_rating", "rating"),
        ({"rating": "down", "reason": "boring"}, "invalid_reason", "reason"),
        ({"rating": "up", "reason": "inaccurate"}, "invalid_reason", "reason"),
        ({"rating": "down", "comment": "x" * 1001}, "comment_too_long", "comment"),
    ],
)
def test_bad_input_is_refused_with_what_to_fix(
    tenant: Tenant, owner: User, answer: Message, data: dict[str, str], code: str, param: str
) -> None:
    error = error_of(login(owner).post(feedback_url(tenant, answer), data), 400, code)
    assert error["param"] == param
    assert ratings(tenant, answer) == []


def test_only_a_finished_answer_can_be_rated(tenant: Tenant, owner: User) -> None:
    streaming = exchange(tenant, owner, status=MessageStatus.STREAMING)
    client = login(owner)
    error = error_of(
        client.post(feedback_url(tenant, streaming), {"rating": "up"}), 400, "answer_in_progress"
    )
    assert "once it is finished" in error["message"]
    with tenant_context(tenant.id):
        question = Message.objects.get(conversation_id=streaming.conversation_id, role="user")
    error_of(client.post(feedback_url(tenant, question), {"rating": "up"}), 400, "not_an_answer")
    assert ratings(tenant, streaming) == []


def test_a_regenerated_answer_starts_without_the_old_rating(
    tenant: Tenant, owner: User, answer: Message
) -> None:
    client = login(owner)
    client.post(feedback_url(tenant, answer), {"rating": "down"})
    with tenant_context(tenant.id):
        answer.delete()  # what regenerate and edit do to the old answer
        assert Feedback.objects.filter(tenant=tenant).count() == 0


# --- over the API -------------------------------------------------------------------------


def api_url(message: Message) -> str:
    return f"/api/v1/messages/{message.id}/feedback"


def post_json(client: Client, url: str, body: dict[str, Any], key: str) -> Any:
    return client.post(url, json.dumps(body), content_type="application/json", headers=bearer(key))


def test_the_api_rates_changes_and_takes_back(tenant: Tenant, owner: User, answer: Message) -> None:
    key = api_key(tenant, owner, ("chat", "read"))
    client = Client()
    created = post_json(client, api_url(answer), {"rating": "up", "comment": "Spot on"}, key)
    assert created.status_code == 201, created.content
    body = json.loads(created.content)
    assert (body["message_id"], body["rating"], body["reason"], body["comment"]) == (
        str(answer.id),
        "up",
        "",
        "Spot on",
    )
    changed = post_json(client, api_url(answer), {"rating": "down", "reason": "unhelpful"}, key)
    assert changed.status_code == 200
    assert ratings(tenant, answer) == [("down", "unhelpful", "", "api")]
    # The conversation as the API reads it carries the rating.
    detail = client.get(f"/api/v1/conversations/{answer.conversation_id}", headers=bearer(key))
    messages = json.loads(detail.content)["messages"]
    assert [m["feedback"] and m["feedback"]["rating"] for m in messages] == [None, "down"]

    assert client.delete(api_url(answer), headers=bearer(key)).status_code == 204
    assert ratings(tenant, answer) == []
    again = client.delete(api_url(answer), headers=bearer(key))
    assert error_of(again, 404, "no_feedback")["param"] == "message_id"


def test_the_api_refuses_bad_requests_clearly(tenant: Tenant, owner: User, answer: Message) -> None:
    client = Client()
    key = api_key(tenant, owner, ("chat",))
    thumbs_up_reason = post_json(client, api_url(answer), {"rating": "up", "reason": "other"}, key)
    assert error_of(thumbs_up_reason, 400, "invalid_reason")["param"] == "reason"
    bad_rating = post_json(client, api_url(answer), {"rating": "sideways"}, key)
    assert error_of(bad_rating, 422, "invalid_input")["param"] == "body.rating"
    unknown = post_json(client, f"/api/v1/messages/{uuid.uuid4()}/feedback", {"rating": "up"}, key)
    assert "No such message" in error_of(unknown, 404, "not_found")["message"]
    read_only = api_key(tenant, owner, ("read",))
    error_of(post_json(client, api_url(answer), {"rating": "up"}, read_only), 403, "missing_scope")
    assert ratings(tenant, answer) == []


# --- nobody else reaches it ---------------------------------------------------------------


def test_colleagues_and_outsiders_reach_it_by_no_page_and_no_key(
    tenant: Tenant,
    owner: User,
    member: User,
    outsider: User,
    other_tenant: Tenant,
    answer: Message,
) -> None:
    login(owner).post(feedback_url(tenant, answer), {"rating": "up", "comment": "mine"})
    for person in (member, outsider):
        client = login(person)
        assert client.post(feedback_url(tenant, answer), {"rating": "down"}).status_code == 404
        assert client.post(feedback_url(tenant, answer, "delete/")).status_code == 404
    # The outsider's own organisation does not lead to it either.
    outsider_client = login(outsider)
    assert (
        outsider_client.post(feedback_url(other_tenant, answer), {"rating": "down"}).status_code
        == 404
    )
    # A colleague who may create keys (an admin) acts for themself through one, too.
    colleague = make_user("dana-admin@example.com")
    add_member(tenant, colleague, Role.ADMIN)
    for key in (
        api_key(tenant, colleague, ("chat", "read")),
        api_key(other_tenant, outsider, ("chat", "read")),
    ):
        client = Client()
        error_of(post_json(client, api_url(answer), {"rating": "down"}, key), 404, "not_found")
        error_of(client.delete(api_url(answer), headers=bearer(key)), 404, "not_found")
    assert ratings(tenant, answer) == [("up", "", "mine", "chat")]


def raw_count(tenant_id: Any, feedback_id: Any) -> int:
    with tenant_context(tenant_id), connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM chat_feedback WHERE id = %s", [feedback_id])
        (count,) = cursor.fetchone()
    return int(count)


def test_raw_sql_under_the_runtime_role_shows_it_to_its_tenant_only(
    tenant: Tenant, owner: User, outsider: User, other_tenant: Tenant, answer: Message
) -> None:
    login(owner).post(feedback_url(tenant, answer), {"rating": "up"})
    with tenant_context(tenant.id):
        feedback = Feedback.objects.get(message=answer)
    with connection.cursor() as cursor:
        cursor.execute("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user")
        assert cursor.fetchone() == (False, False)
    assert raw_count(tenant.id, feedback.id) == 1
    assert raw_count(other_tenant.id, feedback.id) == 0
    with connection.cursor() as cursor:  # no tenant set: no rows
        cursor.execute("SELECT count(*) FROM chat_feedback WHERE id = %s", [feedback.id])
        assert cursor.fetchone() == (0,)
    # Under the outsider's tenant, an UPDATE matches nothing and an INSERT naming the
    # owner's tenant breaks the policy's WITH CHECK.
    with tenant_context(other_tenant.id), connection.cursor() as cursor:
        cursor.execute("UPDATE chat_feedback SET rating = 'down' WHERE id = %s", [feedback.id])
        assert cursor.rowcount == 0
    with (
        pytest.raises(ProgrammingError, match="row-level security"),
        transaction.atomic(),
        tenant_context(other_tenant.id),
        connection.cursor() as cursor,
    ):
        cursor.execute(
            "INSERT INTO chat_feedback (id, created_at, updated_at, tenant_id, message_id,"
            " user_id, rating, reason, comment, via)"
            " VALUES (%s, now(), now(), %s, %s, %s, 'down', '', '', 'chat')",
            [uuid.uuid4(), tenant.id, answer.id, outsider.pk],
        )
    with tenant_context(tenant.id):
        assert list(Feedback.objects.values_list("rating", flat=True)) == ["up"]
