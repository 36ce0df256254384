"""Notes over the API: list and read (``read`` or ``notes`` scope), create (``notes``).

Mounted in config/api.py. The endpoints run inside the key's tenant context, so every
query sees that organisation's rows only; another tenant's note id is a 404."""

from __future__ import annotations

import uuid
from typing import Any

from ninja import Router, Schema, Status

from apps.api.auth import KeyRequest, require_scope
from apps.api.scopes import Scope
from apps.notes.access import get_note
from apps.notes.apps import NOTES
from apps.notes.models import Note
from apps.notes.selectors import recent_notes
from apps.notes.services import note_create

router = Router(tags=["notes"])


class NoteIn(Schema):
    title: str
    body: str = ""


class NoteOut(Schema):
    id: str
    title: str
    body: str
    created_at: str


def _as_json(note: Note) -> dict[str, Any]:
    return {
        "id": str(note.id),
        "title": note.title,
        "body": note.body,
        "created_at": note.created_at.isoformat(),
    }


@router.get("/notes", response=list[NoteOut])
def list_notes(request: KeyRequest) -> list[dict[str, Any]]:
    require_scope(request.api_key, Scope.READ, NOTES.name)
    return [_as_json(note) for note in recent_notes(request.tenant)]


@router.get("/notes/{note_id}", response=NoteOut)
def read_note(request: KeyRequest, note_id: uuid.UUID) -> dict[str, Any]:
    require_scope(request.api_key, Scope.READ, NOTES.name)
    return _as_json(get_note(request, note_id))


@router.post("/notes", response={201: NoteOut})
def create_note(request: KeyRequest, payload: NoteIn) -> Status[dict[str, Any]]:
    key = require_scope(request.api_key, NOTES.name)
    note = note_create(actor=key, title=payload.title, body=payload.body)
    return Status(201, _as_json(note))
