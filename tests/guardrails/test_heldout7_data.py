"""Shape of held-out set 7 for the injection detector.

bench/data/guardrails_injection_heldout7.jsonl is data scored once on a finished detector
(see bench/data/README.md). The checks, in heldout_checks.py, keep it loadable, balanced
and apart from every other injection set; none of them looks at what the detector says
about a row. Set 7 also has to mix one-liners with long framed texts, carry attacks in
every language it has ordinary texts in, keep its encoded payloads decodable, and hide
only plain Latin attacks behind zero-width characters and Cyrillic look-alikes.
"""

from __future__ import annotations

from tests.guardrails import heldout_checks as checks


class TestHeldout7(checks.MixedHeldoutSetChecks):
    path = checks.DATA / "guardrails_injection_heldout7.jsonl"
    prefix = "h7"

    def test_hidden_characters_undo_to_a_plain_latin_attack(self, rows: list[checks.Row]) -> None:
        checks.check_hidden_characters_undo(rows)
