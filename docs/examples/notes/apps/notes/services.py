"""Writes: keyword-only, atomic, the actor's right checked here (a member, or an API key
with the ``notes`` scope), so pages and the API refuse alike."""

from __future__ import annotations

from django.db import transaction

from apps.api.models import ApiKey
from apps.core.errors import NotAllowed, ServiceError
from apps.notes.apps import NOTES
from apps.notes.models import Note
from apps.tenants.models import Membership

Actor = Membership | ApiKey


@transaction.atomic
def note_create(*, actor: Actor, title: str, body: str = "") -> Note:
    """A new note in the actor's organisation. Call inside its tenant context (a page
    or an API endpoint already runs in one)."""
    if isinstance(actor, ApiKey):
        if not actor.has_scope(NOTES.name):
            raise NotAllowed("This API key lacks the 'notes' scope.")
        author = actor.created_by
    else:
        author = actor.user
    title = title.strip()
    if not title:
        raise ServiceError("Give the note a title.", code="title_required")
    return Note.objects.create(
        tenant_id=actor.tenant_id, title=title[:200], body=body, created_by=author
    )
