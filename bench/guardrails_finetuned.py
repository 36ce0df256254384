"""The operating point of a tuned encoder (g20: bench/finetune_e5_guardrails.py), chosen on
spent held-out sets: the n-gram model's share for English views, and the two thresholds of
the average, with the shipped early head at margin 0.

    .venv/bin/python bench/guardrails_finetuned.py --head HEAD.json --adapter ADAPTER.json
        [--head HEAD2.json --adapter ADAPTER2.json] [--sets heldout15,heldout16,heldout17]
        [--early EARLY.json ...] [--later LATER.json ...]
        [--fp-budget 0.015] [--p95 4.0] [--write [--version g23]] [--json FILE]

1. Every row of the sets goes through the detector's first stage; each view the encoder
   could read gets the tuned main head's probability and the early head's, from the
   product's engine built with the adapter (``e5_graph.build(..., adapter=...)``); since
   g24, with ``--later`` heads (on layers over the early heads', bench/distil_early_head.py
   ``--layers 6,4``), a second exit's too.
2. The grid: for each tuned encoder, each early head (and each later head), the n-gram
   share of English views in ``SHARES_EN`` (the other views' stays the shipped 0.3), each
   threshold in ``THRESHOLDS``. Verdicts
   come from the product's own second stage on the cached probabilities
   (``bench/guardrails_cascade.py``'s ``rates``).
3. The ranking: pooled false positives within ``--fp-budget`` and ordinary texts past
   every exit within ``--past-exit``, by pooled detection (ties: the higher thresholds).
4. The walk: down the ranking, the product runs the candidate over the sets' rows
   together; the pick is the first whose ordinary texts' added CPU p95 is within
   ``--p95`` ms.

The shipped detector is scored on the same sets beside it. With ``--write`` the pick's
head and adapter are written to apps/guardrails/data (injection_e5_head.json and
injection_e5_adapter.json), named by ``--version`` (the head ``<date>.<name>.e5.lora<rank>.
w<share>``, the adapter ``<name>.lora...`` and a distilled early head after the head).
Only spent sets may choose (bench/data/README.md).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import functools
import itertools
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from apps.guardrails import e5_graph, e5_model, encoder  # noqa: E402
from bench import guardrails as bench  # noqa: E402  (sets Django up for the checks)
from bench.guardrails_cascade import View, pooled, rates, read_views  # noqa: E402

SHARES_EN = (0.8, 0.6, 0.4)
THRESHOLDS = tuple(round(0.3 + 0.0125 * i, 4) for i in range(53))  # 0.30 to 0.95
SETS = "heldout15,heldout16,heldout17"
ADAPTER_NAME = "injection_e5_adapter.json"


def engine_for(head: encoder.Head, adapter: dict[str, Any] | None) -> e5_graph.Engine:
    """The product's engine for ``head`` with ``adapter`` (its JSON), or without one the
    adapter the head itself names (since g20c the shipped head names one)."""
    model = e5_model.ModelFile(e5_model.model_path())
    deltas = e5_graph.read_adapter(adapter, model) if adapter else encoder.adapter(head, model)
    return e5_graph.build(model, head.layers, head.pooling, encoder.exits(head), deltas)


def probabilities(
    sets: dict[str, list[dict[str, Any]]],
    head: encoder.Head,
    engine: e5_graph.Engine,
    early: list[encoder.EarlyHead],
    later: list[encoder.EarlyHead] | None = None,
) -> tuple[dict[str, list[Any]], dict[str, View]]:
    """Each row's first stage, and each view's main, early and later heads' probabilities
    (the early heads read the engine's first exit's blocks, the later its second's)."""

    def read(cut: str) -> View:
        reading = engine.start(cut, prefix=head.prefix)
        blocks = reading.early_vector()
        found = View(head.probability(reading.vector()), [e.probability(blocks) for e in early])
        if later:
            second = reading.exit_vector(1)
            found.later = [e.probability(second) for e in later]
        return found

    return read_views(sets, head, read)


def summary(per_set: dict[str, dict[str, float]]) -> dict[str, Any]:
    return {
        "detection": pooled(per_set, "detection", "attacks"),
        "false_positive_rate": pooled(per_set, "false_positive_rate", "ordinary"),
        "past_exit_ordinary": pooled(per_set, "past_exit_ordinary", "ordinary"),
        "past_first_exit_ordinary": pooled(per_set, "past_first_exit_ordinary", "ordinary"),
        "sets": per_set,
    }


def cost(rows: list[dict[str, Any]], head: encoder.Head, engine: e5_graph.Engine) -> float:
    """The ordinary texts' added CPU p95 (ms) of the product with this head and engine."""
    saved = encoder.head, encoder._load
    encoder.head = lambda: head  # type: ignore[assignment]
    encoder._load = functools.cache(lambda: engine)
    try:
        found: float = bench.latency(rows, 1)["added_cpu_p95_ms_ordinary"]
        return found
    finally:
        encoder.head, encoder._load = saved


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--head", action="append", required=True, help="a tuned head's JSON")
    parser.add_argument("--adapter", action="append", required=True, help="its adapter's JSON")
    parser.add_argument(
        "--early",
        action="append",
        default=[],
        help="an early head's JSON, read on the shipped early head's blocks (default: that head)",
    )
    parser.add_argument(
        "--later",
        action="append",
        default=[],
        help="a second exit's head's JSON (since g24), on layers over the early heads'",
    )
    parser.add_argument("--sets", default=SETS, help="spent held-out sets, comma-separated")
    parser.add_argument("--fp-budget", type=float, default=0.015)
    parser.add_argument("--p95", type=float, default=4.0, help="ms, the pooled ordinary p95")
    parser.add_argument(
        "--past-exit",
        type=float,
        default=0.05,
        help="the most ordinary texts past the exit a walked candidate may send (g20b: 5%%)",
    )
    parser.add_argument("--write", action="store_true", help="write the pick as the head")
    parser.add_argument("--version", default="", help="with --write: the detector's name (g23)")
    parser.add_argument(
        "--walk-from", type=int, default=0, help="the rank to start the walk at (0: the top)"
    )
    parser.add_argument(
        "--json", default=str(ROOT / "bench" / "results" / "guardrails_finetuned.json")
    )
    args = parser.parse_args(argv)
    if len(args.head) != len(args.adapter):
        raise SystemExit("give one --adapter for each --head")
    if args.version and not args.write:
        raise SystemExit("--version names what --write writes: give both")
    sets = {s: bench.load(f"guardrails_injection_{s}.jsonl") for s in args.sets.split(",")}
    every_row = [row for rows in sets.values() for row in rows]
    shipped = encoder.head()
    assert shipped.early is not None
    base_engine = engine_for(shipped, None)
    # Since g24 the shipped head may have a second exit: its views read there too.
    shipped_later = [shipped.later] if shipped.later is not None else None
    firsts, base_views = probabilities(sets, shipped, base_engine, [shipped.early], shipped_later)
    baseline = summary(rates(sets, firsts, base_views, shipped, 0))
    print(
        f"shipped {shipped.version}: {baseline['detection']:.1%} / "
        f"{baseline['false_positive_rate']:.2%} pooled; "
        + ", ".join(
            f"{n} {r['detection']:.1%}/{r['false_positive_rate']:.2%}"
            for n, r in baseline["sets"].items()
        ),
        flush=True,
    )
    early_json = [json.loads(Path(p).read_text(encoding="utf-8")) for p in args.early]
    early_json = early_json or [shipped_early()]
    early = [encoder.EarlyHead.from_json({**e, "margin": 0.0}) for e in early_json]
    if any((e.layers, e.pooling) != (shipped.early.layers, shipped.early.pooling) for e in early):
        raise SystemExit("every early head must read the shipped early head's blocks")
    later_json = [json.loads(Path(p).read_text(encoding="utf-8")) for p in args.later]
    later = [encoder.EarlyHead.from_json({**e, "margin": 0.0}) for e in later_json]
    if any((e.layers, e.pooling) != (later[0].layers, later[0].pooling) for e in later):
        raise SystemExit("every later head must read the same blocks")
    tuned = []
    for head_path, adapter_path in zip(args.head, args.adapter, strict=True):
        data = json.loads(Path(head_path).read_text(encoding="utf-8"))
        adapter = json.loads(Path(adapter_path).read_text(encoding="utf-8"))
        exits = {"early": {**early_json[0], "margin": 0.0}}  # the engine's exits' layers
        exits |= {"later": {**later_json[0], "margin": 0.0}} if later_json else {}
        head = encoder.Head.from_json({**data, "adapter": ADAPTER_NAME, **exits})
        engine = engine_for(head, adapter)  # refuses a later head under the early heads' layers
        views = probabilities(sets, head, engine, early, later)[1]
        tuned.append((data, adapter, head, engine, views))
    grid: list[dict[str, Any]] = []
    seconds: list[int | None] = list(range(len(later))) or [None]
    points = itertools.product(
        range(len(tuned)), range(len(early)), seconds, SHARES_EN, THRESHOLDS, THRESHOLDS
    )
    for index, exit_index, second, share, t_en, t_other in points:
        head, views = tuned[index][2], tuned[index][4]
        later_head = None if second is None else later[second]
        found = candidate(head, early[exit_index], share, t_en, t_other, later_head)
        row = summary(rates(sets, firsts, views, found, exit_index, second or 0))
        row |= {"index": index, "early": exit_index, "later": second}
        grid.append(row | {"share": share, "t_en": t_en, "t_other": t_other})
    ranked = sorted(
        (
            r
            for r in grid
            if r["false_positive_rate"] <= args.fp_budget
            and r["past_exit_ordinary"] <= args.past_exit
        ),
        key=lambda r: (-r["detection"], -(r["t_en"] + r["t_other"])),
    )
    print(
        "rank | head | early | later | share | t_en | t_other | detection | false positives | "
        "past first | past all | p95 ms"
    )
    pick: dict[str, Any] | None = None
    for rank, row in enumerate(ranked):
        if rank < args.walk_from:
            continue
        data, adapter, head, engine, _ = tuned[row["index"]]
        second = None if row["later"] is None else later[row["later"]]
        found = candidate(
            head, early[row["early"]], row["share"], row["t_en"], row["t_other"], second
        )
        row["p95"] = cost(every_row, found, engine)
        passed = row["p95"] <= args.p95
        print(
            f"{rank} | {args.head[row['index']]} | {row['early']} | {row['later']} | "
            f"{row['share']} | {row['t_en']} | {row['t_other']} | {row['detection']:.1%} | "
            f"{row['false_positive_rate']:.2%} | {row['past_first_exit_ordinary']:.1%} | "
            f"{row['past_exit_ordinary']:.1%} | {row['p95']:.2f}"
            + " ".join(
                f" {n} {r['detection']:.1%}/{r['false_positive_rate']:.2%}"
                for n, r in row["sets"].items()
            )
            + (" PICK" if passed else ""),
            flush=True,
        )
        if passed:
            pick = row
            break
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps({"baseline": baseline, "pick": pick, "ranked": ranked[:50], "grid": grid}) + "\n"
    )
    print(f"wrote {out}")
    if pick is None:
        raise SystemExit("no candidate is within the cost")
    if args.write:
        data, adapter = tuned[pick["index"]][:2]
        heads = [early_json[pick["early"]]]
        heads += [] if pick["later"] is None else [later_json[pick["later"]]]
        if args.version:
            data, adapter, heads = versioned(data, adapter, heads, args.version, pick)
        write(data, adapter, heads, pick)


def shipped_early() -> dict[str, Any]:
    """The shipped head's early block (g18's early head, margin 0)."""
    found: dict[str, Any] = json.loads(encoder.HEAD_PATH.read_text(encoding="utf-8"))["early"]
    return found


def candidate(
    head: encoder.Head,
    early: encoder.EarlyHead,
    share: float,
    t_en: float,
    t_other: float,
    later: encoder.EarlyHead | None = None,
) -> encoder.Head:
    """``head`` at this English share and these thresholds, with ``early`` (and ``later``,
    a second exit) at margin 0."""
    return dataclasses.replace(
        head, ngram_share=share, threshold=t_en, threshold_other=t_other, early=early, later=later
    )


def versioned(
    data: dict[str, Any],
    adapter: dict[str, Any],
    exits: list[dict[str, Any]],
    name: str,
    pick: dict[str, Any],
    today: datetime.date | None = None,
) -> tuple[dict[str, Any], dict[str, Any], list[dict[str, Any]]]:
    """Copies of the pick's head, adapter and exit heads named as the detector ``name``:
    the head ``<date>.<name>.e5.lora<rank>.w<share>``; the adapter the trainer's name with
    ``name`` first; an exit head distilled from the tuned head (bench/distil_early_head.py
    names it after that head) named after and distilled from the new name."""
    head_version = f"{(today or datetime.datetime.now(datetime.UTC).date()).isoformat()}.{name}.e5"
    head = {**data, "version": f"{head_version}.lora{adapter['rank']}.w{pick['share']:g}"}
    named_adapter = {**adapter, "version": f"{name}.{adapter['version'].partition('.')[2]}"}
    named_exits = []
    for found in exits:
        named = dict(found)
        source = found.get("trained_on", {}).get("distilled_from")
        if source == data["version"] and found["version"].startswith(source):
            named["version"] = head_version + found["version"].removeprefix(source)
            named["trained_on"] = {**found["trained_on"], "distilled_from": head["version"]}
        named_exits.append(named)
    return head, named_adapter, named_exits


def write(
    data: dict[str, Any],
    adapter: dict[str, Any],
    exits: list[dict[str, Any]],
    pick: dict[str, Any],
) -> None:
    """The pick's head (with its exits, "early" and since g24 "later", at margin 0) and
    adapter, in apps/guardrails/data."""
    head = {k: v for k, v in data.items() if k not in ("early", "later")}
    head |= {
        "ngram_share": pick["share"],
        "threshold": pick["t_en"],
        "threshold_other": pick["t_other"],
        "adapter": ADAPTER_NAME,
    }
    head |= {
        key: {**found, "margin": 0.0}
        for key, found in zip(("early", "later")[: len(exits)], exits, strict=True)
    }
    folder = encoder.HEAD_PATH.parent
    compact = (",", ":")  # as bench/guardrails_cascade.py writes the head
    adapter_text = json.dumps(adapter, separators=compact)
    (folder / ADAPTER_NAME).write_text(adapter_text + "\n", encoding="utf-8")
    encoder.HEAD_PATH.write_text(json.dumps(head, separators=compact) + "\n", encoding="utf-8")
    print(f"wrote {encoder.HEAD_PATH} and {folder / ADAPTER_NAME}")


if __name__ == "__main__":
    main()
