"""Shape of held-out set 44 for the injection detector.

bench/data/guardrails_injection_heldout44.jsonl is data scored once on a finished detector
(see bench/data/README.md). The checks, in heldout_checks.py, keep it loadable, balanced
and apart from every other injection set; none of them looks at what the detector says
about a row. Like set 19, set 44 mixes one-liners with long framed texts, carries attacks
in every language it has ordinary texts in, keeps its encoded payloads decodable, spreads
its attacks evenly over the seven kinds, writes about 44% of each label in languages other
than English, brings about two fifths of its attacks inside content an assistant reads and
its ordinary texts through the same channels, and has every encoding also outside English.
Its scenarios come from eleven sectors (live-action role-play event organisers, circus
schools and aerial studios, orienteering clubs, velodromes and track-cycling centres,
pub-quiz companies, historical re-enactment societies, fencing clubs, professional
wrestling promotions, wildlife-photography hides, commercial archaeology units, asbestos
surveyors and removal contractors), and each of its nine languages besides English carries
at least 14 rows of each label.
"""

from __future__ import annotations

from tests.guardrails import heldout_checks as checks


class TestHeldout44(checks.LanguagesHeldoutSetChecks):
    path = checks.DATA / "guardrails_injection_heldout44.jsonl"
    prefix = "h44"
    rows_per_label = 14  # its author wrote at least 14 of each, as set 19's did
