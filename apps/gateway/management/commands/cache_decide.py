"""Print the semantic cache's decision for pairs of questions, one JSON line each.

    python manage.py cache_decide FILE      (FILE of JSON lines, or - for standard input)

Each input line is ``{"id": ..., "cached": "<question already answered>", "new":
"<incoming question>"}``; each output line is ``{"id": ..., "hit": true|false,
"similarity": ..., "reason": "..."}``. The decision is the one the gateway applies for a
tenant with default settings: both questions embedded through the gateway's ``embed``
alias, the default similarity floor, then ``cache_verifier.decision.decide`` with both
vectors and the name of the embedding model (so its pair model runs when the gateway's
would). Nothing is
written: not to the cache, not to the ledger. A line that cannot be read gets an output
line with ``"hit": false`` and a reason saying what is wrong with it; the others go on.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.gateway.cache_verifier.decision import Embeddings, decide
from apps.gateway.models import AISettings
from apps.gateway.semantic_cache import cosine, embed_for_evaluation, embedding_model

BATCH = 64


def default_floor() -> float:
    """The similarity floor of a tenant that never changed its AI settings."""
    default = AISettings._meta.get_field("semantic_threshold").default
    return float(Decimal(str(default)))


def read_pairs(stream: IO[str]) -> Iterator[tuple[Any, str, str] | tuple[Any, None, str]]:
    """(id, cached, new) per line, or (id, None, what is wrong) for a line to refuse."""
    for number, line in enumerate(stream, start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            yield None, None, f"line {number} is not JSON ({exc.msg}): skipped"
            continue
        if not isinstance(item, dict):
            yield None, None, f"line {number} is not a JSON object: skipped"
            continue
        cached, new = item.get("cached"), item.get("new")
        if not isinstance(cached, str) or not isinstance(new, str):
            yield item.get("id"), None, f'line {number} needs "cached" and "new" as strings'
            continue
        yield item.get("id"), cached, new


class Command(BaseCommand):
    help = "Print the semantic cache's default decision for each {id, cached, new} JSON line."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="JSON lines file, or - for standard input")

    def handle(self, *args: Any, **options: Any) -> None:
        name = options["file"]
        if name == "-":
            self._run(sys.stdin)
            return
        path = Path(name)
        if not path.is_file():
            raise CommandError(f"No file at {path}: give a JSON lines file, or - for stdin.")
        with path.open(encoding="utf-8", errors="replace") as stream:
            self._run(stream)

    def _run(self, stream: IO[str]) -> None:
        floor, model = default_floor(), embedding_model()
        batch: list[tuple[Any, str, str]] = []
        for ident, cached, new in read_pairs(stream):
            if cached is None:  # in input order: what is waiting goes first
                if batch:
                    self._decide(batch, floor, model)
                    batch = []
                self._emit({"id": ident, "hit": False, "similarity": None, "reason": new})
                continue
            batch.append((ident, cached, new))
            if len(batch) == BATCH:
                self._decide(batch, floor, model)
                batch = []
        if batch:
            self._decide(batch, floor, model)

    def _decide(self, batch: list[tuple[Any, str, str]], floor: float, model: str | None) -> None:
        texts = sorted({t for _, cached, new in batch for t in (cached, new) if t.strip()})
        try:
            vectors = dict(zip(texts, asyncio.run(embed_for_evaluation(texts)), strict=True))
        except Exception as exc:
            raise CommandError(
                f"The embedding model did not answer ({type(exc).__name__}): is the model "
                "provider (or the dev stack's local provider) running?"
            ) from exc
        for ident, cached, new in batch:
            if not cached.strip() or not new.strip():
                self._emit({"id": ident, "hit": False, "similarity": None, "reason": "empty"})
                continue
            similarity = cosine(vectors[new], vectors[cached])
            pair = Embeddings(model, vectors[new], vectors[cached])
            verdict = decide(new, cached, similarity, floor=floor, embeddings=pair)
            self._emit(
                {
                    "id": ident,
                    "hit": verdict.hit,
                    "similarity": round(similarity, 4),
                    "reason": verdict.reason,
                }
            )

    def _emit(self, row: dict[str, Any]) -> None:
        self.stdout.write(json.dumps(row, ensure_ascii=False))
