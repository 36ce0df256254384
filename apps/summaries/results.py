"""A job's results, streamed as JSON lines or CSV for the API and the Jobs page alike.

Items are read in pages of ``PAGE`` by ordinal, each page in a worker thread inside the
job's tenant context, and yielded from an async generator: under ASGI Django reads a
sync generator whole into memory before sending, so a 10,000-item job would not stream.
"""

from __future__ import annotations

import csv
import io
import json
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

from asgiref.sync import sync_to_async

from apps.core.db import tenant_context
from apps.summaries.models import ItemKind, SummaryItem

PAGE = 200
CSV_COLUMNS = (
    "ordinal",
    "document_id",
    "document_title",
    "status",
    "summary",
    "error",
    "source_chunk_ids",
    "cost_usd",
)


def item_row(item: SummaryItem) -> dict[str, Any]:
    return {
        "ordinal": item.ordinal,
        "document_id": str(item.document_id) if item.document_id else None,
        "document_title": item.document.title if item.document else None,
        "status": item.status,
        "summary": item.summary,
        "error": item.error,
        "source_chunk_ids": item.chunk_ids,
        "cost_usd": str(item.cost_usd),
    }


def page(tenant_id: str, job_id: str, after: int) -> list[dict[str, Any]]:
    """Up to ``PAGE`` of the job's answers (the items a caller sees) after ``after``."""
    with tenant_context(tenant_id):
        items = (
            SummaryItem.objects.filter(
                tenant_id=tenant_id, job_id=uuid.UUID(job_id), ordinal__gt=after
            )
            .exclude(kind=ItemKind.MAP)  # parts: their combine item is the answer
            .select_related("document")
            .order_by("ordinal")
        )
        return [item_row(item) for item in items[:PAGE]]


async def _rows(tenant_id: str, job_id: str) -> AsyncIterator[dict[str, Any]]:
    after = -1
    while True:
        rows = await sync_to_async(page)(tenant_id, job_id, after)
        for row in rows:
            yield row
        if len(rows) < PAGE:
            return
        after = rows[-1]["ordinal"]


async def json_lines(tenant_id: str, job_id: str) -> AsyncIterator[bytes]:
    async for row in _rows(tenant_id, job_id):
        yield json.dumps(row).encode() + b"\n"


def _csv_line(write: Callable[[list[Any]], object], buffer: io.StringIO, row: list[Any]) -> bytes:
    buffer.seek(0)
    buffer.truncate()
    write(row)
    return buffer.getvalue().encode()


async def csv_lines(tenant_id: str, job_id: str) -> AsyncIterator[bytes]:
    """CSV with a header row; chunk ids joined by spaces (one cell per column)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    yield _csv_line(writer.writerow, buffer, list(CSV_COLUMNS))
    async for row in _rows(tenant_id, job_id):
        cells = {**row, "source_chunk_ids": " ".join(row["source_chunk_ids"])}
        yield _csv_line(writer.writerow, buffer, [cells[c] for c in CSV_COLUMNS])
