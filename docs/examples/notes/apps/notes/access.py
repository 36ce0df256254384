"""The one way to load a tenant's note by id, for pages and the API alike."""

from __future__ import annotations

from typing import Any

from django.http import Http404

from apps.notes.models import Note
from apps.tenants.http import TenantBound


def get_note(request: TenantBound, note_id: Any) -> Note:
    """The request's tenant's note, else a 404: another tenant's id is refused exactly
    like an id that never existed."""
    note = Note.objects.filter(tenant=request.tenant, id=note_id).first()
    if note is None:
        raise Http404("No such note.")
    return note
