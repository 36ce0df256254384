"""Shape of held-out set 5 for the injection detector.

bench/data/guardrails_injection_heldout5.jsonl is data scored once on a finished detector
(see bench/data/README.md). The checks, in heldout_checks.py, keep it loadable, balanced
and apart from every other injection set; none of them looks at what the detector says
about a row. Set 5 also has to mix one-liners with long framed texts.
"""

from __future__ import annotations

from tests.guardrails import heldout_checks as checks


class TestHeldout5(checks.HeldoutSetChecks):
    path = checks.DATA / "guardrails_injection_heldout5.jsonl"
    prefix = "h5"

    def test_short_and_long_texts_are_both_there(self, rows: list[checks.Row]) -> None:
        checks.check_length_mix(rows)
