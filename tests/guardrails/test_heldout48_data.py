"""Shape of held-out set 48 for the injection detector.

bench/data/guardrails_injection_heldout48.jsonl is data scored once on a finished detector
(see bench/data/README.md). The checks, in heldout_checks.py, keep it loadable, balanced
and apart from every other injection set; none of them looks at what the detector says
about a row. Like set 42, set 48 mixes one-liners with long framed texts, carries attacks
in every language it has ordinary texts in, keeps its encoded payloads decodable, spreads
its attacks evenly over the seven kinds, writes about 44% of the attacks and 44% of the
ordinary texts in languages other than English, brings about a third of its attacks inside
content an assistant reads and its ordinary texts through the same channels, and has every
encoding also outside English. Its scenarios come from eleven sectors around health care
and laboratories (veterinary pathology laboratories, clinical-trial sites, medical-device
sterilisation services, occupational-health providers, mobile X-ray and scanning units,
podiatry and chiropody practices, DNA and paternity testing laboratories, hyperbaric oxygen
centres, home-oxygen suppliers, defibrillator (AED) networks, fertility clinics and donor
banks), and each of its nine languages besides English carries at least 14 rows of each
label.
"""

from __future__ import annotations

from tests.guardrails import heldout_checks as checks


class TestHeldout48(checks.LanguagesHeldoutSetChecks):
    path = checks.DATA / "guardrails_injection_heldout48.jsonl"
    prefix = "h48"
    rows_per_label = 14  # its author wrote at least 14 of each, as set 42's did
