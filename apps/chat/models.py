"""Conversations and their messages: tenant data under row-level security."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models

from apps.core.models import TenantScopedModel


class TitleSource(models.TextChoices):
    DEFAULT = "default", "Not titled yet"
    WORDS = "words", "The first words of the first question"
    GENERATED = "generated", "Generated from the first exchange"
    USER = "user", "Renamed by its owner"


class Conversation(TenantScopedModel):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="conversations"
    )
    title = models.CharField(max_length=200, default="New conversation")
    # Where the title came from: a generated title replaces only the first-words one, so a
    # rename is never overwritten (services.conversation_title_generate).
    title_source = models.CharField(
        max_length=10, choices=TitleSource.choices, default=TitleSource.DEFAULT
    )
    # The model alias picked in the composer (one the plan allows when it was picked);
    # empty means the organisation's default from its AI settings.
    model_alias = models.CharField(max_length=20, blank=True)

    class Meta:
        ordering = ("-updated_at",)
        indexes = [models.Index(fields=("tenant", "user", "-updated_at"), name="conv_user_idx")]

    def __str__(self) -> str:
        return self.title


class MessageRole(models.TextChoices):
    USER = "user", "User"
    ASSISTANT = "assistant", "Assistant"


class MessageStatus(models.TextChoices):
    STREAMING = "streaming", "Streaming"
    COMPLETE = "complete", "Complete"
    STOPPED = "stopped", "Stopped"
    ERROR = "error", "Error"


class Message(TenantScopedModel):
    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="messages"
    )
    role = models.CharField(max_length=10, choices=MessageRole.choices)
    content = models.TextField(blank=True)
    status = models.CharField(
        max_length=10, choices=MessageStatus.choices, default=MessageStatus.COMPLETE
    )
    served_model = models.CharField(max_length=200, blank=True)
    usage_record_id = models.UUIDField(null=True, blank=True)
    error_code = models.CharField(max_length=40, blank=True)
    error_message = models.TextField(blank=True)
    # Answers from the organisation's documents: the passages retrieved for this answer
    # ("sources"), the check of each [n] it cites ("citations"), or why it used none
    # ("notice"). Empty when RAG was not involved.
    rag = models.JSONField(default=dict, blank=True)
    # The cache that served the answer ("exact", "semantic"; "" for the provider): an
    # answer from the semantic cache can be reported as wrong from the chat.
    cache = models.CharField(max_length=10, blank=True)
    # What the guardrails did to the question or the answer short of blocking it:
    # [{"check": "pii", "action": "redact"}, ...] (apps/guardrails/policy.py names).
    guardrails = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ("created_at",)
        indexes = [
            models.Index(fields=("conversation", "created_at"), name="msg_conv_idx"),
            # The quality signals (apps/chat/quality.py) join the ledger to its answers.
            models.Index(
                fields=("usage_record_id",),
                name="msg_usage_record_idx",
                condition=models.Q(usage_record_id__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.role}: {self.content[:40]}"

    @property
    def rag_script_id(self) -> str:
        return f"rag-{self.pk}"

    @property
    def guardrail_notices(self) -> list[str]:
        return guardrail_notices(self.guardrails)


# What a guardrail did, in words a person understands: never the value it found.
_GUARDRAIL_SUBJECTS = {
    "pii": "personal data (an email, phone number, card or id number)",
    "secrets": "a secret (a key, token or password)",
    "prompt_injection": "a possible attempt to override the assistant's instructions",
    "moderation": "possibly harmful content",
}
_GUARDRAIL_ACTIONS = {
    "redact": "Guardrails replaced {} in this exchange with a placeholder.",
    "flag": "Guardrails flagged {} in this exchange.",
}


def guardrail_notices(records: list[dict[str, str]] | Any) -> list[str]:
    """The notices to show on an answer for its ``guardrails`` record."""
    notices = []
    for record in records if isinstance(records, list) else []:
        subject = _GUARDRAIL_SUBJECTS.get(record.get("check", ""))
        template = _GUARDRAIL_ACTIONS.get(record.get("action", ""), _GUARDRAIL_ACTIONS["flag"])
        if subject:
            notices.append(template.format(subject))
    return notices


class Attachment(TenantScopedModel):
    """A file given to one conversation (apps/chat/attachments.py): a private document of
    the conversation's user (``Document.owner``), which RLS shows to that person alone
    and which only this conversation's answers retrieve."""

    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="attachments"
    )
    document = models.OneToOneField("rag.Document", on_delete=models.CASCADE, related_name="+")

    class Meta:
        ordering = ("created_at",)
        indexes = [models.Index(fields=("conversation", "created_at"), name="attachment_conv_idx")]

    def __str__(self) -> str:
        return f"{self.conversation_id}: {self.document_id}"


class Rating(models.TextChoices):
    UP = "up", "Thumbs up"
    DOWN = "down", "Thumbs down"


class FeedbackReason(models.TextChoices):
    """Why an answer got a thumbs down: few enough to pick at a glance."""

    INACCURATE = "inaccurate", "Wrong or made up"
    UNHELPFUL = "unhelpful", "Did not answer the question"
    SOURCES = "sources", "Wrong or missing sources"
    UNSAFE = "unsafe", "Harmful or inappropriate"
    OTHER = "other", "Something else"


class Feedback(TenantScopedModel):
    """A person's thumbs up or down on one answer, with an optional reason and comment;
    one per person per answer, changed in place (services.feedback_set). Gone with its
    answer (a regenerated answer starts without feedback)."""

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="feedback")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    rating = models.CharField(max_length=4, choices=Rating.choices)
    reason = models.CharField(max_length=12, choices=FeedbackReason.choices, blank=True)
    comment = models.TextField(blank=True)
    # Where it was given ("chat" or "api"), for the admins reading it.
    via = models.CharField(max_length=4, default="chat")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=("message", "user"), name="feedback_one_per_user")
        ]

    def __str__(self) -> str:
        return f"{self.rating} on {self.message_id}"


class QualitySource(models.TextChoices):
    """Who keeps a ``DailyQuality`` row: each writer its own rows, so none waits for another."""

    LEDGER = "ledger", "The ledger rows (the FinOps drain)"
    ANSWERS = "answers", "The chat answers and their ratings (database triggers)"


class DailyQuality(TenantScopedModel):
    """The AI quality signals' counts for one UTC day, feature and model (those of the
    answer's ledger row): ``apps/chat/quality.py`` reads these and nothing else.

    Two writers, each with its own rows (``source``), summed when read:

    - ``ledger``: answers, stopped, errors, added by the FinOps drain from the ledger rows
      it takes (``apps/finops/rollups.py``), in its one statement;
    - ``answers``: chat answers, citations and ratings, adjusted by triggers on
      ``chat_message`` and ``chat_feedback`` (chat migration 0006) in the transaction that
      saves, changes or deletes the answer or its rating.

    Counts are added, never recomputed (``ON CONFLICT DO UPDATE SET n = n + …``); a
    removal adds a negative. How and why: docs/finops.md, "AI quality signals".
    """

    day = models.DateField()
    feature = models.CharField(max_length=40)
    model = models.CharField(max_length=200)
    source = models.CharField(max_length=7, choices=QualitySource.choices)
    # The writers insert only their own columns: the others take the database default.
    answers = models.BigIntegerField(default=0, db_default=0)
    stopped = models.BigIntegerField(default=0, db_default=0)
    errors = models.BigIntegerField(default=0, db_default=0)
    chat_answers = models.BigIntegerField(default=0, db_default=0)
    cited = models.BigIntegerField(default=0, db_default=0)
    citations_passed = models.BigIntegerField(default=0, db_default=0)
    rated = models.BigIntegerField(default=0, db_default=0)
    thumbs_up = models.BigIntegerField(default=0, db_default=0)

    class Meta:
        constraints = [
            # Also the readers' index: tenant, then a range of days.
            models.UniqueConstraint(
                fields=("tenant", "day", "feature", "model", "source"), name="chat_quality_key"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.feature} {self.model} ({self.source})"


class QualityWaiting(TenantScopedModel):
    """An answer saved before its ledger row was there (the gateway's journal writes the
    row a few ms after the call): its ``answers`` counts wait for the row, which gives
    their day, feature and model.

    Kept by chat migration 0007's triggers: the answer's trigger adds this instead of
    counting, and deletes it when the answer changes or goes. The FinOps drain counts the
    answer once its row is there and deletes this in the same transaction
    (``chat_quality_arrived``, called by ``apps/finops/rollups.py``): counted exactly once.
    Plain ids, as the triggers write them: the answer's trigger removes this before its
    answer goes.
    """

    message_id = models.UUIDField(unique=True)
    usage_record_id = models.UUIDField()

    def __str__(self) -> str:
        return f"answer {self.message_id} waits for {self.usage_record_id}"
