"""The docs point at things that exist: links, their anchors, and repository paths.

Every relative Markdown link in README.md and docs/**/*.md must reach a file or folder of
the repository; an ``#anchor`` on a link to a Markdown page (or on the same page) must
match one of that page's headings, slugged as GitHub slugs them. A repository path the
docs mention (``apps/core/heap.py``, ``bench/gateway.py``, ``docs/adr/``) must exist.
The docs are read as text: no database.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]

PATH_PREFIXES = ("apps", "config", "tests", "bench", "docs", "templates", "static")
# Worked examples, each laid out as the repository it is copied into (docs/forking.md).
EXAMPLES = "docs/examples"
# Written by a benchmark run and ignored by git, so absent from a fresh clone.
GENERATED = ("bench/results/",)
# A path with one of these is a pattern or a placeholder, not a file: `apps/<app>/`.
PLACEHOLDER = set("<>*{}…")

FENCE = re.compile(r"^\s*(```|~~~)")
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$")
CODE_SPAN = re.compile(r"(`+)(.+?)\1")
INLINE_LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]*)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE_LINK = re.compile(r"^\s*\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)")
SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")
# A token that starts like a repository path, not inside a URL or another path.
PATH_TOKEN = re.compile(rf"(?<![\w./-])(?:{'|'.join(PATH_PREFIXES)})/[^\s`|()\[\]\"',;]*")
EXTENSION = re.compile(r"\.[A-Za-z0-9]+$")


@dataclass(frozen=True)
class Ref:
    doc: Path
    line: int
    target: str

    def __str__(self) -> str:
        page = self.doc.relative_to(ROOT) if self.doc.is_relative_to(ROOT) else self.doc
        return f"{page}:{self.line}: {self.target}"


def prose_lines(text: str) -> list[tuple[int, str, bool]]:
    """(line number, line, inside a fenced code block) for every line of a page."""
    out, fenced = [], False
    for number, line in enumerate(text.splitlines(), start=1):
        if FENCE.match(line):
            fenced = not fenced
            out.append((number, line, True))
            continue
        out.append((number, line, fenced))
    return out


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: the rendered text lower-cased, punctuation other
    than hyphens and underscores dropped, each space a hyphen."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link counts as its text
    text = re.sub(r"[^\w\- ]", "", text.strip().lower())
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    """The anchors of a page's headings; a repeated heading gets -1, -2, … as on GitHub."""
    seen: Counter[str] = Counter()
    found = set()
    for _, line, fenced in prose_lines(page.read_text(encoding="utf-8")):
        match = None if fenced else HEADING.match(line)
        if match is None:
            continue
        base = slug(match.group(1))
        found.add(f"{base}-{seen[base]}" if seen[base] else base)
        seen[base] += 1
    return found


def links_in(doc: Path) -> list[Ref]:
    """Relative link targets of a page, outside code."""
    refs = []
    for number, line, fenced in prose_lines(doc.read_text(encoding="utf-8")):
        if fenced:
            continue
        line = CODE_SPAN.sub("", line)
        targets = INLINE_LINK.findall(line) + REFERENCE_LINK.findall(line)
        refs += [Ref(doc, number, t) for t in targets if t and not SCHEME.match(t)]
    return refs


def paths_in(doc: Path) -> list[Ref]:
    """Repository paths a page mentions (prose, code spans and code blocks), once each:
    tokens under one of PATH_PREFIXES that end in a file extension or a slash."""
    refs, seen = [], set()
    for number, line, _ in prose_lines(doc.read_text(encoding="utf-8")):
        for token in PATH_TOKEN.findall(line):
            path = token.split("#")[0].split(":")[0].rstrip(".")
            if PLACEHOLDER & set(path) or path in seen:
                continue
            if path.endswith("/") or EXTENSION.search(path):
                seen.add(path)
                refs.append(Ref(doc, number, path))
    return refs


def link_problem(ref: Ref, root: Path = ROOT) -> str | None:
    """Why a link does not resolve, or None."""
    raw_path, _, anchor = ref.target.partition("#")
    raw_path = unquote(raw_path)
    if not raw_path:
        target = ref.doc
    elif raw_path.startswith("/"):
        target = root / raw_path.lstrip("/")
    else:
        target = ref.doc.parent / raw_path
    if not target.exists():
        return f"{ref}: no such file or folder ({target.resolve()})"
    if anchor and target.suffix == ".md" and anchor not in anchors(target):
        return f"{ref}: no heading with the anchor #{anchor} in {target.name}"
    return None


def path_problem(ref: Ref, root: Path = ROOT) -> str | None:
    """Why a mentioned repository path does not exist, or None. A worked example's file
    (docs/forking.md) counts where the example keeps it: ``apps/notes/api.py`` is
    ``docs/examples/notes/apps/notes/api.py`` until a fork copies it into place."""
    if ref.target.startswith(GENERATED) or (root / ref.target).exists():
        return None
    if any((example / ref.target).exists() for example in (root / EXAMPLES).glob("*/")):
        return None
    return f"{ref}: no such file or folder in the repository"


LINKS = [ref for doc in DOCS for ref in links_in(doc)]
PATHS = [ref for doc in DOCS for ref in paths_in(doc)]


@pytest.mark.parametrize("ref", LINKS, ids=str)
def test_link_resolves(ref: Ref) -> None:
    problem = link_problem(ref)
    assert problem is None, problem


@pytest.mark.parametrize("ref", PATHS, ids=str)
def test_mentioned_path_exists(ref: Ref) -> None:
    problem = path_problem(ref)
    assert problem is None, problem


def test_the_docs_are_found_and_read() -> None:
    # Guards the two lists above: a parsing slip must not leave nothing to check.
    assert {ROOT / "README.md", ROOT / "docs" / "chat.md"} <= set(DOCS)
    assert len(LINKS) > 30
    assert len(PATHS) > 50


@pytest.mark.parametrize(
    ("heading", "anchor"),
    [
        (
            "The chat's hot path skips the middleware stack",
            "the-chats-hot-path-skips-the-middleware-stack",
        ),
        ("Search: `GET /api/v1/search?q=…&k=…`", "search-get-apiv1searchqk"),
        ("Answers from documents (citations)", "answers-from-documents-citations"),
        ("ADR 0003: a [second](x.md) handler, `@lean`", "adr-0003-a-second-handler-lean"),
        ("snake_case and  two spaces", "snake_case-and--two-spaces"),
    ],
)
def test_slugs_follow_github(heading: str, anchor: str) -> None:
    assert slug(heading) == anchor


def test_broken_links_paths_and_anchors_are_reported(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "apps").mkdir()
    (tmp_path / "apps" / "real.py").write_text("")
    (tmp_path / "docs" / "examples" / "notes" / "apps" / "notes").mkdir(parents=True)
    (tmp_path / "docs" / "examples" / "notes" / "apps" / "notes" / "api.py").write_text("")
    (tmp_path / "docs" / "other.md").write_text("# Other\n\n## Part two\n\n## Part two\n")
    page = tmp_path / "docs" / "page.md"
    page.write_text(
        "# Page\n\n"
        "[ok](other.md#part-two-1) [gone](missing.md) [bad anchor](other.md#part-three)\n"
        "[here](#page) [not here](#nowhere) [web](https://example.com/x.md)\n"
        "`[in code](missing.md)` `apps/real.py`, `apps/lost.py` and `apps/<app>/x.py`\n"
        "`apps/notes/api.py` is an example's, `apps/notes/lost.py` is not\n"
        "```\n# not a heading\n[in a block](missing.md) apps/also_lost.py\n```\n"
    )
    links = {ref.target: link_problem(ref, tmp_path) for ref in links_in(page)}
    assert set(links) == {
        "other.md#part-two-1",
        "missing.md",
        "other.md#part-three",
        "#page",
        "#nowhere",
    }
    assert [target for target, problem in links.items() if problem] == [
        "missing.md",
        "other.md#part-three",
        "#nowhere",
    ]
    assert "no such file" in str(links["missing.md"])
    assert "#part-three" in str(links["other.md#part-three"])
    assert "not-a-heading" not in anchors(page)
    paths = {ref.target: path_problem(ref, tmp_path) for ref in paths_in(page)}
    assert set(paths) == {
        "apps/real.py",
        "apps/lost.py",
        "apps/notes/api.py",
        "apps/notes/lost.py",
        "apps/also_lost.py",
    }
    assert [target for target, problem in paths.items() if problem] == [
        "apps/lost.py",
        "apps/notes/lost.py",
        "apps/also_lost.py",
    ]
