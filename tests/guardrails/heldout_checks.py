"""Checks shared by the injection detector's data tests (held-out and training sets).

Each held-out set (bench/data/guardrails_injection_heldoutN.jsonl) is scored once on a
finished detector; training sets (trainN) feed the trainer (see bench/data/README.md).
These checks keep a set loadable, balanced and apart from every other injection set; none
of them looks at what the detector says about a row, and a failure names ids and counts,
never another set's text.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections import Counter
from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parent.parent.parent / "bench" / "data"
KEYS = {"id", "text", "label", "category", "lang", "context"}
OBFUSCATED_KEYS = KEYS | {"encoding", "intent"}
ATTACK_KINDS = ("override", "extraction", "roleplay", "exfiltration", "tool_abuse", "indirect")
CATEGORIES = {*ATTACK_KINDS, "obfuscation", "benign"}
ENCODINGS = {"base64", "hex", "rot13", "zero_width", "homoglyph", "spaced", "leet", "split"}
CONTEXTS = {"chat", "email", "ticket", "slack", "code", "form", "document"}
ZERO_WIDTH = {"\u200b", "\u200c", "\u200d"}
MIN_ROWS = 560
MIN_PER_ATTACK_CATEGORY = 30
MIN_LANGUAGES = 10

Row = dict[str, object]


def load_rows(path: Path) -> list[Row]:
    loaded: list[Row] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        row = json.loads(line)
        assert isinstance(row, dict), f"line {number} is not a JSON object"
        loaded.append(row)
    return loaded


def normalised(text: object) -> str:
    return " ".join(str(text).lower().split())


def check_shape(rows: list[Row], min_rows: int = MIN_ROWS) -> None:
    assert len(rows) >= min_rows
    for row in rows:
        expected = OBFUSCATED_KEYS if row.get("category") == "obfuscation" else KEYS
        assert set(row) == expected, row.get("id")
        assert isinstance(row["text"], str), row["id"]
        assert row["text"].strip(), row["id"]
        assert row["label"] in (0, 1), row["id"]
        assert row["category"] in CATEGORIES, row["id"]
        assert row["context"] in CONTEXTS, row["id"]
        assert isinstance(row["lang"], str), row["id"]
        assert len(row["lang"]) == 2, row["id"]


def check_labels(rows: list[Row], prefix: str) -> None:
    """Label 1 exactly for attack categories; ids are `<prefix>a…` / `<prefix>b…`."""
    for row in rows:
        attack = row["category"] != "benign"
        assert row["label"] == int(attack), row["id"]
        assert str(row["id"]).startswith(f"{prefix}a" if attack else f"{prefix}b"), row["id"]


def check_unique(rows: list[Row]) -> None:
    ids = Counter(row["id"] for row in rows)
    assert [i for i, n in ids.items() if n > 1] == []
    texts = Counter(normalised(row["text"]) for row in rows)
    assert sum(1 for n in texts.values() if n > 1) == 0


def check_balance(rows: list[Row]) -> None:
    attacks = [row for row in rows if row["label"] == 1]
    assert len(attacks) >= 0.4 * len(rows)
    assert len(rows) - len(attacks) >= 0.4 * len(rows)
    kinds = Counter(row["category"] for row in attacks)
    assert min(kinds[kind] for kind in (*ATTACK_KINDS, "obfuscation")) >= MIN_PER_ATTACK_CATEGORY
    assert len({row["lang"] for row in rows}) >= MIN_LANGUAGES
    foreign_attacks = sum(1 for row in attacks if row["lang"] != "en")
    assert foreign_attacks >= 0.25 * len(attacks)
    foreign_benign = sum(1 for row in rows if row["label"] == 0 and row["lang"] != "en")
    assert foreign_benign >= 0.25 * (len(rows) - len(attacks))


def check_length_mix(rows: list[Row]) -> None:
    """One-liners and long framed texts, and both labels among the long ones, so that
    length alone does not give a row's label away."""
    lengths = [len(str(row["text"]).split()) for row in rows]
    assert max(lengths) >= 100
    assert sum(1 for n in lengths if n <= 12) >= 50
    labels_of_long = {row["label"] for row, n in zip(rows, lengths, strict=True) if n >= 80}
    assert labels_of_long == {0, 1}


def check_obfuscation(rows: list[Row], zero_width: set[str] = ZERO_WIDTH) -> list[Row]:
    """Every encoding present, each obfuscated row naming its intent and carrying its
    zero-width or homoglyph characters; returns the obfuscated rows for further checks."""
    obfuscated = [row for row in rows if row["category"] == "obfuscation"]
    assert {row["encoding"] for row in obfuscated} == ENCODINGS
    for row in obfuscated:
        assert row["intent"] in ATTACK_KINDS, row["id"]
        text = str(row["text"])
        if row["encoding"] == "zero_width":
            assert zero_width & set(text), row["id"]
        if row["encoding"] == "homoglyph":
            assert any("\u0400" <= char <= "\u04ff" for char in text), row["id"]
    return obfuscated


def check_both_labels_in_every_language(rows: list[Row]) -> None:
    """A language seen only in one label would let the language give the label away."""
    attack_langs = {row["lang"] for row in rows if row["label"] == 1}
    benign_langs = {row["lang"] for row in rows if row["label"] == 0}
    assert attack_langs == benign_langs


def check_rows_per_language(
    rows: list[Row], languages: tuple[str, ...], *, each_label: int, least_rows: int = 0
) -> None:
    """Every one of ``languages`` has at least ``least_rows`` rows and ``each_label`` of
    each label."""
    for lang in languages:
        labels = Counter(row["label"] for row in rows if row["lang"] == lang)
        if least_rows:
            assert labels[0] + labels[1] >= least_rows, (lang, labels)
        assert min(labels[0], labels[1]) >= each_label, (lang, labels)


def check_encoded_payloads_decode(rows: list[Row]) -> None:
    """Each base64 or hex row holds a run that decodes to words, not random characters."""
    encoded = [row for row in check_obfuscation(rows) if row["encoding"] in {"base64", "hex"}]
    assert encoded
    for row in encoded:
        assert any(
            _decodes_to_words(str(row["encoding"]), token) for token in str(row["text"]).split()
        ), row["id"]


def check_hidden_characters_undo(rows: list[Row]) -> None:
    """Zero-width rows read as words once the invisible characters go; homoglyph rows use
    only Cyrillic look-alikes of Latin letters, so mapping them back leaves no Cyrillic."""
    hidden = [
        row for row in check_obfuscation(rows) if row["encoding"] in {"zero_width", "homoglyph"}
    ]
    assert hidden
    for row in hidden:
        plain = str(row["text"]).translate(_UNDO_HIDDEN)
        assert not any("\u0400" <= char <= "\u04ff" for char in plain), row["id"]
        assert not ZERO_WIDTH & set(plain), row["id"]
        assert len(plain.split()) >= 5, row["id"]


# Cyrillic letters that look like Latin ones, and the zero-width characters, undone.
_UNDO_HIDDEN = str.maketrans(
    {
        **dict(
            zip(
                "\u0430\u0435\u043e\u0440\u0441\u0445\u0443\u0456\u0410\u0415\u041e\u0420\u0421\u0425",
                "aeopcxyiAEOPCX",
                strict=True,
            )
        ),
        **dict.fromkeys(ZERO_WIDTH),
    }
)


def _decodes_to_words(encoding: str, token: str) -> bool:
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


def shared_text_count(rows: list[Row], path: Path) -> int:
    """How many texts of the other injection sets also appear in `rows` (a count only)."""
    mine = {normalised(row["text"]) for row in rows}
    others = [other for other in DATA.glob("guardrails_injection*.jsonl") if other != path]
    assert others
    shared = 0
    for other in others:
        for line in other.read_text(encoding="utf-8").splitlines():
            if line.strip():
                shared += normalised(json.loads(line).get("text", "")) in mine
    return shared


class HeldoutSetChecks:
    """The tests every held-out set runs; a test module subclasses it with its file and prefix."""

    path: Path
    prefix: str

    @pytest.fixture(scope="class")
    @classmethod
    def rows(cls) -> list[Row]:
        return load_rows(cls.path)

    def test_every_row_has_the_heldout_shape(self, rows: list[Row]) -> None:
        check_shape(rows)

    def test_labels_agree_with_categories_and_ids(self, rows: list[Row]) -> None:
        check_labels(rows, self.prefix)

    def test_ids_and_texts_are_unique(self, rows: list[Row]) -> None:
        check_unique(rows)

    def test_balance_of_attacks_kinds_and_languages(self, rows: list[Row]) -> None:
        check_balance(rows)

    def test_obfuscated_rows_name_their_encoding_and_carry_it(self, rows: list[Row]) -> None:
        check_obfuscation(rows)

    def test_no_text_is_shared_with_another_injection_set(self, rows: list[Row]) -> None:
        shared = shared_text_count(rows, self.path)
        # A count only: the message must not print another set's rows.
        assert shared == 0, (
            f"{shared} texts of {self.path.name} also appear in another injection set"
        )


class MixedHeldoutSetChecks(HeldoutSetChecks):
    """The held-out tests plus those of sets from 6 on: one-liners and long framed texts,
    attacks and ordinary texts in every language, and encoded payloads that decode."""

    def test_short_and_long_texts_are_both_there(self, rows: list[Row]) -> None:
        check_length_mix(rows)

    def test_every_language_has_attacks_and_ordinary_texts(self, rows: list[Row]) -> None:
        check_both_labels_in_every_language(rows)

    def test_encoded_rows_carry_a_payload_that_decodes(self, rows: list[Row]) -> None:
        check_encoded_payloads_decode(rows)


class SpreadHeldoutSetChecks(MixedHeldoutSetChecks):
    """The mixed held-out tests plus those of sets from 8 on: attacks spread evenly over the
    seven kinds, about 40% of each label not in English, and zero-width and homoglyph rows
    that undo to a plain Latin attack."""

    def test_attacks_are_spread_evenly_over_the_seven_kinds(self, rows: list[Row]) -> None:
        kinds = Counter(row["category"] for row in rows if row["label"] == 1)
        counts = [kinds[kind] for kind in (*ATTACK_KINDS, "obfuscation")]
        assert max(counts) - min(counts) <= 5, kinds

    def test_each_label_is_about_40_percent_not_english(self, rows: list[Row]) -> None:
        for label in (0, 1):
            labelled = [row for row in rows if row["label"] == label]
            foreign = sum(1 for row in labelled if row["lang"] != "en")
            assert 0.35 * len(labelled) <= foreign <= 0.5 * len(labelled), label

    def test_hidden_characters_undo_to_a_plain_latin_attack(self, rows: list[Row]) -> None:
        check_hidden_characters_undo(rows)


class ContentHeldoutSetChecks(SpreadHeldoutSetChecks):
    """The spread held-out tests plus those of sets from 9 on: about a third of the attacks
    arrive inside content an assistant reads (e-mail, ticket, document, Slack, form, code)
    rather than typed in the chat, and not only the indirect kind."""

    def test_about_a_third_of_attacks_arrive_inside_content(self, rows: list[Row]) -> None:
        attacks = [row for row in rows if row["label"] == 1]
        inside = [row for row in attacks if row["context"] != "chat"]
        assert 0.28 * len(attacks) <= len(inside) <= 0.45 * len(attacks), len(inside)
        # Not only the indirect kind: typed requests also come by e-mail, ticket or Slack.
        kinds_inside = {row["category"] for row in inside}
        assert set(ATTACK_KINDS) <= kinds_inside, kinds_inside


class ChannelHeldoutSetChecks(ContentHeldoutSetChecks):
    """The content held-out tests plus those of sets from 10 on: ordinary texts come through
    every channel the attacks come through, and every encoding also outside English."""

    def test_ordinary_texts_also_arrive_inside_content(self, rows: list[Row]) -> None:
        # Otherwise "arrived in an e-mail or document" would give an attack away.
        ordinary = [row for row in rows if row["label"] == 0]
        contexts = Counter(row["context"] for row in ordinary)
        assert sum(n for context, n in contexts.items() if context != "chat") >= 0.2 * len(
            ordinary
        ), contexts
        assert set(CONTEXTS) <= set(contexts), contexts

    def test_every_obfuscation_also_comes_in_another_language(self, rows: list[Row]) -> None:
        obfuscated = check_obfuscation(rows)
        foreign = {row["encoding"] for row in obfuscated if row["lang"] != "en"}
        assert foreign == ENCODINGS, foreign


class LanguagesHeldoutSetChecks(ChannelHeldoutSetChecks):
    """The channel held-out tests plus those of sets from 12 on: every language besides
    English the set was written in (``other_languages``) carries attacks and ordinary texts,
    at least ``rows_per_label`` of each."""

    # Sets 12 to 15 were all written in these nine besides English.
    other_languages: tuple[str, ...] = ("da", "de", "es", "fr", "it", "nl", "pl", "pt", "sv")
    rows_per_label = 12

    def test_each_other_language_has_its_rows_of_each_label(self, rows: list[Row]) -> None:
        assert {row["lang"] for row in rows} == {"en", *self.other_languages}
        check_rows_per_language(rows, self.other_languages, each_label=self.rows_per_label)


def _decodes_to_text(run: str, encoding: str) -> bool:
    try:
        raw = base64.b64decode(run, validate=True) if encoding == "base64" else bytes.fromhex(run)
        return bool(raw.decode("utf-8").strip())
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return False


class TrainingSetChecks:
    """The tests every training set (trainN) runs; a test module subclasses it with its file
    and prefix. Looser than a held-out set on size and kinds, stricter on languages."""

    path: Path
    prefix: str
    min_rows = 500
    min_languages = 15
    # Share of each label not in English; a set written mostly in English lowers it.
    min_foreign_share = 0.4
    zero_width = ZERO_WIDTH | {"\u2060"}

    @pytest.fixture(scope="class")
    @classmethod
    def rows(cls) -> list[Row]:
        return load_rows(cls.path)

    def test_every_row_has_the_heldout4_shape(self, rows: list[Row]) -> None:
        check_shape(rows, min_rows=self.min_rows)
        assert all(re.fullmatch(r"[a-z]{2}", str(row["lang"])) for row in rows)

    def test_labels_agree_with_categories_and_ids(self, rows: list[Row]) -> None:
        check_labels(rows, self.prefix)
        assert all(re.fullmatch(rf"{self.prefix}[ab]\d{{3}}", str(row["id"])) for row in rows)

    def test_ids_and_texts_are_unique(self, rows: list[Row]) -> None:
        check_unique(rows)

    def test_attacks_are_at_least_40_percent_and_mixed_in_kind_and_language(
        self, rows: list[Row]
    ) -> None:
        attacks = [row for row in rows if row["label"] == 1]
        ordinary = [row for row in rows if row["label"] == 0]
        assert len(attacks) >= 0.4 * len(rows)
        assert len(ordinary) >= 0.4 * len(rows)
        kinds = Counter(row["category"] for row in attacks)
        assert all(kinds[kind] >= 20 for kind in (*ATTACK_KINDS, "obfuscation")), kinds
        assert len({row["lang"] for row in rows}) >= self.min_languages
        foreign = self.min_foreign_share
        assert sum(1 for row in attacks if row["lang"] != "en") >= foreign * len(attacks)
        assert sum(1 for row in ordinary if row["lang"] != "en") >= foreign * len(ordinary)
        # Every language that has attacks also has ordinary texts, so that language is no cue.
        assert {row["lang"] for row in attacks} == {row["lang"] for row in ordinary}

    def test_obfuscated_rows_name_their_encoding_and_carry_it(self, rows: list[Row]) -> None:
        for row in check_obfuscation(rows, zero_width=self.zero_width):
            text = str(row["text"])
            if row["encoding"] == "base64":
                runs = re.findall(r"[A-Za-z0-9+/]{24,}={0,2}", text)
                assert any(_decodes_to_text(run, "base64") for run in runs), row["id"]
            if row["encoding"] == "hex":
                runs = re.findall(r"(?:[0-9a-f]{2}){12,}", text)
                assert any(_decodes_to_text(run, "hex") for run in runs), row["id"]
            if row["encoding"] == "spaced":
                assert re.search(r"(?:\w {1,3}){8,}", text), row["id"]

    def test_no_text_is_shared_with_another_injection_set(self, rows: list[Row]) -> None:
        shared = shared_text_count(rows, self.path)
        # A count only: the message must not print another set's rows.
        assert shared == 0, (
            f"{shared} texts of {self.path.name} also appear in another injection set"
        )


class WeightedTrainingSetChecks(TrainingSetChecks):
    """The training-set tests plus those of sets from 10 on: the attack kinds the detector
    missed most are weighted, and about a third of the attacks sit inside content the
    assistant reads (e-mail, ticket, document, Slack, form, code) rather than the chat."""

    weighted_kinds = ("exfiltration", "tool_abuse", "roleplay")
    min_weighted_share = 0.18
    min_inside_content_share = 0.28

    def test_exfiltration_tool_abuse_and_role_play_are_weighted(self, rows: list[Row]) -> None:
        attacks = [row for row in rows if row["label"] == 1]
        kinds = Counter(row["category"] for row in attacks)
        for kind in self.weighted_kinds:
            assert kinds[kind] >= self.min_weighted_share * len(attacks), kinds

    def test_a_third_of_the_attacks_sit_inside_content_the_assistant_reads(
        self, rows: list[Row]
    ) -> None:
        attacks = [row for row in rows if row["label"] == 1]
        in_content = sum(1 for row in attacks if row["context"] != "chat")
        assert in_content >= self.min_inside_content_share * len(attacks), in_content
