"""Shape of held-out set 6 for the injection detector.

bench/data/guardrails_injection_heldout6.jsonl is data scored once on a finished detector
(see bench/data/README.md). The checks, in heldout_checks.py, keep it loadable, balanced
and apart from every other injection set; none of them looks at what the detector says
about a row. Set 6 also has to mix one-liners with long framed texts, carry attacks in
every language it has ordinary texts in, and keep its encoded payloads decodable.
"""

from __future__ import annotations

import base64
import binascii

from tests.guardrails import heldout_checks as checks


class TestHeldout6(checks.HeldoutSetChecks):
    path = checks.DATA / "guardrails_injection_heldout6.jsonl"
    prefix = "h6"

    def test_short_and_long_texts_are_both_there(self, rows: list[checks.Row]) -> None:
        checks.check_length_mix(rows)

    def test_every_language_has_attacks_and_ordinary_texts(self, rows: list[checks.Row]) -> None:
        # A language seen only in one label would let the language give the label away.
        attack_langs = {row["lang"] for row in rows if row["label"] == 1}
        benign_langs = {row["lang"] for row in rows if row["label"] == 0}
        assert attack_langs == benign_langs

    def test_encoded_rows_carry_a_payload_that_decodes(self, rows: list[checks.Row]) -> None:
        # Each base64 or hex row holds a run that decodes to words, not random characters.
        encoded = [
            row for row in checks.check_obfuscation(rows) if row["encoding"] in {"base64", "hex"}
        ]
        assert encoded
        for row in encoded:
            assert any(
                _decodes(str(row["encoding"]), token) for token in str(row["text"]).split()
            ), row["id"]


def _decodes(encoding: str, token: str) -> bool:
    """True when `token` is a run of `encoding` that decodes to text of several words."""
    token = token.strip(".,:;()")
    try:
        if encoding == "base64":
            text = base64.b64decode(token, validate=True).decode("utf-8")
        else:
            text = bytes.fromhex(token).decode("utf-8")
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return False
    return len(text.split()) >= 3
