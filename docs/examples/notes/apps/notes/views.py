"""The Notes page: the organisation's recent notes and a form to add one. Every member
may read and add."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from apps.core.errors import ServiceError
from apps.notes.selectors import recent_notes
from apps.notes.services import note_create
from apps.tenants.http import MemberRequest


@require_http_methods(["GET", "POST"])
def notes(request: MemberRequest, slug: str) -> HttpResponse:
    if request.method == "POST":
        try:
            note_create(
                actor=request.membership,
                title=request.POST.get("title", ""),
                body=request.POST.get("body", ""),
            )
        except ServiceError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, "Note added.")
            return redirect("notes:notes", slug)
    return render(request, "notes/notes.html", {"notes": recent_notes(request.tenant)})
