"""Shape of held-out set 43 for the injection detector.

bench/data/guardrails_injection_heldout43.jsonl is data scored once on a finished detector
(see bench/data/README.md). The checks, in heldout_checks.py, keep it loadable, balanced
and apart from every other injection set; none of them looks at what the detector says
about a row. Like set 19, set 43 mixes one-liners with long framed texts, carries attacks
in every language it has ordinary texts in, keeps its encoded payloads decodable, spreads
its attacks evenly over the seven kinds, writes 44% of each label in languages other than
English, brings about two fifths of its attacks inside content an assistant reads and its
ordinary texts through the same channels, and has every encoding also outside English.
Its scenarios come from eleven sectors that replace all eleven suggested ones (asbestos
surveyors and removal contractors, cherished number-plate dealers, knife shops and
cutlers, home-movie and photo digitisation services, bookbinders and book conservators,
orienteering clubs, circus schools and aerial arts studios, metal-detecting clubs,
fossil, mineral and meteorite dealers, calibration laboratories, legionella risk
assessors and water hygiene firms), and each of its nine languages besides English
carries at least 14 rows of each label.
"""

from __future__ import annotations

from tests.guardrails import heldout_checks as checks


class TestHeldout43(checks.LanguagesHeldoutSetChecks):
    path = checks.DATA / "guardrails_injection_heldout43.jsonl"
    prefix = "h43"
    rows_per_label = 14  # its author wrote at least 14 of each, as set 19's did
