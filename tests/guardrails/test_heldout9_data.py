"""Shape of held-out set 9 for the injection detector.

bench/data/guardrails_injection_heldout9.jsonl is data scored once on a finished detector
(see bench/data/README.md). The checks, in heldout_checks.py, keep it loadable, balanced
and apart from every other injection set; none of them looks at what the detector says
about a row. Set 9 also mixes one-liners with long framed texts, carries attacks in every
language it has ordinary texts in, keeps its encoded payloads decodable, spreads its
attacks evenly over the seven kinds, writes about 40% of each label in languages other
than English, and brings about a third of its attacks inside content an assistant reads
(e-mails, tickets, documents, Slack, forms, code) rather than typed in the chat.
"""

from __future__ import annotations

from tests.guardrails import heldout_checks as checks


class TestHeldout9(checks.ContentHeldoutSetChecks):
    path = checks.DATA / "guardrails_injection_heldout9.jsonl"
    prefix = "h9"
