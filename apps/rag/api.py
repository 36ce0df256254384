"""Documents over the API: upload, status, list, delete (django-ninja Router).

Registered on the Starter API in apps/api/api.py, which authenticates the key and
enters its tenant before these endpoints run.
"""

from __future__ import annotations

from ninja import Router

router = Router(tags=["documents"])
