"""Documents pages: list and upload, one document's chunks, its file, re-ingest, delete.

Every member can list and read documents; owners and admins upload, re-ingest and
delete (``manager_required``, as in apps/tenants). Documents are loaded by id only through
``apps.rag.access.get_document``, scoped to the URL's tenant: another tenant's id is a 404.
The services check the role again (apps/rag/services.py).
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.html import format_html
from django.utils.http import content_disposition_header
from django.views.decorators.http import require_GET, require_POST

from apps.core.errors import ServiceError
from apps.rag import selectors, services, storage
from apps.rag.access import get_document
from apps.rag.forms import ACCEPT, UploadForm
from apps.rag.parsing import ACCEPTED
from apps.tenants.access import manager_required
from apps.tenants.http import MemberRequest

LIST_LIMIT = 500
POLL_SECONDS = 2


def _list_context(request: MemberRequest) -> dict[str, Any]:
    documents = list(selectors.documents_for(request.tenant)[:LIST_LIMIT])
    return {
        "documents": documents,
        "polling": selectors.any_unfinished(documents),
        "poll_seconds": POLL_SECONDS,
        "can_manage": request.membership.can_manage,
    }


def _upload(request: MemberRequest, form: UploadForm) -> tuple[HttpResponse | None, int]:
    """Store the form's file: a redirect on success, else (None, status) with the error
    added to the form."""
    try:
        document, created = services.document_upload(
            tenant=request.tenant, actor=request.membership, file=form.cleaned_data["file"]
        )
    except ServiceError as exc:
        form.add_error("file", exc.message)
        return None, services.refusal_status(exc)
    slug = request.tenant.slug
    if created:
        messages.success(
            request, f"“{document.filename}” was uploaded; it is searchable once it is Ready."
        )
    else:
        messages.info(
            request,
            format_html(
                'This file is already here as <a href="{}">{}</a>; nothing was added.',
                reverse("rag:document", args=[slug, document.id]),
                document.title,
            ),
        )
    return redirect("rag:documents", slug), 302


def documents(request: MemberRequest, slug: str) -> HttpResponse:
    """The list, and (owners and admins) the upload form it posts to."""
    form = UploadForm()
    status = 200
    if request.method == "POST":
        if not request.membership.can_manage:
            raise PermissionDenied("Only owners and admins can upload documents.")
        form = UploadForm(request.POST, request.FILES)
        if form.is_valid():
            response, status = _upload(request, form)
            if response is not None:
                return response
        else:
            status = 400
    context = {
        **_list_context(request),
        "form": form,
        "accept": ACCEPT,
        "accepted": ACCEPTED,
        "max_mb": services.max_upload_bytes() // (1024 * 1024),
    }
    return render(request, "rag/documents.html", context, status=status)


@require_GET
def document_rows(request: MemberRequest, slug: str) -> HttpResponse:
    """The list alone, for HTMX polling while a document is being ingested."""
    return render(request, "rag/_document_list.html", _list_context(request))


@require_GET
def document(request: MemberRequest, slug: str, document_id: UUID) -> HttpResponse:
    found = get_document(request, document_id)
    chunks = list(selectors.chunks_of(found)) if found.chunk_count else []  # type: ignore[attr-defined]
    context = {
        "document": found,
        "chunks": chunks,
        "finished": selectors.is_finished(found),
        "poll_seconds": POLL_SECONDS,
        "can_manage": request.membership.can_manage,
    }
    return render(request, "rag/document.html", context)


@require_GET
def document_status(request: MemberRequest, slug: str, document_id: UUID) -> HttpResponse:
    """The status panel of the document page; once ingestion ends, HTMX reloads the page
    so the new chunks show."""
    found = get_document(request, document_id)
    finished = selectors.is_finished(found)
    response = render(
        request,
        "rag/_document_status.html",
        {"document": found, "finished": finished, "poll_seconds": POLL_SECONDS},
    )
    if finished and request.headers.get("HX-Request"):
        response["HX-Refresh"] = "true"
    return response


@require_GET
def document_file(request: MemberRequest, slug: str, document_id: UUID) -> HttpResponse:
    """The original file, as a download (never rendered inline: an uploaded HTML file
    must not run in the product's origin)."""
    found = get_document(request, document_id)
    try:
        data = storage.read(found.file.name or "", tenant_id=found.tenant_id)
    except FileNotFoundError:
        raise Http404("The stored file is missing.") from None
    response = HttpResponse(data, content_type=found.content_type or "application/octet-stream")
    response["Content-Disposition"] = (
        content_disposition_header(True, found.filename) or "attachment"
    )
    response["Cache-Control"] = "private, no-store"
    return response


@require_POST
@manager_required
def document_reingest(request: MemberRequest, slug: str, document_id: UUID) -> HttpResponse:
    found = services.document_reingest(
        document=get_document(request, document_id), actor=request.membership
    )
    messages.success(request, f"“{found.title}” is queued for ingestion again.")
    if request.POST.get("from") == "document":
        return redirect("rag:document", slug, found.id)
    return redirect("rag:documents", slug)


@require_POST
@manager_required
def document_delete(request: MemberRequest, slug: str, document_id: UUID) -> HttpResponse:
    found = get_document(request, document_id)
    title = found.title
    services.document_delete(document=found, actor=request.membership)
    messages.success(request, f"“{title}” was deleted, with its passages and its file.")
    return redirect("rag:documents", slug)
