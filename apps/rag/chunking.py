"""Token-aware, heading-aware chunking: sections of a document in, passages out.

A parsed document is a list of ``Section``s: a heading path and the text under it. Each
section is chunked on its own, so a chunk never spans two sections and carries the one
heading path it sits under (a citation then points at one place). Inside a section the
text is cut into units (lines and sentences, words for a giant sentence), packed greedily
up to ``max_tokens`` tokens, preferring to end a chunk where a paragraph ends. Each chunk
after the first starts with the last ``overlap`` tokens (or fewer) of the one before, cut
at a sentence or word start, so a fact split across a boundary is whole in one of them.

Tokens are the gateway's (``apps.gateway.api.count_text_tokens``): the same count the
rate limits and budgets use. A chunk's content never exceeds ``max_tokens`` by that count.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from django.conf import settings

HEADING_SEPARATOR = " \u203a "  # a single right-pointing angle quotation mark
HEADING_MAX_CHARS = 500

Counter = Callable[[str], int]

_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n\s*")
# A unit ends at a line break, or after . ! ? (with closing quotes/brackets) + whitespace.
_UNIT = re.compile(r"[^\n]+?(?:[.!?…。][\"')\]]*(?=\s)|$)", re.M)
_WORD = re.compile(r"\S+")
_ATX = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?[ \t]*#*[ \t]*$")
_SETEXT = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")


@dataclass(frozen=True)
class Section:
    """Text under one heading path (outermost heading first; empty before any heading)."""

    headings: tuple[str, ...]
    text: str


@dataclass(frozen=True)
class Heading:
    level: int  # 0 for a document title, 1-6 for h1-h6 / Heading 1-6
    text: str


Block = Heading | str


@dataclass(frozen=True)
class ChunkDraft:
    ordinal: int
    heading: str
    content: str
    token_count: int


def _default_counter() -> Counter:
    from apps.gateway.api import count_text_tokens

    return count_text_tokens


# --- Sections -------------------------------------------------------------------------


def sections_from_blocks(blocks: Iterable[Block]) -> list[Section]:
    """Group text blocks under the headings before them; a heading ends the section of any
    heading at its level or deeper. Sections without text are dropped (their heading still
    heads the path of the sections nested in them)."""
    path: list[Heading] = []
    sections: list[Section] = []
    buffer: list[str] = []

    def flush() -> None:
        text = "\n\n".join(part.strip("\n") for part in buffer if part.strip()).strip()
        if text:
            sections.append(Section(tuple(h.text for h in path), text))
        buffer.clear()

    for block in blocks:
        if isinstance(block, Heading):
            flush()
            while path and path[-1].level >= block.level:
                path.pop()
            if block.text.strip():
                path.append(Heading(block.level, " ".join(block.text.split())))
        else:
            buffer.append(block)
    flush()
    return sections


def markdown_blocks(text: str) -> Iterator[Block]:
    """ATX (``## Title``) and setext (``Title`` over ``===``) headings; ``#`` lines inside
    fenced code blocks are code, not headings."""
    fence = ""
    lines: list[str] = []
    for line in text.split("\n"):
        marker = _FENCE.match(line)
        if fence:
            lines.append(line)
            if marker and marker.group(1)[0] == fence[0] and len(marker.group(1)) >= len(fence):
                fence = ""
            continue
        if marker:
            fence = marker.group(1)
            lines.append(line)
            continue
        atx = _ATX.match(line)
        setext = _SETEXT.match(line)
        if atx:
            yield "\n".join(lines)
            lines = []
            yield Heading(len(atx.group(1)), atx.group(2) or "")
        elif setext and lines and lines[-1].strip():
            title = lines.pop()
            yield "\n".join(lines)
            lines = []
            yield Heading(1 if setext.group(1)[0] == "=" else 2, title.strip())
        else:
            lines.append(line)
    yield "\n".join(lines)


def markdown_sections(text: str) -> list[Section]:
    return sections_from_blocks(markdown_blocks(text))


def heading_path(headings: tuple[str, ...]) -> str:
    path = HEADING_SEPARATOR.join(headings)
    if len(path) > HEADING_MAX_CHARS:
        path = path[: HEADING_MAX_CHARS - 1] + "…"
    return path


# --- Units: spans of a section's text that a chunk may start or end at ----------------


@dataclass(frozen=True)
class _Unit:
    start: int
    end: int
    tokens: int
    opens_paragraph: bool


def _split_long(text: str, start: int, end: int, limit: int, count: Counter) -> list[_Unit]:
    """Cut a span of more than ``limit`` tokens at word starts (or inside a giant word)."""
    pieces: list[_Unit] = []
    words = [(m.start(), m.end()) for m in _WORD.finditer(text, start, end)]
    i = 0
    while i < len(words):
        # The most words from i within the limit: a word is at least one token, so no
        # more than ``limit`` of them; binary search keeps long runs linear-ish.
        low, high = i + 1, min(len(words), i + limit)
        while low < high:
            middle = (low + high + 1) // 2
            if count(text[words[i][0] : words[middle - 1][1]]) <= limit:
                low = middle
            else:
                high = middle - 1
        piece_start, piece_end = words[i][0], words[low - 1][1]
        tokens = count(text[piece_start:piece_end])
        if tokens > limit:  # one word longer than the limit: cut inside it
            piece_end = piece_start + _prefix_within(text[piece_start:piece_end], limit, count)
            tokens = count(text[piece_start:piece_end])
            words[i] = (piece_end, words[i][1])
        else:
            i = low
        pieces.append(_Unit(piece_start, piece_end, tokens, False))
    return pieces


def _prefix_within(word: str, limit: int, count: Counter) -> int:
    """A long prefix length of ``word`` within ``limit`` tokens (at least one character).
    Searching at most ``limit * 8`` characters keeps a megabyte-long "word" cheap."""
    low, high = 1, min(len(word), limit * 8)
    while low < high:
        middle = (low + high + 1) // 2
        if count(word[:middle]) <= limit:
            low = middle
        else:
            high = middle - 1
    return low


def _units(text: str, limit: int, count: Counter) -> list[_Unit]:
    units: list[_Unit] = []
    paragraph_start = 0
    for brk in [*_PARAGRAPH_BREAK.finditer(text), None]:
        paragraph_end = brk.start() if brk else len(text)
        first = True
        for match in _UNIT.finditer(text, paragraph_start, paragraph_end):
            start = match.start() + len(match.group()) - len(match.group().lstrip())
            end = match.end()
            if start >= end:
                continue
            tokens = count(text[start:end])
            if tokens <= limit:
                units.append(_Unit(start, end, tokens, first))
            else:
                pieces = _split_long(text, start, end, limit, count)
                units.append(_Unit(pieces[0].start, pieces[0].end, pieces[0].tokens, first))
                units.extend(pieces[1:])
            first = False
        paragraph_start = brk.end() if brk else len(text)
    return units


# --- Packing --------------------------------------------------------------------------


def _paragraph_tokens(units: list[_Unit], index: int) -> int:
    total = units[index].tokens
    for unit in units[index + 1 :]:
        if unit.opens_paragraph:
            break
        total += unit.tokens
    return total


def _overlap_start(
    text: str, units: list[_Unit], first: int, last: int, overlap: int, count: Counter
) -> int | None:
    """Where the next chunk's overlap starts: the earliest unit (then word) start in
    units[first..last] whose tail to the chunk's end is within ``overlap`` tokens."""
    if overlap <= 0:
        return None
    end = units[last].end
    best: int | None = None
    for index in range(last, first, -1):  # never the chunk's first unit: no full repeat
        if count(text[units[index].start : end]) > overlap:
            break
        best = units[index].start
    if best is not None:
        return best
    for word in reversed(list(_WORD.finditer(text, units[last].start, end))):
        if word.start() == units[first].start or count(text[word.start() : end]) > overlap:
            break
        best = word.start()
    return best


def _pack(
    text: str, units: list[_Unit], max_tokens: int, overlap: int, count: Counter
) -> Iterator[tuple[str, int]]:
    """Yield (content, tokens) chunks covering ``units`` in order."""
    carry: int | None = None  # start of the overlap taken from the previous chunk
    position = 0
    while position < len(units):
        lead = count(text[carry : units[position].start].strip()) if carry is not None else 0
        budget = max_tokens - lead
        last, used = position, units[position].tokens
        while last + 1 < len(units):
            following = units[last + 1]
            if used + following.tokens > budget:
                break
            if (
                following.opens_paragraph
                and used + _paragraph_tokens(units, last + 1) > budget
                and used * 2 >= budget
            ):
                break  # end at the paragraph break rather than split the next paragraph
            last, used = last + 1, used + following.tokens
        start = carry if carry is not None else units[position].start
        content = text[start : units[last].end].strip()
        tokens = count(content)
        while tokens > max_tokens and last > position:
            last -= 1
            content = text[start : units[last].end].strip()
            tokens = count(content)
        if tokens > max_tokens:  # one unit plus the overlap: drop the overlap
            content = text[units[position].start : units[last].end].strip()
            tokens = count(content)
        yield content, tokens
        carry = _overlap_start(text, units, position, last, overlap, count)
        position = last + 1


def chunk_sections(
    sections: Iterable[Section],
    *,
    max_tokens: int | None = None,
    overlap: int | None = None,
    count: Counter | None = None,
) -> list[ChunkDraft]:
    """Chunks of every section, in document order, numbered from 0."""
    max_tokens = max_tokens or settings.RAG_CHUNK_TOKENS
    overlap = settings.RAG_CHUNK_OVERLAP if overlap is None else overlap
    if not 0 <= overlap * 2 <= max_tokens:
        raise ValueError("overlap must be between 0 and half of max_tokens")
    count = count or _default_counter()
    drafts: list[ChunkDraft] = []
    for section in sections:
        heading = heading_path(section.headings)
        units = _units(section.text, max_tokens - overlap, count)
        for content, tokens in _pack(section.text, units, max_tokens, overlap, count):
            if content:
                drafts.append(ChunkDraft(len(drafts), heading, content, tokens))
    return drafts


def chunk_text(
    text: str,
    *,
    markdown: bool = True,
    max_tokens: int | None = None,
    overlap: int | None = None,
    count: Counter | None = None,
) -> list[ChunkDraft]:
    """Chunk plain or Markdown text (Markdown headings become the chunks' heading paths)."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    sections = markdown_sections(text) if markdown else [Section((), text.strip())]
    return chunk_sections(sections, max_tokens=max_tokens, overlap=overlap, count=count)
