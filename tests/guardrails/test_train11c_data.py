"""Shape of the training rows for the injection detector by writer 11c.

bench/data/guardrails_injection_train11c.jsonl is training data written by a new writer
(see bench/data/README.md): subtle attacks in English, German, French and Danish from
consultancies, universities, research labs, publishers, accountancies, libraries, sports
clubs, estate agents, media agencies and online communities, with hard ordinary texts in
the same voices. These checks keep it loadable, labelled consistently, mixed in language
and apart from every other injection set; none of them looks at what the detector says
about a row.
"""

from __future__ import annotations

from collections import Counter

from tests.guardrails.heldout_checks import DATA, Row, TrainingSetChecks, check_rows_per_language

OTHER_LANGUAGES = ("de", "fr", "da")


class TestTrain11cData(TrainingSetChecks):
    path = DATA / "guardrails_injection_train11c.jsonl"
    prefix = "t11c"
    min_rows = 480
    # English, German, French and Danish, each with both labels.
    min_languages = 4
    # About 40% of each label is not in English: the default min_foreign_share of 0.4.

    def test_only_english_german_french_and_danish(self, rows: list[Row]) -> None:
        assert {row["lang"] for row in rows} == {"en", *OTHER_LANGUAGES}

    def test_every_other_language_has_40_rows_and_both_labels(self, rows: list[Row]) -> None:
        check_rows_per_language(rows, OTHER_LANGUAGES, least_rows=40, each_label=25)

    def test_english_is_about_60_percent_of_each_label(self, rows: list[Row]) -> None:
        for label in (0, 1):
            labelled = [row for row in rows if row["label"] == label]
            english = sum(1 for row in labelled if row["lang"] == "en")
            assert 0.5 * len(labelled) <= english <= 0.6 * len(labelled), (label, english)

    def test_attacks_lean_to_the_missed_kinds_and_a_third_arrive_in_content(
        self, rows: list[Row]
    ) -> None:
        attacks = [row for row in rows if row["label"] == 1]
        kinds = Counter(row["category"] for row in attacks)
        missed = ("exfiltration", "tool_abuse", "roleplay")
        assert min(kinds[kind] for kind in missed) >= 0.18 * len(attacks), kinds
        inside = Counter(row["category"] for row in attacks if row["context"] != "chat")
        assert 0.28 * len(attacks) <= sum(inside.values()) <= 0.45 * len(attacks), inside
        # Not only the indirect kind: every kind also arrives in an e-mail, ticket or form.
        assert set(inside) == set(kinds), inside
