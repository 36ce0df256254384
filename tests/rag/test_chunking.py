"""Chunker properties, with the gateway's real tokenizer: the token bound holds, chunks
overlap by at most the overlap, keep their heading path, never span two sections, cover
the whole text, and none is empty."""

from __future__ import annotations

import itertools
import random
import re

import pytest
from pytest_django import Settings

from apps.gateway.api import count_text_tokens
from apps.rag.chunking import (
    HEADING_SEPARATOR,
    ChunkDraft,
    Section,
    chunk_sections,
    chunk_text,
    markdown_sections,
)

WORDS = [
    *("invoice", "refund", "policy", "customer", "account", "billing", "payment", "tax"),
    *("report", "quarter", "team", "holiday", "travel", "expense", "receipt", "approval"),
    *("manager", "security", "password", "device", "laptop"),
]


def sentence(rng: random.Random) -> str:
    words = [rng.choice(WORDS) for _ in range(rng.randint(4, 22))]
    return " ".join(words).capitalize() + rng.choice([".", ".", "!", "?"])


def paragraph(rng: random.Random) -> str:
    lines = [" ".join(sentence(rng) for _ in range(rng.randint(1, 6)))]
    if rng.random() < 0.3:  # a list, one item per line
        lines += [f"- {sentence(rng)}" for _ in range(rng.randint(2, 5))]
    return "\n".join(lines)


def document(seed: int) -> str:
    rng = random.Random(seed)
    parts = []
    for h1 in range(rng.randint(1, 3)):
        parts.append(f"# Part {h1}")
        parts += [paragraph(rng) for _ in range(rng.randint(0, 3))]
        for h2 in range(rng.randint(1, 3)):
            parts.append(f"## Topic {h1}.{h2}")
            parts += [paragraph(rng) for _ in range(rng.randint(3, 8))]
    return "\n\n".join(parts)


def overlap_between(first: str, second: str) -> str:
    """The longest suffix of ``first`` that ``second`` starts with."""
    for size in range(min(len(first), len(second)), 0, -1):
        if second.startswith(first[-size:]):
            return first[-size:]
    return ""


def by_section(chunks: list[ChunkDraft]) -> list[list[ChunkDraft]]:
    groups: list[list[ChunkDraft]] = []
    for chunk in chunks:
        if groups and groups[-1][0].heading == chunk.heading:
            groups[-1].append(chunk)
        else:
            groups.append([chunk])
    return groups


CASES = [(seed, size, overlap) for seed in range(6) for size, overlap in ((60, 10), (120, 30))]


@pytest.mark.parametrize(("seed", "max_tokens", "overlap"), CASES)
def test_bound_overlap_headings_coverage_and_no_empty_chunk(
    seed: int, max_tokens: int, overlap: int
) -> None:
    text = document(seed)
    sections = markdown_sections(text)
    chunks = chunk_text(text, max_tokens=max_tokens, overlap=overlap)

    assert [c.ordinal for c in chunks] == list(range(len(chunks)))
    assert len(chunks) > len(sections)  # some sections need several chunks
    for chunk in chunks:
        assert chunk.content.strip() == chunk.content != ""
        assert chunk.token_count == count_text_tokens(chunk.content) <= max_tokens

    # Headings kept, one section per chunk: the content lies inside the text of the
    # section its heading path names.
    texts = {HEADING_SEPARATOR.join(s.headings): s.text for s in sections}
    for chunk in chunks:
        assert chunk.content in texts[chunk.heading]
        assert not re.search(r"^#", chunk.content, flags=re.M)

    # Coverage: every sentence of every section is in some chunk of that section.
    for section in sections:
        heading = HEADING_SEPARATOR.join(section.headings)
        mine = " ".join(c.content for c in chunks if c.heading == heading)
        for line in section.text.split("\n"):
            for piece in re.split(r"(?<=[.!?])\s+", line.strip()):
                assert piece in mine

    # Overlap: within a section each chunk starts with the end of the one before, by at
    # most ``overlap`` tokens; across sections there is none.
    for group in by_section(chunks):
        for before, after in itertools.pairwise(group):
            shared = overlap_between(before.content, after.content)
            assert shared, (before.content[-80:], after.content[:80])
            assert 0 < count_text_tokens(shared) <= overlap
    assert len(by_section(chunks)) == len({c.heading for c in chunks})


def test_no_overlap_means_consecutive_chunks_share_nothing() -> None:
    text = " ".join(sentence(random.Random(i)) for i in range(80))
    chunks = chunk_text(text, markdown=False, max_tokens=50, overlap=0)
    assert len(chunks) > 3
    assert "".join(c.content.replace(" ", "") for c in chunks) == text.replace(" ", "")


def test_small_sections_are_not_merged_across_headings() -> None:
    chunks = chunk_text("# A\n\nAlpha text.\n\n# B\n\nBeta text.", max_tokens=400, overlap=60)
    assert [(c.heading, c.content) for c in chunks] == [("A", "Alpha text."), ("B", "Beta text.")]


def test_a_chunk_ends_at_a_paragraph_break_rather_than_split_the_next_paragraph() -> None:
    first = " ".join(["Short sentence here."] * 12)  # about 48 tokens
    second = " ".join(["Another sentence follows."] * 12)
    chunks = chunk_text(f"{first}\n\n{second}", markdown=False, max_tokens=80, overlap=0)
    assert [c.content for c in chunks] == [first, second]


def test_giant_lines_and_words_are_cut_within_the_bound() -> None:
    line = " ".join(["token"] * 3000)  # no sentence end, no line break
    blob = "QmFzZTY0" * 2000  # one 16,000-character word
    chunks = chunk_sections([Section(("Data",), f"{line}\n\n{blob}")], max_tokens=100, overlap=20)
    assert all(c.token_count <= 100 and c.heading == "Data" for c in chunks)
    assert "".join(c.content for c in chunks if "token" not in c.content).startswith("QmFz")
    assert sum(c.content.count("token") for c in chunks) >= 3000


def test_heading_paths_are_cut_to_the_column_size() -> None:
    chunks = chunk_sections([Section(tuple(["Very long heading " * 10] * 5), "Body.")])
    assert len(chunks[0].heading) == 500
    assert chunks[0].heading.endswith("…")


def test_settings_give_the_defaults_and_bad_overlap_is_refused(settings: Settings) -> None:
    settings.RAG_CHUNK_TOKENS, settings.RAG_CHUNK_OVERLAP = 40, 8
    chunks = chunk_text(document(3))
    assert max(c.token_count for c in chunks) <= 40
    with pytest.raises(ValueError, match="overlap"):
        chunk_text("text", max_tokens=40, overlap=30)
