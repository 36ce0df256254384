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

from tests.guardrails import heldout_checks as checks


class TestHeldout8(checks.SpreadHeldoutSetChecks):
    path = checks.DATA / "guardrails_injection_heldout8.jsonl"
    prefix = "h8"
