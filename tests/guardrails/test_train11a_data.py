"""Shape of the training rows for the injection detector by writer 11a.

bench/data/guardrails_injection_train11a.jsonl is training data written by a new writer
(see bench/data/README.md): English, Danish, French and German from firms and public
bodies in Denmark, France, Belgium, Switzerland, Germany and Austria, with a few Swedish
and Norwegian rows. These checks keep it loadable, labelled consistently, mixed in
language and apart from every other injection set; none of them looks at what the
detector says about a row.
"""

from __future__ import annotations

from tests.guardrails.heldout_checks import (
    DATA,
    Row,
    WeightedTrainingSetChecks,
    check_rows_per_language,
)

MAIN_LANGUAGES = ("da", "fr", "de")


class TestTrain11aData(WeightedTrainingSetChecks):
    path = DATA / "guardrails_injection_train11a.jsonl"
    prefix = "t11a"
    min_rows = 480
    # English, Danish, French and German, plus a few Swedish and Norwegian rows.
    min_languages = 6
    # About three rows in four are not in English.
    min_foreign_share = 0.7

    def test_danish_french_and_german_each_have_100_rows_and_both_labels(
        self, rows: list[Row]
    ) -> None:
        check_rows_per_language(rows, MAIN_LANGUAGES, least_rows=100, each_label=45)

    def test_english_is_about_a_quarter(self, rows: list[Row]) -> None:
        english = sum(1 for row in rows if row["lang"] == "en")
        assert 0.2 * len(rows) <= english <= 0.3 * len(rows), english
