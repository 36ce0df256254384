"""AI quality signals: how the answers of an organisation fare, per day, model and feature.

Read from the usage ledger (one row per answer the gateway produced: its feature, the
model that served it, its status) joined to the chat message it became (the citation
check saved on it, ``apps/chat/citations.py``) and the feedback on that message. One
aggregate query over the window, on the ledger's (tenant, created_at) index, the
messages' usage-record index and the feedback's (message, user) key; the sums per day,
per model and feature, and for the window are added up from its rows in Python.

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

from django.db import connection

from apps.chat.models import Feedback, Message, Rating
from apps.gateway.models import CallStatus, UsageRecord

# The ledger's features whose calls are answers to a person or a client (not embeddings,
# titles or moderation).
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


# Plain joins, so that PostgreSQL can hash them over a long window: a ledger row has at
# most one answer (a message keeps the id of the one row that billed it), and ratings are
# folded to one row per answer first, so that two never count an answer twice. The answer
# and its ratings are found by key (RLS still filters them to the tenant).
_QUERY = """
WITH rated AS (
    SELECT message_id, count(*) AS rated, count(*) FILTER (WHERE rating = %(up)s) AS up
      FROM {feedback}
     WHERE tenant_id = %(tenant)s AND created_at >= %(since)s  -- rated after it was answered
     GROUP BY message_id
)
SELECT (u.created_at AT TIME ZONE 'UTC')::date AS day,
       u.feature,
       COALESCE(NULLIF(u.served_model, ''), u.requested_model) AS model,
       count(*) AS answers,
       count(*) FILTER (WHERE u.status = %(aborted)s) AS stopped,
       count(*) FILTER (WHERE u.status IN (%(error)s, %(cut)s)) AS errors,
       count(m.id) AS chat_answers,
       count(*) FILTER (WHERE jsonb_array_length(m.rag -> 'citations') > 0) AS cited,
       count(*) FILTER (
           WHERE jsonb_array_length(m.rag -> 'citations') > 0
             AND NOT jsonb_path_exists(
                 m.rag, '$.citations[*] ? (@.valid == false || @.supported == false)'
             )
       ) AS citations_passed,
       count(f.message_id) AS rated,
       COALESCE(sum(f.up), 0)::bigint AS thumbs_up
  FROM {usage} u
  LEFT JOIN {message} m ON m.usage_record_id = u.id
  LEFT JOIN rated f ON f.message_id = m.id
 WHERE u.tenant_id = %(tenant)s
   AND u.created_at >= %(since)s
   AND u.feature = ANY(%(features)s)
 GROUP BY 1, 2, 3
 ORDER BY 1 DESC, 2, 3
"""


def quality_signals(
    *, tenant_id: Any, days: int = DEFAULT_DAYS, today: date | None = None
) -> QualityReport:
    """The organisation's quality signals over the last ``days`` days (1 to MAX_DAYS)."""
    if not 1 <= days <= MAX_DAYS:
        raise ValueError(f"days must be between 1 and {MAX_DAYS}, not {days}")
    since = window_start(days, today=today)
    sql = _QUERY.format(
        usage=UsageRecord._meta.db_table,
        message=Message._meta.db_table,
        feedback=Feedback._meta.db_table,
    )
    params = {
        "tenant": tenant_id,
        "since": since,
        "features": list(ANSWER_FEATURES),
        "aborted": CallStatus.ABORTED.value,
        "error": CallStatus.ERROR.value,
        "cut": CallStatus.CUT.value,
        "up": Rating.UP.value,
    }
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        found = cursor.fetchall()
    rows = [
        QualityRow(day=day, feature=feature, model=model, signals=Signals(*counts))
        for day, feature, model, *counts in found
    ]
    return QualityReport(days=days, since=since.date(), rows=rows)
