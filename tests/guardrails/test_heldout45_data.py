"""Shape of held-out set 45 for the injection detector.

bench/data/guardrails_injection_heldout45.jsonl is data scored once on a finished detector
(see bench/data/README.md). The checks, in heldout_checks.py, keep it loadable, balanced
and apart from every other injection set; none of them looks at what the detector says
about a row. Like set 19, set 45 mixes one-liners with long framed texts, carries attacks
in every language it has ordinary texts in, keeps its encoded payloads decodable, spreads
its attacks evenly over the seven kinds, writes about 44% of each label in languages other
than English, brings about two fifths of its attacks inside content an assistant reads and
its ordinary texts through the same channels, and has every encoding also outside English.
Its scenarios come from eleven sectors (ecology consultancies, commercial archaeology
units, acoustic consultancies, calibration laboratories, bug-bounty and
vulnerability-disclosure platforms, registration-plate suppliers and cherished-number
dealers, circus schools and aerial studios, timeshare resale and exit firms, anti-doping
organisations, candle makers, pet microchip databases), and each of its nine languages
besides English carries at least 14 rows of each label.
"""

from __future__ import annotations

from tests.guardrails import heldout_checks as checks


class TestHeldout45(checks.LanguagesHeldoutSetChecks):
    path = checks.DATA / "guardrails_injection_heldout45.jsonl"
    prefix = "h45"
    rows_per_label = 14  # its author wrote at least 14 of each, as set 19's did
