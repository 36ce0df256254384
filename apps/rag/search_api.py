"""Search over the API: ranked chunks for a query, no chat model (django-ninja Router).

Registered on the Starter API in apps/api/api.py, which authenticates the key and
enters its tenant before these endpoints run.
"""

from __future__ import annotations

from ninja import Router

router = Router(tags=["search"])


@router.get("/search", summary="Ranked passages from the organisation's documents")
def search(request, q: str):  # type: ignore[no-untyped-def]
    return {"q": q}
