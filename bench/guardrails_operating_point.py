"""The injection detector's operating point read on a spent held-out set: both thresholds
of the average (English and not) lowered by the same steps, nothing else changed.

    .venv/bin/python bench/guardrails_operating_point.py [--set heldout11]
        [--steps 0 0.05 0.1 ...] [--json FILE]

Steps are relative to the shipped head (g18; its early exit, when it has one, stays as
shipped). For each step: detection and
false positives on the set (``bench/guardrails.py``'s ``_rates``), and its ``latency`` (one
pass): the share of ordinary texts and attacks that reach the e5 stage and the ordinary
texts' added CPU p95. A lower threshold widens the band of views the encoder reads (a few
milliseconds each since g13; since g18 views are cut at 400 characters and most stop after
two layers), so the cost is
read with the rates. Only a spent set may choose a step
(bench/data/README.md); g12b's step was chosen on held-out 11, g13b's on held-out 11 and
12, g14b's on held-out 11, 12 and 13; g18's step and early exit on held-out 11 to 15 with
bench/guardrails_cascade.py (docs/guardrails-model-card.md). Prints a table and
writes JSON (default bench/results/guardrails_operating_point.json).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from apps.guardrails import encoder  # noqa: E402
from bench import guardrails as bench  # noqa: E402  (sets Django up for the checks)

STEPS = (-0.05, 0.0, 0.05, 0.10, 0.15, 0.25, 0.35)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--set", default="heldout11", help="a spent held-out set's suffix")
    parser.add_argument("--steps", type=float, nargs="+", default=list(STEPS))
    parser.add_argument(
        "--json", default=str(ROOT / "bench" / "results" / "guardrails_operating_point.json")
    )
    args = parser.parse_args(argv)
    rows = bench.load(f"guardrails_injection_{args.set}.jsonl")
    original = encoder.head
    shipped = original()
    found: dict[str, dict[str, float]] = {}
    print(f"{args.set}: lowered by | detection | false positives | e5 ordinary | ordinary CPU p95")
    try:
        for step in args.steps:
            lowered = dataclasses.replace(
                shipped,
                threshold=shipped.threshold - step,
                threshold_other=(shipped.threshold_other or shipped.threshold) - step,
            )
            encoder.head = lambda lowered=lowered: lowered  # type: ignore[assignment]
            rates, cost = bench._rates(rows), bench.latency(rows, 1)
            found[f"{step:.2f}"] = {
                "threshold": round(lowered.threshold, 6),
                "threshold_other": round(lowered.threshold_for(False), 6),
                "detection": rates["injection_detection_rate"],
                "false_positive_rate": rates["false_positive_rate"],
                "encoder_share_ordinary": cost["encoder_share_ordinary"],
                "encoder_share_attacks": cost["encoder_share_attacks"],
                "added_cpu_p95_ms_ordinary": cost["added_cpu_p95_ms_ordinary"],
            }
            r = found[f"{step:.2f}"]
            print(
                f"  {step:.2f} | {r['detection']:.1%} | {r['false_positive_rate']:.1%} | "
                f"{r['encoder_share_ordinary']:.1%} | {r['added_cpu_p95_ms_ordinary']:.2f} ms"
            )
    finally:
        encoder.head = original
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"set": args.set, "steps": found}, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
