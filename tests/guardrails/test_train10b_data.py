"""Shape of the training rows for the injection detector by writer 10b.

bench/data/guardrails_injection_train10b.jsonl is training data written by a new writer
(see bench/data/README.md). These checks keep it loadable, labelled consistently, mostly
in Portuguese, Spanish, Italian, French and German, and apart from every other injection
set; none of them looks at what the detector says about a row.
"""

from __future__ import annotations

from collections import Counter

from tests.guardrails.heldout_checks import DATA, Row, TrainingSetChecks

OTHER_LANGUAGES = {"pt", "es", "it", "fr", "de"}


class TestTrain10bData(TrainingSetChecks):
    path = DATA / "guardrails_injection_train10b.jsonl"
    prefix = "t10b"
    min_rows = 480
    # English and the five languages the detector misses most among its customers.
    min_languages = 6
    min_foreign_share = 0.6

    def test_only_english_and_the_five_languages(self, rows: list[Row]) -> None:
        assert {row["lang"] for row in rows} == {"en", *OTHER_LANGUAGES}

    def test_every_other_language_has_25_rows_of_each_label(self, rows: list[Row]) -> None:
        for label in (0, 1):
            counts = Counter(row["lang"] for row in rows if row["label"] == label)
            assert min(counts[lang] for lang in OTHER_LANGUAGES) >= 25, counts

    def test_english_is_about_a_third(self, rows: list[Row]) -> None:
        english = sum(1 for row in rows if row["lang"] == "en")
        assert 0.3 * len(rows) <= english <= 0.4 * len(rows)

    def test_a_third_of_the_attacks_sit_inside_content_the_assistant_reads(
        self, rows: list[Row]
    ) -> None:
        attacks = [row for row in rows if row["label"] == 1]
        inside = sum(1 for row in attacks if row["context"] != "chat")
        assert inside >= 0.3 * len(attacks)

    def test_the_kinds_missed_most_are_the_heaviest(self, rows: list[Row]) -> None:
        kinds = Counter(row["category"] for row in rows if row["label"] == 1)
        heavy = min(kinds[kind] for kind in ("exfiltration", "tool_abuse", "roleplay"))
        light = max(kinds[kind] for kind in ("override", "extraction", "indirect", "obfuscation"))
        assert heavy > light, kinds
