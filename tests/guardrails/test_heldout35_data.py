"""Shape of held-out set 35 for the injection detector.

bench/data/guardrails_injection_heldout35.jsonl is data scored once on a finished detector
(see bench/data/README.md). The checks, in heldout_checks.py, keep it loadable, balanced
and apart from every other injection set; none of them looks at what the detector says
about a row. Like sets 12 to 29, set 35 mixes one-liners with long framed texts, carries
attacks in every language it has ordinary texts in, keeps its encoded payloads decodable,
spreads its attacks evenly over the seven kinds, writes about 40% of each label in
languages other than English, brings about a third of its attacks inside content an
assistant reads and its ordinary texts through the same channels, and has every encoding
also outside English. Its scenarios come from eleven sectors (packaging manufacturers,
textile mills, sawmills and timber merchants, glassworks, seed and grain merchants, fish
farms, mushroom growers, climbing gyms, yoga studios, rowing and sailing clubs, and
racecourses), and each of its nine languages besides English carries at least 14 rows of
each label.
"""

from __future__ import annotations

from tests.guardrails import heldout_checks as checks


class TestHeldout35(checks.LanguagesHeldoutSetChecks):
    path = checks.DATA / "guardrails_injection_heldout35.jsonl"
    prefix = "h35"
    rows_per_label = 14  # its author wrote at least 14 of each, as set 19's did
