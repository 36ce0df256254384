"""The shipped prompt-injection classifier: logistic regression over hashed n-grams.

Features are word unigrams and bigrams and character 3- to 5-grams of the normalised
text (apps/guardrails/normalize.py), hashed with CRC-32 into ``2**bits`` buckets,
counted sublinearly (1 + ln count, when the model says ``"sublinear": true``: a word
repeated ten times is not ten times the evidence) and scaled to unit length. The
weights are plain JSON (apps/guardrails/data/injection_model.json, written by
bench/train_guardrails.py): no pickle, nothing to download, a few tenths of a
millisecond per short message. docs/guardrails-model-card.md says what it was trained
on, how well it does and where it fails.
"""

from __future__ import annotations

import itertools
import json
import math
import re
import zlib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

MODEL_PATH = Path(__file__).parent / "data" / "injection_model.json"
_WORD_RE = re.compile(r"\w+")
# A long message is scored on its first and last parts: an instruction hidden in the
# middle of a long text is the rules' job, and the time per message stays bounded.
MAX_FEATURE_CHARS = 4000


def features(normalized: str, bits: int, *, sublinear: bool = False) -> dict[int, float]:
    """Hashed n-gram counts of an already normalised text, scaled to unit length."""
    if len(normalized) > MAX_FEATURE_CHARS:
        half = MAX_FEATURE_CHARS // 2
        normalized = normalized[:half] + " " + normalized[-half:]
    mask = (1 << bits) - 1
    counts: dict[int, float] = {}
    words = _WORD_RE.findall(normalized)
    grams = [f"w:{w}" for w in words]
    grams += [f"b:{a} {b}" for a, b in itertools.pairwise(words)]
    padded = f" {' '.join(words)} "
    for n in (3, 4, 5):
        grams += [f"c:{padded[i : i + n]}" for i in range(len(padded) - n + 1)]
    for gram in grams:
        index = zlib.crc32(gram.encode()) & mask
        counts[index] = counts.get(index, 0.0) + 1.0
    if sublinear:
        counts = {k: 1.0 + math.log(v) for k, v in counts.items()}
    norm = math.sqrt(sum(v * v for v in counts.values())) or 1.0
    return {k: v / norm for k, v in counts.items()}


@dataclass(frozen=True)
class Classifier:
    version: str
    bits: int
    bias: float
    weights: dict[int, float]
    threshold: float
    sublinear: bool = False

    def probability(self, normalized: str) -> float:
        z = self.bias + sum(
            self.weights.get(k, 0.0) * v
            for k, v in features(normalized, self.bits, sublinear=self.sublinear).items()
        )
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
        )


@cache
def shipped() -> Classifier:
    """The classifier in the repository, loaded once per process."""
    return Classifier.from_json(json.loads(MODEL_PATH.read_text(encoding="utf-8")))
