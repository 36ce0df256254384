"""Shape of held-out set 49 for the injection detector.

bench/data/guardrails_injection_heldout49.jsonl is data scored once on a finished detector
(see bench/data/README.md). The checks, in heldout_checks.py, keep it loadable, balanced
and apart from every other injection set; none of them looks at what the detector says
about a row. Like set 42, set 49 mixes one-liners with long framed texts, carries attacks
in every language it has ordinary texts in, keeps its encoded payloads decodable, spreads
its attacks evenly over the seven kinds, writes about 44% of the attacks and 44% of the
ordinary texts in languages other than English, brings about a third of its attacks
inside content an assistant reads and its ordinary texts through the same channels, and
has every encoding also outside English. Its scenarios come from eleven sectors, most of
them on the road or the water (tugboat and towage operators, vehicle recovery and roadside
breakdown firms, crane-hire companies, windscreen repair and replacement firms, pedicab and
rickshaw tour operators, marquee and event-tent hire, abnormal-load escort services,
road-marking and line-painting contractors, vehicle-telematics installers, shipping-container
sales and conversions, traffic-management contractors), and each of its nine languages
besides English carries at least 14 rows of each label.
"""

from __future__ import annotations

from tests.guardrails import heldout_checks as checks


class TestHeldout49(checks.LanguagesHeldoutSetChecks):
    path = checks.DATA / "guardrails_injection_heldout49.jsonl"
    prefix = "h49"
    rows_per_label = 14  # its author wrote at least 14 of each, as set 42's did
