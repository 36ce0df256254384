"""Shape of held-out set 4 for the injection detector.

bench/data/guardrails_injection_heldout4.jsonl is data scored once on a finished detector
(see bench/data/README.md). The checks, in heldout_checks.py, keep it loadable, balanced
and apart from every other injection set; none of them looks at what the detector says
about a row.
"""

from __future__ import annotations

from tests.guardrails import heldout_checks as checks


class TestHeldout4(checks.HeldoutSetChecks):
    path = checks.DATA / "guardrails_injection_heldout4.jsonl"
    prefix = "h4"
