"""Conversations and their messages: tenant data under row-level security."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from apps.core.models import TenantScopedModel


class Conversation(TenantScopedModel):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="conversations"
    )
    title = models.CharField(max_length=200, default="New conversation")

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

    class Meta:
        ordering = ("created_at",)
        indexes = [models.Index(fields=("conversation", "created_at"), name="msg_conv_idx")]

    def __str__(self) -> str:
        return f"{self.role}: {self.content[:40]}"

    @property
    def rag_script_id(self) -> str:
        return f"rag-{self.pk}"


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
