"""Shape of held-out set 13 for the injection detector.

bench/data/guardrails_injection_heldout13.jsonl is data scored once on a finished detector
(see bench/data/README.md). The checks, in heldout_checks.py, keep it loadable, balanced
and apart from every other injection set; none of them looks at what the detector says
about a row. Like set 12, set 13 mixes one-liners with long framed texts, carries attacks
in every language it has ordinary texts in, keeps its encoded payloads decodable, spreads
its attacks evenly over the seven kinds, writes about 40% of each label in languages other
than English, brings about a third of its attacks inside content an assistant reads and
its ordinary texts through the same channels, and has every encoding also outside English.
Its scenarios come from nine sectors (hospitals and clinics administration, universities,
insurance claims, energy and water utilities, banks' back offices, retail chains, public
libraries, veterinary clinics, gyms and fitness clubs), and each of its nine languages
besides English carries at least 12 rows of each label.
"""

from __future__ import annotations

from tests.guardrails import heldout_checks as checks


class TestHeldout13(checks.LanguagesHeldoutSetChecks):
    path = checks.DATA / "guardrails_injection_heldout13.jsonl"
    prefix = "h13"
