"""The semantic cache's decision, step by step (pure functions, no database).

Rates on labelled pairs are measured in bench/semantic_cache_quality.py on a test half
nothing was tuned on; these tests pin each step's behaviour.
"""

from __future__ import annotations

import importlib
import json
import uuid
from decimal import Decimal

import pytest
from django.db import connection

from apps.core.db import tenant_context
from apps.gateway.cache_verifier import alignment, decision
from apps.gateway.cache_verifier.decision import MAX_CHARS, decide
from apps.gateway.models import AISettings
from apps.tenants.services import tenant_create
from tests.conftest import make_user
from tests.pg import owner_connect

SURE = 0.99  # a similarity above any floor: only the rules and the scorer decide


@pytest.mark.parametrize(
    ("cached", "new", "reason"),
    [
        ("How many cups are in a litre?", "How many litres are in a cup?", "roles swapped"),
        ("Does Alice report to Bob?", "Does Bob report to Alice?", "differ"),
        ("Can I get a refund within 30 days?", "Can I get a refund after 30 days?", "period"),
        ("Sort the table in ascending order", "Sort the table in descending order", "differ"),
        ("What is the largest city in Canada?", "What is the second largest city in Canada?", ""),
        ("Can I use my personal phone for email?", "Can I use my work phone for email?", "owner"),
        ("Is the API internal?", "Is the API external?", "reach"),
        ("How do I inflate the ball?", "How do I deflate the ball?", "opposite words"),
        ("How do I indent the code block?", "How do I outdent the code block?", "opposite"),
        ("Who can grant API access?", "Who can revoke API access?", "access differs"),
        ("What does `docker ps` list?", "What does `docker ps -a` list?", "code differs"),
    ],
)
def test_near_misses_the_facets_miss_are_refused(cached: str, new: str, reason: str) -> None:
    verdict = decide(new, cached, SURE)
    assert not verdict.hit
    assert reason in verdict.reason


def test_code_quoted_in_one_question_only_is_left_to_the_other_steps() -> None:
    verdict = decide(
        "What is the purpose of the git stash command?", "What does `git stash` do?", SURE
    )
    assert not verdict.reason.startswith("code differs")
    same = decide("What does `git  stash` do here?", "What does `git stash` do?", SURE)
    assert not same.reason.startswith("code differs")


def test_a_qualifier_in_one_question_only_is_refused() -> None:
    verdict = decide(
        "What is the second largest city in Canada?", "What is the largest city in Canada?", SURE
    )
    assert verdict.reason == "qualifier only in one question: 'second'"


@pytest.mark.parametrize(
    ("cached", "new"),
    [
        ("How do I delete my account?", "How can I remove my account?"),
        ("How do I reset my password?", "How can I reset my password?"),
        ("Where do I find my invoices?", "Where can I find my invoices, please?"),
    ],
)
def test_the_same_wording_is_served(cached: str, new: str) -> None:
    assert decide(new, cached, 0.85) == decision.Decision(True, "same wording", 1.0)


@pytest.mark.parametrize(
    ("cached", "new"),
    [
        ("Which class inherits from BaseModel?", "Which class does BaseModel inherit from?"),
        ("How do I see all invoices?", "How do I see my invoices?"),
        ("How do I copy text to the clipboard?", "How do I copy text from the clipboard?"),
        # The asker as subject, then as object: "I" and "me" are not words of the wording.
        ("Who contacts me for a refund?", "Who do I contact for a refund?"),
        # Floor division is an operator, as ">=" is.
        ("What does `5 // 2` evaluate to in Python?", "what does 5 / 2 evaluate to in python"),
    ],
)
def test_other_order_or_one_other_word_is_not_the_same_wording(cached: str, new: str) -> None:
    assert decide(new, cached, SURE).reason != "same wording"


def test_the_scorer_decides_the_rest_and_says_so() -> None:
    verdict = decide("I forgot my password. How do I reset it?", "How do I reset my password?", 0.7)
    assert verdict.reason == "ok" if verdict.hit else verdict.reason.startswith("too different")
    assert 0.0 < verdict.score <= 1.0


def test_under_the_floor_is_never_a_hit() -> None:
    verdict = decide("How can I reset my password?", "How do I reset my password?", 0.5, floor=0.8)
    assert not verdict.hit
    assert "under the floor 0.80" in verdict.reason


@pytest.mark.parametrize(
    ("cached", "new", "reason"),
    [
        ("", "How do I reset my password?", "empty question"),
        ("   ", "  ", "empty question"),
        ("x" * (MAX_CHARS + 1), "y" * (MAX_CHARS + 1), f"longer than {MAX_CHARS}"),
        ("12345", "12346", "only numbers or code"),
        ("{} [] ()", "[] {} ()", "only numbers or code"),
    ],
)
def test_bad_input_is_never_a_hit_and_never_an_error(cached: str, new: str, reason: str) -> None:
    verdict = decide(new, cached, SURE)
    assert not verdict.hit
    assert reason in verdict.reason


def test_the_same_numbers_alone_are_served_only_when_identical() -> None:
    assert decide("  12345 ", "12345", SURE) == decision.Decision(True, "same text", 1.0)
    assert not decide("12 345", "12345", SURE).hit


def test_questions_in_two_languages_are_not_served_for_each_other() -> None:
    verdict = decide(
        "Comment réinitialiser mon mot de passe ?", "How do I reset my password?", SURE
    )
    assert not verdict.hit


def test_the_scorer_is_plain_json_trained_on_the_dev_half() -> None:
    data = json.loads(decision.MODEL_FILE.read_text(encoding="utf-8"))
    assert set(data) >= {"features", "weights", "bias", "cutoff", "floor", "trained"}
    assert "dev half" in data["trained"]["on"]
    assert len(data["features"]) == len(data["weights"])
    # Every feature the model names is one the decision computes.
    computed = decision.features(0.9, alignment.read("a b c"), alignment.read("a b d"))
    assert set(data["features"]) <= set(computed)


def test_a_new_tenant_gets_the_floor_the_scorer_was_tuned_with() -> None:
    default = AISettings._meta.get_field("semantic_threshold").default
    assert float(default) == pytest.approx(decision.DEFAULT_FLOOR)


def test_alignment_reads_synonyms_roles_and_qualifiers() -> None:
    a = alignment.read("How do I convert USD to EUR?")
    b = alignment.read("How can I convert EUR to USD?")
    assert a.words == b.words
    assert ("usd", "to", "eur") in a.relations
    assert alignment.conflict(a, b) is not None
    removed = alignment.read("Removing a user")
    deleted = alignment.read("Delete users")
    assert removed.words == deleted.words


@pytest.mark.usefixtures("live_db")
@pytest.mark.parametrize(
    ("name", "old", "new"),
    [
        ("0010_semantic_floor_055", "0.65", "0.55"),
    ],
)
def test_the_floor_migration_moves_tenants_on_the_old_default_only(
    name: str, old: str, new: str
) -> None:
    migration = importlib.import_module(f"apps.gateway.migrations.{name}")
    owner = make_user(f"floor-{uuid.uuid4().hex[:8]}@example.com")
    untouched = tenant_create(owner=owner, name="On the old default")
    chosen = tenant_create(owner=owner, name="Chose a floor")
    for tenant, floor in ((untouched, old), (chosen, "0.80")):
        with tenant_context(tenant.id):
            AISettings.objects.update_or_create(
                tenant=tenant, defaults={"semantic_threshold": Decimal(floor)}
            )
    read = "SELECT tenant_id, semantic_threshold FROM gateway_aisettings WHERE tenant_id = ANY(%s)"
    ids = [untouched.id, chosen.id]
    db = connection.settings_dict["NAME"]
    with owner_connect(db) as conn, conn.transaction(force_rollback=True), conn.cursor() as cur:
        cur.execute(migration.MOVE_UNTOUCHED_DEFAULTS)
        cur.execute("ALTER TABLE gateway_aisettings NO FORCE ROW LEVEL SECURITY")
        cur.execute(read, [ids])
        assert dict(cur.fetchall()) == {untouched.id: Decimal(new), chosen.id: Decimal("0.80")}
        cur.execute(migration.MOVE_BACK)
        cur.execute("ALTER TABLE gateway_aisettings NO FORCE ROW LEVEL SECURITY")
        cur.execute(read, [ids])
        assert dict(cur.fetchall()) == {untouched.id: Decimal(old), chosen.id: Decimal("0.80")}
