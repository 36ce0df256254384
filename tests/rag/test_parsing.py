"""Each accepted format becomes sections with heading paths; the type is decided by the
extension and checked against the content; unreadable files raise a ParseError that says
what to do."""

from __future__ import annotations

import pytest

from apps.rag.chunking import Section
from apps.rag.parsing import (
    ACCEPTED,
    NO_TEXT,
    ParseError,
    UnsupportedFileType,
    detect_type,
    parse,
)
from tests.rag.conftest import HANDBOOK_MD, make_docx, make_pdf


def parsed(filename: str, data: bytes) -> list[Section]:
    return parse(detect_type(filename, data), data)


def test_plain_text_is_one_section_without_headings() -> None:
    data = b"Line one.\r\nLine two.\r\n\r\n# not a heading in a .txt\n"
    assert parsed("notes.txt", data) == [
        Section((), "Line one.\nLine two.\n\n# not a heading in a .txt")
    ]


def test_markdown_headings_become_paths_and_fenced_code_is_not_a_heading() -> None:
    data = HANDBOOK_MD.encode() + b"\n## Setup\n\n```sh\n# comment, not a heading\n```\n"
    sections = parsed("handbook.md", data)
    assert [s.headings for s in sections] == [
        ("Employee handbook",),
        ("Employee handbook", "Expenses"),
        ("Employee handbook", "Expenses", "Travel"),
        ("Employee handbook", "Holidays"),
        ("Employee handbook", "Setup"),
    ]
    assert sections[2].text.startswith("Book economy class")
    assert "# comment, not a heading" in sections[4].text


def test_setext_headings_and_text_before_the_first_heading() -> None:
    sections = parsed("x.markdown", b"Preface.\n\nTitle\n=====\n\nBody.\n\nPart\n----\n\nMore.")
    assert sections == [
        Section((), "Preface."),
        Section(("Title",), "Body."),
        Section(("Title", "Part"), "More."),
    ]


def test_html_keeps_h1_to_h6_and_drops_scripts_styles_and_markup() -> None:
    html = b"""<!doctype html><html><head><title>Ignored</title><style>p{color:red}</style>
    </head><body><script>alert('x')</script><h1>Policies</h1><p>Read <a href="/x">these</a>
    <b>carefully</b>.</p><h3>Leave &amp; absence</h3><ul><li>Tell your manager</li></ul>
    <h2>Security</h2><p>Use a password_manager * always.</p></body></html>"""
    sections = parsed("policies.html", html)
    assert [s.headings for s in sections] == [
        ("Policies",),
        ("Policies", "Leave & absence"),
        ("Policies", "Security"),
    ]
    assert sections[0].text == "Read these **carefully**."
    assert "Tell your manager" in sections[1].text
    assert sections[2].text == "Use a password_manager * always."  # no escaping
    assert not any("alert" in s.text or "color" in s.text for s in sections)


def test_pdf_pages_are_extracted_in_order() -> None:
    data = make_pdf("Invoices are sent monthly.", "", "Refunds take five working days.")
    sections = parsed("billing.pdf", data)
    assert len(sections) == 1
    assert sections[0].headings == ()
    assert sections[0].text == "Invoices are sent monthly.\n\nRefunds take five working days."


def test_docx_heading_styles_become_paths_and_tables_are_read() -> None:
    import io

    import docx

    data = make_docx(
        ("Title", "Onboarding"),
        ("", "First week plan."),
        ("Heading 1", "Accounts"),
        ("", "You get a laptop on day one."),
        ("Heading 2", "Email"),
        ("", "Your address is name@alpha.example."),
        ("Heading 1", "Benefits"),
    )
    document = docx.Document(io.BytesIO(data))
    table = document.add_table(rows=1, cols=2)
    table.cell(0, 0).text, table.cell(0, 1).text = "Gym", "Paid"
    buffer = io.BytesIO()
    document.save(buffer)
    sections = parsed("onboarding.docx", buffer.getvalue())
    assert sections == [
        Section(("Onboarding",), "First week plan."),
        Section(("Onboarding", "Accounts"), "You get a laptop on day one."),
        Section(("Onboarding", "Accounts", "Email"), "Your address is name@alpha.example."),
        Section(("Onboarding", "Benefits"), "Gym | Paid"),
    ]


def test_legacy_encodings_and_utf16_text_are_decoded() -> None:
    assert parsed("a.txt", "Café crème".encode("cp1252"))[0].text == "Café crème"
    assert parsed("b.txt", "Naïve résumé".encode("utf-16"))[0].text == "Naïve résumé"


@pytest.mark.parametrize(
    ("filename", "data", "fragment"),
    [
        ("photo.png", b"\x89PNG\r\n\x1a\n....", "a .png file"),
        ("archive", b"plain words", "a file without an extension"),
        ("report.pdf", b"Just some text, no PDF header", "its content is text"),
        ("notes.txt", b"\x89PNG\r\n\x1a\n\x00\x00", "a PNG image"),
        ("notes.md", b"abc\x00\x01\x02binary", "binary data"),
        ("memo.docx", b"this is not a zip at all", "named as Word but its content is text"),
        ("old.docx", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1rest", "an old Office file"),
        ("page.html", make_pdf("hello"), "its content is a PDF"),
    ],
)
def test_unsupported_or_mismatched_types_are_refused_with_the_accepted_list(
    filename: str, data: bytes, fragment: str
) -> None:
    with pytest.raises(UnsupportedFileType) as caught:
        detect_type(filename, data)
    assert fragment in caught.value.message
    assert ACCEPTED in caught.value.message
    assert caught.value.code == "unsupported_file_type"


def test_a_file_without_extension_uses_the_declared_type_and_still_checks_content() -> None:
    assert detect_type("notes", b"# Hi", "text/markdown; charset=utf-8").kind == "md"
    with pytest.raises(UnsupportedFileType):
        detect_type("notes", b"\x00\x01", "text/plain")


def test_extensions_are_case_insensitive_and_a_mention_of_pdf_in_text_is_text() -> None:
    assert detect_type("REPORT.PDF", make_pdf("x")).kind == "pdf"
    assert detect_type("spec.md", b"Files start with %PDF-1.7 and end with a marker").kind == "md"


def test_a_corrupt_pdf_raises_a_parse_error_that_says_what_to_do() -> None:
    data = b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> garbage"
    with pytest.raises(ParseError) as caught:
        parsed("broken.pdf", data)
    assert "could not be read as PDF" in caught.value.message
    assert "upload it again" in caught.value.message


def test_a_truncated_docx_is_accepted_at_upload_then_fails_to_parse_clearly() -> None:
    data = make_docx(("", "Hello"))[:300]
    file_type = detect_type("cut.docx", data)  # still a ZIP signature: meant as a DOCX
    with pytest.raises(ParseError) as caught:
        parse(file_type, data)
    assert "not a readable Word document" in caught.value.message


def test_a_pdf_without_text_fails_with_the_ocr_hint() -> None:
    with pytest.raises(ParseError) as caught:
        parsed("scan.pdf", make_pdf("", ""))
    assert caught.value.message == NO_TEXT
