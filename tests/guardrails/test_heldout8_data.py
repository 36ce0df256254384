"""Shape of held-out set 8 for the injection detector.

bench/data/guardrails_injection_heldout8.jsonl is data scored once on a finished detector
(see bench/data/README.md). The checks, in heldout_checks.py, keep it loadable, balanced
and apart from every other injection set; none of them looks at what the detector says
about a row. Set 8 also mixes one-liners with long framed texts, carries attacks in every
language it has ordinary texts in, keeps its encoded payloads decodable, spreads its
attacks evenly over the seven kinds, and writes about 40% of each label in languages other
than English.
"""

from __future__ import annotations

from collections import Counter

from tests.guardrails import heldout_checks as checks


class TestHeldout8(checks.MixedHeldoutSetChecks):
    path = checks.DATA / "guardrails_injection_heldout8.jsonl"
    prefix = "h8"

    def test_attacks_are_spread_evenly_over_the_seven_kinds(self, rows: list[checks.Row]) -> None:
        kinds = Counter(row["category"] for row in rows if row["label"] == 1)
        counts = [kinds[kind] for kind in (*checks.ATTACK_KINDS, "obfuscation")]
        assert max(counts) - min(counts) <= 5, kinds

    def test_each_label_is_about_40_percent_not_english(self, rows: list[checks.Row]) -> None:
        for label in (0, 1):
            labelled = [row for row in rows if row["label"] == label]
            foreign = sum(1 for row in labelled if row["lang"] != "en")
            assert 0.35 * len(labelled) <= foreign <= 0.5 * len(labelled), label

    def test_hidden_characters_undo_to_a_plain_latin_attack(self, rows: list[checks.Row]) -> None:
        checks.check_hidden_characters_undo(rows)
