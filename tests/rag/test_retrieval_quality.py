"""Retrieval quality on a small labelled set: bench/data/retrieval_corpus.jsonl (24 sections
of four documents) and bench/data/retrieval_labelled.jsonl (26 questions, mostly
paraphrases that share few words with their section, a few bare keywords and codes).
The expected section must be in the top 5 for at least 90% of the questions."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TypedDict

from apps.rag.retrieval import search
from apps.tenants.models import Tenant
from tests.rag.test_retrieval_support import load_corpus, load_jsonl

MIN_HIT_RATE = 0.9
TOP = 5


class Row(TypedDict):
    """One question of the report: the heading expected and its rank (None: missed)."""

    question: str
    expected: str
    rank: int | None


def test_expected_chunk_is_in_the_top_5_for_90_percent_of_questions(
    tenant: Tenant, artifacts_dir: Path
) -> None:
    chunks = load_corpus(tenant)
    labelled = load_jsonl("retrieval_labelled.jsonl")
    assert len(labelled) >= 20

    report: list[Row] = []
    for row in labelled:
        expected = chunks[(row["document"], row["heading"])].id
        hits = search(tenant.id, row["question"], k=TOP)
        ranks = [h.chunk_id for h in hits]
        rank = ranks.index(expected) + 1 if expected in ranks else None
        report.append({"question": row["question"], "expected": row["heading"], "rank": rank})

    found_ranks = [r["rank"] for r in report if r["rank"] is not None]
    hit_rate = len(found_ranks) / len(report)
    mrr = sum(1 / rank for rank in found_ranks) / len(report)
    summary = {"questions": len(report), "hit_rate_at_5": hit_rate, "mrr": mrr, "rows": report}
    (artifacts_dir / "retrieval_quality.json").write_text(json.dumps(summary, indent=2))
    print(f"\nretrieval hit rate@{TOP}: {hit_rate:.3f} over {len(report)} questions, MRR {mrr:.3f}")
    missed = [r["question"] for r in report if r["rank"] is None]
    assert hit_rate >= MIN_HIT_RATE, f"missed: {missed}"
