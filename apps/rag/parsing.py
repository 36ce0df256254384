"""File types, content sniffing and text extraction for uploaded documents.

``detect_type`` runs at upload: the extension (or, without one, the declared MIME type)
names a type, and the content must agree with it (a PDF starts with ``%PDF-``, a DOCX is
a ZIP package, text has no NUL bytes). Anything else is refused before it is stored.

``parse`` runs in the ingestion task and turns the bytes into ``Section``s with their
heading paths: Markdown ``#`` headings, HTML ``h1``-``h6`` (through markdownify), DOCX
"Heading N" styles; PDF and plain text have none. A file that cannot be read raises
``ParseError`` with a message that says what to do.
"""

from __future__ import annotations

import codecs
import io
import logging
import re
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any

from apps.core.errors import ServiceError
from apps.rag.chunking import Block, Heading, Section, markdown_sections, sections_from_blocks

logger = logging.getLogger(__name__)

ACCEPTED = "txt, md, html, pdf, docx"


@dataclass(frozen=True)
class FileType:
    kind: str
    label: str
    mime: str
    extensions: tuple[str, ...]

    @property
    def is_text(self) -> bool:
        return self.kind in {"txt", "md", "html"}


TYPES = (
    FileType("txt", "Text", "text/plain", (".txt", ".text")),
    FileType("md", "Markdown", "text/markdown", (".md", ".markdown")),
    FileType("html", "HTML", "text/html", (".html", ".htm")),
    FileType("pdf", "PDF", "application/pdf", (".pdf",)),
    FileType(
        "docx",
        "Word",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        (".docx",),
    ),
)
_BY_EXTENSION = {ext: t for t in TYPES for ext in t.extensions}
_BY_MIME = {t.mime: t for t in TYPES}


def type_for_mime(mime: str) -> FileType | None:
    return _BY_MIME.get(mime.split(";")[0].strip().lower())


class UnsupportedFileType(ServiceError):
    def __init__(self, message: str) -> None:
        super().__init__(message, code="unsupported_file_type")


class ParseError(Exception):
    """The file's content cannot be turned into text; ``message`` says what to do."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


# --- Sniffing -------------------------------------------------------------------------

# Signatures worth naming in a refusal; other binaries are caught by their NUL bytes.
_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "image", "a PNG image"),
    (b"\xff\xd8\xff", "image", "a JPEG image"),
    (b"GIF87a", "image", "a GIF image"),
    (b"GIF89a", "image", "a GIF image"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "ole", "an old Office file (.doc, .xls)"),
    (b"\x1f\x8b", "archive", "a gzip archive"),
)
_UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)


@dataclass(frozen=True)
class Sniffed:
    kind: str  # pdf, docx, zip, damaged-zip, text, image, ole, archive, binary
    description: str


def _sniff_zip(data: bytes) -> Sniffed:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as package:
            names = set(package.namelist())
    except (zipfile.BadZipFile, ValueError, OSError):
        return Sniffed("damaged-zip", "a damaged ZIP package")
    if "word/document.xml" in names:
        return Sniffed("docx", "a Word document")
    if "xl/workbook.xml" in names:
        return Sniffed("zip", "an Excel workbook")
    if "ppt/presentation.xml" in names:
        return Sniffed("zip", "a PowerPoint presentation")
    return Sniffed("zip", "a ZIP archive")


def sniff(data: bytes) -> Sniffed:
    """What the bytes look like, whatever the file is called."""
    header_at = data[:1024].find(b"%PDF-")
    # Readers accept junk before the header; then the end-of-file marker must be there.
    if header_at == 0 or (header_at > 0 and b"%%EOF" in data[-2048:]):
        return Sniffed("pdf", "a PDF")
    if data.startswith(b"PK\x03\x04"):
        return _sniff_zip(data)
    for magic, kind, description in _MAGIC:
        if data.startswith(magic):
            return Sniffed(kind, description)
    if data.startswith(_UTF16_BOMS) or b"\x00" not in data[:65536]:
        return Sniffed("text", "text")
    return Sniffed("binary", "binary data")


def _agrees(expected: FileType, found: Sniffed) -> bool:
    if expected.is_text:
        return found.kind == "text"
    if expected.kind == "docx":
        # A damaged package is still meant as a DOCX: ingestion reports the damage.
        return found.kind in {"docx", "damaged-zip"}
    return found.kind == expected.kind


def detect_type(filename: str, data: bytes, declared_mime: str = "") -> FileType:
    """The file's type, from its extension (or declared MIME type) checked against its
    content. Raises UnsupportedFileType, whose message lists the accepted types."""
    name = PurePath(filename).name or "The file"
    extension = PurePath(name).suffix.lower()
    expected = _BY_EXTENSION.get(extension)
    if expected is None and not extension:
        expected = type_for_mime(declared_mime)
    if expected is None:
        what = f"a {extension} file" if extension else "a file without an extension"
        raise UnsupportedFileType(
            f"“{name}” is {what}, which cannot be added. Upload one of: {ACCEPTED}."
        )
    found = sniff(data)
    if not _agrees(expected, found):
        raise UnsupportedFileType(
            f"“{name}” is named as {expected.label} but its content is {found.description}. "
            f"Upload one of: {ACCEPTED}, with the extension that matches its content."
        )
    return expected


# --- Text -----------------------------------------------------------------------------


def decode_text(data: bytes) -> str:
    """UTF-8 (with or without BOM) or UTF-16 with BOM; else Windows-1252, which covers
    most legacy Western text. Newlines are normalised to \\n."""
    if data.startswith(codecs.BOM_UTF8):
        text = data[len(codecs.BOM_UTF8) :].decode("utf-8", errors="replace")
    elif data.startswith(_UTF16_BOMS):
        text = data.decode("utf-16", errors="replace")
    else:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            text = data.decode("cp1252", errors="replace")
    return text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "")


def _parse_txt(data: bytes) -> list[Section]:
    text = decode_text(data).strip()
    return [Section((), text)] if text else []


def _parse_markdown(data: bytes) -> list[Section]:
    return markdown_sections(decode_text(data))


_SPACES = re.compile(r"\s+")
_HTML_DROP = ("script", "style", "noscript", "template", "head", "svg", "iframe", "object")


def _parse_html(data: bytes) -> list[Section]:
    """HTML → Markdown (headings as ``#``, links and images as plain text) → sections."""
    from bs4 import BeautifulSoup
    from bs4.element import NavigableString
    from markdownify import MarkdownConverter

    soup = BeautifulSoup(decode_text(data), "html.parser")
    for tag in soup.find_all(_HTML_DROP):
        tag.decompose()
    # Source line breaks inside a paragraph are spaces in HTML (but not in <pre>).
    for node in soup.find_all(string=True):
        if type(node) is NavigableString and node.find_parent(["pre", "textarea"]) is None:
            node.replace_with(_SPACES.sub(" ", str(node)))
    converter = MarkdownConverter(
        heading_style="atx",
        strip=["a", "img"],
        escape_asterisks=False,
        escape_underscores=False,
        escape_misc=False,
    )
    return markdown_sections(converter.convert_soup(soup))


def _parse_pdf(data: bytes) -> list[Section]:
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(data))
    if reader.is_encrypted and not reader.decrypt(""):
        raise ParseError(
            "This PDF is protected by a password. Save a copy without the password "
            "(Print → Save as PDF) and upload that."
        )
    pages = [(page.extract_text() or "").strip() for page in reader.pages]
    text = "\n\n".join(page for page in pages if page)
    return [Section((), text)] if text else []


_HEADING_STYLE = re.compile(r"^heading\s*([1-9])$", re.I)


def _docx_heading_level(paragraph: Any) -> int | None:
    """0 for Title, N for "Heading N" (or a style based on one), None for body text."""
    style = paragraph.style
    for _ in range(5):  # custom styles inherit from a built-in heading style
        if style is None:
            return None
        for name in (style.name or "", style.style_id or ""):
            if name.lower() == "title":
                return 0
            match = _HEADING_STYLE.match(name)
            if match:
                return int(match.group(1))
        style = style.base_style
    return None


def _docx_blocks(document: Any) -> Iterator[Block]:
    from docx.table import Table

    for item in document.iter_inner_content():
        if isinstance(item, Table):
            rows = (" | ".join(cell.text.strip() for cell in row.cells) for row in item.rows)
            yield "\n".join(row for row in rows if row.strip(" |"))
            continue
        level = _docx_heading_level(item)
        if level is None:
            yield item.text
        else:
            yield Heading(level, item.text)


def _parse_docx(data: bytes) -> list[Section]:
    import docx

    try:
        document = docx.Document(io.BytesIO(data))
    except (zipfile.BadZipFile, KeyError) as exc:
        raise ParseError(
            "This .docx file is not a readable Word document (its ZIP package is damaged "
            "or incomplete). Open it in Word, save it again as .docx and upload it again."
        ) from exc
    return sections_from_blocks(_docx_blocks(document))


_PARSERS: dict[str, Callable[[bytes], list[Section]]] = {
    "txt": _parse_txt,
    "md": _parse_markdown,
    "html": _parse_html,
    "pdf": _parse_pdf,
    "docx": _parse_docx,
}

NO_TEXT = (
    "No text could be extracted from this file. If it is a scanned PDF or an image, run "
    "it through OCR first; otherwise check that it has text in it, then upload it again."
)


def parse(file_type: FileType, data: bytes) -> list[Section]:
    """The document's sections. Raises ParseError saying why the file cannot be read."""
    try:
        sections = _PARSERS[file_type.kind](data)
    except ParseError:
        raise
    except Exception as exc:
        # Parsers of untrusted files fail in many ways (pypdf alone raises a dozen
        # exception types): any failure here means this file cannot be read.
        logger.info(
            "document parse failed", extra={"kind": file_type.kind, "error": repr(exc)[:300]}
        )
        raise ParseError(
            f"This file could not be read as {file_type.label}: it looks damaged or is "
            f"not really a {file_type.label} file. Export it again from the program that "
            "made it and upload it again."
        ) from exc
    if not sections:
        raise ParseError(NO_TEXT)
    return sections
