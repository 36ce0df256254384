"""Shape of held-out set 47 for the injection detector.

bench/data/guardrails_injection_heldout47.jsonl is data scored once on a finished detector
(see bench/data/README.md). The checks, in heldout_checks.py, keep it loadable, balanced
and apart from every other injection set; none of them looks at what the detector says
about a row. Like set 42, set 47 mixes one-liners with long framed texts, carries attacks
in every language it has ordinary texts in, keeps its encoded payloads decodable, spreads
its attacks evenly over the seven kinds, writes about 44% of the attacks and 44% of the
ordinary texts in languages other than English, brings about two fifths of its attacks
inside content an assistant reads and its ordinary texts through the same channels, and has
every encoding also outside English. Its scenarios come from eleven workshop and
small-service sectors that replaced all eleven suggested ones (typewriter and
sewing-machine repairers, stained-glass studios and leaded-light restorers, coopers and
cask makers, architectural model makers, graffiti-removal and anti-graffiti coating
contractors, alpaca and llama trekking farms, calligraphers and hand-lettering studios,
milliners and hat makers, ice-sculpture studios, mosaic and terrazzo studios, mural
painters and public-art studios), and each of its nine languages besides English carries at
least 14 rows of each label.
"""

from __future__ import annotations

from tests.guardrails import heldout_checks as checks


class TestHeldout47(checks.LanguagesHeldoutSetChecks):
    path = checks.DATA / "guardrails_injection_heldout47.jsonl"
    prefix = "h47"
    rows_per_label = 14  # its author wrote at least 14 of each, as set 42's did
