"""RAG tests run the real pipeline: files in a temporary MEDIA_ROOT, real PostgreSQL with
pgvector under RLS, embeddings from the local provider over HTTP through the gateway.

PDF and DOCX fixtures are made at test time with fpdf2 and python-docx."""

from __future__ import annotations

import io
from pathlib import Path
from typing import TYPE_CHECKING, TypedDict, cast

import httpx
import pytest
from django.conf import settings
from pytest_django import Settings

from apps.accounts.models import User
from apps.core.db import tenant_context
from apps.rag import selectors
from apps.rag.ingest import ingest_document
from apps.rag.models import Chunk, Document
from apps.rag.services import document_create
from apps.tenants.models import Membership, Tenant
from tests import conftest, servers

# Other suites import these from here too.
from tests.conftest import bearer as bearer
from tests.conftest import error_of as error_of
from tests.conftest import login as login

if TYPE_CHECKING:
    from django_stubs_ext import WithAnnotations

# A real Celery worker (tests/servers.py ``running`` starts it with the test database).
WORKER = servers.WORKER

HANDBOOK_MD = """# Employee handbook

Welcome to Alpha Labs. This handbook explains how we work.

## Expenses

Submit receipts within 30 days. Refunds are paid with the next salary.

### Travel

Book economy class for flights under six hours. Hotels need approval above 150 EUR a night.

## Holidays

Everyone gets 28 days of paid holiday a year, plus public holidays.
"""


@pytest.fixture(scope="session", autouse=True)
def _local_provider() -> None:
    try:
        httpx.get(f"{settings.LOCAL_PROVIDER_URL}/health", timeout=2).raise_for_status()
    except httpx.HTTPError:
        pytest.fail(f"The local provider is not answering at {settings.LOCAL_PROVIDER_URL}.")


@pytest.fixture(autouse=True)
def media_root(settings: Settings, tmp_path: Path) -> Path:
    """Each test stores uploads in its own folder (the default storage follows it)."""
    root = tmp_path / "media"
    settings.MEDIA_ROOT = str(root)
    return root


# --- Files ----------------------------------------------------------------------------


def make_pdf(*pages: str) -> bytes:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_font("Helvetica", size=12)
    for text in pages:
        pdf.add_page()
        if text:
            pdf.multi_cell(0, 8, text)
    return bytes(pdf.output())


def make_docx(*blocks: tuple[str, str]) -> bytes:
    """Blocks of (style, text): ("Title", …), ("Heading 1", …), ("", body text)."""
    import docx

    document = docx.Document()
    for style, text in blocks:
        if style == "Title":
            document.add_heading(text, 0)
        elif style.startswith("Heading "):
            document.add_heading(text, int(style.split()[1]))
        else:
            document.add_paragraph(text)
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


# --- Documents ------------------------------------------------------------------------


class DocumentAnnotations(TypedDict):
    """What ``selectors.documents_for`` adds to each document it lists."""

    progress: int
    chunk_count: int
    type_label: str
    type_kind: str


if TYPE_CHECKING:
    # A document as the list shows it. document_for returns one, though its return
    # type says Document: fresh() casts, once, to what the selector's docstring promises.
    ListedDocument = WithAnnotations[Document, DocumentAnnotations]


def membership_of(tenant: Tenant, user: User) -> Membership:
    return Membership.objects.select_related("user").get(tenant=tenant, user=user)


def upload(tenant: Tenant, user: User, filename: str, data: bytes) -> Document:
    with tenant_context(tenant.id):
        document, created = document_create(
            tenant=tenant, actor=membership_of(tenant, user), filename=filename, data=data
        )
    assert created
    return document


def ingest(document: Document) -> ListedDocument:
    with tenant_context(document.tenant_id):
        ingest_document(document.id)
    return fresh(document)


def fresh(document: Document) -> ListedDocument:
    """The document as stored now, with the list's annotations."""
    with tenant_context(document.tenant_id):
        found = Document.objects.filter(id=document.id).first()
        if found is None:
            raise Document.DoesNotExist
        annotated = selectors.document_for(found.tenant, document.id)
    assert annotated is not None
    return cast("ListedDocument", annotated)


def chunks(document: Document) -> list[Chunk]:
    with tenant_context(document.tenant_id):
        return list(Chunk.objects.filter(document_id=document.id).order_by("ordinal"))


@pytest.fixture
def ready_doc(tenant: Tenant, owner: User) -> ListedDocument:
    """A ready Markdown handbook in ``tenant``: the document that must stay untouched."""
    document = ingest(upload(tenant, owner, "handbook.md", HANDBOOK_MD.encode()))
    assert document.status == "ready"
    return document


# --- Clients --------------------------------------------------------------------------


def api_key(tenant: Tenant, user: User, scopes: tuple[str, ...] = ("documents",)) -> str:
    """``tests.conftest.api_key`` with the ``documents`` scope unless told otherwise."""
    return conftest.api_key(tenant, user, scopes)
