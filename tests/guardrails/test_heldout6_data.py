"""Shape of held-out set 6 for the injection detector.

bench/data/guardrails_injection_heldout6.jsonl is data scored once on a finished detector
(see bench/data/README.md). The checks, in heldout_checks.py, keep it loadable, balanced
and apart from every other injection set; none of them looks at what the detector says
about a row. Set 6 also has to mix one-liners with long framed texts, carry attacks in
every language it has ordinary texts in, and keep its encoded payloads decodable.
"""

from __future__ import annotations

from tests.guardrails import heldout_checks as checks


class TestHeldout6(checks.MixedHeldoutSetChecks):
    path = checks.DATA / "guardrails_injection_heldout6.jsonl"
    prefix = "h6"
