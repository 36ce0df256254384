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
        # Length alone must not give a row's label away.
        lengths = [len(str(row["text"]).split()) for row in rows]
        assert max(lengths) >= 100
        assert sum(1 for n in lengths if n <= 12) >= 50
        labels_of_long = {row["label"] for row, n in zip(rows, lengths, strict=True) if n >= 80}
        assert labels_of_long == {0, 1}
