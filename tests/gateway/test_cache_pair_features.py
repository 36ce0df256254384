"""The pair model's features for the paraphrases it used to miss: a misspelt word, a
short form, a sentence of context before the question, a clause moved to the front.

Each compares a paraphrase with a near-miss of the same shape: the feature must tell them
apart (what the trees make of it is measured in bench/semantic_cache_quality.py).
"""

from __future__ import annotations

import json

import pytest

from apps.gateway.cache_verifier import alignment, decision, pair_model


def features(new: str, cached: str) -> dict[str, float]:
    return decision.pair_features(new, cached, 0.8)


def test_a_misspelt_word_counts_as_the_word_it_misspells() -> None:
    typo = features("how do i add a new paymnt metod", "How do I add a new payment method?")
    other = features("how do i add a new shiping adress", "How do I add a new payment method?")
    assert typo["fuzzy_jaccard"] == pytest.approx(1.0)
    assert typo["jaccard"] < 0.5  # the stemmed content words do not match
    assert other["fuzzy_jaccard"] < 0.75


@pytest.mark.parametrize(
    ("new", "cached"),
    [
        ("How do I downgrade my plan?", "How do I upgrade my plan?"),
        ("How do I download a file?", "How do I upload a file?"),
        ("Sort by descending date", "Sort by ascending date"),
        ("How do I disable sharing?", "How do I enable sharing?"),
    ],
)
def test_a_word_of_another_meaning_with_the_same_letters_is_not_a_typo(
    new: str, cached: str
) -> None:
    assert features(new, cached)["fuzzy_jaccard"] < 1.0


def test_a_short_form_counts_as_the_words_it_stands_for() -> None:
    short = features("Can I change the acct owner?", "Can I change the account owner?")
    other = features("Can I change the acct email?", "Can I change the account owner?")
    assert short["expanded_jaccard"] == pytest.approx(1.0)
    assert short["jaccard"] < 1.0
    assert other["expanded_jaccard"] < 0.75


def test_casual_short_forms_expand_to_nothing_that_counts() -> None:
    casual = features("hey how do i add ppl to my team", "How do I add people to my team?")
    assert casual["expanded_jaccard"] == pytest.approx(1.0)


def test_every_short_form_in_the_table_is_read_as_one_word() -> None:
    data = json.loads(pair_model.ABBREVIATIONS_FILE.read_text(encoding="utf-8"))
    table = pair_model.ABBREVIATIONS
    assert len(table) >= 0.9 * len(data["expansions"])
    assert table["pwd"] == alignment.read("password").content
    assert table["w"] == ()


def test_a_sentence_of_context_is_set_aside_for_the_question() -> None:
    context = features(
        "I bought supplies for the office. How do I submit an expense report?",
        "How do I submit an expense report?",
    )
    assert context["question_jaccard"] == pytest.approx(1.0)
    assert context["jaccard"] < 1.0
    assert context["contained"] == pytest.approx(1.0)
    assert 0.3 < context["context_share"] < 0.6
    plain = features("How can I submit an expense report?", "How do I submit an expense report?")
    assert plain["context_share"] == 0.0


def test_a_statement_without_a_question_after_it_is_not_context() -> None:
    statement = features("I bought supplies. I need to file them.", "How do I file an expense?")
    assert statement["context_share"] == 0.0
    assert statement["question_jaccard"] == pytest.approx(statement["expanded_jaccard"])


@pytest.mark.parametrize(
    ("new", "cached", "rotated"),
    [
        (
            "Before cancelling, can I download my invoices?",
            "Can I download my invoices before cancelling?",
            1.0,
        ),
        ("On a Mac, how do I take a screenshot?", "How do I take a screenshot on a Mac?", 1.0),
        ("Is Python faster than Java?", "Is Java faster than Python?", 0.0),
        ("How do I take a screenshot on a Mac?", "How do I take a screenshot on a Mac?", 0.0),
    ],
)
def test_a_clause_moved_as_a_block_is_a_rotation_two_words_exchanged_are_not(
    new: str, cached: str, rotated: float
) -> None:
    assert features(new, cached)["rotated"] == rotated


@pytest.mark.parametrize(
    ("new", "cached"),
    [
        # Other words change too (no rotation): moving the comma clause back restores order.
        ("On Fridays, what time does the office close?", "When does the office close on Fridays?"),
        ("When does the office close on Fridays?", "On Fridays, what time does the office close?"),
        (
            "For new fathers, how long is parental leave?",
            "How long is parental leave for new fathers?",
        ),
    ],
)
def test_a_clause_moved_past_a_comma_restores_the_word_order(new: str, cached: str) -> None:
    moved = features(new, cached)
    assert moved["order_kept"] < 1.0
    assert moved["clause_moved"] == pytest.approx(1.0 - moved["order_kept"])


@pytest.mark.parametrize(
    ("new", "cached"),
    [
        ("Does Bob report to Alice?", "Does Alice report to Bob?"),
        ("Who reports to the head of sales?", "Who does the head of sales report to?"),
        (
            "Before Monday, can Bob approve Alice's leave?",
            "Can Alice approve Bob's leave before Monday?",
        ),
    ],
)
def test_two_roles_exchanged_are_not_a_clause_moved(new: str, cached: str) -> None:
    # Moving a clause may restore part of the order, never the exchanged roles'.
    swapped = features(new, cached)
    assert swapped["order_kept"] + swapped["clause_moved"] < 1.0


@pytest.mark.parametrize(
    ("new", "cached", "expected"),
    [
        ("SSO is included in which plan?", "Which plan includes SSO?", 1.0),
        (
            "The payments service is owned by which team?",
            "Which team owns the payments service?",
            1.0,
        ),
        ("Does Alice report to Bob?", "Does Bob report to Alice?", 0.0),
        ("Which plans are included by default?", "Which plans are included by default?", 0.0),
    ],
)
def test_the_voice_changing_is_told_from_two_roles_exchanged(
    new: str, cached: str, expected: float
) -> None:
    # The passive turns the roles' order round: the trees may forgive it, not a swap.
    assert features(new, cached)["passive_differs"] == expected


@pytest.mark.parametrize(
    ("new", "cached"),
    [
        ("Which partners own the accounts?", "Which accounts are owned by the partner?"),
        ("Which products are in order 12?", "Which orders contain product 12?"),
        ("Whose promotion did Dana approve?", "Who approved Dana's promotion?"),
    ],
)
def test_two_questions_asking_for_each_other_s_thing_exchange_roles(new: str, cached: str) -> None:
    assert features(new, cached)["asked_swapped"] == 1.0


@pytest.mark.parametrize(
    ("new", "cached"),
    [
        ("SSO is included in which plan?", "Which plan includes SSO?"),
        ("What browsers are supported?", "Which browser do you support?"),
        ("How much does the yearly plan cost?", "What's the price of the annual plan?"),
    ],
)
def test_asking_for_the_same_thing_or_naming_none_is_no_exchange(new: str, cached: str) -> None:
    assert features(new, cached)["asked_swapped"] == 0.0


def test_what_a_question_asks_for() -> None:
    assert alignment.read("Which partners own the accounts?").asked == "partner"
    assert alignment.read("Who is the manager of the London team?").asked == "who"
    assert alignment.read("What is the refund policy?").asked == "what"
    assert alignment.read("How do I reset my password?").asked == ""


def test_a_fact_replaced_is_told_from_a_fact_added() -> None:
    replaced = features("are you open on sundays", "Are you open on Saturdays?")
    added = features(
        "Is the office open on Saturdays and Sundays?", "Is the office open on Sundays?"
    )
    assert replaced["facet_differs"] == added["facet_differs"] == 1.0
    assert replaced["facet_replaced"] == 1.0
    assert added["facet_replaced"] == 0.0


def test_a_fact_replaced_behind_another_difference_is_still_seen() -> None:
    # The first difference the facet check names is the negation ("cant"); the direction
    # behind it (upload / download) is a fact on each side.
    found = features(
        "cant download file bigger then 2gb how", "How do I upload a file larger than 2 GB?"
    )
    assert found["facet_replaced"] == 1.0


def test_a_role_conflict_on_both_sides_is_told_from_a_qualifier_in_one_question() -> None:
    swapped = features("How do I convert EUR to USD?", "How do I convert USD to EUR?")
    qualifier = features("What is the second largest city?", "What is the largest city?")
    assert swapped["roles_differ"] == qualifier["roles_differ"] == 1.0
    assert swapped["roles_two_sided"] == 1.0
    assert qualifier["roles_two_sided"] == 0.0
