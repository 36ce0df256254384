"""Shape of the training rows for the injection detector by writer 10c.

bench/data/guardrails_injection_train10c.jsonl is training data written by a new writer
(see bench/data/README.md): attacks on coding agents, CI bots, browser, support and data
assistants, weighted to tool abuse, exfiltration and instructions hidden in what an agent
reads. These checks keep it loadable, labelled consistently, mixed in language and apart
from every other injection set; none of them looks at what the detector says about a row.
"""

from __future__ import annotations

from collections import Counter

from tests.guardrails.heldout_checks import DATA, Row, TrainingSetChecks

OTHER_LANGUAGES = {"de", "fr", "es", "nl", "pl", "pt", "it", "sv", "da", "fi"}


class TestTrain10cData(TrainingSetChecks):
    path = DATA / "guardrails_injection_train10c.jsonl"
    prefix = "t10c"
    min_rows = 480
    # English and ten European languages, each with both labels.
    min_languages = 11

    def test_every_language_other_than_english_has_ten_rows_of_each_label(
        self, rows: list[Row]
    ) -> None:
        for label in (0, 1):
            counts = Counter(row["lang"] for row in rows if row["label"] == label)
            assert set(counts) == OTHER_LANGUAGES | {"en"}, counts
            assert min(counts[lang] for lang in OTHER_LANGUAGES) >= 10, counts

    def test_attacks_are_weighted_to_agents(self, rows: list[Row]) -> None:
        """Tool abuse, exfiltration and hidden instructions make up most of the attacks."""
        attacks = [row for row in rows if row["label"] == 1]
        kinds = Counter(row["category"] for row in attacks)
        agent_kinds = kinds["tool_abuse"] + kinds["exfiltration"] + kinds["indirect"]
        assert agent_kinds >= 0.6 * len(attacks), kinds
        assert min(kinds["tool_abuse"], kinds["exfiltration"]) >= 0.2 * len(attacks), kinds
