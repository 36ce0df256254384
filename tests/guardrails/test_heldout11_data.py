"""Shape of held-out set 11 for the injection detector.

bench/data/guardrails_injection_heldout11.jsonl is data scored once on a finished detector
(see bench/data/README.md). The checks, in heldout_checks.py, keep it loadable, balanced
and apart from every other injection set; none of them looks at what the detector says
about a row. Like set 10, set 11 mixes one-liners with long framed texts, carries attacks
in every language it has ordinary texts in, keeps its encoded payloads decodable, spreads
its attacks evenly over the seven kinds, writes about 40% of each label in languages other
than English, brings about a third of its attacks inside content an assistant reads and
its ordinary texts through the same channels, and has every encoding also outside English.
Its scenarios come from ten sectors (manufacturing and industrial maintenance, law firms and
notaries, newspapers and publishers, property management and estate agents, charities,
restaurants and hotels, airlines and railways, telecom operators, game studios, recruitment
agencies), and Danish, French and German each carry at least 20 rows of each label.
"""

from __future__ import annotations

from collections import Counter

from tests.guardrails import heldout_checks as checks

# Languages the set was asked to carry by name, each with attacks and ordinary texts.
NAMED_LANGUAGES = ("da", "fr", "de")


class TestHeldout11(checks.ChannelHeldoutSetChecks):
    path = checks.DATA / "guardrails_injection_heldout11.jsonl"
    prefix = "h11"

    def test_danish_french_and_german_have_twenty_rows_of_each_label(
        self, rows: list[checks.Row]
    ) -> None:
        for lang in NAMED_LANGUAGES:
            labels = Counter(row["label"] for row in rows if row["lang"] == lang)
            assert min(labels[0], labels[1]) >= 20, (lang, labels)
