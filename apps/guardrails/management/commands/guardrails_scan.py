"""Scan texts with the default policy for user input: one JSON line in, one out.

    python manage.py guardrails_scan FILE    (JSON lines {"id": ..., "text": ...}; - reads stdin)

Each output line is {"id", "verdict": "allow"|"flag"|"block", "checks": [...], "score"}:
``checks`` lists the hits (check, action, kind), ``score`` is the prompt-injection score.
A line that cannot be read gets {"line": n, "error": "..."} and the scan goes on.
"""

from __future__ import annotations

import json
import sys
from typing import Any, TextIO

from asgiref.sync import async_to_sync
from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.guardrails.engine import Direction, ascan
from apps.guardrails.policy import Policy


class Command(BaseCommand):
    help = "Scan JSON lines {id, text} with the default input guardrails; print verdicts."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help='JSON lines of {"id": ..., "text": ...}; - for stdin')

    def handle(self, *args: Any, **options: Any) -> None:
        path = options["file"]
        try:
            source: TextIO = (
                sys.stdin if path == "-" else open(path, encoding="utf-8", errors="replace")  # noqa: SIM115
            )
        except OSError as exc:
            raise CommandError(f"Cannot read {path}: {exc.strerror}.") from exc
        policy = Policy()
        with source:
            for number, line in enumerate(source, start=1):
                if line.strip():
                    self.stdout.write(json.dumps(_scan_line(policy, number, line)))


def _scan_line(policy: Policy, number: int, line: str) -> dict[str, Any]:
    try:
        item = json.loads(line)
    except json.JSONDecodeError as exc:
        return {"line": number, "error": f"not JSON: {exc.msg} at column {exc.colno}"}
    if not isinstance(item, dict) or not isinstance(item.get("text"), str):
        return {"line": number, "id": _id(item), "error": 'each line needs a string "text"'}
    scan = async_to_sync(ascan)(item["text"], policy, Direction.INPUT)
    return {
        "id": item.get("id"),
        "verdict": scan.verdict,
        "checks": [
            {"check": h.check.value, "action": h.action.value, "kind": h.kind} for h in scan.hits
        ],
        "score": round(scan.score, 4),
    }


def _id(item: object) -> object:
    return item.get("id") if isinstance(item, dict) else None
