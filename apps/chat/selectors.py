"""Reads for conversations. Call inside tenant_context for the tenant."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, cast
from uuid import UUID

import orjson
from django.conf import settings
from django.contrib.postgres.expressions import ArraySubquery
from django.db import connections
from django.db.models import Field, OuterRef, QuerySet, Subquery
from django.db.models.functions import JSONObject

from apps.chat.models import Conversation, Feedback, Message, MessageStatus
from apps.gateway.models import AISettings, ModelAlias
from apps.guardrails.policy import Check, Policy, PolicyError
from apps.tenants.models import Tenant
from apps.tenants.plans import MODEL_LABELS, limits_for, plans_phrase


def conversations_for(*, tenant_id: Any, user_id: Any) -> QuerySet[Conversation]:
    return Conversation.objects.filter(tenant_id=tenant_id, user_id=user_id)


def feedback_for(*, message_ids: list[Any], user_id: Any) -> dict[Any, Feedback]:
    """``user_id``'s feedback on these messages, by message id (one query)."""
    if not message_ids:
        return {}
    found = Feedback.objects.filter(message_id__in=message_ids, user_id=user_id)
    return {feedback.message_id: feedback for feedback in found}


def history_for(message: Message) -> list[dict[str, str]]:
    """The conversation before ``message`` as gateway messages, oldest first: finished
    answers only, at most CHAT_HISTORY_MAX_MESSAGES of the newest (the gateway then
    trims them to the model's context window by tokens, newest kept)."""
    newest_first = (
        Message.objects.filter(
            conversation_id=message.conversation_id, created_at__lt=message.created_at
        )
        .exclude(status=MessageStatus.STREAMING)
        .exclude(content="")
        .order_by("-created_at")
        .values_list("role", "content")[: settings.CHAT_HISTORY_MAX_MESSAGES]
    )
    return [{"role": role, "content": content} for role, content in reversed(newest_first)]


@dataclass(frozen=True)
class Posting:
    """A conversation as a new question finds it (``posting_to``)."""

    conversation: Conversation
    newest: tuple[str, str] | None  # the newest message's role and status; None: empty
    # What ``history_for`` reads for an answer to a question posted now, without that
    # question: the finished messages, oldest first, at most one fewer than the limit.
    earlier: list[dict[str, str]]


def posting_to(*, tenant_id: Any, user_id: Any, conversation_id: Any) -> Posting | None:
    """The conversation ``conversation_id`` of ``user_id`` in ``tenant_id``, with its
    newest message and its history, in one query: a chat post's reads in one round trip
    instead of three, each a wait for the interpreter beside a busy event loop
    (docs/performance.md, "Chat streams"). None when there is no such conversation.

    The statement's text is the same for every post, so it is compiled once
    (``_posting_statement``): building it through the ORM was most of this read's CPU,
    and a post's CPU on its worker thread holds up the event loop beside it."""
    using = "default"
    statement = _posting_statement(settings.CHAT_HISTORY_MAX_MESSAGES, using)
    connection = connections[using]
    params = list(statement.params)
    ids = (tenant_id, user_id, conversation_id)
    for slot, field, value in zip(statement.slots, statement.id_fields, ids, strict=True):
        params[slot] = field.get_db_prep_value(value, connection)  # as a filter() does
    with connection.cursor() as cursor:
        cursor.execute(statement.sql, params)
        row = cursor.fetchone()
    if row is None:
        return None
    fields = len(statement.columns)
    conversation = Conversation.from_db(using, statement.columns, row[:fields])
    newest_json, earlier_json = row[fields:]
    newest = None if newest_json is None else orjson.loads(newest_json)
    return Posting(
        conversation=conversation,
        newest=None if newest is None else (newest["role"], newest["status"]),
        earlier=[_turn(orjson.loads(m)) for m in reversed(earlier_json)],
    )


def _turn(message: dict[str, str]) -> dict[str, str]:
    return {"role": message["role"], "content": message["content"]}


def _posting_query(
    *, tenant_id: Any, user_id: Any, conversation_id: Any, limit: int
) -> QuerySet[Conversation]:
    """What ``posting_to`` reads, as a queryset: the concrete fields of the conversation,
    then ``newest`` (JSON of its newest message's role and status) and ``earlier`` (JSON
    of the finished messages, newest first, at most ``limit - 1``)."""
    messages = Message.objects.filter(conversation_id=OuterRef("pk")).order_by("-created_at")
    finished = messages.exclude(status=MessageStatus.STREAMING).exclude(content="")
    columns = [field.attname for field in Conversation._meta.concrete_fields]
    return (
        Conversation.objects.filter(tenant_id=tenant_id, user_id=user_id, id=conversation_id)
        .annotate(
            newest=Subquery(messages.values(pair=JSONObject(role="role", status="status"))[:1]),
            earlier=ArraySubquery(
                finished.values(pair=JSONObject(role="role", content="content"))[: limit - 1]
            ),
        )
        .order_by()
        .values_list(*columns, "newest", "earlier")
    )


@dataclass(frozen=True)
class _Statement:
    sql: str
    params: tuple[Any, ...]
    slots: tuple[int, int, int]  # where the tenant, user and conversation ids go
    id_fields: tuple[Field[Any, Any], ...]  # the conversation's fields for those ids
    columns: list[str]  # the conversation's fields, first in each row


# Placeholders to find in the compiled statement's parameters: values no real id has.
_PROBES = (UUID(int=0x7E7A), -0x7E7A_0001, UUID(int=0x7E7A_0002))
_ID_FIELDS = ("tenant", "user", "id")  # the conversation's fields they stand for


@functools.cache
def _posting_statement(limit: int, using: str) -> _Statement:
    """``_posting_query``'s SQL and parameters, compiled once per history limit."""
    tenant_id, user_id, conversation_id = _PROBES
    query = _posting_query(
        tenant_id=tenant_id, user_id=user_id, conversation_id=conversation_id, limit=limit
    ).query
    sql, params = query.get_compiler(using).as_sql()
    slots = tuple(params.index(probe) for probe in _PROBES)
    if any(params.count(probe) != 1 for probe in _PROBES):
        raise RuntimeError("the posting statement names an id more than once")
    columns = [field.attname for field in Conversation._meta.concrete_fields]
    id_fields = tuple(cast("Field[Any, Any]", Conversation._meta.get_field(f)) for f in _ID_FIELDS)
    return _Statement(sql, tuple(params), (slots[0], slots[1], slots[2]), id_fields, columns)


# Shown on an empty chat when the organisation has set none (AI settings, "Chat").
SUGGESTED_PROMPTS = (
    "Summarise our latest documents in five bullet points",
    "Draft a friendly reply to a customer asking for a refund",
    "Explain a technical idea as if to a new colleague",
    "Turn these notes into a clear plan with next steps",
)


@dataclass(frozen=True)
class ModelChoice:
    """One entry of the composer's model picker."""

    alias: str
    label: str
    allowed: bool
    note: str  # for a model the plan lacks: "on the Pro and Enterprise plans"


@dataclass(frozen=True)
class ChatScreenSettings:
    """What the chat screen takes from the organisation's AI settings and plan."""

    suggested_prompts: tuple[str, ...]
    models: tuple[ModelChoice, ...]
    default_model: str


def screen_settings(tenant: Tenant) -> ChatScreenSettings:
    """One query: the suggested prompts (defaults when none are set) and the model picker
    (every chat alias; those the plan lacks disabled, naming the plans that have them)."""
    row = (
        AISettings.objects.filter(tenant_id=tenant.id)
        .values_list("suggested_prompts", "model_alias")
        .first()
    )
    prompts, default = row if row is not None else ([], ModelAlias.FAST.value)
    allowed = limits_for(tenant.plan).model_aliases
    models = tuple(
        ModelChoice(
            alias=alias,
            label=MODEL_LABELS.get(alias, alias),
            allowed=alias in allowed,
            note="" if alias in allowed else f"on {plans_phrase(alias)}",
        )
        for alias in ModelAlias.values
    )
    if default not in allowed:
        default = allowed[0]
    return ChatScreenSettings(
        suggested_prompts=tuple(prompts) or SUGGESTED_PROMPTS,
        models=models,
        default_model=default,
    )


def guardrail_record(tenant_id: Any, checks: tuple[str, ...]) -> list[dict[str, str]]:
    """What the organisation's policy did for each check that flagged or redacted
    something in an exchange (the gateway reports the checks, the policy the action)."""
    if not checks:
        return []
    raw = (
        AISettings.objects.filter(tenant_id=tenant_id).values_list("guardrails", flat=True).first()
    )
    try:
        policy = Policy.parse(raw or {})
    except PolicyError:
        policy = Policy()
    known = {check.value: check for check in Check}
    return [
        {"check": name, "action": policy.action(known[name]).value}
        for name in checks
        if name in known
    ]
