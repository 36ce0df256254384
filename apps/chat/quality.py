"""AI quality signals: how the answers of an organisation fare, per day, model and feature.

An answer is a usage-ledger row of an answering feature (``ANSWER_FEATURES``); its chat
message carries the citation check (``apps/chat/citations.py``), and people rate it
(``Feedback``). The counts are kept per UTC day, feature and model of the ledger row in
``DailyQuality`` (apps/chat/models.py): the FinOps drain adds the ledger's side, database
triggers the answers' and ratings' side (chat migration 0006). This module reads that
table only, one query over at most 90 days of a few rows each: it never scans the ledger.

The signals (docs/chat.md, "Quality signals"):

- **citation-check pass rate**: of the answers that cite the organisation's documents,
  the share whose every ``[n]`` is one of the passages retrieved and is supported by it;
- **stopped rate**: answers stopped before their end (the Stop button, a reader gone);
- **error rate**: answers that failed at the provider or were cut off by it;
- **feedback rate**: of the answers in a chat (where people can rate them), the share
  someone rated; **thumbs-up share**: of those ratings, the share that were thumbs up.

A rate with nothing to divide by is ``None`` (shown as a dash), never 0.
Call inside ``tenant_context`` for the tenant.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, fields
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django.db.models import Sum

from apps.chat.models import DailyQuality

# The ledger's features whose calls are answers to a person or a client (not embeddings,
# titles or moderation). Chat migration 0006's triggers name them too: a change here
# needs a migration that replaces them (tests/chat/test_quality_features.py fails until then).
ANSWER_FEATURES = ("chat", "api_chat", "batch_summary")
MAX_DAYS = 90
DEFAULT_DAYS = 30


@dataclass(frozen=True)
class Signals:
    """Counts over a set of answers, and the rates they give."""

    answers: int = 0
    stopped: int = 0
    errors: int = 0
    chat_answers: int = 0  # answers saved in a conversation, which people can rate
    cited: int = 0  # answers that cite documents
    citations_passed: int = 0  # ... whose every citation passed the check
    rated: int = 0
    thumbs_up: int = 0

    def __add__(self, other: Signals) -> Signals:
        return Signals(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(Signals)))

    @property
    def citation_pass_rate(self) -> float | None:
        return _rate(self.citations_passed, self.cited)

    @property
    def stopped_rate(self) -> float | None:
        return _rate(self.stopped, self.answers)

    @property
    def error_rate(self) -> float | None:
        return _rate(self.errors, self.answers)

    @property
    def feedback_rate(self) -> float | None:
        return _rate(self.rated, self.chat_answers)

    @property
    def thumbs_up_share(self) -> float | None:
        return _rate(self.thumbs_up, self.rated)

    def rates(self) -> dict[str, float | None]:
        """The five rates, as fractions of 1 (the API's shape)."""
        return {name: getattr(self, name) for name in RATES}


RATES = (
    "citation_pass_rate",
    "stopped_rate",
    "error_rate",
    "feedback_rate",
    "thumbs_up_share",
)


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


@dataclass(frozen=True)
class QualityRow:
    day: date
    feature: str
    model: str
    signals: Signals


@dataclass(frozen=True)
class QualityReport:
    """The signals of the last ``days`` days (UTC, today included)."""

    days: int
    since: date
    rows: list[QualityRow]  # per day, feature and model; newest day first

    @property
    def total(self) -> Signals:
        return sum((row.signals for row in self.rows), Signals())

    @property
    def by_day(self) -> list[tuple[date, Signals]]:
        """Days with answers, newest first."""
        sums: dict[date, Signals] = defaultdict(Signals)
        for row in self.rows:
            sums[row.day] += row.signals
        return sorted(sums.items(), reverse=True)

    @property
    def by_model(self) -> list[tuple[str, str, Signals]]:
        """(feature, model, signals) over the window, most answers first."""
        sums: dict[tuple[str, str], Signals] = defaultdict(Signals)
        for row in self.rows:
            sums[row.feature, row.model] += row.signals
        found = [(feature, model, s) for (feature, model), s in sums.items()]
        return sorted(found, key=lambda item: (-item[2].answers, item[0], item[1]))


def window_start(days: int, *, today: date | None = None) -> datetime:
    """Midnight UTC of the first day of a ``days``-day window ending today."""
    first = (today or datetime.now(UTC).date()) - timedelta(days=days - 1)
    return datetime.combine(first, time.min, tzinfo=UTC)


_COUNTS = [f.name for f in fields(Signals)]


def quality_signals(
    *, tenant_id: Any, days: int = DEFAULT_DAYS, today: date | None = None
) -> QualityReport:
    """The organisation's quality signals over the last ``days`` days (1 to MAX_DAYS)."""
    if not 1 <= days <= MAX_DAYS:
        raise ValueError(f"days must be between 1 and {MAX_DAYS}, not {days}")
    since = window_start(days, today=today)
    # Each key has a row per writer (``source``): summed here. A key whose counts all
    # came back to 0 (an answer deleted) is left out, as the answers never were.
    found = (
        DailyQuality.objects.filter(tenant_id=tenant_id, day__gte=since.date())
        .values_list("day", "feature", "model")
        .annotate(*(Sum(name) for name in _COUNTS))
        .exclude(**{f"{name}__sum": 0 for name in _COUNTS})
        .order_by("-day", "feature", "model")
    )
    rows = [
        QualityRow(day=day, feature=feature, model=model, signals=Signals(*counts))
        for day, feature, model, *counts in found
    ]
    return QualityReport(days=days, since=since.date(), rows=rows)
