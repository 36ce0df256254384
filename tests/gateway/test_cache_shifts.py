"""The pair model's round-7 features (``cache_verifier.shifts``): one small change of fact
that keeps nearly every word. Each changed pair is checked beside a rewording of the same
shape that must not set the feature (what the trees make of it is measured in
bench/semantic_cache_quality.py).
"""

from __future__ import annotations

import pytest

from apps.gateway.cache_verifier import alignment, decision, pair_model, shifts


@pytest.mark.parametrize(
    ("new", "cached"),
    [
        ("list files changed in the last day with find -ctime -1", "find -ctime +1 files"),
        ("What does `xs[-2]` give?", "What does `xs[2]` give?"),
        ("does `cp -r dist/*` copy the folder", "does `cp -r dist` copy the folder"),
        ("select rows where score >= 50", "select rows where score > 50"),
        ("git diff HEAD~1", "git diff HEAD^1"),
        (
            "what does pip install --user requests do",
            "What does `pip install --upgrade requests` do?",
        ),
    ],
)
def test_a_sign_or_operator_flipped_is_a_changed_fact(new: str, cached: str) -> None:
    assert shifts.sign_flipped(new, cached) == 1.0


@pytest.mark.parametrize(
    ("new", "cached"),
    [
        ("How do I change my e-mail address?", "How do I change my email address?"),
        ("Can I pay and/or refund by card?", "Can I pay and or refund by card?"),
        ("What does `xs[-2]` give?", "what does `xs[-2]` return"),
        ("Where do I find my 1099-K?", "where do i find my 1099K form"),
        ("What's 15% of 240?", "15 percent of 240 = ?"),
    ],
)
def test_a_hyphen_inside_a_word_or_the_same_code_is_no_flip(new: str, cached: str) -> None:
    assert shifts.sign_flipped(new, cached) == 0.0


@pytest.mark.parametrize(
    ("new", "cached", "expected"),
    [
        ("Export the invoices of the entire team", "Export the invoices of one specific user", 1.0),
        ("Remove every webhook of the account", "Remove a single webhook", 1.0),
        ("Show usage for everyone", "Show my own usage", 1.0),
        ("Delete all projects", "Delete a project", 0.5),
        ("Wie lösche ich alle Dateien?", "Wie lösche ich eine einzelne Datei?", 1.0),
        ("Comment supprimer tous les fichiers ?", "Comment supprimer un fichier ?", 0.5),
        ("¿Cómo borro todos los archivos?", "¿Cómo borro un archivo específico?", 1.0),
        ("Come elimino tutti i file?", "Come elimino un singolo file?", 1.0),
        ("Hoe verwijder ik alle bestanden?", "Hoe verwijder ik een bestand?", 0.5),
        ("How do I delete all projects?", "how to remove every project", 0.0),
        ("How do I delete a project?", "how to remove one project", 0.0),
    ],
)
def test_all_of_something_against_one_of_it(new: str, cached: str, expected: float) -> None:
    assert shifts.scope_changed(new, cached) == expected


@pytest.mark.parametrize(
    ("new", "cached", "expected"),
    [
        ("convert 3 miles to kilometres", "convert 3 miles to metres", 1.0),
        ("translate this paragraph into German", "translate this paragraph into Spanish", 1.0),
        ("convert 3 miles to kilometres", "how many kilometres is 3 miles", 0.0),
        ("convert 3 miles to km", "convert three miles into kilometers", 0.0),
        ("What is 5 litres in gallons?", "convert 5 litres to pints", 1.0),
        ("What is 5 litres in gallons?", "convert 5 litres into gallons", 0.0),
        (
            "Wie kann ich 20 Dollar in Euro umrechnen?",
            "Wie kann ich 20 Dollar in Yen umrechnen?",
            1.0,
        ),
    ],
)
def test_the_target_of_a_conversion(new: str, cached: str, expected: float) -> None:
    assert shifts.target_changed(new, cached) == expected


@pytest.mark.parametrize(
    ("new", "cached", "expected"),
    [
        ("download last month's statement", "download this mo statement", 1.0),
        ("sales for next quarter", "sales for the previous quarter", 1.0),
        ("what was our revenue yesterday", "what is our revenue today", 1.0),
        ("payroll report for this yr", "payroll report for the current year", 0.0),
        ("Umsatz im letzten Jahr", "Umsatz in diesem Jahr", 1.0),
        ("le rapport de l'année dernière", "le rapport de cette année", 1.0),
        ("the report for last week", "the report", 0.5),
        ("the quarterly report", "the report for each quarter", 0.0),
    ],
)
def test_a_period_relative_to_now(new: str, cached: str, expected: float) -> None:
    assert shifts.time_shifted(new, cached) == expected


@pytest.mark.parametrize(
    ("new", "cached"),
    [
        (
            "Kann ich den Vertrag vor dem Umzug kündigen?",
            "Kann ich den Vertrag nach dem Umzug kündigen?",
        ),
        ("Puis-je annuler avant l'expédition ?", "Puis-je annuler après l'expédition ?"),
        ("¿Puedo pagar antes de la entrega?", "¿Puedo pagar después de la entrega?"),
        ("Posso pagar antes da entrega?", "Posso pagar depois da entrega?"),
        ("Posso pagare prima della consegna?", "Posso pagare dopo la consegna?"),
    ],
)
def test_time_prepositions_are_opposite_sides_in_six_languages(new: str, cached: str) -> None:
    found = alignment.conflict(alignment.read(new), alignment.read(cached))
    assert found is not None
    assert found.startswith("period differs")


def test_the_features_reach_the_pair_model() -> None:
    values = decision.pair_features(
        "convert 3 miles to metres", "convert 3 miles to kilometres", 0.9
    )
    assert set(values) == set(pair_model.FEATURES)
    assert values["target_changed"] == 1.0
    assert values["sign_flipped"] == values["scope_changed"] == values["time_shifted"] == 0.0
