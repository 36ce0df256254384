"""Summary pages: start a job from the Documents page, the Jobs list, cancel, downloads.

Starting, cancelling, the list and the results are for owners and admins
(``manager_required``): a job may hold developers' inline texts sent over the API. Every
member reads documents' summaries on the document pages (the ``summaries`` template
tags). Jobs are loaded by id only through ``apps.summaries.access.get_job``.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.utils.http import content_disposition_header
from django.views.decorators.http import require_GET, require_POST

from apps.rag.models import Document, DocumentStatus
from apps.summaries import jobs, results
from apps.summaries.access import get_job
from apps.summaries.models import ENDED, SummaryJob
from apps.tenants.access import manager_required
from apps.tenants.http import MemberRequest

LIST_LIMIT = 50
POLL_SECONDS = 3
FORMATS = {
    "jsonl": ("application/x-ndjson", results.json_lines),
    "csv": ("text/csv", results.csv_lines),
}


def _list_context(request: MemberRequest) -> dict[str, Any]:
    recent = list(
        SummaryJob.objects.filter(tenant=request.tenant).select_related("created_by")[:LIST_LIMIT]
    )
    return {
        "jobs": recent,
        "polling": any(job.status not in ENDED for job in recent),
        "poll_seconds": POLL_SECONDS,
    }


@require_GET
@manager_required
def jobs_page(request: MemberRequest, slug: str) -> HttpResponse:
    return render(request, "summaries/jobs.html", _list_context(request))


@require_GET
@manager_required
def job_rows(request: MemberRequest, slug: str) -> HttpResponse:
    """The list alone, for HTMX polling while a job runs."""
    return render(request, "summaries/_job_list.html", _list_context(request))


@require_POST
@manager_required
def job_start(request: MemberRequest, slug: str) -> HttpResponse:
    """Summarise the chosen documents (``document`` values), or every ready one
    (``scope=all``). A refusal goes back to the Documents page with its message."""
    from apps.summaries.tasks import submit_job

    if request.POST.get("scope") == "all":
        chosen = [
            str(pk)
            for pk in Document.objects.shared()
            .filter(tenant=request.tenant, status=DocumentStatus.READY)
            .values_list("id", flat=True)
        ]
        if not chosen:
            messages.error(request, "No document is ready to summarise yet.")
            return redirect("rag:documents", slug)
    else:
        chosen = request.POST.getlist("document")
        if not chosen:
            messages.error(request, "Tick the documents to summarise, or summarise them all.")
            return redirect("rag:documents", slug)
    try:
        job = jobs.start_job(
            request.tenant,
            user_id=request.user.pk,
            document_ids=chosen,
            on_commit=lambda j: submit_job.delay(tenant_id=str(j.tenant_id), job_id=str(j.id)),
        )
    except jobs.JobError as exc:
        messages.error(request, exc.message)
        return redirect("rag:documents", slug)
    count = f"{job.total} document{'s' if job.total != 1 else ''}"
    messages.success(
        request,
        f"Summarising {count} at the batch price. You will be notified when it is done.",
    )
    return redirect("summaries:jobs", slug)


@require_POST
@manager_required
def job_cancel(request: MemberRequest, slug: str, job_id: UUID) -> HttpResponse:
    job = get_job(request, job_id)
    status = jobs.cancel(str(job.tenant_id), str(job.id))
    if status == "cancelled":
        messages.success(request, "The job was cancelled; nothing more will be charged.")
    else:
        messages.info(request, "That job had already ended.")
    return redirect("summaries:jobs", slug)


@require_GET
def job_results(request: MemberRequest, slug: str, job_id: UUID, fmt: str) -> StreamingHttpResponse:
    """Every item's summary (or error) as CSV or JSON lines, streamed. (Owners and admins
    only, checked here: ``manager_required`` is typed for plain responses.)"""
    if not request.membership.can_manage:
        raise PermissionDenied("Only owners and admins can download a job's results.")
    if fmt not in FORMATS:
        raise Http404("Results come as .csv or .jsonl.")
    job = get_job(request, job_id)
    content_type, lines = FORMATS[fmt]
    response = StreamingHttpResponse(
        lines(str(job.tenant_id), str(job.id)), content_type=content_type
    )
    filename = f"summaries-{job.created_at:%Y%m%d-%H%M}-{str(job.id)[:8]}.{fmt}"
    response["Content-Disposition"] = content_disposition_header(True, filename) or "attachment"
    response["Cache-Control"] = "private, no-store"
    return response
