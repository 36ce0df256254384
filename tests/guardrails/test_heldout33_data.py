"""Shape of held-out set 33 for the injection detector.

bench/data/guardrails_injection_heldout33.jsonl is data scored once on a finished detector
(see bench/data/README.md). The checks, in heldout_checks.py, keep it loadable, balanced
and apart from every other injection set; none of them looks at what the detector says
about a row. Like sets 12 to 19, set 33 mixes one-liners with long framed texts, carries
attacks in every language it has ordinary texts in, keeps its encoded payloads decodable,
spreads its attacks evenly over the seven kinds, writes about 40% of each label in
languages other than English, brings about a third of its attacks inside content an
assistant reads and its ordinary texts through the same channels, and has every encoding
also outside English. Its scenarios come from eleven sectors (student accommodation
providers, blood donation services, theme and amusement parks, scrap metal yards and
vehicle dismantlers, hearing-aid audiologists, mortgage brokers, local radio stations,
climbing walls and bouldering centres, trophy and engraving shops, dog groomers, model and
talent agencies), and each of its nine languages besides English carries at least 14 rows
of each label.
"""

from __future__ import annotations

from tests.guardrails import heldout_checks as checks


class TestHeldout33(checks.LanguagesHeldoutSetChecks):
    path = checks.DATA / "guardrails_injection_heldout33.jsonl"
    prefix = "h33"
    rows_per_label = 14  # its author wrote at least 14 of each, as set 19's did
