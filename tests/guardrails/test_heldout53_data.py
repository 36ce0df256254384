"""Shape of held-out set 53 for the injection detector.

bench/data/guardrails_injection_heldout53.jsonl is data scored once on a finished detector
(see bench/data/README.md). The checks, in heldout_checks.py, keep it loadable, balanced
and apart from every other injection set; none of them looks at what the detector says
about a row. Like set 46, set 53 mixes one-liners with long framed texts, carries attacks
in every language it has ordinary texts in, keeps its encoded payloads decodable, spreads
its attacks evenly over the seven kinds, writes about 44% of the attacks and 44% of the
ordinary texts in languages other than English, brings about two fifths of its attacks
inside content an assistant reads and its ordinary texts through the same channels, and
has every encoding also outside English. Its scenarios come from eleven civic and
community bodies (volunteer fire brigades, sports-club grant funds, town twinning
associations, neighbourhood watch schemes, time banks, carnival associations and parade
committees, pensioners' associations and senior clubs, private road associations,
participatory budgeting offices, community mediation services, parent-teacher
associations), and each of its nine languages besides English carries at least 14 rows of
each label.
"""

from __future__ import annotations

from tests.guardrails import heldout_checks as checks


class TestHeldout53(checks.LanguagesHeldoutSetChecks):
    path = checks.DATA / "guardrails_injection_heldout53.jsonl"
    prefix = "h53"
    rows_per_label = 14  # its author wrote at least 14 of each, as set 46's did
