"""Experiment (g9): the injection rules under the by-source budget the models answer to.

The rules (apps/guardrails/injection_rules.py) were written by earlier sessions reading
the early data files, so their hits on those files say little about a new writer's text.
This scores each rule per source file: its hits on ordinary rows and on attacks, and the
attacks only it catches that the by-source models (each file scored by models trained
without it: the n-gram model of bench/train_guardrails.py, C=30, and the e5 head of
bench/e5_guardrails.py, C=10, averaged 0.7 / 0.3 as the detector does; a view whose
n-gram probability reaches SURE flags alone) miss. A rule's count on a file that could
be read only after the rule last changed is the honest one: the rule's history comes
from ``git log`` of the rules file, each file's date from READABLE below.

Then the candidates, each judged by source at the false-positive budgets of BUDGETS with
the rule hits counted as the detector counts them (a rule's hit on an ordinary row is a
false positive that the threshold's budget pays for):

- ``a``: every rule a verdict, the n-gram model without rule features (g8's recipe);
- ``b``: every rule a feature of the n-gram model, and a verdict only if it has no
  ordinary hit on any file readable after it last changed;
- ``c S``: a rule stays a verdict if its honest ordinary hits are at most S of the honest
  ordinary rows (a share of the budget); the others are features (``c S feat``) or go
  (``c S drop``: the g8 model, the rule neither flags nor is weighed).

    .venv/bin/python bench/rules_by_source.py [--part base|rules|e5] [--cache-dir /tmp]

``--part`` computes one of the three by-source score sets and stops (to run them side by
side); the scores are kept in ``--cache-dir`` for the next run on the same views.
``--late FILE`` scores that file with one model trained on all the others (every late
file left out together: one fit instead of a fold per file, for files merged last).

g10's candidates (``--intents-before 3 --no-base``): (a) g9's recipe (its features-only
rules, the n-gram model with signs of intent 3), (b) (a) with g10's demoted rules
(``injection_rules.DEMOTED``) features only, (c) (b) with this tree's signs of intent; the
scores of the older signs come from the cache of a ``--part rules`` run made while they
were in the tree. ``--files`` prints every file's rates at each budget.

g11's candidates (``--no-base``, the default candidates): "g10 verdicts" (g10's demotions
only) and the shipped FEATURE_ONLY; with ``--share-other W`` the same with the n-gram share
W on the views apps/guardrails/language.py does not read as English (the e5 head's say
there 1 - W); with ``--lang-weight isqrt`` both models trained with each row weighted by
its language (``--part rules|e5 --lang-weight isqrt`` computes those scores). ``--langs``
prints detection on English and other attacks per newest file and the share of rows that
reach the encoder.

g12's candidates (``--g12``, with the three newest files in NEWEST): (a) the shipped
recipe (g11's shares, FEATURE_ONLY with g12's demotions); (b) ``--split``: the views not
read as English with a threshold of the average of their own, chosen at the budget on the
rows not read as English; (d) ``--share-other W`` / ``--share-english W``, alone and with
(b); (c) ``--sure-at S`` and ``--head-max Q`` (a view reaches the encoder only where the
average could reach the threshold with the head at Q), stacked on the candidate
``--stack-english`` / ``--stack-split`` name. Each prints pooled and newest-seven rates,
per newest file, and the share of rows (and of ``--cost-file``'s, held-out 10's) reaching
the encoder; ``--files``, ``--langs`` (en, da, fr, de, the rest) and ``--detail`` (kinds)
add the rest.
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
import hashlib  # noqa: E402
import re  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
from collections import Counter  # noqa: E402
from collections.abc import Callable  # noqa: E402
from dataclasses import dataclass, replace  # noqa: E402
from datetime import UTC, datetime  # noqa: E402
from functools import cache  # noqa: E402
from typing import Any  # noqa: E402

from apps.guardrails.injection import views  # noqa: E402
from apps.guardrails.injection_rules import (  # noqa: E402
    FEATURE_ONLY,
    RULES,
    RULES_VERSION,
    demoted_before,
    rule_hits,
)
from apps.guardrails.intents import INTENTS_VERSION  # noqa: E402
from apps.guardrails.language import is_english  # noqa: E402
from bench.e5_guardrails import MAX_CHARS, embed_all, per_view_oof  # noqa: E402
from bench.train_guardrails import (  # noqa: E402
    by_source,
    language_weights,
    load,
    matrix,
    threshold_for,
)

RULES_FILE = "apps/guardrails/injection_rules.py"
NGRAM_C, HEAD_C, NGRAM_SHARE = 30.0, 10.0, 0.7
NGRAM_SHARE_OTHER = 0.3  # g11: the n-gram share off English
SURE = 0.95  # g9: a view the n-gram model scores this or more flags without the encoder
BUDGETS = (0.0075, 0.01, 0.0125)
SHARES = (0.0, 0.0005, 0.001, 0.002)
# When a rule writer could first read each file (UTC): a development file from the
# commit that brought it to main; a held-out set from when it was scored and so spent
# (before that nobody working on the detector read it). Files merged after every rule
# change (train6 onwards) are honest for every rule.
READABLE = {
    "guardrails_injection.jsonl": "2026-12-04T12:19",
    "guardrails_injection_fresh.jsonl": "2026-12-04T15:55",
    "guardrails_injection_heldout2.jsonl": "2026-12-04T17:46",
    "guardrails_injection_more.jsonl": "2026-12-04T18:08",
    "semantic_cache_pairs_dev2.jsonl": "2026-12-04T18:20",
    "guardrails_injection_train3.jsonl": "2026-12-04T21:14",
    "guardrails_injection_heldout3.jsonl": "2026-12-04T21:35",
    "guardrails_injection_train4.jsonl": "2026-12-05T00:26",
    "guardrails_injection_heldout4.jsonl": "2026-12-05T00:40",
    "guardrails_injection_train5.jsonl": "2026-12-05T02:28",
    "guardrails_injection_heldout5.jsonl": "2026-12-05T03:30",
    "guardrails_injection_train6.jsonl": "2026-12-05T05:59",
    "guardrails_injection_heldout6.jsonl": "2026-12-05T06:55",
    "guardrails_injection_train7a.jsonl": "2026-12-05T08:54",
    "guardrails_injection_train7b.jsonl": "2026-12-05T08:54",
    "guardrails_injection_heldout7.jsonl": "2026-12-05T10:04",
    "guardrails_injection_train8a.jsonl": "2026-12-05T12:05",
    "guardrails_injection_train8b.jsonl": "2026-12-05T12:05",
    "guardrails_injection_train8c.jsonl": "2026-12-05T11:28",  # merged here before 11:39
    "guardrails_injection_heldout8.jsonl": "2026-12-05T12:29",  # scored once on g9
    "guardrails_injection_train9a.jsonl": "2026-12-05T14:30",
    "guardrails_injection_train9b.jsonl": "2026-12-05T14:30",
    "guardrails_injection_heldout9.jsonl": "2026-12-05T15:30",  # scored once on g10
    "guardrails_injection_train10a.jsonl": "2026-12-05T17:17",
    "guardrails_injection_train10b.jsonl": "2026-12-05T17:17",
    "guardrails_injection_train10c.jsonl": "2026-12-05T17:17",
    "guardrails_injection_heldout10.jsonl": "2026-12-05T17:52",  # scored once on g11
    "guardrails_injection_train11a.jsonl": "2026-12-05T19:46",
    "guardrails_injection_train11b.jsonl": "2026-12-05T19:46",
    "guardrails_injection_train11c.jsonl": "2026-12-05T19:39",
}
NEWEST = (
    "guardrails_injection_heldout10.jsonl",
    "guardrails_injection_train11a.jsonl",
    "guardrails_injection_train11b.jsonl",
    "guardrails_injection_train11c.jsonl",
    "guardrails_injection_train10a.jsonl",
    "guardrails_injection_train10b.jsonl",
    "guardrails_injection_train10c.jsonl",
)


# Without g10's and g11's demotions FEATURE_ONLY is g9's, for candidate (a) of
# --intents-before; without g11's it is g10's, for the "g10 verdicts" candidate.
G9_FEATURE_ONLY = demoted_before("g10")
G10_FEATURE_ONLY = demoted_before("g11")


def short(name: str) -> str:
    return name.removeprefix("guardrails_injection").removesuffix(".jsonl").strip("_") or "main"


def git(*arguments: str) -> str:
    git_path = shutil.which("git") or "git"
    found = subprocess.run(  # noqa: S603 - our own command, on this repository
        [git_path, *arguments], capture_output=True, text=True, check=True, cwd=ROOT
    )
    return found.stdout


def rule_history() -> dict[str, tuple[str, str]]:
    """Each rule's (first written, last changed) commit time, from the rules file's git
    history: a rule changed when its pattern, or a shared class it names, changed."""
    log = git("log", "--reverse", "--format=%H %cI", "--", RULES_FILE).split("\n")
    versions = []
    for line in filter(None, log):
        commit, when = line.split()
        versions.append((when, git("show", f"{commit}:{RULES_FILE}")))
    # The working tree's rules, uncommitted: changed now.
    now = datetime.now(UTC).isoformat(timespec="minutes")
    versions.append((now, (ROOT / RULES_FILE).read_text(encoding="utf-8")))
    seen: dict[str, tuple[str, str, str]] = {}  # name -> (first, last, signature)
    for when, source in versions:
        classes = dict(re.findall(r"^(_[A-Z_]+) = (.*?)(?=^\S)", source, re.M | re.S))
        start = source.index("\nRULES: ")  # the rules' tuple, not the names listed after
        source = source[start : source.index("\n)\n", start)]
        names = list(re.finditer(r'^\s*\(?\s*"([a-z]+\.[a-z0-9_]+)",', source, re.M))
        for here, after in zip(names, [*names[1:], None], strict=True):
            end = after.start() if after is not None else len(source)
            chunk = source[here.end() : end]
            used = sorted(c for c in classes if c in chunk)
            signature = chunk + "".join(classes[c] for c in used)
            name = here.group(1)
            first, last, before = seen.get(name, (when, when, signature))
            seen[name] = (first, when if before != signature else last, signature)
    return {name: (first[:16], last[:16]) for name, (first, last, _) in seen.items()}


def cached(path: Path, compute: Any) -> Any:
    import numpy as np

    if path.exists():
        return np.load(path)
    found = compute()
    np.save(path, found)
    return found


@dataclass(frozen=True)
class Candidate:
    """g12: one way to decide, judged by source: the n-gram share off English, the sure
    level, the head's probability that bounds the band (1: the whole band), and whether
    the views not read as English have their own threshold."""

    other: float = NGRAM_SHARE_OTHER
    english: float = NGRAM_SHARE
    sure: float = SURE
    head_max: float = 1.0
    split: bool = False


LANGS = ("en", "da", "fr", "de")


def g12_candidates(
    args: Any,
    rows: list[dict[str, Any]],
    row_views: list[list[str]],
    owner: Any,
    texts: list[str],
    labels: Any,
    hits: list[list[str]],
    hard: list[int],
    p: Any,
    q: Any,
    english: Any,
    names: list[str],
    q_cut: Any = None,
) -> None:
    """g12's candidates at each budget: pooled and newest-seven detection and false
    positives, per newest file, per file (``--files``), by language (en, da, fr, de, the
    rest) and kind (``--langs``, ``--detail``), and the share of rows reaching the encoder
    (all, ordinary, attacks; and of ``--cost-file``'s rows)."""
    import numpy as np

    verdicts = set(names) - FEATURE_ONLY
    ruled = np.array([bool(verdicts.intersection(h)) for h in hits])
    main_english = np.array([is_english(vs[0]) for vs in row_views])
    hard_rows = np.array(hard)
    newest = [s for s in NEWEST if any(row["set"] == s for row in rows)]
    sets = np.array([row["set"] for row in rows])
    langs = np.array([row.get("lang") or "en" for row in rows])
    kinds = np.array([str(row.get("category")) for row in rows])
    is_hard = np.zeros(len(rows), dtype=bool)
    is_hard[hard_rows] = True
    is_newest = np.isin(sets, newest)

    candidates = {"(a) g11's recipe": Candidate()}
    if args.split:
        candidates["(b) own threshold off English"] = Candidate(split=True)
    for other in args.share_other:
        candidates[f"(d) share {other:g} off English"] = Candidate(other=other)
        if args.split:
            candidates[f"(d) share {other:g} + (b)"] = Candidate(other=other, split=True)
    for share in args.share_english:
        candidates[f"(d) share {share:g} in English"] = Candidate(english=share)
        if args.split:
            candidates[f"(d) share {share:g} in English + (b)"] = Candidate(
                english=share, split=True
            )
    # The cost changes, on the candidate --stack-english / --stack-split names.
    chosen = Candidate(english=args.stack_english, split=args.stack_split)
    if chosen != Candidate():
        candidates["chosen"] = chosen
    for sure in args.sure_at:
        candidates[f"(c) sure {sure:g}"] = replace(chosen, sure=sure)
    for top in args.head_max:
        candidates[f"(c) band to head {top:g}"] = replace(chosen, head_max=top)
        for sure in args.sure_at:
            candidates[f"(c) sure {sure:g}, band {top:g}"] = replace(
                chosen, sure=sure, head_max=top
            )
    heads = dict.fromkeys(candidates, q)
    if q_cut is not None:
        candidates[f"(c) inputs cut to {args.max_chars}"] = chosen
        heads[f"(c) inputs cut to {args.max_chars}"] = q_cut

    def pct(flags: Any, picked: Any) -> str:
        return f"{100 * flags[picked].mean():.1f}" if picked.any() else "-"

    def rates(flags: Any, picked: Any, digits: int = 1) -> str:
        found = [flags[picked & (labels == label)] for label in (1, 0)]
        return " / ".join(f"{100 * f.mean():.{digits}f}" if len(f) else "-" for f in found)

    for budget in BUDGETS[:2]:
        print(f"\nbudget {budget:.2%}: pooled | newest | " + " | ".join(map(short, newest)))
        for name, c in candidates.items():
            q = heads[name]
            w = np.where(english, c.english, c.other)
            mixed = w * p + (1 - w) * q
            scores = np.zeros(len(rows))
            np.maximum.at(scores, owner, np.where(p >= c.sure, 1.0, mixed))

            def pick(keep: Any, scores: Any = scores, budget: float = budget) -> float:
                picked = hard_rows[keep[hard_rows]]
                return threshold_for(
                    scores[picked].tolist(),
                    [int(v) for v in labels[picked]],
                    ruled[picked].tolist(),
                    budget,
                )

            if c.split:
                t_en, t_other = pick(main_english), pick(~main_english)
            else:
                t_en = t_other = pick(np.ones(len(rows), dtype=bool))
            t_view = np.where(english, t_en, t_other)
            band = (p < c.sure) & (w * p + (1 - w) * c.head_max >= t_view)
            view_flags = (p >= c.sure) | (band & (mixed >= t_view))
            flags = ruled.copy()
            np.logical_or.at(flags, owner, view_flags)
            sure_rows = np.zeros(len(rows), dtype=bool)
            np.logical_or.at(sure_rows, owner, p >= c.sure)
            reach = np.zeros(len(rows), dtype=bool)
            np.logical_or.at(reach, owner, band)
            reach &= ~ruled & ~sure_rows
            per = [rates(flags, is_hard & (sets == s)) for s in newest]
            t = f"t={t_en:.3f}" + (f"/{t_other:.3f}" if c.split else "")
            print(
                f"  {name:<34} {t} {rates(flags, is_hard, 2)} | newest"
                f" {rates(flags, is_hard & is_newest, 2)} | " + " | ".join(per),
                flush=True,
            )
            cost = sets == args.cost_file
            shares = [
                f"{title} {pct(reach, keep & (labels == 1))} / {pct(reach, keep & (labels == 0))}"
                f" (all {pct(reach, keep)})"
                for title, keep in (("hard", is_hard), (short(args.cost_file), cost))
            ]
            print("      reach the encoder, attacks / ordinary: " + "; ".join(shares))
            if args.files:
                per_file = [
                    f"{short(s)} {pct(flags, is_hard & (sets == s) & (labels == 0))}"
                    for s in sorted(set(sets[hard_rows]))
                ]
                print("      false positives: " + ", ".join(per_file))
            if args.langs:
                for title, keep in (("pooled", is_hard), ("newest", is_hard & is_newest)):
                    groups = [(lang, langs == lang) for lang in LANGS]
                    groups.append(("rest", ~np.isin(langs, LANGS)))
                    found = [f"{lang} {pct(flags, keep & g & (labels == 1))}" for lang, g in groups]
                    print(f"      by language, {title}: " + ", ".join(found))
            if args.detail:
                for title, keep in (("pooled", is_hard), ("newest", is_hard & is_newest)):
                    found = [
                        f"{kind} {pct(flags, keep & (kinds == kind) & (labels == 1))}"
                        for kind in sorted(set(kinds[labels == 1]))
                    ]
                    print(f"      by kind, {title}: " + ", ".join(found))


def main() -> None:
    import numpy as np

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--part", choices=("base", "rules", "e5"))
    parser.add_argument("--cache-dir", default=tempfile.gettempdir())
    parser.add_argument(
        "--e5-cache", default=str(Path(tempfile.gettempdir()) / "guard10_e5_query.npz")
    )
    parser.add_argument(
        "--intents-before",
        metavar="VERSION",
        help="g10's candidates: (a) g9's recipe and (b) its demotions with the n-gram model "
        "of these signs of intent (scores cached by a --part rules run while they were in "
        "the tree), (c) the same with this tree's signs",
    )
    parser.add_argument(
        "--no-base",
        action="store_true",
        help="skip the n-gram model without rule features (g8's recipe): the per-rule table "
        "counts the attacks the rule-feature model misses",
    )
    parser.add_argument(
        "--lang-weight",
        choices=("none", "isqrt"),
        default="none",
        help="g11: weigh each row by its language in training (isqrt: the inverse square root "
        "of the language's row count); with --part, for the scores it computes; otherwise "
        "the weighted candidates join the unweighted ones",
    )
    parser.add_argument(
        "--share-other",
        type=float,
        action="append",
        default=[],
        metavar="W",
        help="g11: candidates whose average gives the n-gram model this share on the views "
        "apps/guardrails/language.py does not read as English (repeatable)",
    )
    parser.add_argument(
        "--langs", action="store_true", help="detection on English and other attacks per file"
    )
    parser.add_argument(
        "--g12",
        action="store_true",
        help="g12's candidates only: (a) the shipped recipe, (b) with --split, (c) with "
        "--sure-at and --head-max, (d) with --share-other and --share-english",
    )
    parser.add_argument(
        "--share-english",
        type=float,
        action="append",
        default=[],
        metavar="W",
        help="g12 (d): the candidate with this n-gram share on the views read as English",
    )
    parser.add_argument(
        "--stack-english",
        type=float,
        default=NGRAM_SHARE,
        help="g12 (c): the cost changes stack on the candidate with this share in English",
    )
    parser.add_argument(
        "--max-chars",
        type=int,
        default=MAX_CHARS,
        help="g12 (c): the stacked candidate with the e5 head on views cut to this length",
    )
    parser.add_argument(
        "--stack-split", action="store_true", help="g12 (c): ... and its own threshold off English"
    )
    parser.add_argument(
        "--split",
        action="store_true",
        help="g12 (b): a separate threshold of the average for the views language.py does not "
        "read as English, chosen on the rows it does not read as English at the same budget",
    )
    parser.add_argument(
        "--sure-at",
        type=float,
        action="append",
        default=[],
        metavar="S",
        help="g12 (c): the candidate with this sure level (repeatable)",
    )
    parser.add_argument(
        "--head-max",
        type=float,
        action="append",
        default=[],
        metavar="Q",
        help="g12 (c): a view reaches the encoder only where the average could reach the "
        "threshold with the head at Q (a narrower band; repeatable)",
    )
    parser.add_argument(
        "--cost-file",
        default="guardrails_injection_heldout10.jsonl",
        help="g12: the file whose rows' share reaching the encoder is the cost",
    )
    parser.add_argument("--show", action="store_true", help="print the rules each candidate drops")
    parser.add_argument(
        "--sure", type=float, default=SURE, help="the n-gram level that flags alone (2: never)"
    )
    parser.add_argument("--detail", action="store_true", help="rates by kind at each budget")
    parser.add_argument("--files", action="store_true", help="rates per source file at each budget")
    parser.add_argument(
        "--late",
        action="append",
        default=[],
        metavar="FILE",
        help="a source file scored by one model trained on all the others (repeatable)",
    )
    parser.add_argument(
        "--save",
        metavar="CANDIDATE",
        help="save the scores this candidate uses (base, rules, or weighted: both models "
        "trained with --lang-weight) for bench/train_guardrails.py --view-oof and "
        "bench/e5_guardrails.py",
    )
    args = parser.parse_args()

    rows = load()
    assert not any("heldout11" in row["set"] for row in rows)
    row_views = [[view for view, _ in views(row["text"])] for row in rows]
    owner = np.array([i for i, vs in enumerate(row_views) for _ in vs])
    texts = [view for vs in row_views for view in vs]
    labels = np.array([row["label"] for row in rows])
    view_labels = labels[owner]
    # The late files (--late) are scored by one model trained on every other file (all of
    # them left out together); the others by source, by models trained without them and
    # without the late files.
    late = np.array([rows[i]["set"] in set(args.late) for i in owner], dtype=bool)
    early = np.flatnonzero(~late)
    splits = by_source([rows[i]["set"] for i in owner[early]])

    def key_of(picked: Any) -> str:
        joined = "\0".join(texts[v] for v in picked)
        return hashlib.sha1(joined.encode(), usedforsecurity=False).hexdigest()[:10]

    where = Path(args.cache_dir)

    # g11: each view weighted by its row's language (train_guardrails.language_weights).
    weighted = language_weights(rows, args.lang_weight)[owner]

    def by_source_scores(name: str, x_of: Any, c: float, weigh: bool = False) -> Any:
        """Each view's probability from a model that never saw its file (``x_of()`` gives
        the features, computed only where the cache has no scores)."""
        from sklearn.linear_model import LogisticRegression  # type: ignore[import-untyped]

        if weigh:
            name += f"_lw{args.lang_weight}"
        weights = weighted[early] if weigh else None
        out = np.zeros(len(texts))
        out[early] = cached(
            where / f"guard10_{name}_{key_of(early)}.npy",
            lambda: per_view_oof(x_of()[early], view_labels[early], splits, c, weights),
        )
        if late.any():

            def fit_late() -> Any:
                x = x_of()
                model = LogisticRegression(C=c, max_iter=5000, class_weight="balanced")
                model.fit(x[early], view_labels[early], sample_weight=weights)
                return model.predict_proba(x[late])[:, 1]

            out[late] = cached(
                where / f"guard10_{name}_late_{key_of(early)}_{key_of(np.flatnonzero(late))}.npy",
                fit_late,
            )
        return out

    def ngram(with_rules: bool, signs: str = INTENTS_VERSION, weigh: bool = False) -> Any:
        name = f"ngram_{'rules' + RULES_VERSION if with_rules else 'base'}_i{signs}"
        if signs != INTENTS_VERSION:  # another version's scores: only from the cache
            return by_source_scores(name, None, NGRAM_C)
        features = cache(lambda: matrix(texts, with_rules=with_rules))
        return by_source_scores(name, features, NGRAM_C, weigh)

    def head(weigh: bool = False, max_chars: int = MAX_CHARS) -> Any:
        e5_texts = [t[:max_chars] for t in texts]
        vectors = cache(lambda: embed_all(e5_texts, "query", Path(args.e5_cache)))
        name = "e5head" if max_chars == MAX_CHARS else f"e5head_m{max_chars}"
        return by_source_scores(name, vectors, HEAD_C, weigh)

    if args.part:
        weigh = args.lang_weight != "none"
        {
            "base": lambda: ngram(False),
            "rules": lambda: ngram(True, weigh=weigh),
            "e5": lambda: head(weigh),
        }[args.part]()
        return
    p_rules, q = ngram(True), head()
    p_base = p_rules if args.no_base else ngram(False)
    if args.save:
        # Where bench/e5_guardrails.py --cache CACHE_DIR/guard10_e5_{prefix}.npz reads them.
        saved = {"rules": (p_rules, q), "base": (p_base, q)}.get(args.save)
        if saved is None:
            saved = (ngram(True, weigh=True), head(weigh=True))
        np.save(where / "guard10_e5_ngram_oof.npy", saved[0])
        np.save(where / f"guard10_e5_query_head_C{HEAD_C:g}.npy", saved[1])

    # Every rule's hits per row (any view), and when each rule and file could meet.
    hits = [sorted({name for view in vs for name in rule_hits(view)}) for vs in row_views]
    history = rule_history()
    names = [name for name, _ in RULES]
    hard = [i for i, row in enumerate(rows) if row["hard"]]

    def honest(rule: str, source: str) -> bool:
        readable = READABLE.get(source, "9999")  # a file newer than this table: honest
        return readable > history[rule][1]

    # g11: the n-gram share of the average per view, NGRAM_SHARE for the views read as
    # English and the candidate's own share for the others.
    english = np.array([is_english(t) for t in texts])

    def shares(other: float) -> Any:
        return np.where(english, NGRAM_SHARE, other)

    def row_scores(p: Any, q: Any = q, other: float = NGRAM_SHARE) -> Any:
        out = np.zeros(len(rows))
        mixed = shares(other) * p + (1 - shares(other)) * q
        np.maximum.at(out, owner, np.where(p >= args.sure, 1.0, mixed))
        return out

    def judge(
        verdicts: set[str], p: Any, budget: float, q: Any = q, other: float = NGRAM_SHARE
    ) -> tuple[float, list[bool]]:
        ruled = [bool(verdicts.intersection(h)) for h in hits]
        scores = row_scores(p, q, other)
        threshold = threshold_for(
            [scores[i] for i in hard],
            [int(labels[i]) for i in hard],
            [ruled[i] for i in hard],
            budget,
        )
        return threshold, [r or bool(s >= threshold) for r, s in zip(ruled, scores, strict=True)]

    def rates(flagged: list[bool], picked: list[int]) -> str:
        attacks = [flagged[i] for i in picked if labels[i]]
        ordinary = [flagged[i] for i in picked if not labels[i]]
        a = sum(attacks) / max(1, len(attacks))
        o = sum(ordinary) / max(1, len(ordinary))
        return f"{100 * a:.1f} / {100 * o:.1f}"

    def by_language(flagged: list[bool], newest: list[str]) -> str:
        """Detection of the English attacks and of the others (the rows' ``lang``),
        pooled, on the newest files together and per newest file."""
        groups = [("pooled", hard), ("newest", [i for i in hard if rows[i]["set"] in newest])]
        groups += [(short(s), [i for i in hard if rows[i]["set"] == s]) for s in newest]
        out = []
        for title, picked in groups:
            found = []
            for want in (True, False):
                got = [
                    flagged[i]
                    for i in picked
                    if labels[i] and ((rows[i].get("lang") or "en") == "en") == want
                ]
                found.append(f"{100 * sum(got) / max(1, len(got)):.1f}")
            out.append(f"{title} en {found[0]} other {found[1]}")
        return "by language: " + ", ".join(out)

    def reach(verdicts: set[str], p: Any, other: float, threshold: float) -> str:
        """The share of rows no verdict rule flags with a view the encoder must read (its
        average could reach the threshold, the n-gram model is not sure): all hard rows,
        their ordinary ones, their attacks, each English and not; the short questions."""
        w = shares(other)
        views_reaching = (p < args.sure) & (w * p + (1 - w) >= threshold)
        rows_reaching = np.zeros(len(rows), dtype=bool)
        np.logical_or.at(rows_reaching, owner, views_reaching)
        ruled = [bool(verdicts.intersection(h)) for h in hits]
        kinds: dict[str, Callable[[int], bool]] = {
            "hard": lambda i: bool(rows[i]["hard"]),
            "ordinary": lambda i: bool(rows[i]["hard"] and not labels[i]),
            "attacks": lambda i: bool(labels[i]),
        }
        out = []
        for title, keep in kinds.items():
            for lang, want in (("en", True), ("other", False)):
                picked = [
                    i
                    for i in range(len(rows))
                    if keep(i) and not ruled[i] and ((rows[i].get("lang") or "en") == "en") == want
                ]
                share = sum(bool(rows_reaching[i]) for i in picked) / max(1, len(picked))
                out.append(f"{title} {lang} {100 * share:.1f}%")
        questions = [i for i in range(len(rows)) if not rows[i]["hard"]]
        share = sum(bool(rows_reaching[i]) for i in questions) / max(1, len(questions))
        return "reach the encoder: " + ", ".join(out) + f", questions {100 * share:.1f}%"

    # Per rule, per file. "Alone": an attack no other rule matches and the models (by
    # source, g8's recipe at 1.25%) leave under the threshold.
    threshold = judge(set(names), p_base, 0.0125)[0]
    scores = row_scores(p_base)
    print(
        "rule | first / last changed | ordinary hits: all, honest (files) | attack hits: all,"
        " honest | attacks it alone catches that the models miss (honest)"
    )
    honest_ordinary: dict[str, tuple[int, int]] = {}
    for rule in names:
        ordinary_all = attack_all = ordinary_honest = attack_honest = alone = alone_honest = 0
        honest_rows = 0
        files: Counter[str] = Counter()
        for i, row in enumerate(rows):
            fair = honest(rule, row["set"])
            if not labels[i] and row["hard"] and fair:
                honest_rows += 1
            if rule not in hits[i]:
                continue
            if labels[i]:
                attack_all += 1
                attack_honest += fair
                if hits[i] == [rule] and scores[i] < threshold:
                    alone += 1
                    alone_honest += fair
            else:
                ordinary_all += 1
                ordinary_honest += fair
                if fair:
                    files[short(row["set"])] += 1
        honest_ordinary[rule] = (ordinary_honest, honest_rows)
        first, last = history[rule]
        where_hits = ", ".join(f"{f} {n}" for f, n in files.most_common())
        print(
            f"{rule} | {first[5:]} / {last[5:]} | {ordinary_all}, {ordinary_honest} of"
            f" {honest_rows} ({where_hits}) | {attack_all}, {attack_honest} | {alone}"
            f" ({alone_honest})"
        )

    if args.g12:
        q_cut = head(max_chars=args.max_chars) if args.max_chars != MAX_CHARS else None
        g12_candidates(
            args,
            rows,
            row_views,
            owner,
            texts,
            labels,
            hits,
            hard,
            p_rules,
            q,
            english,
            names,
            q_cut,
        )
        return

    # name -> (verdicts, n-gram scores, e5 head scores, n-gram share off English)
    candidates: dict[str, tuple[set[str], Any, Any, float]] = {}
    if args.intents_before:
        p_old = ngram(True, args.intents_before)
        candidates["(a) g9 recipe"] = (set(names) - G9_FEATURE_ONLY, p_old, q, NGRAM_SHARE)
        candidates["(b) + demotions"] = (set(names) - FEATURE_ONLY, p_old, q, NGRAM_SHARE)
        candidates["(c) + signs of intent"] = (set(names) - FEATURE_ONLY, p_rules, q, NGRAM_SHARE)
        candidates["(c) no verdicts"] = (set(), p_rules, q, NGRAM_SHARE)
    if not args.no_base:
        candidates["a (g8 recipe)"] = (set(names), p_base, q, NGRAM_SHARE)
    clean = {r for r in names if honest_ordinary[r][0] == 0}
    candidates["b features, clean verdicts"] = (clean, p_rules, q, NGRAM_SHARE)
    for share in SHARES if not args.no_base else ():
        kept = {r for r in names if honest_ordinary[r][0] <= share * honest_ordinary[r][1]}
        candidates[f"c {share:.2%} feat"] = (kept, p_rules, q, NGRAM_SHARE)
        candidates[f"c {share:.2%} drop"] = (kept, p_base, q, NGRAM_SHARE)
    candidates["all rules features, none verdict"] = (set(), p_rules, q, NGRAM_SHARE)
    verdicts = set(names) - FEATURE_ONLY
    candidates["g10 verdicts (before g11's demotions)"] = (
        set(names) - G10_FEATURE_ONLY,
        p_rules,
        q,
        NGRAM_SHARE,
    )
    candidates["shipped: FEATURE_ONLY features only"] = (verdicts, p_rules, q, NGRAM_SHARE)
    for other in args.share_other:
        candidates[f"  + share {other:g} off English"] = (verdicts, p_rules, q, other)
    if args.lang_weight != "none":
        p_weighted, q_weighted = ngram(True, weigh=True), head(weigh=True)
        for other in (NGRAM_SHARE, *args.share_other):
            candidates[f"weighted {args.lang_weight}, share {other:g} off English"] = (
                verdicts,
                p_weighted,
                q_weighted,
                other,
            )
            candidates[f"  n-gram weighted only, share {other:g}"] = (
                verdicts,
                p_weighted,
                q,
                other,
            )
    newest = [s for s in NEWEST if any(row["set"] == s for row in rows)]
    for budget in BUDGETS:
        print(f"\nbudget {budget:.2%}: pooled | " + " | ".join(short(s) for s in newest))
        for name, (verdicts, p, q_of, other) in candidates.items():
            threshold, flagged = judge(verdicts, p, budget, q_of, other)
            per = [rates(flagged, [i for i in hard if rows[i]["set"] == s]) for s in newest]
            newest_rows = [i for i in hard if rows[i]["set"] in newest]
            line = f"  {name:<34} ({len(verdicts)} verdicts, t={threshold:.3f}) "
            line += f"{rates(flagged, hard)} | newest {rates(flagged, newest_rows)} | "
            print(line + " | ".join(per), flush=True)
            if args.detail:
                kinds = sorted({str(rows[i]["category"]) for i in hard if labels[i]})
                by_kind = [
                    f"{k} {rates(flagged, [i for i in hard if rows[i]['category'] == k])}"
                    for k in kinds
                ]
                print("      " + ", ".join(by_kind))
            if args.files:
                sources = sorted({str(rows[i]["set"]) for i in hard})
                per_file = [
                    rates(flagged, [i for i in hard if rows[i]["set"] == s]) for s in sources
                ]
                print(
                    "      "
                    + ", ".join(f"{short(s)} {r}" for s, r in zip(sources, per_file, strict=True))
                )
            if args.langs:
                print("      " + by_language(flagged, newest))
                print("      " + reach(verdicts, p, other, threshold))
    if args.show:
        for name, (verdicts, *_) in candidates.items():
            print(name, sorted(set(names) - verdicts))


if __name__ == "__main__":
    main()
