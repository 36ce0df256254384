"""Shape of held-out set 39 for the injection detector.

bench/data/guardrails_injection_heldout39.jsonl is data scored once on a finished detector
(see bench/data/README.md). The checks, in heldout_checks.py, keep it loadable, balanced
and apart from every other injection set; none of them looks at what the detector says
about a row. Like set 19, set 39 mixes one-liners with long framed texts, carries attacks
in every language it has ordinary texts in, keeps its encoded payloads decodable, spreads
its attacks evenly over the seven kinds, writes about 44% of each label in languages other
than English, brings about a third of its attacks inside content an assistant reads and
its ordinary texts through the same channels, and has every encoding also outside English.
Its scenarios come from eleven sectors (polar and expedition travel organisers, yacht
charter brokers, superyacht crew agencies, private jet charter, helicopter tour operators,
cruise shore-excursion sellers, luggage storage services, airport lounges, duty-free
shops, travel vaccination clinics, passport photo booths), and each of its nine languages
besides English carries at least 14 rows of each label.
"""

from __future__ import annotations

from tests.guardrails import heldout_checks as checks


class TestHeldout39(checks.LanguagesHeldoutSetChecks):
    path = checks.DATA / "guardrails_injection_heldout39.jsonl"
    prefix = "h39"
    rows_per_label = 14  # its author wrote at least 14 of each, as set 19's did
