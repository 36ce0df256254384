"""Train the semantic cache's scorers on the development half of the labelled pairs.

Writes apps/gateway/cache_verifier/decision_model.json: the similarity floor, the
lexical scorer (logistic weights over the similarity and the content words' overlap: the
fallback when the similarity comes from another embedding model) and the pair model
(gradient-boosted trees over ``pair_model.FEATURES``: the similarity, the overlap and how
the wording differs), each with its cutoff, the embedding model the pair model was
trained on, and the dev rates. The test half is never read here (``Pair.split ==
"test"`` is dropped before anything else).

How: for each candidate floor, the dev pairs that pass the decision's rules (steps 1-4
of ``decision.decide``) at that floor are the candidates. The same-words floor (step 5)
is the lowest similarity at which candidates with the same content words serve at most
half the wrong-hit budget; the other candidates are the scorers' training set (label 1 =
paraphrase). The lexical scorer is a logistic regression, the pair model scikit-learn's
``GradientBoostingClassifier`` (fitted here only: the product reads the JSON and walks
the trees in plain Python); the trees' depth, number and learning rate are chosen among
FOREST_GRID by a second cross-validation, by file (below). The lexical scorer's cutoff
is the lowest probability at which the dev wrong hits stay within WRONG_BUDGET of the dev
near-misses, read off out-of-fold probabilities: five folds that keep every cached
question's pairs together (a cutoff read off the fit's own rows, or off folds that share
questions, is too optimistic), repeated with SEEDS, the highest cutoff kept. The second
cross-validation holds out one file of pairs at a time (``Pair.source``: each file was written
apart, by kind, at another time) and trains on the others: it says whether the trees
learnt what a paraphrase is or the habits of the writers they were fitted on, and the
trees' shape is chosen by it (with five files, at the 0.55 floor, depth 3 served 27% of
dev paraphrases by file against 44% by group, depth 2 35% and 46%; with six, depth 3 39%
and 43%, depth 2 36% and 43%, and with ``clause_moved`` depth 3 39% and 45%, depth 2 41%
and 48%: a few near-misses set the pooled cutoff, so the ranking is noisy). Each file's
own by-file rates are printed too. Since round 6 the pair model's cutoff is read off the
by-file scores against the worst file, not a pooled budget: the lowest cutoff at which
every file's own near-misses served stay within MAX_FILE_WRONG (1%, the product's target,
checked writer by writer); the shape that then serves the most paraphrases by file wins,
and the lowest floor within a point of the best by-file rate. (Round 5 took a pooled
budget among WRONG_BUDGETS under the same per-file check; on nine files every pooled
budget puts a file over 1%. Those budgets are still reported.) The lexical scorer keeps
its grouped-fold cutoff at WRONG_BUDGET. Run after changing the rules, the features or
the pairs' dev half:

    .venv/bin/python bench/train_cache_decision.py [--dry-run]
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
import statistics  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from typing import Any  # noqa: E402

from apps.gateway.cache_verifier import decision, pair_model  # noqa: E402
from bench.cache_pairs import MODEL_NAME, Pair, cosines, embed_pairs, load_pairs  # noqa: E402

# The similarity floors tried (the chosen one is the tenants' default,
# AISettings.semantic_threshold: a change needs a migration of that default).
FLOORS = (0.55, 0.60, 0.65)
# Wrong hits allowed on the dev half, as a share of its near-misses: half the product's
# 1% target, a margin for the test half being harder than the set the cutoff was set on.
# The lexical scorer keeps it. The pair model's cutoff keeps every file's near-misses
# served by file within MAX_FILE_WRONG, as a percentage to one decimal (each file is a
# writer the trees did not see: the 1% target is checked writer by writer, not on the
# pooled rate); WRONG_BUDGETS are the pooled budgets reported beside it.
WRONG_BUDGET = 0.005
WRONG_BUDGETS = (0.005, 0.0055, 0.006)
MAX_FILE_WRONG = 0.01
LEXICAL = ("similarity", "jaccard", "unmatched", "unmatched_share", "max_unmatched")
SAME_WORDS_FLOORS = (0.80, 0.82, 0.84, 0.86, 0.88, 0.90, 0.92, 0.94, 0.96, 0.98, 1.01)
LEXICAL_C = 1.0
# (max_depth, n_estimators, learning_rate) of the pair model's trees, the one that serves
# the most dev paraphrases held out by file chosen. Tried once outside the grid (floor
# 0.55, by group / by file): depth 1 x400 at 0.1 40% / 33%, depth 2 x500 at 0.03
# 45% / 37%, depth 3 with subsampling 39% / 25%. With six files, by file only: depth 1
# x400 at 0.1 34.2%, depth 2 x500 at 0.03 35.8%, depth 3 x300 35.6%, x400 at 0.03 36.2%
# (before ``clause_moved``).
FOREST_GRID = ((3, 200, 0.05), (2, 300, 0.05))
SEEDS = (17, 18, 19)
NOISE = 0.01


@dataclass(frozen=True)
class Row:
    values: dict[str, float]
    paraphrase: bool
    group: str  # the cached question: its pairs stay in one fold
    source: str  # the file the pair was written in (Pair.source)


Forest = tuple[int, int, float]  # (max_depth, n_estimators, learning_rate)
Spec = Forest | None  # None: the lexical scorer


def design(rows: list[Row], spec: Spec) -> Any:
    import numpy as np

    names = LEXICAL if spec is None else pair_model.FEATURES
    return np.array([[r.values[name] for name in names] for r in rows])


def fit(rows: list[Row], spec: Spec) -> Any:
    from sklearn.ensemble import GradientBoostingClassifier  # type: ignore[import-untyped]
    from sklearn.linear_model import LogisticRegression  # type: ignore[import-untyped]

    if spec is None:
        model: Any = LogisticRegression(C=LEXICAL_C, max_iter=5000)
    else:
        depth, trees, rate = spec
        model = GradientBoostingClassifier(
            max_depth=depth, n_estimators=trees, learning_rate=rate, random_state=0
        )
    model.fit(design(rows, spec), [r.paraphrase for r in rows])
    return model


def out_of_fold(rows: list[Row], spec: Spec, seed: int) -> list[float]:
    """Each row's probability from a model fitted without it, nor any row with the same
    cached question (stratified group folds, fixed seed)."""
    from sklearn.model_selection import StratifiedGroupKFold  # type: ignore[import-untyped]

    labels = [r.paraphrase for r in rows]
    groups = [r.group for r in rows]
    out = [0.0] * len(rows)
    splitter = StratifiedGroupKFold(n_splits=5, shuffle=True, random_state=seed)
    for train, held in splitter.split(rows, labels, groups):
        model = fit([rows[i] for i in train], spec)
        scored = model.predict_proba(design([rows[i] for i in held], spec))[:, 1]
        for i, p in zip(held, scored, strict=True):
            out[i] = float(p)
    return out


def by_file(rows: list[Row], spec: Spec) -> list[float]:
    """Each row's probability from a model fitted on the other files' rows only."""
    out = [0.0] * len(rows)
    for source in sorted({r.source for r in rows}):
        held = [i for i, r in enumerate(rows) if r.source == source]
        model = fit([r for r in rows if r.source != source], spec)
        scored = model.predict_proba(design([rows[i] for i in held], spec))[:, 1]
        for i, p in zip(held, scored, strict=True):
            out[i] = float(p)
    return out


def cutoff_for(
    scores: list[float], labels: list[bool], allowed: int, hits: int, wrong: int
) -> tuple[float, int, int]:
    """The lowest cutoff at which wrong hits stay within ``allowed`` (counting the
    same-words path's ``hits`` and ``wrong`` first): (cutoff, hits, wrong)."""
    best = (1.0, hits, wrong)
    for p, label in sorted(zip(scores, labels, strict=True), reverse=True):
        if label:
            hits += 1
        else:
            wrong += 1
            if wrong > allowed:
                break
        best = (p, hits, wrong)
    return best


def calibrate(
    rows: list[Row], spec: Spec, allowed: int, hits: int, wrong: int
) -> tuple[float, float, float]:
    """(cutoff, mean hits, mean wrong) over SEEDS: the highest of the seeds' cutoffs."""
    labels = [r.paraphrase for r in rows]
    found = [
        cutoff_for(out_of_fold(rows, spec, seed), labels, allowed, hits, wrong) for seed in SEEDS
    ]
    return (
        max(f[0] for f in found),
        statistics.mean(f[1] for f in found),
        statistics.mean(f[2] for f in found),
    )


def train_at(
    floor: float, pairs: list[Pair], similarity: list[float], values: list[dict[str, float]]
) -> dict[str, Any] | None:
    near_misses = sum(not p.paraphrase for p in pairs)
    paraphrases = len(pairs) - near_misses
    allowed = math.floor(WRONG_BUDGET * near_misses)
    # The pair model sees every pair past steps 1-2 (the rules of steps 3-4 are two of its
    # features); the lexical scorer only those the rules let through.
    reach = [
        i
        for i, (pair, cos) in enumerate(zip(pairs, similarity, strict=True))
        if decision.hard_screen(pair.new, pair.cached, cos, floor=floor) is None
    ]
    candidates = [i for i in reach if not (values[i]["facet_differs"] or values[i]["roles_differ"])]
    # The same-words path first: the lowest similarity at which the dev pairs with the
    # same content words serve no more than half the wrong-hit budget.
    same_floor, same = 1.01, set()
    for level in SAME_WORDS_FLOORS:
        taken = {
            i
            for i in candidates
            if similarity[i] >= level and decision.same_words(pairs[i].new, pairs[i].cached)
        }
        if sum(not pairs[i].paraphrase for i in taken) <= allowed // 2:
            same_floor, same = level, taken
            break

    def rows(index: list[int]) -> list[Row]:
        return [
            Row(values[i], pairs[i].paraphrase, pairs[i].cached.lower(), pairs[i].source)
            for i in index
            if i not in same
        ]

    lexical_rows, forest_rows = rows(candidates), rows(reach)
    if (
        min(sum(r.paraphrase for r in lexical_rows), sum(not r.paraphrase for r in lexical_rows))
        < 10
    ):
        return None
    hits = sum(pairs[i].paraphrase for i in same)
    wrong = sum(not pairs[i].paraphrase for i in same)
    lexical = calibrate(lexical_rows, None, allowed, hits, wrong)
    labels = [r.paraphrase for r in forest_rows]
    file_scores = {spec: by_file(forest_rows, spec) for spec in FOREST_GRID}
    # Each shape's cutoff: the lowest at which every file's own near-misses served by file
    # stay within MAX_FILE_WRONG (the writer-by-writer promise); the shape that then serves
    # the most paraphrases by file wins. The pooled budgets are reported beside it.
    within = {
        spec: cutoff_within_files(pairs, same, forest_rows, file_scores[spec], hits, wrong)
        for spec in FOREST_GRID
    }
    spec = max(FOREST_GRID, key=lambda s: within[s][1])
    cutoff, file_hits, file_wrong = within[spec]
    per_file = per_file_rates(pairs, same, forest_rows, file_scores[spec], cutoff)

    def pooled(s: Forest, budget: float) -> dict[str, float]:
        found = cutoff_for(file_scores[s], labels, math.floor(budget * near_misses), hits, wrong)
        rates = per_file_rates(pairs, same, forest_rows, file_scores[s], found[0])
        return {
            "paraphrases": round(found[1] / paraphrases, 4),
            "worst_file_wrong": max(f["wrong_hit_rate"] for f in rates.values()),
        }

    return {
        "floor": floor,
        "same_words_floor": same_floor,
        "candidates": len(candidates),
        "reach": len(reach),
        "lexical_rows": lexical_rows,
        "forest_rows": forest_rows,
        "lexical": {
            "cutoff": lexical[0],
            "dev_paraphrase_hit_rate": round(lexical[1] / paraphrases, 4),
            "dev_wrong_hit_rate": round(lexical[2] / near_misses, 4),
        },
        "forest": {
            "spec": spec,
            "cutoff": cutoff,
            "by_file_paraphrase_hit_rate": round(file_hits / paraphrases, 4),
            "by_file_wrong_hit_rate": round(file_wrong / near_misses, 4),
            "by_file_per_file": per_file,
            "tried": {
                "depth {} x{} rate {}".format(*s): {
                    "by_file_every_file_within": round(within[s][1] / paraphrases, 4),
                    "cutoff": round(within[s][0], 6),
                    "by_file_pooled_budget": {f"{b:.2%}": pooled(s, b) for b in WRONG_BUDGETS},
                }
                for s in FOREST_GRID
            },
        },
    }


def cutoff_within_files(
    pairs: list[Pair],
    same: set[int],
    rows: list[Row],
    scores: list[float],
    hits: int,
    wrong: int,
) -> tuple[float, int, int]:
    """The lowest cutoff at which every file's near-misses served (the same-words path's,
    then the by-file scores at or above the cutoff) stay within MAX_FILE_WRONG of that
    file's near-misses, as a percentage to one decimal as reported (1/99 is 1.0%, 3/283
    is 1.1%): (cutoff, paraphrases served, near-misses served), pooled."""
    near_misses: dict[str, int] = {}
    for pair in pairs:
        if not pair.paraphrase:
            near_misses[pair.source] = near_misses.get(pair.source, 0) + 1
    served: dict[str, int] = {}
    for i in same:
        if not pairs[i].paraphrase:
            served[pairs[i].source] = served.get(pairs[i].source, 0) + 1
    best = (1.0, hits, wrong)
    for p, row in sorted(zip(scores, rows, strict=True), key=lambda x: -x[0]):
        if row.paraphrase:
            hits += 1
        else:
            served[row.source] = served.get(row.source, 0) + 1
            if round(100 * served[row.source] / near_misses[row.source], 1) > 100 * MAX_FILE_WRONG:
                break
            wrong += 1
        best = (p, hits, wrong)
    return best


def per_file_rates(
    pairs: list[Pair],
    same: set[int],
    rows: list[Row],
    scores: list[float],
    cutoff: float,
) -> dict[str, dict[str, float]]:
    """The by-file forecast file by file: each file's paraphrases and near-misses served
    (the same-words path, then the trees fitted without that file at the pooled by-file
    cutoff), as shares of that file's pairs."""
    served: dict[str, list[int]] = {}
    for i in same:
        served.setdefault(pairs[i].source, [0, 0])[0 if pairs[i].paraphrase else 1] += 1
    for row, score in zip(rows, scores, strict=True):
        if score >= cutoff:
            served.setdefault(row.source, [0, 0])[0 if row.paraphrase else 1] += 1
    out: dict[str, dict[str, float]] = {}
    for source in sorted({p.source for p in pairs}):
        paraphrases = sum(p.paraphrase for p in pairs if p.source == source)
        near_misses = sum(not p.paraphrase for p in pairs if p.source == source)
        good, bad = served.get(source, [0, 0])
        out[source] = {
            "paraphrase_hit_rate": round(good / paraphrases, 4) if paraphrases else 0.0,
            "wrong_hit_rate": round(bad / near_misses, 4) if near_misses else 0.0,
            "wrong_hits": bad,
            "near_misses": near_misses,
        }
    return out


def export_trees(model: Any) -> tuple[float, list[dict[str, list[Any]]]]:
    """The fitted GradientBoostingClassifier as (base log-odds, trees): each tree's nodes
    as arrays, leaf values scaled by the learning rate, leaves' children LEAF."""
    import numpy as np

    prior = float(np.clip(model.init_.class_prior_[1], 1e-12, 1 - 1e-12))
    base = math.log(prior / (1.0 - prior))
    trees: list[dict[str, list[Any]]] = []
    for (estimator,) in model.estimators_:
        t = estimator.tree_
        leaf = t.children_left == -1
        trees.append(
            {
                "feature": [
                    0 if is_leaf else int(f) for f, is_leaf in zip(t.feature, leaf, strict=True)
                ],
                "threshold": [
                    0.0 if is_leaf else round(float(x), 9)
                    for x, is_leaf in zip(t.threshold, leaf, strict=True)
                ],
                "left": [
                    pair_model.LEAF if is_leaf else int(i)
                    for i, is_leaf in zip(t.children_left, leaf, strict=True)
                ],
                "right": [
                    pair_model.LEAF if is_leaf else int(i)
                    for i, is_leaf in zip(t.children_right, leaf, strict=True)
                ],
                "value": [
                    round(float(v) * model.learning_rate, 9) if is_leaf else 0.0
                    for v, is_leaf in zip(t.value[:, 0, 0], leaf, strict=True)
                ],
            }
        )
    return base, trees


def check_export(model: Any, forest: pair_model.Forest, rows: list[Row], spec: Spec) -> None:
    """The plain-Python walk gives the fit's own log-odds on every training row."""
    expected = model.decision_function(design(rows, spec))
    worst = max(
        abs(forest.log_odds(r.values) - float(e)) for r, e in zip(rows, expected, strict=True)
    )
    if worst > 1e-4:
        raise SystemExit(f"exported trees disagree with the fit by {worst:.6f}")


def model_json(chosen: dict[str, Any], dev: list[Pair]) -> dict[str, Any]:
    lexical, forest = chosen["lexical"], chosen["forest"]
    lexical_model = fit(chosen["lexical_rows"], None)
    rows: list[Row] = chosen["forest_rows"]
    forest_model = fit(rows, forest["spec"])
    base, trees = export_trees(forest_model)
    depth, count, rate = forest["spec"]
    on = "the dev half of bench/data (bench/cache_pairs.py); the test half unread"
    pair = {
        "embedding_model": MODEL_NAME,
        "dimension": 384,
        "features": list(pair_model.FEATURES),
        "base": round(base, 9),
        "cutoff": round(forest["cutoff"], 6),
        "trained": {
            "on": on,
            "trees": f"{count} trees of depth {depth}, learning rate {rate}",
            "max_file_wrong": MAX_FILE_WRONG,
            "candidates": len(rows),
            "dev_paraphrase_hit_rate_by_file": forest["by_file_paraphrase_hit_rate"],
            "dev_wrong_hit_rate_by_file": forest["by_file_wrong_hit_rate"],
            "dev_by_file_per_file": forest["by_file_per_file"],
            "grid_paraphrase_hit_rate": forest["tried"],
        },
        "trees": trees,
    }
    check_export(forest_model, pair_model.Forest.from_json(pair), rows, forest["spec"])
    return {
        "version": 7,
        "features": list(LEXICAL),
        "weights": [round(float(w), 6) for w in lexical_model.coef_[0]],
        "bias": round(float(lexical_model.intercept_[0]), 6),
        "cutoff": round(lexical["cutoff"], 6),
        "floor": chosen["floor"],
        "same_words_floor": chosen["same_words_floor"],
        "trained": {
            "on": on,
            "embedding_model": MODEL_NAME,
            "pairs": len(dev),
            "candidates": chosen["candidates"],
            "wrong_budget": WRONG_BUDGET,
            "dev_paraphrase_hit_rate_out_of_fold": lexical["dev_paraphrase_hit_rate"],
            "dev_wrong_hit_rate_out_of_fold": lexical["dev_wrong_hit_rate"],
            "command": "bench/train_cache_decision.py",
        },
        "pair_model": pair,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dry-run", action="store_true", help="print, do not write the model")
    args = parser.parse_args(argv)
    dev = [p for p in load_pairs() if p.split == "dev"]
    similarity = cosines(embed_pairs(dev))
    values = [
        decision.pair_features(p.new, p.cached, cos) for p, cos in zip(dev, similarity, strict=True)
    ]
    print(f"dev pairs: {len(dev)} ({sum(p.paraphrase for p in dev)} paraphrases)")
    print(
        f"{'floor':>5} {'candidates':>10} {'same':>5} {'lexical hit':>11} {'wrong':>6} "
        f"{'by file':>7} {'wrong':>6}"
    )
    results = [r for floor in FLOORS if (r := train_at(floor, dev, similarity, values)) is not None]
    for r in results:
        lexical, forest = r["lexical"], r["forest"]
        print(
            f"{r['floor']:>5.2f} {r['candidates']:>10} {r['same_words_floor']:>5.2f} "
            f"{lexical['dev_paraphrase_hit_rate']:>11.1%} {lexical['dev_wrong_hit_rate']:>6.1%} "
            f"{forest['by_file_paraphrase_hit_rate']:>7.1%} "
            f"{forest['by_file_wrong_hit_rate']:>6.1%}   grid: {forest['tried']}"
        )
        for source, rate in forest["by_file_per_file"].items():
            print(
                f"      by file, {source:<12} {rate['paraphrase_hit_rate']:>6.1%} paraphrases, "
                f"{rate['wrong_hit_rate']:>5.1%} near-misses "
                f"({rate['wrong_hits']}/{rate['near_misses']})"
            )
    # Floors within NOISE of the best are as good (a point is a few pairs here): the
    # lowest of them wins, since more candidates reach the scorers.
    best = max(r["forest"]["by_file_paraphrase_hit_rate"] for r in results)
    chosen = min(
        (r for r in results if r["forest"]["by_file_paraphrase_hit_rate"] >= best - NOISE),
        key=lambda r: r["floor"],
    )
    model = model_json(chosen, dev)
    print(
        f"chosen: floor {chosen['floor']}, lexical cutoff {model['cutoff']:.3f}, "
        f"pair model cutoff {model['pair_model']['cutoff']:.3f} "
        f"({model['pair_model']['trained']['trees']})"
    )
    if not args.dry_run:
        # The pair reader's switch and cutoff (version 8) are not this trainer's: kept.
        shipped = json.loads(decision.MODEL_FILE.read_text(encoding="utf-8"))
        if "reader" in shipped:
            model["reader"] = shipped["reader"]
        decision.MODEL_FILE.write_text(json.dumps(model) + "\n", encoding="utf-8")
        print(f"wrote {decision.MODEL_FILE.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
