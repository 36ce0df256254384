"""Shape of held-out set 15 for the injection detector.

bench/data/guardrails_injection_heldout15.jsonl is data scored once on a finished detector
(see bench/data/README.md). The checks, in heldout_checks.py, keep it loadable, balanced
and apart from every other injection set; none of them looks at what the detector says
about a row. Like sets 12 to 14, set 15 mixes one-liners with long framed texts, carries
attacks in every language it has ordinary texts in, keeps its encoded payloads decodable,
spreads its attacks evenly over the seven kinds, writes about 40% of each label in
languages other than English, brings about a third of its attacks inside content an
assistant reads and its ordinary texts through the same channels, and has every encoding
also outside English. Its scenarios come from eleven sectors (K-12 schools, concert and
festival ticketing, call-centre outsourcing, care homes and home care, waste collection
and recycling, museums and galleries, driving schools, bike and e-scooter sharing, ski
resorts, funeral homes, accounting and bookkeeping firms), and each of its nine languages
besides English carries at least 14 rows of each label.
"""

from __future__ import annotations

from tests.guardrails import heldout_checks as checks


class TestHeldout15(checks.LanguagesHeldoutSetChecks):
    path = checks.DATA / "guardrails_injection_heldout15.jsonl"
    prefix = "h15"
    rows_per_label = 14  # its author wrote at least 14 of each, where earlier sets had 12
