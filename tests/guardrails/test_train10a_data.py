"""Shape of the training rows for the injection detector by writer 10a.

bench/data/guardrails_injection_train10a.jsonl is training data written by a new writer
(see bench/data/README.md): English and six languages of the Netherlands and Flanders,
Poland, Scandinavia and Czechia. These checks keep it loadable, labelled consistently,
mixed in language and apart from every other injection set; none of them looks at what
the detector says about a row.
"""

from __future__ import annotations

from collections import Counter

from tests.guardrails.heldout_checks import (
    DATA,
    Row,
    WeightedTrainingSetChecks,
    check_rows_per_language,
)

OTHER_LANGUAGES = ("nl", "pl", "da", "sv", "no", "cs")


class TestTrain10aData(WeightedTrainingSetChecks):
    path = DATA / "guardrails_injection_train10a.jsonl"
    prefix = "t10a"
    min_rows = 480
    # English and six European languages, each with both labels.
    min_languages = 7
    # About two rows in three are not in English.
    min_foreign_share = 0.6

    def test_every_other_language_has_25_rows_and_both_labels(self, rows: list[Row]) -> None:
        check_rows_per_language(rows, OTHER_LANGUAGES, least_rows=25, each_label=20)

    def test_dutch_and_polish_have_more_rows_than_the_nordic_languages(
        self, rows: list[Row]
    ) -> None:
        counts = Counter(row["lang"] for row in rows)
        assert min(counts["nl"], counts["pl"]) > max(counts["da"], counts["sv"], counts["no"])
