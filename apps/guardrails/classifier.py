"""The shipped prompt-injection classifier: logistic regression over hashed n-grams.

Features are word unigrams and bigrams and character 3- to 5-grams of the normalised
text (apps/guardrails/normalize.py), hashed with CRC-32 into ``2**bits`` buckets,
counted sublinearly (1 + ln count, when the model says ``"sublinear": true``: a word
repeated ten times is not ten times the evidence) and scaled to unit length; then, when
the model says ``"intents": "<version>"``, one feature for each sign of intent found
(apps/guardrails/intents.py) and one for each pair of them, at INTENT_VALUE each, outside
that scaling (so a long text does not dilute them). The
weights are plain JSON (apps/guardrails/data/injection_model.json, written by
bench/train_guardrails.py): no pickle, nothing to download, a few tenths of a
millisecond per short message. docs/guardrails-model-card.md says what it was trained
on, how well it does and where it fails.
"""

from __future__ import annotations

import collections
import itertools
import json
import math
import operator
import re
import zlib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from apps.guardrails.injection_rules import FEATURE_ONLY, RULES_VERSION, rule_hits
from apps.guardrails.intents import INTENTS_VERSION, intents

MODEL_PATH = Path(__file__).parent / "data" / "injection_model.json"
_WORD_RE = re.compile(r"\w+")
# A long message is scored on its first and last parts: an instruction hidden in the
# middle of a long text is the rules' job, and the time per message stays bounded.
MAX_FEATURE_CHARS = 4000
INTENT_VALUE = 0.5
CHAR_NGRAMS = (3, 4, 5)
_crc32 = zlib.crc32
_WORD, _BIGRAM, _CHARS = (_crc32(kind) for kind in (b"w:", b"b:", b"c:"))


def features(
    normalized: str,
    bits: int,
    *,
    sublinear: bool = False,
    with_intents: bool = False,
    words: bool = True,
    chars: tuple[int, ...] = CHAR_NGRAMS,
    intent_value: float = INTENT_VALUE,
    with_rules: bool = False,
    hits: list[str] | None = None,
) -> dict[int, float]:
    """Hashed n-gram counts of an already normalised text (word unigrams and bigrams when
    ``words``, character n-grams of the lengths in ``chars``), scaled to unit length, and
    with ``with_intents`` its signs of intent, alone and in pairs, at ``intent_value``;
    with ``with_rules`` one feature, at ``intent_value``, for each injection rule that
    matches (apps/guardrails/injection_rules.py: since g9 a rule is evidence the model
    weighs by source; the rules that still flag alone never reach the model), read on the
    whole text like the verdicts; ``hits`` passes those names when the caller has them."""
    if with_rules and hits is None:
        hits = rule_hits(normalized)
    if len(normalized) > MAX_FEATURE_CHARS:
        half = MAX_FEATURE_CHARS // 2
        normalized = normalized[:half] + " " + normalized[-half:]
    found = intents(normalized) if with_intents else []
    mask = (1 << bits) - 1
    tokens = _WORD_RE.findall(normalized)
    # Each gram's CRC-32 goes on from its kind's prefix ("w:", "b:", "c:"): the value the
    # prefixed gram's string would give, without building that string for every gram.
    hashes: list[int] = []
    if words:
        encoded = [token.encode() for token in tokens]
        hashes += [_crc32(token, _WORD) for token in encoded]
        hashes += [_crc32(b" ".join(pair), _BIGRAM) for pair in itertools.pairwise(encoded)]
    padded = f" {' '.join(tokens)} "
    if padded.isascii():  # one byte per letter: the bytes' slices are the grams
        raw = padded.encode()
        for n in chars:
            hashes += [_crc32(raw[i : i + n], _CHARS) for i in range(len(raw) - n + 1)]
    else:
        for n in chars:
            grams = [padded[i : i + n].encode() for i in range(len(padded) - n + 1)]
            hashes += [_crc32(gram, _CHARS) for gram in grams]
    # Counted in the order each bucket first occurs, as the weights are summed (a float
    # sum's last bit depends on its order: the verdicts must not move with this code).
    counts = collections.Counter([h & mask for h in hashes])
    values = [1.0 + math.log(v) if sublinear else float(v) for v in counts.values()]
    norm = math.sqrt(sum([v * v for v in values])) or 1.0
    scaled = dict(zip(counts, [v / norm for v in values], strict=True))
    signs = [f"i:{name}" for name in found]
    signs += [f"i:{a}+{b}" for a, b in itertools.combinations(found, 2)]
    signs += [f"r:{name}" for name in hits or ()] if with_rules else []
    for sign in signs:
        index = _crc32(sign.encode()) & mask
        scaled[index] = scaled.get(index, 0.0) + intent_value
    return scaled


@dataclass(frozen=True)
class Classifier:
    version: str
    bits: int
    bias: float
    weights: dict[int, float]
    threshold: float
    sublinear: bool = False
    intents: bool = False
    words: bool = True
    chars: tuple[int, ...] = CHAR_NGRAMS
    intent_value: float = INTENT_VALUE
    rules: bool = False

    def features(self, normalized: str, hits: list[str] | None = None) -> dict[int, float]:
        """The normalised text's features as this model reads them."""
        return features(
            normalized,
            self.bits,
            sublinear=self.sublinear,
            with_intents=self.intents,
            words=self.words,
            chars=self.chars,
            intent_value=self.intent_value,
            with_rules=self.rules,
            hits=hits,
        )

    def probability(self, normalized: str, hits: list[str] | None = None) -> float:
        """The probability that the normalised text is an attack; ``hits``: the names of
        the rules that match it, when the caller has scanned it already."""
        found = self.features(normalized, hits)
        weights = map(self.weights.get, found, itertools.repeat(0.0))
        z = self.bias + sum(map(operator.mul, weights, found.values()))
        return 1.0 / (1.0 + math.exp(-max(min(z, 50.0), -50.0)))

    @classmethod
    def from_json(cls, data: dict[str, object]) -> Classifier:
        raw = data["weights"]
        if not isinstance(raw, dict):
            raise ValueError("The classifier's weights must be a JSON object.")
        return cls(
            version=str(data["version"]),
            bits=int(str(data["bits"])),
            bias=float(str(data["bias"])),
            weights={int(k): float(v) for k, v in raw.items()},
            threshold=float(str(data["threshold"])),
            sublinear=data.get("sublinear") is True,
            intents=_intents_of(data),
            words=data.get("words", True) is not False,
            chars=_chars_of(data),
            intent_value=float(str(data.get("intent_value", INTENT_VALUE))),
            rules=_rules_of(data),
        )


def _chars_of(data: dict[str, object]) -> tuple[int, ...]:
    """The character n-gram lengths (a list in the JSON; the 3-, 4- and 5-grams when
    the file predates the key)."""
    raw = data.get("chars", list(CHAR_NGRAMS))
    if not isinstance(raw, list):
        raise ValueError("The classifier's 'chars' must be a list of n-gram lengths.")
    return tuple(int(n) for n in raw)


def _trained_with(data: dict[str, object], key: str, have: str, what: str) -> bool:
    """Whether the model was trained with the features named by ``key``, which must be
    the version this code has: weights learnt for other patterns would be misread."""
    version = data.get(key)
    if version is None:
        return False
    if str(version) != have:
        raise ValueError(
            f"The classifier was trained with {what} {version}, this code has "
            f"{have}: retrain it with bench/train_guardrails.py."
        )
    return True


def _intents_of(data: dict[str, object]) -> bool:
    """Whether the model weighs the signs of intent (``"intents": "<INTENTS_VERSION>"``)."""
    return _trained_with(data, "intents", INTENTS_VERSION, "intent patterns")


def _rules_of(data: dict[str, object]) -> bool:
    """Whether the model weighs rule hits (``"rules": "<RULES_VERSION>"``), with the
    rules that are features only that this code has."""
    if not _trained_with(data, "rules", RULES_VERSION, "injection rules"):
        return False
    # Its threshold was chosen with these rules as features only and the others flagging.
    if sorted(map(str, _list_of(data.get("feature_only_rules", [])))) != sorted(FEATURE_ONLY):
        raise ValueError(
            "The classifier was trained with other rules as features only than "
            "injection_rules.FEATURE_ONLY: retrain it with bench/train_guardrails.py."
        )
    return True


def _list_of(raw: object) -> list[object]:
    if not isinstance(raw, list):
        raise ValueError("The classifier's 'feature_only_rules' must be a list of rule names.")
    return raw


@cache
def shipped() -> Classifier:
    """The classifier in the repository, loaded once per process."""
    return Classifier.from_json(json.loads(MODEL_PATH.read_text(encoding="utf-8")))
