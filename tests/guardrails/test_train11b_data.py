"""Shape of the training rows for the injection detector by writer 11b.

bench/data/guardrails_injection_train11b.jsonl is training data written by a new writer
(see bench/data/README.md): attacks on assistants wired to tools (coding, browser, e-mail,
CRM/ERP, payment and file-share agents) in English and six languages of Spain, Italy,
Portugal and Brazil, the Netherlands, Poland and Sweden. These checks keep it loadable,
labelled consistently, mixed in language and apart from every other injection set; none
of them looks at what the detector says about a row.
"""

from __future__ import annotations

from collections import Counter

from tests.guardrails.heldout_checks import DATA, Row, TrainingSetChecks, check_rows_per_language

OTHER_LANGUAGES = ("es", "it", "pt", "nl", "pl", "sv")


class TestTrain11bData(TrainingSetChecks):
    path = DATA / "guardrails_injection_train11b.jsonl"
    prefix = "t11b"
    min_rows = 480
    # English and six European languages, each with both labels.
    min_languages = 7
    # About three rows in five are not in English.
    min_foreign_share = 0.58

    def test_only_english_and_the_six_languages(self, rows: list[Row]) -> None:
        assert {row["lang"] for row in rows} == {"en", *OTHER_LANGUAGES}

    def test_every_other_language_has_40_rows_and_both_labels(self, rows: list[Row]) -> None:
        check_rows_per_language(rows, OTHER_LANGUAGES, least_rows=40, each_label=20)

    def test_english_is_about_40_percent(self, rows: list[Row]) -> None:
        english = sum(1 for row in rows if row["lang"] == "en")
        assert 0.35 * len(rows) <= english <= 0.45 * len(rows), english

    def test_exfiltration_tool_abuse_and_role_play_are_weighted(self, rows: list[Row]) -> None:
        attacks = [row for row in rows if row["label"] == 1]
        kinds = Counter(row["category"] for row in attacks)
        for kind in ("exfiltration", "tool_abuse", "roleplay"):
            assert kinds[kind] >= 0.18 * len(attacks), kinds
        rest = ("override", "extraction", "indirect", "obfuscation")
        assert min(kinds[k] for k in ("exfiltration", "tool_abuse", "roleplay")) > max(
            kinds[k] for k in rest
        ), kinds

    def test_a_third_of_the_attacks_sit_inside_content_the_assistant_reads(
        self, rows: list[Row]
    ) -> None:
        attacks = [row for row in rows if row["label"] == 1]
        in_content = [row for row in attacks if row["context"] != "chat"]
        assert len(in_content) >= 0.28 * len(attacks), len(in_content)
        # Not only hidden instructions: typed requests also arrive by e-mail, ticket or Slack.
        assert {"exfiltration", "tool_abuse", "roleplay"} <= {row["category"] for row in in_content}

    def test_short_and_long_texts_of_both_labels(self, rows: list[Row]) -> None:
        for label in (0, 1):
            lengths = [len(str(row["text"]).split()) for row in rows if row["label"] == label]
            assert min(lengths) <= 6, label
            assert max(lengths) >= 80, label
