"""Where uploaded files live: Django's default storage, under the tenant's prefix.

Paths are ``tenants/<tenant_id>/documents/<document_id>/<safe name>``: the tenant is part
of every path, so a bug elsewhere cannot make two tenants' files collide, and reading
checks that a document's path sits under its own tenant's prefix. The backend is
FileSystemStorage under MEDIA_ROOT by default, a private S3-compatible bucket with
``STORAGE_BACKEND=s3`` (config/settings.py). Files are never served by URL: views
stream them after checking the tenant and the role.
"""

from __future__ import annotations

import uuid
from pathlib import PurePath

from django.core.exceptions import SuspiciousFileOperation
from django.core.files.base import ContentFile, File
from django.core.files.storage import default_storage
from django.utils.text import get_valid_filename

NAME_MAX_CHARS = 120


def safe_name(filename: str) -> str:
    """A file name safe on every backend: no directories, no odd characters, short."""
    base = PurePath(filename.replace("\\", "/")).name
    try:
        cleaned = get_valid_filename(base)
    except SuspiciousFileOperation:  # "", "." and ".."
        cleaned = ""
    stem, suffix = PurePath(cleaned).stem, PurePath(cleaned).suffix.lower()[:10]
    return (stem[: NAME_MAX_CHARS - len(suffix)] or "document") + suffix


def tenant_prefix(tenant_id: uuid.UUID | str) -> str:
    return f"tenants/{tenant_id}/"


def document_path(tenant_id: uuid.UUID | str, document_id: uuid.UUID | str, filename: str) -> str:
    return f"{tenant_prefix(tenant_id)}documents/{document_id}/{safe_name(filename)}"


def save(path: str, data: bytes) -> str:
    """Store ``data`` at ``path`` (or a free variant of it); returns the stored name."""
    return default_storage.save(path, ContentFile(data))


def read(name: str, *, tenant_id: uuid.UUID | str) -> bytes:
    _check_owned(name, tenant_id)
    with default_storage.open(name, "rb") as handle:
        return bytes(handle.read())


def open_file(name: str, *, tenant_id: uuid.UUID | str) -> File[bytes]:
    _check_owned(name, tenant_id)
    return default_storage.open(name, "rb")


def delete(name: str) -> None:
    """Remove a stored file; a file that is already gone is not an error."""
    if name:
        default_storage.delete(name)


def _check_owned(name: str, tenant_id: uuid.UUID | str) -> None:
    if not name.startswith(tenant_prefix(tenant_id)) or ".." in PurePath(name).parts:
        raise PermissionError(f"{name!r} is not in tenant {tenant_id}'s storage")
