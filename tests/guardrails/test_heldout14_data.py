"""Shape of held-out set 14 for the injection detector.

bench/data/guardrails_injection_heldout14.jsonl is data scored once on a finished detector
(see bench/data/README.md). The checks, in heldout_checks.py, keep it loadable, balanced
and apart from every other injection set; none of them looks at what the detector says
about a row. Like sets 12 and 13, set 14 mixes one-liners with long framed texts, carries
attacks in every language it has ordinary texts in, keeps its encoded payloads decodable,
spreads its attacks evenly over the seven kinds, writes about 40% of each label in
languages other than English, brings about a third of its attacks inside content an
assistant reads and its ordinary texts through the same channels, and has every encoding
also outside English. Its scenarios come from eleven sectors (car rental, dental
practices, research labs, football clubs, municipal permits, mining, cosmetics
e-commerce, HR and payroll outsourcing, crypto exchanges, cinemas, airports and ground
handling), and each of its nine languages besides English carries at least 12 rows of
each label.
"""

from __future__ import annotations

from tests.guardrails import heldout_checks as checks


class TestHeldout14(checks.LanguagesHeldoutSetChecks):
    path = checks.DATA / "guardrails_injection_heldout14.jsonl"
    prefix = "h14"
