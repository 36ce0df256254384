"""A chat post's reads in one query (selectors.posting_to, services.message_post_to): the
same refusals and the same history as the reads they replace, and only the person's own
conversation."""

from __future__ import annotations

from unittest.mock import patch

import pytest
from django.db import connection
from django.db.models.sql.compiler import SQLCompiler
from django.http import Http404
from django.test.utils import CaptureQueriesContext, override_settings

from apps.accounts.models import User
from apps.chat import access, selectors, services
from apps.chat.models import Message, MessageStatus
from apps.core.db import tenant_context
from apps.core.errors import ServiceError
from apps.tenants.models import Tenant


def posting(tenant: Tenant, user: User, conversation_id: object) -> selectors.Posting:
    return access.get_posting(tenant_id=tenant.id, user_id=user.pk, conversation_id=conversation_id)


def answered(answer: Message, content: str, status: str = MessageStatus.COMPLETE) -> None:
    Message.objects.filter(id=answer.id).update(content=content, status=status)


@override_settings(CHAT_HISTORY_MAX_MESSAGES=4)
def test_the_history_is_what_history_for_reads_and_the_reads_are_one_query(
    tenant: Tenant, owner: User
) -> None:
    with tenant_context(tenant.id):
        conversation = services.conversation_create(tenant=tenant, user=owner)
        asked = ["First?", "Second?", "Third?", "Fourth?"]
        replies = [
            ("One.", MessageStatus.COMPLETE),
            ("", MessageStatus.ERROR),
            ("Three.", MessageStatus.COMPLETE),
            ("", ""),  # the last answer still streams
        ]
        for question, (reply, status) in zip(asked, replies, strict=True):
            with CaptureQueriesContext(connection) as reads:
                found = posting(tenant, owner, conversation.id)
            assert len(reads) == 1
            _, answer, history = services.message_post_to(
                posting=found, content=question, plan=tenant.plan
            )
            # The answer's history as the generation would read it from the database.
            assert history == selectors.history_for(answer)
            assert history[-1] == {"role": "user", "content": question}
            if status:
                answered(answer, reply, status)
        # The limit (4) counts the new question; the errored, empty answer is left out.
        assert [m["content"] for m in history] == ["Second?", "Third?", "Three.", "Fourth?"]


def test_a_post_while_an_answer_streams_is_refused_and_stores_nothing(
    tenant: Tenant, owner: User
) -> None:
    with tenant_context(tenant.id):
        conversation = services.conversation_create(tenant=tenant, user=owner)
        services.message_post_to(
            posting=posting(tenant, owner, conversation.id), content="Hi?", plan=tenant.plan
        )
        found = posting(tenant, owner, conversation.id)
        assert found.newest == ("assistant", MessageStatus.STREAMING)
        with pytest.raises(ServiceError, match="Wait for the current answer"):
            services.message_post_to(posting=found, content="Again?", plan=tenant.plan)
        assert Message.objects.filter(conversation=conversation).count() == 2


def test_only_the_persons_own_conversation_is_found(
    tenant: Tenant, owner: User, member: User, other_tenant: Tenant, outsider: User
) -> None:
    with tenant_context(tenant.id):
        conversation = services.conversation_create(tenant=tenant, user=owner)
        assert posting(tenant, owner, conversation.id).newest is None
        with pytest.raises(Http404):
            posting(tenant, member, conversation.id)  # another member's conversation
    with tenant_context(other_tenant.id), pytest.raises(Http404):
        posting(other_tenant, outsider, conversation.id)  # RLS: another tenant's row
    with tenant_context(tenant.id):
        assert not Message.objects.filter(conversation=conversation).exists()


def test_the_read_is_compiled_once_per_history_limit(tenant: Tenant, owner: User) -> None:
    """The statement's text is the same for every post: the ORM builds it once (its
    building was most of the read's CPU), and a new history limit gets its own."""
    with tenant_context(tenant.id):
        conversation = services.conversation_create(tenant=tenant, user=owner)
        posting(tenant, owner, conversation.id)  # compiled here, if not before
        with patch.object(SQLCompiler, "as_sql", side_effect=AssertionError("compiled")):
            found = posting(tenant, owner, conversation.id)
            with override_settings(CHAT_HISTORY_MAX_MESSAGES=17), pytest.raises(AssertionError):
                posting(tenant, owner, conversation.id)
    assert found.conversation == conversation
    assert found.conversation.title == conversation.title
    assert found.conversation._state.adding is False
