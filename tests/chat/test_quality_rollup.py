"""The AI quality signals' table (``DailyQuality``) against the raw rows it counts.

The oracle is the query the AI quality page ran before the table existed: the ledger
joined to the chat answers and their ratings. After every kind of change (answers with
and without citations, a late citation check, ratings given, changed and taken back by
two people, an answer regenerated, a conversation deleted, answers saved before their
ledger row) the table, read as the page reads it, equals the oracle. The page and the API
read the table alone; another tenant reaches none of it; the migration's fill gives what
the writers built.
"""

from __future__ import annotations

import importlib
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection, connections, transaction
from django.db.utils import ProgrammingError
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from apps.accounts.models import User
from apps.chat import services
from apps.chat.models import (
    Conversation,
    DailyQuality,
    Message,
    MessageRole,
    MessageStatus,
    QualityWaiting,
)
from apps.chat.quality import ANSWER_FEATURES, Signals, quality_signals, window_start
from apps.core.db import tenant_context
from apps.finops.rollups import WAITING_GIVE_UP, drain
from apps.gateway import journal
from apps.gateway.ledger import LedgerEntry
from apps.gateway.models import CallStatus, UsageRecord
from apps.gateway.types import CallContext
from apps.tenants.models import Tenant
from tests.conftest import add_member, make_user, owner_of
from tests.finops.conftest import FAST, SMART, new_tenant, record
from tests.pg import owner_connect
from tests.rag.conftest import api_key, bearer, login

Key = tuple[date, str, str]
TODAY = datetime.now(UTC).date()
YESTERDAY = TODAY - timedelta(days=1)
PASSED = {"citations": [{"n": 1, "valid": True, "supported": True}]}
FAILED = {"citations": [{"n": 1, "valid": True, "supported": False}]}
NO_CITATION = {"notice": "No document matched the question."}

# The AI quality page's query before DailyQuality (apps/chat/quality.py, issue 13): the
# ledger's answers joined to their messages and ratings, counted per day, feature, model.
ORACLE = """
WITH rated AS (
    SELECT message_id, count(*) AS rated, count(*) FILTER (WHERE rating = 'up') AS up
      FROM chat_feedback
     WHERE tenant_id = %(tenant)s
     GROUP BY message_id
)
SELECT (u.created_at AT TIME ZONE 'UTC')::date AS day,
       u.feature,
       COALESCE(NULLIF(u.served_model, ''), u.requested_model) AS model,
       count(*) AS answers,
       count(*) FILTER (WHERE u.status = 'aborted') AS stopped,
       count(*) FILTER (WHERE u.status IN ('error', 'cut')) AS errors,
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
  FROM gateway_usagerecord u
  LEFT JOIN chat_message m ON m.usage_record_id = u.id
  LEFT JOIN rated f ON f.message_id = m.id
 WHERE u.tenant_id = %(tenant)s
   AND u.created_at >= %(since)s
   AND u.feature = ANY(%(features)s)
 GROUP BY 1, 2, 3
"""


def oracle(tenant: Tenant, days: int = 7) -> dict[Key, Signals]:
    with tenant_context(tenant.id), connection.cursor() as cursor:
        params: dict[str, Any] = {
            "tenant": tenant.id,
            "since": window_start(days),
            "features": list(ANSWER_FEATURES),
        }
        cursor.execute(ORACLE, params)
        return {(d, f, m): Signals(*counts) for d, f, m, *counts in cursor.fetchall()}


def table(tenant: Tenant, days: int = 7) -> dict[Key, Signals]:
    with tenant_context(tenant.id):
        report = quality_signals(tenant_id=tenant.id, days=days)
    return {(r.day, r.feature, r.model): r.signals for r in report.rows}


def assert_exact(tenant: Tenant) -> dict[Key, Signals]:
    expected = oracle(tenant)
    assert expected, "the scenario must have answers"
    assert table(tenant) == expected
    return expected


class Chat:
    """A tenant's answers, written as the gateway and the stream write them: a ledger row
    (``record_sync``), then the message's one UPDATE (``message_finish``)."""

    def __init__(self, tenant: Tenant, user: User) -> None:
        self.tenant, self.user = tenant, user
        with tenant_context(tenant.id):
            self.conversation = services.conversation_create(tenant=tenant, user=user)

    def ledger(self, *, day: date = TODAY, **fields: Any) -> uuid.UUID:
        row_id = record(self.tenant.id, user_id=self.user.pk, **fields)
        if day != TODAY:
            at = datetime.combine(day, datetime.min.time(), tzinfo=UTC) + timedelta(hours=23)
            with tenant_context(self.tenant.id):
                UsageRecord.objects.filter(id=row_id).update(created_at=at)
        return row_id

    def answer_before_its_row(
        self, rag: dict[str, Any] | None = None
    ) -> tuple[Message, journal.Journaled]:
        """An answer saved before its ledger row, as when the journal's writer is behind
        (apps/gateway/journal.py): the row's id is made with the call, the row is written
        later by ``journal_writes``. Returns the answer and its journal entry."""
        ctx = CallContext(tenant_id=self.tenant.id, feature="chat", user_id=self.user.pk)
        entry = LedgerEntry(
            ctx=ctx,
            requested_model="fast",
            served_model=FAST,
            tokens_in=100,
            tokens_out=50,
            cost_usd=Decimal("0.00004500"),
        )
        journaled = journal.prepare(entry)
        return self.finish(self.streaming(), journaled.row_id, rag=rag or {}), journaled

    def streaming(self) -> Message:
        with tenant_context(self.tenant.id):
            return Message.objects.create(
                tenant=self.tenant,
                conversation=self.conversation,
                role=MessageRole.ASSISTANT,
                status=MessageStatus.STREAMING,
            )

    def finish(self, message: Message, usage_id: uuid.UUID | None, **fields: Any) -> Message:
        fields.setdefault("status", MessageStatus.COMPLETE)
        with tenant_context(self.tenant.id):
            services.message_finish(
                message_id=message.id,
                tenant_id=self.tenant.id,
                content="An answer [1].",
                usage_record_id=usage_id,
                **fields,
            )
            return Message.objects.get(id=message.id)

    def answer(
        self, rag: dict[str, Any] | None = None, *, day: date = TODAY, **ledger: Any
    ) -> Message:
        status = ledger.get("status", CallStatus.OK)
        usage_id = self.ledger(day=day, **ledger)
        message_status = {
            CallStatus.OK: MessageStatus.COMPLETE,
            CallStatus.ABORTED: MessageStatus.STOPPED,
        }.get(status, MessageStatus.ERROR)
        return self.finish(self.streaming(), usage_id, rag=rag or {}, status=message_status)

    def rate(self, message: Message, rating: str, user: User | None = None) -> None:
        with tenant_context(self.tenant.id):
            services.feedback_set(
                message=message, user=user or self.user, rating=rating, via="chat"
            )

    def unrate(self, message: Message, user: User | None = None) -> None:
        with tenant_context(self.tenant.id):
            assert services.feedback_delete(message=message, user=user or self.user)


@pytest.fixture
def chat(tenant: Tenant, owner: User) -> Chat:
    return Chat(tenant, owner)


def journal_writes(*journaled: journal.Journaled) -> None:
    """The journal's writer, late: the rows of entries whose answers are saved already."""
    assert journal.write([(b"0-1", j) for j in journaled]) == len(journaled)


def waiting(tenant: Tenant) -> int:
    with tenant_context(tenant.id):
        return QualityWaiting.objects.count()


def test_the_table_equals_the_raw_rows_through_the_life_of_answers(
    chat: Chat, tenant: Tenant, member: User, other_tenant: Tenant, outsider: User
) -> None:
    # Answers of every kind, on two days, two models and three features; a title and a
    # failure that never became an answer's ledger row are not answers.
    a = chat.answer(PASSED)
    b = chat.answer(FAILED)
    chat.answer(NO_CITATION, status=CallStatus.ABORTED, tokens_out=3)
    chat.answer(status=CallStatus.ERROR, served_model="", tokens_out=0)
    chat.answer(PASSED, served_model=SMART)
    old = chat.answer(PASSED, day=YESTERDAY)
    chat.ledger(feature="api_chat")
    chat.ledger(feature="api_chat", status=CallStatus.CUT)
    chat.ledger(feature="batch_summary", requested_model=FAST, batch=True)
    chat.ledger(feature="chat_title")
    chat.finish(chat.streaming(), None, status=MessageStatus.ERROR, error_code="rate_limited")
    theirs = Chat(other_tenant, outsider)
    theirs.rate(theirs.answer(PASSED), "down")

    # Before the drain the table holds the answers' side only; after it, everything.
    assert sum(s.answers for s in table(tenant).values()) == 0
    assert sum(s.chat_answers for s in table(tenant).values()) == 6
    drain()
    before = assert_exact(tenant)
    assert before[TODAY, "chat", FAST] == Signals(
        answers=3, stopped=1, chat_answers=3, cited=2, citations_passed=1
    )
    # Nothing served the failed one: it counts under the model it asked for.
    assert before[TODAY, "chat", "fast"] == Signals(answers=1, errors=1, chat_answers=1)
    assert before[TODAY, "api_chat", FAST] == Signals(answers=2, errors=1)

    # A citation check saved after the drain took its ledger row: counted at once, in the
    # transaction that saves it (no drain in between).
    late = chat.streaming()
    usage_id = chat.ledger(served_model=SMART)
    drain()
    chat.finish(late, usage_id, rag=PASSED)
    assert table(tenant)[TODAY, "chat", SMART] == Signals(
        answers=2, chat_answers=2, cited=2, citations_passed=2
    )
    assert_exact(tenant)

    # Ratings given, changed and taken back, by two people: at once as well.
    chat.rate(a, "up")
    assert_exact(tenant)
    chat.rate(a, "down")  # changed
    chat.rate(b, "up")
    chat.rate(b, "up", user=member)  # a second person: still one rated answer
    chat.rate(old, "up")
    counts = assert_exact(tenant)[TODAY, "chat", FAST]
    assert (counts.rated, counts.thumbs_up) == (2, 2)
    chat.unrate(b)
    assert_exact(tenant)
    chat.unrate(b, user=member)  # no rating left on it
    counts = assert_exact(tenant)[TODAY, "chat", FAST]
    assert (counts.rated, counts.thumbs_up) == (1, 0)

    # A check saved again, then the answer replaced (regenerate deletes it with its
    # rating), then a whole conversation deleted: the answers leave the counts as they
    # leave the oracle.
    chat.finish(a, a.usage_record_id, rag=PASSED)
    assert_exact(tenant)
    with tenant_context(tenant.id):
        services.message_regenerate(conversation=chat.conversation, plan=tenant.plan)
    assert_exact(tenant)
    with tenant_context(tenant.id):
        services.conversation_delete(conversation=chat.conversation)
        assert not Conversation.objects.exists()
    after = assert_exact(tenant)
    assert after[YESTERDAY, "chat", FAST] == Signals(answers=1)
    assert after[TODAY, "chat", FAST].chat_answers == 0

    # The other organisation's answer and rating are its own.
    assert table(other_tenant) == oracle(other_tenant)
    assert table(other_tenant)[TODAY, "chat", FAST].rated == 1


def test_ratings_of_one_answer_in_one_statement_count_it_once(chat: Chat, tenant: Tenant) -> None:
    message = chat.answer(PASSED)
    drain()
    others = [User.objects.create_user(f"rater-{n}@example.com", "x" * 16) for n in range(3)]
    with tenant_context(tenant.id), connection.cursor() as cursor:
        # Three ratings in one INSERT (a bulk load), then all changed and removed at once.
        for sql in (
            "INSERT INTO chat_feedback (id, created_at, updated_at, tenant_id, message_id, "
            "user_id, rating, reason, comment, via) SELECT gen_random_uuid(), now(), now(), "
            "%(t)s, %(m)s, u, 'up', '', '', 'chat' FROM unnest(%(users)s::bigint[]) AS u",
            "UPDATE chat_feedback SET rating = 'down' WHERE message_id = %(m)s AND user_id = %(u)s",
        ):
            cursor.execute(sql, {"t": tenant.id, "m": message.id, "users": [u.pk for u in others],
                                 "u": others[0].pk})  # fmt: skip
    counts = assert_exact(tenant)[TODAY, "chat", FAST]
    assert (counts.rated, counts.thumbs_up) == (1, 2)
    with tenant_context(tenant.id):
        message.feedback.all().delete()
    counts = assert_exact(tenant)[TODAY, "chat", FAST]
    assert (counts.rated, counts.thumbs_up) == (0, 0)


def test_the_page_and_the_api_read_the_table_alone(chat: Chat, tenant: Tenant, owner: User) -> None:
    chat.rate(chat.answer(PASSED), "up")
    drain()
    client, key = login(owner), api_key(tenant, owner, ("read",))
    raw_tables = ("gateway_usagerecord", "chat_message", "chat_feedback")
    page = reverse("chat:quality", args=[tenant.slug])
    for client_, url, headers in ((client, page, {}), (Client(), "/api/v1/quality", bearer(key))):
        with CaptureQueriesContext(connection) as queries:
            response = client_.get(url, {"days": "90"}, headers=headers)
        assert response.status_code == 200
        sql = [q["sql"] for q in queries]
        assert [q for q in sql if any(t in q for t in raw_tables)] == []
        assert len([q for q in sql if "chat_dailyquality" in q]) == 1


def test_an_outsider_reaches_no_quality_rows(
    chat: Chat, tenant: Tenant, other_tenant: Tenant, outsider: User
) -> None:
    chat.rate(chat.answer(PASSED), "up")
    drain()
    with tenant_context(tenant.id):
        assert DailyQuality.objects.count() == 2  # the ledger's row and the answers' row
    # The outsider's API key and page show their organisation's (empty) signals.
    key = api_key(other_tenant, outsider, ("read",))
    body = Client().get("/api/v1/quality", headers=bearer(key)).json()
    assert (body["total"]["answers"], body["rows"]) == (0, [])
    page = login(outsider).get(reverse("chat:quality", args=[tenant.slug]))
    assert page.status_code in (403, 404)
    with tenant_context(other_tenant.id):
        assert not DailyQuality.objects.exists()
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM chat_dailyquality WHERE tenant_id = %s", [tenant.id]
            )
            assert cursor.fetchone()[0] == 0
            cursor.execute(
                "UPDATE chat_dailyquality SET rated = 0 WHERE tenant_id = %s", [tenant.id]
            )
            assert cursor.rowcount == 0
    # Writing a row for another organisation is refused by the policy's WITH CHECK.
    with (
        pytest.raises(ProgrammingError, match="row-level security"),
        transaction.atomic(),
        tenant_context(other_tenant.id),
    ):
        DailyQuality.objects.create(
            tenant=tenant, day=TODAY, feature="chat", model=FAST, source="answers", rated=9
        )
    with transaction.atomic(), connection.cursor() as cursor:  # no tenant: no rows
        cursor.execute("SELECT count(*) FROM chat_dailyquality")
        assert cursor.fetchone()[0] == 0
    assert table(tenant)[TODAY, "chat", FAST].rated == 1


class _Editor:
    """What the migration's fill needs of a schema editor: ``execute``."""

    def __init__(self, cursor: Any) -> None:
        self.cursor = cursor

    def execute(self, sql: str, params: Any = None) -> None:
        self.cursor.execute(sql, params)


@pytest.mark.usefixtures("live_db")
def test_the_migrations_fill_what_the_writers_keep() -> None:
    tenant = new_tenant("Quality fill")
    chat = Chat(tenant, owner_of(tenant.id).user)
    chat.rate(chat.answer(PASSED), "up")
    chat.answer(FAILED, day=YESTERDAY)
    chat.ledger(feature="api_chat", status=CallStatus.ERROR)
    drain()
    chat.ledger(feature="api_chat")  # still queued: the fill leaves it to the drain
    # Requested model = served model: what the rollups took for a Batch API item before
    # the ledger said so.
    by_old_rule = chat.ledger(feature="api_chat", requested_model=FAST)
    quality = importlib.import_module("apps.chat.migrations.0006_daily_quality")
    gateway = importlib.import_module("apps.gateway.migrations.0009_usage_batch")
    summed = (
        "SELECT day, feature, model, source, answers, stopped, errors, chat_answers, cited, "
        "citations_passed, rated, thumbs_up FROM chat_dailyquality WHERE tenant_id = %s "
        "ORDER BY 1, 2, 3, 4"
    )
    db = connection.settings_dict["NAME"]
    with owner_connect(db) as conn, conn.transaction(force_rollback=True), conn.cursor() as cur:
        cur.execute("ALTER TABLE chat_dailyquality NO FORCE ROW LEVEL SECURITY")
        cur.execute(summed, [tenant.id])
        kept = cur.fetchall()
        cur.execute("DELETE FROM chat_dailyquality")
        quality.fill(None, _Editor(cur))
        cur.execute("ALTER TABLE chat_dailyquality NO FORCE ROW LEVEL SECURITY")
        cur.execute(summed, [tenant.id])
        assert cur.fetchall() == kept
        # The ledger's batch mark, by the old rule, on rows written before the column.
        cur.execute("ALTER TABLE gateway_usagerecord NO FORCE ROW LEVEL SECURITY")
        cur.execute(
            "UPDATE gateway_usagerecord SET batch = false WHERE tenant_id = %s", [tenant.id]
        )
        cur.execute(gateway.MARK_EXISTING)
        cur.execute("ALTER TABLE gateway_usagerecord NO FORCE ROW LEVEL SECURITY")
        cur.execute(
            "SELECT id FROM gateway_usagerecord WHERE tenant_id = %s AND batch", [tenant.id]
        )
        assert cur.fetchall() == [(by_old_rule,)]
    assert len(kept) == 5  # chat today and yesterday (both sources), api_chat (ledger)


@pytest.mark.usefixtures("live_db")
def test_two_people_rating_one_answer_at_once_count_it_once() -> None:
    """The second rating's trigger waits for the first one's transaction (the answer's row
    lock), then counts the ratings it committed: without the lock each would see only its
    own rating and count the answer as newly rated."""
    tenant = new_tenant("Quality raters")
    owner = owner_of(tenant.id).user
    second = make_user(f"rater-{uuid.uuid4().hex[:12]}@example.com")
    add_member(tenant, second)
    chat = Chat(tenant, owner)
    message = chat.answer(PASSED)
    drain()
    written, release, second_done = threading.Event(), threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def in_thread(work: Callable[[], None]) -> threading.Thread:
        def run() -> None:
            try:
                work()
            except BaseException as exc:  # surfaced by the assertion below
                errors.append(exc)
            finally:
                connections.close_all()

        return threading.Thread(target=run)

    def first_rating() -> None:
        with tenant_context(tenant.id):
            services.feedback_set(message=message, user=owner, rating="up", via="chat")
            written.set()
            release.wait(timeout=30)  # the transaction stays open meanwhile

    def second_rating() -> None:
        chat.rate(message, "down", user=second)
        second_done.set()

    first = in_thread(first_rating)
    first.start()
    assert written.wait(timeout=30)
    other = in_thread(second_rating)
    other.start()
    assert not second_done.wait(timeout=0.5)  # waiting for the first transaction
    release.set()
    for thread in (first, other):
        thread.join(timeout=30)
    assert errors == []
    counts = assert_exact(tenant)[TODAY, "chat", FAST]
    assert (counts.rated, counts.thumbs_up) == (1, 1)


def test_answers_saved_before_their_ledger_row_count_once_the_row_is_there(
    chat: Chat, tenant: Tenant, member: User
) -> None:
    # Three answers saved while the journal's writer is behind: one rated by two people,
    # one whose citation check is saved again, one deleted before its row comes.
    rated, rated_row = chat.answer_before_its_row(PASSED)
    checked, checked_row = chat.answer_before_its_row(FAILED)
    gone, gone_row = chat.answer_before_its_row(PASSED)
    chat.rate(rated, "up")
    chat.rate(rated, "down", user=member)
    chat.finish(checked, checked_row.row_id, rag=PASSED)
    with tenant_context(tenant.id):
        Message.objects.filter(id=gone.id).delete()
    # No row yet gives them a day, feature and model: nothing is counted, two wait.
    assert table(tenant) == {}
    assert waiting(tenant) == 2

    # The rows come; a rating taken back now still waits for the drain, which counts each
    # answer once, as it is then.
    journal_writes(rated_row, checked_row, gone_row)
    chat.unrate(rated, user=member)
    assert sum(s.chat_answers for s in table(tenant).values()) == 0
    drain()
    counts = assert_exact(tenant)[TODAY, "chat", FAST]
    assert counts == Signals(
        answers=3, chat_answers=2, cited=2, citations_passed=2, rated=1, thumbs_up=1
    )
    assert waiting(tenant) == 0

    # Counted now: a change counts at once, as for any answer, and no drain counts again.
    chat.rate(checked, "up")
    chat.finish(rated, rated_row.row_id, rag=FAILED)
    drain()
    counts = assert_exact(tenant)[TODAY, "chat", FAST]
    assert (counts.chat_answers, counts.citations_passed, counts.rated) == (2, 1, 2)


def test_an_answer_whose_ledger_row_never_comes_stops_waiting_after_a_day(
    chat: Chat, tenant: Tenant
) -> None:
    chat.answer_before_its_row(PASSED)  # its journal entry never becomes a row
    _, late_row = chat.answer_before_its_row(PASSED)  # its row comes after a day
    recent, _ = chat.answer_before_its_row(PASSED)
    with tenant_context(tenant.id):
        QualityWaiting.objects.exclude(message_id=recent.id).update(
            created_at=timezone.now() - WAITING_GIVE_UP - timedelta(minutes=1)
        )
    journal_writes(late_row)
    report = drain(timezone.now())
    # The late one is counted, the recent one still waits, the lost one waits no more.
    assert (report.answers, report.given_up) == (1, 1)
    with tenant_context(tenant.id):
        assert list(QualityWaiting.objects.values_list("message_id", flat=True)) == [recent.id]
    assert assert_exact(tenant)[TODAY, "chat", FAST].chat_answers == 1


def test_an_outsider_reaches_no_waiting_answer(
    chat: Chat, tenant: Tenant, other_tenant: Tenant
) -> None:
    chat.answer_before_its_row(PASSED)
    assert waiting(tenant) == 1
    with tenant_context(other_tenant.id), connection.cursor() as cursor:
        assert not QualityWaiting.objects.exists()
        cursor.execute("DELETE FROM chat_qualitywaiting WHERE tenant_id = %s", [tenant.id])
        assert cursor.rowcount == 0
    with (
        pytest.raises(ProgrammingError, match="row-level security"),
        transaction.atomic(),
        tenant_context(other_tenant.id),
    ):
        QualityWaiting.objects.create(
            tenant=tenant, message_id=uuid.uuid4(), usage_record_id=uuid.uuid4()
        )
    assert waiting(tenant) == 1


@contextmanager
def rating_held_open(tenant: Tenant, message: Message, user: User) -> Iterator[None]:
    """Inside the block, another connection has rated ``message`` in a transaction it
    keeps open: it holds the answer's row lock (the ratings' trigger takes it) and, for a
    counted answer, its row of counts."""
    written, release = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def rating() -> None:
        try:
            with tenant_context(tenant.id):
                services.feedback_set(message=message, user=user, rating="up", via="chat")
                written.set()
                release.wait(timeout=30)
        except BaseException as exc:  # surfaced by the assertion below
            errors.append(exc)
        finally:
            connections.close_all()

    thread = threading.Thread(target=rating)
    thread.start()
    try:
        assert written.wait(timeout=30)
        yield
    finally:
        release.set()
        thread.join(timeout=30)
    assert errors == []


@pytest.mark.usefixtures("live_db")
def test_a_drain_leaves_an_answer_being_rated_to_the_next_drain() -> None:
    """The drain skips a waiting answer whose rating is being saved (its row lock) rather
    than wait for it or count it without the rating; the next drain counts both, once."""
    tenant = new_tenant("Quality late rows")
    owner = owner_of(tenant.id).user
    chat = Chat(tenant, owner)
    message, row = chat.answer_before_its_row(PASSED)
    journal_writes(row)
    with rating_held_open(tenant, message, owner):
        assert drain().answers == 0
        assert table(tenant)[TODAY, "chat", FAST] == Signals(answers=1)
    assert drain().answers == 1
    counts = assert_exact(tenant)[TODAY, "chat", FAST]
    assert counts == Signals(
        answers=1, chat_answers=1, cited=1, citations_passed=1, rated=1, thumbs_up=1
    )


@pytest.mark.usefixtures("live_db")
def test_a_drain_gives_way_to_a_request_holding_the_counts_it_adds_to() -> None:
    """A rating of another answer holds the day's row of counts: the drain stops waiting
    for it after ARRIVED_LOCK_TIMEOUT, counts nothing, and the next drain counts, once."""
    tenant = new_tenant("Quality late rows, busy")
    owner = owner_of(tenant.id).user
    chat = Chat(tenant, owner)
    counted = chat.answer(PASSED)
    _, row = chat.answer_before_its_row(PASSED)
    journal_writes(row)
    with rating_held_open(tenant, counted, owner):
        assert drain().answers == 0
        assert waiting(tenant) == 1
    assert drain().answers == 1
    assert waiting(tenant) == 0
    counts = assert_exact(tenant)[TODAY, "chat", FAST]
    assert (counts.answers, counts.chat_answers, counts.rated) == (2, 2, 1)
