"""The e5 stage's early exit (since g18), chosen on spent held-out sets: a main head and
one or more early heads (each written by ``bench/e5_guardrails.py --write ... --out
FILE``), a grid of (early head, step, margin) whose rates are read offline, and a walk
down that grid with the product's own cost.

    .venv/bin/python bench/guardrails_cascade.py --main MAIN.json --early E2.json
        [--early E4.json] [--sets heldout11,heldout12,heldout13,heldout14,heldout15]
        [--fp-budget 0.015] [--p95 3.5] [--write] [--json FILE]

1. Every row of the sets goes through the detector's first stage (rules and the n-gram
   model, ``injection._first_stage``); each view the encoder could read gets the main
   head's probability and each early head's, from the product's engine.
2. The grid: both thresholds of the main head lowered by each step, each early head at
   each margin (a view whose early average stays under the threshold less the margin is
   let through there), and no exit. Its verdicts come from the product's own
   ``injection._second_stage`` with the cached probabilities, so they are the product's.
3. The ranking: pooled false positives within ``--fp-budget``, by pooled detection
   (ties: fewer ordinary texts past the exit, then the smaller step).
4. The walk: down the ranking, the product runs each candidate on each set (the real
   engine, one pass of ``bench/guardrails.py``'s ``latency``); the pick is the first
   whose ordinary texts' added CPU p95 is within ``--p95`` ms on every set.

With ``--write`` the pick is written as the detector's head (apps/guardrails/data/
injection_e5_head.json): the main head with both thresholds lowered by the step, and the
early head with its margin under ``early``. Only spent sets may choose (bench/data/
README.md); g18 was chosen on held-out 11 to 15 (docs/guardrails-model-card.md). Prints
the top of the grid and the walk, and writes JSON (default
bench/results/guardrails_cascade.json).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from apps.guardrails import e5_graph, e5_model, encoder, injection  # noqa: E402
from bench import guardrails as bench  # noqa: E402  (sets Django up for the checks)

STEPS = tuple(round(0.05 + 0.025 * i, 3) for i in range(13))  # 0.05 to 0.35
MARGINS: tuple[float | None, ...] = (0.0, 0.05, 0.10, 0.15, 0.20, None)  # None: no exit
SETS = "heldout11,heldout12,heldout13,heldout14,heldout15"


@dataclasses.dataclass
class View:
    main: float  # the main head's probability
    early: list[float]  # each early head's
    later: list[float] = dataclasses.field(default_factory=list)  # each second exit's (g24)


def compose(
    main: dict[str, Any], early: dict[str, Any], step: float, margin: float
) -> dict[str, Any]:
    """The head file of the pick: ``main`` with both thresholds lowered by ``step`` and
    ``early`` (its weights, layers and poolings) under "early" with ``margin``."""
    if main["max_chars"] != early["max_chars"]:
        raise SystemExit("the early head must read views cut as the main head's")
    out = dict(main)
    out["version"] = main["version"] + f".s{step:g}"
    out["threshold"] = round(main["threshold"] - step, 6)
    if "threshold_other" in main:
        out["threshold_other"] = round(main["threshold_other"] - step, 6)
    out["early"] = {
        "version": early["version"],
        "layers": early["layers"],
        "pooling": early["pooling"],
        "weights": early["weights"],
        "bias": early["bias"],
        "margin": margin,
        "cv_by_source": early["trained_on"]["cv_by_source"],
    }
    return out


def candidate(
    main: encoder.Head, early: encoder.EarlyHead, step: float, margin: float | None
) -> encoder.Head:
    """``main`` with both thresholds lowered by ``step`` and ``early`` at ``margin`` (None:
    no exit)."""
    return dataclasses.replace(
        main,
        threshold=main.threshold - step,
        threshold_other=main.threshold_for(False) - step,
        early=None if margin is None else dataclasses.replace(early, margin=margin),
    )


def probabilities(
    sets: dict[str, list[dict[str, Any]]], main: encoder.Head, early: list[encoder.EarlyHead]
) -> tuple[dict[str, list[Any]], dict[str, View]]:
    """Each row's first stage, and each view's heads' probabilities (by its text)."""
    model = e5_model.ModelFile(e5_model.model_path())
    deltas = encoder.adapter(main, model)  # since g20 the main head may name an adapter
    engines = [e5_graph.build(model, main.layers, main.pooling, adapter=deltas)] + [
        e5_graph.build(model, head.layers, head.pooling, adapter=deltas) for head in early
    ]

    def read(cut: str) -> View:
        vectors = [engine.vector(cut, prefix=main.prefix) for engine in engines]
        return View(
            main.probability(vectors[0]),
            [head.probability(v) for head, v in zip(early, vectors[1:], strict=True)],
        )

    return read_views(sets, main, read)


def read_views(
    sets: dict[str, list[dict[str, Any]]], main: encoder.Head, read: Callable[[str], View]
) -> tuple[dict[str, list[Any]], dict[str, View]]:
    """Each row's first stage, and ``read`` of each view the encoder could decide (cut as
    ``main`` cuts it), once per view text."""
    firsts: dict[str, list[Any]] = {}
    views: dict[str, View] = {}
    for name, rows in sets.items():
        firsts[name] = [injection._first_stage(row["text"]) for row in rows]
        for first in firsts[name]:
            if isinstance(first, injection.InjectionResult):
                continue
            for ngram, view, _, _ in first:
                if ngram < main.sure and view not in views:
                    views[view] = read(view[: main.max_chars])
    return firsts, views


def rates(
    sets: dict[str, list[dict[str, Any]]],
    firsts: dict[str, list[Any]],
    views: dict[str, View],
    head: encoder.Head,
    index: int,
    later: int = 0,
) -> dict[str, dict[str, float]]:
    """Per set: detection, false positives, and the shares of ordinary texts past the
    first exit and past every exit, from the product's second stage on the cached
    probabilities (early head ``index``; with ``head.later``, second-exit head ``later``)."""
    past: list[int] = []
    beyond_first: list[int] = []

    def average(view: str, ngram: float, english: bool) -> float:
        found = views[view]
        exited = head.exit_average(ngram, found.early[index], english) if head.early else None
        if exited is None and head.later is not None:
            beyond_first.append(1)
            exited = head.exit_average(ngram, found.later[later], english, 1)
        if exited is not None:
            return exited
        beyond_first.append(1)
        past.append(1)
        return head.average(ngram, found.main, english)

    saved = encoder.head, encoder.average
    encoder.head, encoder.average = (lambda: head), average  # type: ignore[assignment]
    try:
        out = {}
        for name, rows in sets.items():
            count = {"tp": 0, "attacks": 0, "fp": 0, "ordinary": 0, "past": 0, "first": 0}
            for row, first in zip(rows, firsts[name], strict=True):
                before, before_first = len(past), len(beyond_first)
                flagged = (
                    first.flagged
                    if isinstance(first, injection.InjectionResult)
                    else injection._second_stage(first).flagged
                )
                kind = "attacks" if row["label"] else "ordinary"
                count[kind] += 1
                count["tp" if row["label"] else "fp"] += flagged
                count["past"] += (not row["label"]) and len(past) > before
                count["first"] += (not row["label"]) and len(beyond_first) > before_first
            out[name] = count
        return {
            name: {
                "detection": c["tp"] / c["attacks"],
                "false_positive_rate": c["fp"] / c["ordinary"],
                "past_exit_ordinary": c["past"] / c["ordinary"],
                "past_first_exit_ordinary": c["first"] / c["ordinary"],
                "attacks": c["attacks"],
                "ordinary": c["ordinary"],
            }
            for name, c in out.items()
        }
    finally:
        encoder.head, encoder.average = saved


def pooled(per_set: dict[str, dict[str, float]], key: str, of: str) -> float:
    return sum(r[key] * r[of] for r in per_set.values()) / sum(r[of] for r in per_set.values())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--main", required=True, help="the main head's JSON")
    parser.add_argument("--early", action="append", required=True, help="an early head's JSON")
    parser.add_argument("--sets", default=SETS, help="spent held-out sets, comma-separated")
    parser.add_argument("--fp-budget", type=float, default=0.015)
    parser.add_argument("--p95", type=float, default=3.5, help="ms, each set's ordinary p95")
    parser.add_argument("--write", action="store_true", help="write the pick as the head")
    parser.add_argument(
        "--repeats", type=int, default=1, help="passes over each set per timing (g18: 1)"
    )
    parser.add_argument(
        "--compose",
        metavar="EARLY,STEP,MARGIN",
        help="write this candidate as the head (the index of its --early, from 0) and stop",
    )
    parser.add_argument(
        "--json", default=str(ROOT / "bench" / "results" / "guardrails_cascade.json")
    )
    args = parser.parse_args(argv)
    main_json = json.loads(Path(args.main).read_text(encoding="utf-8"))
    early_json = [json.loads(Path(p).read_text(encoding="utf-8")) for p in args.early]
    if args.compose:
        index, step, margin = args.compose.split(",")
        write(compose(main_json, early_json[int(index)], float(step), float(margin)))
        return
    shipped = encoder.Head.from_json(main_json)
    early = [encoder.EarlyHead.from_json({**e, "margin": 0.0}) for e in early_json]
    sets = {s: bench.load(f"guardrails_injection_{s}.jsonl") for s in args.sets.split(",")}
    firsts, views = probabilities(sets, shipped, early)
    grid: list[dict[str, Any]] = []
    for index, found in enumerate(early):
        for step in STEPS:
            for margin in MARGINS:
                if margin is None and index:
                    continue  # no exit: the same for every early head
                head = candidate(shipped, found, step, margin)
                per_set = rates(sets, firsts, views, head, index)
                grid.append(
                    {
                        "early": args.early[index] if margin is not None else None,
                        "index": index,
                        "step": step,
                        "margin": margin,
                        "detection": pooled(per_set, "detection", "attacks"),
                        "false_positive_rate": pooled(per_set, "false_positive_rate", "ordinary"),
                        "past_exit_ordinary": pooled(per_set, "past_exit_ordinary", "ordinary"),
                        "sets": per_set,
                    }
                )
    ranked = sorted(
        (r for r in grid if r["false_positive_rate"] <= args.fp_budget),
        key=lambda r: (-r["detection"], r["past_exit_ordinary"], r["step"]),
    )
    print("rank | early | step | margin | detection | false positives | past the exit | p95 ms")
    pick: dict[str, Any] | None = None
    for rank, row in enumerate(ranked):
        head = candidate(shipped, early[row["index"]], row["step"], row["margin"])
        saved = encoder.head
        encoder.head = lambda head=head: head  # type: ignore[assignment]
        encoder._load.cache_clear()
        try:
            row["p95"] = {}
            for name, rows in sets.items():
                cost = bench.latency(rows, args.repeats)["added_cpu_p95_ms_ordinary"]
                row["p95"][name] = cost
                if cost > args.p95:
                    break  # fails: the next candidate
        finally:
            encoder.head = saved
            encoder._load.cache_clear()
        passed = len(row["p95"]) == len(sets) and max(row["p95"].values()) <= args.p95
        print(
            f"{rank} | {Path(row['early']).name if row['early'] else '-'} | {row['step']:.3f} | "
            f"{row['margin']} | {row['detection']:.1%} | {row['false_positive_rate']:.2%} | "
            f"{row['past_exit_ordinary']:.1%} | "
            + " ".join(f"{v:.2f}" for v in row["p95"].values())
            + (" PICK" if passed else ""),
            flush=True,
        )
        if passed:
            pick = row
            break
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"pick": pick, "grid": grid}, indent=1) + "\n")
    print(f"wrote {out}")
    if pick is None:
        raise SystemExit("no candidate is within the cost on every set")
    if args.write:
        if pick["margin"] is None:
            raise SystemExit("the pick has no early exit: write it with the main head alone")
        write(compose(main_json, early_json[pick["index"]], pick["step"], pick["margin"]))


def write(head: dict[str, Any]) -> None:
    encoder.Head.from_json(head)  # loads as the detector will
    encoder.HEAD_PATH.write_text(json.dumps(head, separators=(",", ":")) + "\n")
    print(f"wrote {encoder.HEAD_PATH}")


if __name__ == "__main__":
    main()
