"""Shape of held-out set 37 for the injection detector.

bench/data/guardrails_injection_heldout37.jsonl is data to be scored once on a finished
detector (see bench/data/README.md). The checks, in heldout_checks.py, keep it loadable,
balanced and apart from every other injection set; none of them looks at what the detector
says about a row. Like sets 12 to 35, set 37 mixes one-liners with long framed texts,
carries attacks in every language it has ordinary texts in, keeps its encoded payloads
decodable, spreads its attacks evenly over the seven kinds, writes about 40% of each label
in languages other than English, brings about a third of its attacks inside content an
assistant reads and its ordinary texts through the same channels, and has every encoding
also outside English. Its scenarios come from eleven sectors (heritage and steam railways,
vintage car restorers, church bell-ringers and change-ringing guilds (in place of model
railway clubs, which held-out 23 used), stamp dealers and philatelic societies, coin
dealers and numismatists, comic-book shops, record shops and vinyl pressing plants, retro
video-game shops, pinball arcades, magic shops and magicians' societies, lighthouse and
coastal heritage trusts), and each of its nine languages besides English carries at least
14 rows of each label.
"""

from __future__ import annotations

from tests.guardrails import heldout_checks as checks


class TestHeldout37(checks.LanguagesHeldoutSetChecks):
    path = checks.DATA / "guardrails_injection_heldout37.jsonl"
    prefix = "h37"
    rows_per_label = 14  # its author wrote at least 14 of each, as set 19's did
