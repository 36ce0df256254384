"""The AI quality signals (apps/chat/quality.py) on known data: ledger rows over two days,
two models and two features, the chat answers they became (with citation checks) and
their ratings; the page, its partial and ``GET /api/v1/quality``."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from django.conf import settings
from django.test import Client
from pytest_django import DjangoAssertNumQueries

from apps.accounts.models import User
from apps.chat.models import Feedback, Message, MessageRole
from apps.chat.quality import Signals, quality_signals
from apps.chat.services import conversation_create
from apps.core.db import tenant_context
from apps.finops.rollups import drain
from apps.gateway.models import UsageRecord
from apps.tenants.models import Tenant
from tests.rag.conftest import api_key, bearer, error_of, login

TODAY = datetime.now(UTC).date()
YESTERDAY = TODAY - timedelta(days=1)

PASSED = {"citations": [{"n": 1, "valid": True, "supported": True}]}
UNSUPPORTED = {
    "citations": [
        {"n": 1, "valid": True, "supported": True},
        {"n": 2, "valid": True, "supported": False},
    ]
}
INVALID = {"citations": [{"n": 7, "valid": False, "supported": False}]}
NO_CITATION = {"notice": "No document matched the question."}
CITES_NOTHING = {"sources": [{"n": 1, "title": "Handbook"}], "citations": []}


def at(day: date) -> datetime:
    return datetime.combine(day, datetime.min.time(), tzinfo=UTC) + timedelta(hours=12)


def ledger_row(
    tenant: Tenant,
    day: date,
    *,
    feature: str = "chat",
    model: str = "local/fast",
    status: str = "ok",
) -> UsageRecord:
    row = UsageRecord.objects.create(
        tenant=tenant,
        feature=feature,
        requested_model="fast",
        served_model=model,
        status=status,
    )
    UsageRecord.objects.filter(id=row.id).update(created_at=at(day))
    return row


def answer(
    tenant: Tenant,
    user: User,
    day: date,
    *,
    model: str = "local/fast",
    status: str = "ok",
    rag: dict[str, Any] | None = None,
    rating: str = "",
) -> None:
    """A chat answer billed by one ledger row, with its citation record and a rating."""
    row = ledger_row(tenant, day, model=model, status=status)
    conversation = conversation_create(tenant=tenant, user=user)
    message = Message.objects.create(
        tenant=tenant,
        conversation=conversation,
        role=MessageRole.ASSISTANT,
        content="…",
        status={"ok": "complete", "aborted": "stopped"}.get(status, "error"),
        served_model=model,
        usage_record_id=row.id,
        rag=rag or {},
    )
    if rating:
        Feedback.objects.create(tenant=tenant, message=message, user=user, rating=rating)


@pytest.fixture
def history(tenant: Tenant, owner: User, other_tenant: Tenant, outsider: User) -> None:
    with tenant_context(tenant.id):
        # Today, local/fast in the chat: 4 answers, one stopped; 3 cite documents and 1 of
        # those passes; 3 rated (2 up).
        answer(tenant, owner, TODAY, rag=PASSED, rating="up")
        answer(tenant, owner, TODAY, rag=UNSUPPORTED, rating="down")
        answer(tenant, owner, TODAY, rag=INVALID, rating="up")
        answer(tenant, owner, TODAY, status="aborted", rag=NO_CITATION)
        # Today, local/smart in the chat: 1 failed answer; the API: 2 calls, 1 cut off.
        answer(tenant, owner, TODAY, model="local/smart", status="error")
        ledger_row(tenant, TODAY, feature="api_chat")
        ledger_row(tenant, TODAY, feature="api_chat", status="cut")
        # Yesterday: 3 chat answers, 2 citing and passing, 1 given passages but citing
        # none of them; none rated.
        answer(tenant, owner, YESTERDAY, rag=PASSED)
        answer(tenant, owner, YESTERDAY, rag=PASSED)
        answer(tenant, owner, YESTERDAY, rag=CITES_NOTHING)
        # Not answers (embeddings, titles), and a day outside a 7-day window.
        ledger_row(tenant, TODAY, feature="rag_search", status="error")
        ledger_row(tenant, TODAY, feature="chat_title")
        answer(tenant, owner, TODAY - timedelta(days=7), status="error")
    with tenant_context(other_tenant.id):  # another organisation's: never counted here
        answer(other_tenant, outsider, TODAY, status="error", rating="down")
    drain()  # the ledger's side of the signals, as Celery beat would


def test_the_signals_per_day_model_and_feature_are_exact(
    tenant: Tenant, history: None, django_assert_num_queries: DjangoAssertNumQueries
) -> None:
    with tenant_context(tenant.id), django_assert_num_queries(1):
        report = quality_signals(tenant_id=tenant.id, days=7)
    assert report.since == TODAY - timedelta(days=6)
    rows = {(r.day, r.feature, r.model): r.signals for r in report.rows}
    assert rows == {
        (TODAY, "chat", "local/fast"): Signals(
            answers=4, stopped=1, chat_answers=4, cited=3, citations_passed=1, rated=3, thumbs_up=2
        ),
        (TODAY, "chat", "local/smart"): Signals(answers=1, errors=1, chat_answers=1),
        (TODAY, "api_chat", "local/fast"): Signals(answers=2, errors=1),
        (YESTERDAY, "chat", "local/fast"): Signals(
            answers=3, chat_answers=3, cited=2, citations_passed=2
        ),
    }
    fast_today = rows[TODAY, "chat", "local/fast"]
    assert fast_today.rates() == {
        "citation_pass_rate": 0.3333,
        "stopped_rate": 0.25,
        "error_rate": 0.0,
        "feedback_rate": 0.75,
        "thumbs_up_share": 0.6667,
    }
    # Nothing to divide by is None, not 0.
    api = rows[TODAY, "api_chat", "local/fast"]
    assert (api.error_rate, api.citation_pass_rate, api.feedback_rate) == (0.5, None, None)
    total = report.total
    counts = (total.answers, total.errors, total.stopped, total.cited, total.rated)
    assert counts == (10, 2, 1, 5, 3)
    assert [day for day, _ in report.by_day] == [TODAY, YESTERDAY]
    assert [(f, m, s.answers) for f, m, s in report.by_model] == [
        ("chat", "local/fast", 7),
        ("api_chat", "local/fast", 2),
        ("chat", "local/smart", 1),
    ]
    # The 8-day window takes in the older failure.
    with tenant_context(tenant.id):
        assert quality_signals(tenant_id=tenant.id, days=8).total.errors == 3


def test_a_window_out_of_range_is_refused(tenant: Tenant) -> None:
    for days in (0, 91):
        with pytest.raises(ValueError, match="between 1 and 90"):
            quality_signals(tenant_id=tenant.id, days=days)


def test_the_page_shows_the_signals_to_admins_only(
    tenant: Tenant, owner: User, member: User, history: None
) -> None:
    page = login(owner).get(f"/t/{tenant.slug}/quality/?days=7")
    assert page.status_code == 200
    html = page.content.decode()
    assert "AI quality" in html
    assert "3 of 5 answers citing documents" in html  # 1 today + 2 yesterday passed
    assert "2 of 3 ratings" in html
    assert 'data-width="66.7"' in html  # the thumbs-up bar
    assert 'aria-current="page">7 days' in html
    interval = settings.FINOPS_ROLLUP_INTERVAL_S  # when the ledger's side is added
    assert f"added from the usage ledger every {interval} seconds" in html
    assert login(member).get(f"/t/{tenant.slug}/quality/").status_code == 403
    bad = login(owner).get(f"/t/{tenant.slug}/quality/?days=12")
    assert bad.status_code == 400
    assert "Choose a window of 7, 30, 90 days" in bad.content.decode()


def test_an_organisation_without_answers_gets_an_empty_state(tenant: Tenant, owner: User) -> None:
    html = login(owner).get(f"/t/{tenant.slug}/quality/").content.decode()
    assert "No answers in these 30 days" in html
    assert "0 of 0 answers" in html


def test_the_api_gives_the_same_signals(tenant: Tenant, owner: User, history: None) -> None:
    client = Client()
    key = api_key(tenant, owner, ("read",))
    response = client.get("/api/v1/quality", {"days": "7"}, headers=bearer(key))
    assert response.status_code == 200, response.content
    body = json.loads(response.content)
    assert (body["days"], body["since"]) == (7, (TODAY - timedelta(days=6)).isoformat())
    assert body["total"]["answers"] == 10
    assert body["total"]["citation_pass_rate"] == 0.6
    first = body["rows"][0]
    assert (first["day"], first["feature"], first["model"]) == (
        TODAY.isoformat(),
        "api_chat",
        "local/fast",
    )
    assert (first["answers"], first["errors"], first["error_rate"], first["feedback_rate"]) == (
        2,
        1,
        0.5,
        None,
    )
    default = json.loads(client.get("/api/v1/quality", headers=bearer(key)).content)
    assert default["days"] == 30
    assert default["total"]["errors"] == 3


@pytest.mark.parametrize("days", ["0", "91", "seven", "-3", "7.5"])
def test_the_api_refuses_a_bad_window(tenant: Tenant, owner: User, days: str) -> None:
    key = api_key(tenant, owner, ("read",))
    response = Client().get("/api/v1/quality", {"days": days}, headers=bearer(key))
    error = error_of(response, 400, "invalid_days")
    assert error["param"] == "days"
    assert "from 1 to 90" in error["message"]


def test_the_api_needs_read_and_shows_only_the_keys_organisation(
    tenant: Tenant, owner: User, other_tenant: Tenant, outsider: User, history: None
) -> None:
    client = Client()
    chat_only = api_key(tenant, owner, ("chat",))
    error_of(client.get("/api/v1/quality", headers=bearer(chat_only)), 403, "missing_scope")
    theirs = api_key(other_tenant, outsider, ("read",))
    body = json.loads(client.get("/api/v1/quality", headers=bearer(theirs)).content)
    assert body["total"]["answers"] == 1
    assert (body["total"]["errors"], body["total"]["rated"]) == (1, 1)
