"""The one way to load a tenant's document by id, for pages and the API alike."""

from __future__ import annotations

from typing import Any

from django.http import Http404

from apps.rag import selectors
from apps.rag.models import Document
from apps.tenants.http import TenantBound


def get_document(request: TenantBound, document_id: Any) -> Document:
    """The request's tenant's document (annotated as ``selectors.documents_for``), else a
    404: another tenant's id is refused exactly like an id that never existed."""
    document = selectors.document_for(request.tenant, document_id)
    if document is None:
        raise Http404("No such document.")
    return document
