"""Train the prompt-injection classifier on the development data.

Writes apps/guardrails/data/injection_model.json: hashed-feature logistic-regression
weights (plain JSON, no pickle), the decision threshold and what they were trained on.

Development data (TRAINING_SETS): every labelled injection set of bench/data except the
held-out set still unread (guardrails_injection_heldout11.jsonl is never opened here):
both halves of guardrails_injection.jsonl, the spent fresh, held-out 2, 3, 4, 5, 6, 7, 8,
9 and 10 sets, and the development rows of guardrails_injection_more.jsonl, _train3.jsonl,
_train4.jsonl, _train5.jsonl, _train6.jsonl, _train7a.jsonl, _train7b.jsonl, _train8a.jsonl,
_train8b.jsonl, _train8c.jsonl, _train9a.jsonl, _train9b.jsonl, _train10a.jsonl,
_train10b.jsonl, _train10c.jsonl, _train11a.jsonl,
_train11b.jsonl and _train11c.jsonl. Ordinary short questions
(QUESTION_SETS: the questions of the semantic cache's dev2 pair set, never used to measure
this detector) are added as more ordinary rows, so the classifier learns that "Do you store
our prompts?" is not an attack.

How: by-source cross-validation. Each file was written by other hands, and random folds
over rows put the same writer's phrasing on both sides (g4: 92.5% out of fold, 74.5% on
the next writer's held-out set), so each source file is scored by a model trained on
every other file. A text is flagged when a rule matches OR that probability reaches the
threshold; the threshold is the lowest that keeps the by-source false positives on the
ordinary rows of the injection sets (the hard ones: tickets and emails about passwords,
prompts, roles) within FP_BUDGET; C (and, on the command line, the features) for the best
by-source detection at that budget. Grouped 5-fold figures (the variants of one example in
one fold) are printed beside them, for comparison with earlier versions. The final model
is fitted on everything (scikit-learn, here only: the product reads the JSON). Prints the
by-source detection and false-positive rates overall, by kind, language and set: the
figures docs/guardrails-model-card.md quotes.

    .venv/bin/python bench/train_guardrails.py [--dry-run] [--no-kfold] [--show-errors]
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
import json  # noqa: E402
from collections import Counter, defaultdict  # noqa: E402
from datetime import UTC, datetime  # noqa: E402
from typing import Any  # noqa: E402

from apps.guardrails.classifier import INTENT_VALUE, MODEL_PATH, features  # noqa: E402
from apps.guardrails.injection import rule_match, views  # noqa: E402
from apps.guardrails.injection_rules import FEATURE_ONLY, RULES_VERSION  # noqa: E402
from apps.guardrails.intents import INTENTS_VERSION  # noqa: E402

DATA = ROOT / "bench" / "data"
TRAINING_SETS = (
    "guardrails_injection.jsonl",
    "guardrails_injection_fresh.jsonl",
    "guardrails_injection_more.jsonl",
    "guardrails_injection_heldout2.jsonl",
    "guardrails_injection_train3.jsonl",
    "guardrails_injection_heldout3.jsonl",
    "guardrails_injection_train4.jsonl",
    "guardrails_injection_heldout4.jsonl",
    "guardrails_injection_train5.jsonl",
    "guardrails_injection_heldout5.jsonl",
    "guardrails_injection_train6.jsonl",
    "guardrails_injection_heldout6.jsonl",
    "guardrails_injection_train7a.jsonl",
    "guardrails_injection_train7b.jsonl",
    "guardrails_injection_heldout7.jsonl",
    "guardrails_injection_train8a.jsonl",
    "guardrails_injection_train8b.jsonl",
    "guardrails_injection_train8c.jsonl",
    "guardrails_injection_heldout8.jsonl",
    "guardrails_injection_train9a.jsonl",
    "guardrails_injection_train9b.jsonl",
    "guardrails_injection_heldout9.jsonl",
    "guardrails_injection_train10a.jsonl",
    "guardrails_injection_train10b.jsonl",
    "guardrails_injection_train10c.jsonl",
    "guardrails_injection_heldout10.jsonl",
    "guardrails_injection_train11a.jsonl",
    "guardrails_injection_train11b.jsonl",
    "guardrails_injection_train11c.jsonl",
)
QUESTION_SETS = ("semantic_cache_pairs_dev2.jsonl",)
# The sources of the by-source cross-validation: each file was written by other hands.
SOURCES = TRAINING_SETS + QUESTION_SETS
BITS = 18
SUBLINEAR = True  # 1 + ln(count): a word repeated ten times is not ten times the evidence
INTENTS = True  # the signs of intent of apps/guardrails/intents.py, alone and in pairs
# Since g9 every injection rule's hit is a feature too (apps/guardrails/classifier.py);
# the rules that still flag alone are those not in injection_rules.FEATURE_ONLY.
RULE_FEATURES = True
WORDS = True  # word unigrams and bigrams
CHARS = (3, 4, 5)  # character n-gram lengths
C_GRID = (10.0, 30.0, 100.0)
# g11: rows of the languages with few rows count for more (language_weights).
LANG_WEIGHT = "none"
FOLDS = 5
# Out-of-fold false positives allowed on the ordinary rows of the injection sets: well
# under the product's 2% target, a margin for unseen text being harder than these rows
# (held-out 2 measured 3.5% where the cross-validation of its detector said 0.8%).
KFOLD_FP_BUDGET = 0.0075
# The shipped threshold: the lowest that keeps the BY-SOURCE false positives (each file
# scored by a model trained without it) on the ordinary rows of the injection sets within
# this, so that a new writer's ordinary text lands under the product's 2% target (g7
# shipped at 1.25% and held-out 6 measured 1.9%; round 8 compared candidates at 1.5%,
# where three of the seven newest writers' files went over 2% by source, and g8 shipped
# at 1.25% again; held-out 7 then measured 4.2% on g8. g9 ships at 1.0%: at 1.25% two of
# the six newest writers' files go over 2% by source, at 1.0% none passes 1.6%; held-out 8
# then measured 2.3% on g9. g10 stays at 1.0%: at 1.25% train9a goes to 2.4% by source).
FP_BUDGET = 0.01


def read_set(name: str) -> list[dict[str, Any]]:
    """The rows of one labelled injection file in bench/data; a row without a group is its
    own group."""
    lines = (DATA / name).read_text(encoding="utf-8").splitlines()
    return [
        {**row, "group": f"{name}:{row.get('group', row['id'])}", "set": name, "hard": True}
        for row in map(json.loads, filter(None, lines))
    ]


def load() -> list[dict[str, Any]]:
    """Every development row; a row without a group is its own group."""
    rows = [row for name in TRAINING_SETS for row in read_set(name)]
    for name in QUESTION_SETS:
        lines = (DATA / name).read_text(encoding="utf-8").splitlines()
        seen: set[str] = set()
        for pair in map(json.loads, filter(None, lines)):
            for key in ("cached", "new"):
                if pair[key] not in seen:
                    seen.add(pair[key])
                    rows.append(
                        {
                            "text": pair[key],
                            "label": 0,
                            "category": "benign",
                            "lang": "",
                            "group": f"{name}:{pair['id']}",
                            "set": name,
                            "hard": False,
                        }
                    )
    return rows


def language_weights(rows: list[dict[str, Any]], mode: str) -> Any:
    """Each row's weight in training: 1 (``none``), or (``isqrt``, g11) the inverse square
    root of its language's row count in the training sources, scaled to a mean of 1, so
    that a language with few rows counts for more than its rows alone (the short questions
    are English). The class balance is applied on top by the fit."""
    import numpy as np

    langs = [row.get("lang") or "en" for row in rows]
    if mode == "none":
        return np.ones(len(rows))
    if mode != "isqrt":
        raise ValueError(f"unknown language weighting {mode!r} (none or isqrt)")
    counts = Counter(langs)
    weights = np.array([counts[lang] ** -0.5 for lang in langs])
    return weights / weights.mean()


def matrix(
    texts: list[str],
    words: bool = WORDS,
    chars: tuple[int, ...] = CHARS,
    intent_value: float = INTENT_VALUE,
    with_rules: bool = RULE_FEATURES,
) -> Any:
    from scipy.sparse import csr_matrix  # type: ignore[import-untyped]

    data: list[float] = []
    cols: list[int] = []
    indptr = [0]
    for text in texts:
        for col, value in features(
            text,
            BITS,
            sublinear=SUBLINEAR,
            with_intents=INTENTS,
            words=words,
            chars=chars,
            intent_value=intent_value,
            with_rules=with_rules,
        ).items():
            cols.append(col)
            data.append(value)
        indptr.append(len(cols))
    return csr_matrix((data, cols, indptr), shape=(len(texts), 1 << BITS))


def out_of_fold(
    x: Any, labels: Any, owner: Any, splits: Any, c: float, rows: int, weights: Any
) -> Any:
    """Each row's highest probability over its views, from models that did not see it."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression  # type: ignore[import-untyped]

    oof = np.zeros(rows)
    for train_idx, val_idx in splits:
        model = LogisticRegression(C=c, max_iter=5000, class_weight="balanced")
        model.fit(x[train_idx], labels[train_idx], sample_weight=weights[train_idx])
        for i, p in zip(owner[val_idx], model.predict_proba(x[val_idx])[:, 1], strict=True):
            oof[i] = max(oof[i], p)
    return oof


def by_source(view_sets: list[str], sources: tuple[str, ...] = SOURCES) -> list[tuple[Any, Any]]:
    """Leave one source file out: train on every other file, score the one left out. A
    writer's phrasing is in one file, so this is the forecast for a new writer's text."""
    import numpy as np

    sets = np.array(view_sets)
    splits = [(np.flatnonzero(sets != name), np.flatnonzero(sets == name)) for name in sources]
    return [(train, held) for train, held in splits if len(held)]


def threshold_for(
    probs: list[float], labels: list[int], ruled: list[bool], budget: float = FP_BUDGET
) -> float:
    """The lowest threshold whose combined false-positive rate stays within ``budget``."""
    negatives = [p for p, y, r in zip(probs, labels, ruled, strict=True) if y == 0 and not r]
    total = sum(1 for y in labels if y == 0)
    ruled_fp = sum(1 for y, r in zip(labels, ruled, strict=True) if y == 0 and r)
    allowed = int(budget * total) - ruled_fp
    ranked = sorted(negatives, reverse=True)
    if allowed < 0:
        return 1.0
    # Flag at >= threshold: just above the (allowed+1)-th highest negative.
    return min(1.0, ranked[allowed] + 1e-6) if allowed < len(ranked) else 0.5


def report(rows: list[dict[str, Any]], flagged: list[bool]) -> dict[str, float]:
    """Detection by kind and set, false positives by set, of out-of-fold decisions."""
    by: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for row, hit in zip(rows, flagged, strict=True):
        if row["label"]:
            keys = ["detection", f"kind:{row['category']}", f"set:{row['set']}"]
            keys.append(f"lang:{row.get('lang') or '?'}")
            if "encoding" in row:
                keys.append(f"encoding:{row['encoding']}")
        else:
            keys = [f"fpr:{row['set']}"] + (["fpr"] if row["hard"] else [])
        for key in keys:
            by[key][0] += hit
            by[key][1] += 1
    return {key: round(a / b, 4) for key, (a, b) in sorted(by.items())}


def main() -> None:
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GroupKFold  # type: ignore[import-untyped]

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dry-run", action="store_true", help="print, do not write the JSON")
    parser.add_argument(
        "--fp-budget",
        type=float,
        default=FP_BUDGET,
        help="by-source false positives allowed on the ordinary rows of the injection sets",
    )
    parser.add_argument(
        "--show-errors", action="store_true", help="print the by-source errors of the chosen C"
    )
    parser.add_argument("--c", type=float, action="append", help="try only these C values")
    parser.add_argument("--no-kfold", action="store_true", help="skip the random k-fold figures")
    parser.add_argument(
        "--view-oof",
        help="each view's by-source probability at the one --c, saved by bench/e5_guardrails.py "
        "(its n-gram baseline, C=30), instead of fitting the by-source models again",
    )
    parser.add_argument("--no-words", action="store_true", help="no word n-grams")
    parser.add_argument(
        "--no-rule-features", action="store_true", help="rule hits are not features (g8)"
    )
    parser.add_argument(
        "--lang-weight",
        choices=("none", "isqrt"),
        default=LANG_WEIGHT,
        help="weigh each row by its language (language_weights; g11: isqrt)",
    )
    parser.add_argument(
        "--chars", default=",".join(map(str, CHARS)), help="character n-gram lengths, e.g. 3,4,5"
    )
    parser.add_argument(
        "--intent-value", type=float, default=INTENT_VALUE, help="value of a sign of intent"
    )
    args = parser.parse_args()

    rows = load()
    # As the detector reads a text (apps/guardrails/injection.py): the normalised text and
    # each decoded run or respelling of it. Every view is a training example with its
    # row's label and group; a row is flagged when a rule matches any of its views or the
    # highest probability of its views reaches the threshold.
    row_views = [[view for view, _ in views(row["text"])] for row in rows]
    owner = np.array([i for i, vs in enumerate(row_views) for _ in vs])
    texts = [view for vs in row_views for view in vs]
    labels = np.array([row["label"] for row in rows])
    groups = [row["group"] for row in rows]
    hard = np.array([row["hard"] for row in rows])
    ruled = [any(rule_match(view) is not None for view in vs) for vs in row_views]
    words, chars = not args.no_words, tuple(int(n) for n in args.chars.split(","))
    with_rules = not args.no_rule_features
    x = matrix(texts, words, chars, args.intent_value, with_rules)
    view_labels, view_groups = labels[owner], [groups[i] for i in owner]
    view_weights = language_weights(rows, args.lang_weight)[owner]
    view_sets = [rows[i]["set"] for i in owner]
    scored = [i for i in range(len(rows)) if hard[i]]

    def decide(oof: Any, budget: float) -> tuple[float, dict[str, float], list[bool]]:
        threshold = threshold_for(
            [oof[i] for i in scored],
            [int(labels[i]) for i in scored],
            [ruled[i] for i in scored],
            budget,
        )
        flagged = [r or bool(p >= threshold) for r, p in zip(ruled, oof, strict=True)]
        return threshold, report(rows, flagged), flagged

    best: tuple[float, float, float, dict[str, float], list[bool]] | None = None
    for c in args.c or C_GRID:
        line = f"C={c:<5}"
        if not args.no_kfold:
            folds = GroupKFold(n_splits=FOLDS).split(x, view_labels, view_groups)
            kfold = out_of_fold(x, view_labels, owner, folds, c, len(rows), view_weights)
            t, k_rates, _ = decide(kfold, KFOLD_FP_BUDGET)
            line += (
                f" k-fold: threshold={t:.3f} detection={k_rates['detection']:.3f}"
                f" fpr={k_rates['fpr']:.3f};"
            )
        if args.view_oof:
            # Each view's by-source probability at this C, as bench/e5_guardrails.py
            # saves it (the same folds): the row's score is its highest view's.
            saved = np.load(args.view_oof)
            assert len(saved) == len(texts), "the saved scores are for other data"
            oof = np.zeros(len(rows))
            np.maximum.at(oof, owner, saved)
        else:
            splits = by_source(view_sets)
            oof = out_of_fold(x, view_labels, owner, splits, c, len(rows), view_weights)
        threshold, rates, flagged = decide(oof, args.fp_budget)
        print(
            f"{line} by source: threshold={threshold:.3f} detection={rates['detection']:.3f} "
            f"fpr={rates['fpr']:.3f}",
            flush=True,
        )
        if best is None or rates["detection"] > best[0]:
            best = (rates["detection"], c, threshold, rates, flagged)
    assert best is not None
    _, c, threshold, rates, flagged = best
    print(f"by source, C={c}, threshold {threshold:.3f} (each file scored by a model without it):")
    for key, value in rates.items():
        print(f"  {key:<55} {value:.3f}")
    if args.show_errors:
        for row, hit in zip(rows, flagged, strict=True):
            if bool(row["label"]) != hit:
                kind = "missed" if row["label"] else "false positive"
                text = " ".join(row["text"].split())[:160]
                print(f"  {kind} {row['set']} {row.get('id', '')}: {text}")
    model = LogisticRegression(C=c, max_iter=5000, class_weight="balanced")
    model.fit(x, view_labels, sample_weight=view_weights)
    coef = model.coef_[0]
    weights = {str(i): round(float(coef[i]), 4) for i in np.flatnonzero(np.abs(coef) >= 5e-4)}
    out = {
        "version": datetime.now(UTC).strftime("%Y-%m-%d") + f".g12.C{c}",
        "bits": BITS,
        "sublinear": SUBLINEAR,
        "words": words,
        "chars": list(chars),
        "intent_value": args.intent_value,
        **({"intents": INTENTS_VERSION} if INTENTS else {}),
        **(
            {"rules": RULES_VERSION, "feature_only_rules": sorted(FEATURE_ONLY)}
            if with_rules
            else {}
        ),
        "bias": round(float(model.intercept_[0]), 6),
        "threshold": round(threshold, 6),
        "weights": weights,
        "trained_on": {
            "files": [str((DATA / n).relative_to(ROOT)) for n in TRAINING_SETS + QUESTION_SETS],
            "rows": len(rows),
            "injections": int(labels.sum()),
            "benign": int((labels == 0).sum()),
            "c": c,
            "language_weights": args.lang_weight,
            "fp_budget": args.fp_budget,
            "cv_by_source": rates,
        },
    }
    print(f"chose C={c} threshold={threshold:.3f}; {len(weights)} weights")
    if not args.dry_run:
        MODEL_PATH.parent.mkdir(parents=True, exist_ok=True)
        MODEL_PATH.write_text(json.dumps(out, separators=(",", ":")) + "\n", encoding="utf-8")
        print(f"wrote {MODEL_PATH.relative_to(ROOT)} ({MODEL_PATH.stat().st_size // 1024} KiB)")


if __name__ == "__main__":
    main()
