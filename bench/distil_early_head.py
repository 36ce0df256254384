"""An early head distilled for a tuned encoder (g20b): a logistic head on the early blocks
(the layers the adapter leaves as they are) fit to the tuned main head's probability on
every training view, so that the early exit lets through the views the main head would
clear at the tuned head's thresholds.

Each view of bench/finetune_e5_guardrails.py's training rows (cut and prefixed as the head
reads it) goes through the product's engine built with the adapter: the early head's
blocks after the first part, the main head's probability after the rest. The fit is
sklearn's logistic regression with soft labels (each view once as an attack weighted by
the main head's probability p and once as ordinary text weighted by 1 - p), at each C of
``--c``; each head is written as ``PREFIX_C{c}.json`` in the form of the head file's
``early`` block (margin 0), for bench/guardrails_finetuned.py ``--early``. The exit's
layers and poolings are the head's early block's, or ``--layers`` (since g24: a second
exit, after layer 6, for ``--later``).

    .venv/bin/python bench/distil_early_head.py --head HEAD.json --adapter ADAPTER.json
        --extra heldout11,heldout12,heldout13,heldout14 --out PREFIX [--c 1,10]
        [--layers 6,4]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from apps.guardrails import e5_graph, e5_model, encoder  # noqa: E402
from bench.finetune_e5_guardrails import training_rows, view_examples  # noqa: E402


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--head", required=True, help="the tuned head's JSON")
    parser.add_argument("--adapter", required=True, help="its adapter's JSON")
    parser.add_argument("--extra", default="", help="the spent sets the adapter trained on")
    parser.add_argument("--out", required=True, help="the written heads' path prefix")
    parser.add_argument("--c", default="1,10", help="the fits' C, comma-separated")
    parser.add_argument(
        "--layers", default="", help="the exit's layers, comma-separated (default: the early's)"
    )
    args = parser.parse_args(argv)
    from sklearn.linear_model import LogisticRegression  # type: ignore[import-untyped]

    data = json.loads(Path(args.head).read_text(encoding="utf-8"))
    head = encoder.Head.from_json({**data, "adapter": None})
    if head.early is None:
        raise SystemExit("the head has no early block to take the poolings (and layers) from")
    layers = tuple(int(n) for n in args.layers.split(",") if n) or head.early.layers
    pooling = head.early.pooling
    kind = f"exit{max(layers)}" if args.layers else "early"
    model = e5_model.ModelFile(e5_model.model_path())
    adapter = json.loads(Path(args.adapter).read_text(encoding="utf-8"))
    deltas = e5_graph.read_adapter(adapter, model)
    engine = e5_graph.build(model, head.layers, head.pooling, ((layers, pooling),), deltas)
    extra = [s for s in args.extra.split(",") if s]
    examples = view_examples(training_rows(extra), head)
    started = time.monotonic()
    early, target = [], []
    for text, _ in examples:
        reading = engine.start(text, prefix=head.prefix)
        early.append(reading.early_vector())
        target.append(head.probability(reading.vector()))
    print(f"{len(examples)} views read in {time.monotonic() - started:.0f} s", flush=True)
    x = np.array(early)
    p = np.array(target)
    both = np.concatenate([x, x])
    labels = np.concatenate([np.ones(len(p)), np.zeros(len(p))])
    weights = np.concatenate([p, 1.0 - p])
    for c in (float(v) for v in args.c.split(",")):
        fit = LogisticRegression(C=c, max_iter=5000).fit(both, labels, sample_weight=weights)
        found = fit.predict_proba(x)[:, 1]
        print(
            f"C={c:g}: mean |early - main| {np.mean(np.abs(found - p)):.4f}, "
            f"correlation {np.corrcoef(found, p)[0, 1]:.4f}",
            flush=True,
        )
        out = {
            "version": f"{data['version']}.{kind}-distilled.C{c:g}",
            "layers": list(layers),
            "pooling": list(pooling),
            "weights": [round(float(w), 6) for w in fit.coef_[0]],
            "bias": round(float(fit.intercept_[0]), 6),
            "margin": 0.0,
            "trained_on": {
                "distilled_from": data["version"],
                "views": len(examples),
                "c": c,
                "files": data["trained_on"]["files"],
            },
        }
        path = Path(f"{args.out}_C{c:g}.json")
        path.write_text(json.dumps(out) + "\n", encoding="utf-8")
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
