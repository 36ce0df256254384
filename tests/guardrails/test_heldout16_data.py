"""Shape of held-out set 16 for the injection detector.

bench/data/guardrails_injection_heldout16.jsonl is data scored once on a finished detector
(see bench/data/README.md). The checks, in heldout_checks.py, keep it loadable, balanced
and apart from every other injection set; none of them looks at what the detector says
about a row. Like sets 12 to 15, set 16 mixes one-liners with long framed texts, carries
attacks in every language it has ordinary texts in, keeps its encoded payloads decodable,
spreads its attacks evenly over the seven kinds, writes about 40% of each label in
languages other than English, brings about a third of its attacks inside content an
assistant reads and its ordinary texts through the same channels, and has every encoding
also outside English. Its scenarios come from eleven sectors (wedding planners and
venues, pest control, marinas and boat hire, pawn shops, print shops and copy centres,
car park operators, coworking spaces, self-storage, dry cleaners and laundries, tattoo
studios, translation agencies), and each of its nine languages besides English carries
at least 14 rows of each label.
"""

from __future__ import annotations

from tests.guardrails import heldout_checks as checks


class TestHeldout16(checks.LanguagesHeldoutSetChecks):
    path = checks.DATA / "guardrails_injection_heldout16.jsonl"
    prefix = "h16"
    rows_per_label = 14  # its author wrote at least 14 of each, as set 15's did
