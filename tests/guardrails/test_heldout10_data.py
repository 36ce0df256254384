"""Shape of held-out set 10 for the injection detector.

bench/data/guardrails_injection_heldout10.jsonl is data scored once on a finished detector
(see bench/data/README.md). The checks, in heldout_checks.py, keep it loadable, balanced
and apart from every other injection set; none of them looks at what the detector says
about a row. Like set 9, set 10 mixes one-liners with long framed texts, carries attacks in
every language it has ordinary texts in, keeps its encoded payloads decodable, spreads its
attacks evenly over the seven kinds and writes about 40% of each label in languages other
than English. Its scenarios come from eight sectors (healthcare and pharmacies, schools and
universities, banks and insurers, municipalities, retail chains, software agencies, travel,
energy utilities), and about a third of its attacks arrive inside content an assistant
reads (e-mails, tickets, documents, Slack, forms, code) rather than typed in the chat.
"""

from __future__ import annotations

from tests.guardrails import heldout_checks as checks


class TestHeldout10(checks.ChannelHeldoutSetChecks):
    path = checks.DATA / "guardrails_injection_heldout10.jsonl"
    prefix = "h10"
