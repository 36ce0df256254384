"""Shape of the training rows for the injection detector by writer 9b.

bench/data/guardrails_injection_train9b.jsonl is training data written by a new writer
(see bench/data/README.md). These checks keep it loadable, labelled consistently, mixed in
language and apart from every other injection set; none of them looks at what the
detector says about a row.
"""

from __future__ import annotations

from collections import Counter

from tests.guardrails.heldout_checks import DATA, Row, TrainingSetChecks


class TestTrain9bData(TrainingSetChecks):
    path = DATA / "guardrails_injection_train9b.jsonl"
    prefix = "t9b"
    min_rows = 480
    # English and eight European and Asian languages, each with both labels.
    min_languages = 9

    def test_every_language_other_than_english_has_eight_rows_of_each_label(
        self, rows: list[Row]
    ) -> None:
        for label in (0, 1):
            counts = Counter(row["lang"] for row in rows if row["label"] == label)
            assert {"fr", "es", "pt", "it", "de", "nl", "tr", "id"} <= set(counts)
            assert min(n for lang, n in counts.items() if lang != "en") >= 8, counts
