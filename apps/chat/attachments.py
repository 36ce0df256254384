"""Files given to a conversation: ingested like documents, private to that conversation.

An attachment is a private document of the conversation's user (``Document.owner``,
apps/rag/models.py) linked to the conversation by an ``Attachment`` row. Three walls keep
it there:

- **RLS**: a restrictive policy on ``rag_document`` and ``rag_chunk`` (rag migration 0005)
  shows the row and its passages only when the transaction's ``app.user_id`` is the
  owner. A colleague's request, an API key (no user) and raw SQL without that user see
  nothing, whatever the query;
- **shared reads**: the Documents page, the documents and search APIs and summaries read
  ``Document.objects.shared()``, which leaves private documents out even for the owner;
- **retrieval by name**: an answer searches the tenant's shared documents plus the
  private documents its own conversation names (``include``), so the owner's other
  conversations do not draw on them.

Same formats, size limit, messages and ingestion (the Celery task, with progress) as a
document. Deleting an attachment, or its conversation, deletes the document, its
passages and, once that commits, its stored file. Call these inside the member's
``tenant_context`` (a page request is one), whose ``user_id`` is the conversation's user.
"""

from __future__ import annotations

import dataclasses
import hashlib
import uuid
from typing import Any

from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.urls import reverse

from apps.chat.models import Attachment, Conversation
from apps.core.db import in_worker_thread, tenant_context
from apps.core.errors import ServiceError
from apps.gateway.config import resolve
from apps.gateway.types import CallContext
from apps.rag import selectors as rag_selectors
from apps.rag import services as rag_services
from apps.rag import storage
from apps.rag.context import REASON_DISABLED, Retrieved, retrieve_for_answer
from apps.rag.models import Document

MAX_PER_CONVERSATION = 10


class TooManyAttachments(ServiceError):
    def __init__(self) -> None:
        super().__init__(
            f"This conversation already has {MAX_PER_CONVERSATION} files, the most it can "
            "hold. Remove one, or start a new conversation for more.",
            code="too_many_attachments",
        )


def refusal_status(exc: ServiceError) -> int:
    """The HTTP status of a refused attachment: as for documents, 409 when it is full."""
    if isinstance(exc, TooManyAttachments):
        return 409
    return rag_services.refusal_status(exc)


# -- reads ---------------------------------------------------------------------------------


def attachments_of(conversation: Conversation) -> list[Document]:
    """The conversation's files, oldest first, annotated as on the Documents page
    (``progress``, ``chunk_count``, ``type_label``, ``type_kind``)."""
    ids = list(
        Attachment.objects.filter(
            tenant_id=conversation.tenant_id, conversation_id=conversation.id
        ).values_list("document_id", flat=True)
    )
    if not ids:
        return []
    return list(rag_selectors.private_documents(conversation.tenant_id, ids))


def attachment_of(conversation: Conversation, document_id: Any) -> Document | None:
    return next((d for d in attachments_of(conversation) if str(d.id) == str(document_id)), None)


def attached_ids(*, tenant_id: Any, conversation_id: Any) -> list[uuid.UUID]:
    return list(
        Attachment.objects.filter(tenant_id=tenant_id, conversation_id=conversation_id)
        .order_by()
        .values_list("document_id", flat=True)
    )


def as_json(slug: str, conversation: Conversation, document: Document) -> dict[str, Any]:
    """A file as the composer's chip shows it (static/js/chat_attachments.js)."""
    return {
        "id": str(document.id),
        "filename": document.filename,
        "type_label": getattr(document, "type_label", "File"),
        "type_kind": getattr(document, "type_kind", "file"),
        "size_bytes": document.size_bytes,
        "status": document.status,
        "status_label": document.get_status_display(),
        "progress": getattr(document, "progress", 0),
        "error": document.error,
        "url": attachment_url(slug, conversation.id, document.id),
        "delete_url": reverse("chat:attachment_delete", args=[slug, conversation.id, document.id]),
    }


# -- writes --------------------------------------------------------------------------------


def attachment_add(*, conversation: Conversation, file: UploadedFile) -> tuple[Document, bool]:
    """Store ``file`` as a private document of the conversation's user, linked to the
    conversation, and queue its ingestion. Returns (document, created): the same bytes
    already attached here give back that attachment with ``created=False``.

    Refusals (too large before the bytes are read, empty, unsupported type, the
    conversation full) raise ``ServiceError`` and store nothing.
    """
    rag_services.check_upload_size(file.size or 0, file.name or "")
    data = file.read()
    digest = hashlib.sha256(data).hexdigest()
    for document in attachments_of(conversation):
        if document.sha256 == digest:
            return document, False
    if Attachment.objects.filter(conversation_id=conversation.id).count() >= MAX_PER_CONVERSATION:
        raise TooManyAttachments()
    with transaction.atomic():
        document = rag_services.private_document_create(
            tenant=conversation.tenant,
            owner=conversation.user,
            filename=file.name or "",
            data=data,
            content_type=file.content_type or "",
        )
        try:
            Attachment.objects.create(
                tenant_id=conversation.tenant_id, conversation=conversation, document=document
            )
        except BaseException:
            storage.delete(document.file.name or "")
            raise
    return document, True


def attachment_remove(*, conversation: Conversation, document: Document) -> None:
    """Delete one of the conversation's files: its document, passages and stored file."""
    if not Attachment.objects.filter(
        conversation_id=conversation.id, document_id=document.id
    ).exists():
        raise ServiceError("This file is not attached to this conversation.", code="not_found")
    rag_services.private_document_delete(document=document)  # the Attachment row goes too


def attachments_delete_all(*, conversation: Conversation) -> int:
    """Delete every file of a conversation (before the conversation itself goes)."""
    documents = attachments_of(conversation)
    for document in documents:
        rag_services.private_document_delete(document=document)
    return len(documents)


# -- answers -------------------------------------------------------------------------------


def attachment_url(slug: str, conversation_id: Any, document_id: Any) -> str:
    return reverse("chat:attachment", args=[slug, conversation_id, document_id])


def _scope(tenant_id: Any, conversation_id: Any) -> tuple[list[uuid.UUID], str]:
    with tenant_context(tenant_id):
        conversation = Conversation.objects.select_related("tenant").get(
            id=conversation_id, tenant_id=tenant_id
        )
        return attached_ids(tenant_id=tenant_id, conversation_id=conversation_id), str(
            conversation.tenant.slug
        )


async def retrieve_with_attachments(
    ctx: CallContext, question: str, *, conversation_id: Any
) -> Retrieved:
    """``retrieve_for_answer`` over the tenant's documents and this conversation's files
    (``ctx.user_id`` must be the conversation's user); a passage from a file links to the
    file's page in this conversation, not to the Documents page it is not on."""
    if not (await resolve(ctx)).rag_enabled:  # held in memory: no query for the files
        return Retrieved(reason=REASON_DISABLED)
    include, slug = await in_worker_thread(_scope)(ctx.tenant_id, conversation_id)
    retrieved = await retrieve_for_answer(ctx, question, include=include)
    if not any(p.private for p in retrieved.passages):
        return retrieved
    passages = tuple(
        dataclasses.replace(
            p,
            url=f"{attachment_url(slug, conversation_id, p.document_id)}#chunk-{p.chunk_id}",
        )
        if p.private
        else p
        for p in retrieved.passages
    )
    return dataclasses.replace(retrieved, passages=passages)
