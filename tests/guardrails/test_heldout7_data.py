"""Shape of held-out set 7 for the injection detector.

bench/data/guardrails_injection_heldout7.jsonl is data scored once on a finished detector
(see bench/data/README.md). The checks, in heldout_checks.py, keep it loadable, balanced
and apart from every other injection set; none of them looks at what the detector says
about a row. Set 7 also has to mix one-liners with long framed texts, carry attacks in
every language it has ordinary texts in, keep its encoded payloads decodable, and hide
only plain Latin attacks behind zero-width characters and Cyrillic look-alikes.
"""

from __future__ import annotations

from tests.guardrails import heldout_checks as checks


class TestHeldout7(checks.MixedHeldoutSetChecks):
    path = checks.DATA / "guardrails_injection_heldout7.jsonl"
    prefix = "h7"

    def test_hidden_characters_undo_to_a_plain_latin_attack(self, rows: list[checks.Row]) -> None:
        # Zero-width rows read as words once the invisible characters go; homoglyph rows use
        # only Cyrillic look-alikes of Latin letters, so mapping them back leaves no Cyrillic.
        hidden = [
            row
            for row in checks.check_obfuscation(rows)
            if row["encoding"] in {"zero_width", "homoglyph"}
        ]
        assert hidden
        for row in hidden:
            plain = str(row["text"]).translate(_UNDO)
            assert not any("\u0400" <= char <= "\u04ff" for char in plain), row["id"]
            assert not checks.ZERO_WIDTH & set(plain), row["id"]
            assert len(plain.split()) >= 5, row["id"]


# Cyrillic letters that look like Latin ones, and the zero-width characters, undone.
_UNDO = str.maketrans(
    {
        **dict(
            zip(
                "\u0430\u0435\u043e\u0440\u0441\u0445\u0443\u0456\u0410\u0415\u041e\u0420\u0421\u0425",
                "aeopcxyiAEOPCX",
                strict=True,
            )
        ),
        **dict.fromkeys(checks.ZERO_WIDTH),
    }
)
