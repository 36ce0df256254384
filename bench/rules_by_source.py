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
(G10_DEMOTED) features only, (c) (b) with this tree's signs of intent; the scores of the
older signs come from the cache of a ``--part rules`` run made while they were in the
tree. ``--files`` prints every file's rates at each budget.
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
from datetime import UTC, datetime  # noqa: E402
from typing import Any  # noqa: E402

from apps.guardrails.injection import views  # noqa: E402
from apps.guardrails.injection_rules import (  # noqa: E402
    FEATURE_ONLY,
    RULES,
    RULES_VERSION,
    rule_hits,
)
from apps.guardrails.intents import INTENTS_VERSION  # noqa: E402
from bench.e5_guardrails import MAX_CHARS, embed_all, per_view_oof  # noqa: E402
from bench.train_guardrails import (  # noqa: E402
    by_source,
    load,
    matrix,
    threshold_for,
)

RULES_FILE = "apps/guardrails/injection_rules.py"
NGRAM_C, HEAD_C, NGRAM_SHARE = 30.0, 10.0, 0.7
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
}
NEWEST = (
    "guardrails_injection_heldout8.jsonl",
    "guardrails_injection_train9a.jsonl",
    "guardrails_injection_train9b.jsonl",
    "guardrails_injection_train8a.jsonl",
    "guardrails_injection_train8b.jsonl",
    "guardrails_injection_train8c.jsonl",
)


# The rules g10 made features only (an honest ordinary hit in held-out 8, train8a, train9a or
# train9b); without them FEATURE_ONLY is g9's, for candidate (a) of --intents-before.
G10_DEMOTED = frozenset(
    [
        "roleplay.dev_mode_any",
        "override.ignore_prior",
        "exfiltration.others_data",
        "override.ignore_yours",
        "extraction.system_prompt",
        "roleplay.evil",
        "tool.call_destructive",
    ]
)
G9_FEATURE_ONLY = FEATURE_ONLY - G10_DEMOTED


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
        help="save the n-gram scores this candidate uses (base or rules) for "
        "bench/train_guardrails.py --view-oof and bench/e5_guardrails.py",
    )
    args = parser.parse_args()

    rows = load()
    assert not any("heldout9" in row["set"] for row in rows)
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

    def by_source_scores(name: str, x: Any, c: float) -> Any:
        """Each view's probability from a model that never saw its file."""
        from sklearn.linear_model import LogisticRegression  # type: ignore[import-untyped]

        out = np.zeros(len(texts))
        early_x = x[early] if x is not None else None
        out[early] = cached(
            where / f"guard10_{name}_{key_of(early)}.npy",
            lambda: per_view_oof(early_x, view_labels[early], splits, c),
        )
        if late.any():

            def fit_late() -> Any:
                model = LogisticRegression(C=c, max_iter=5000, class_weight="balanced")
                model.fit(early_x, view_labels[early])
                return model.predict_proba(x[late])[:, 1]

            out[late] = cached(
                where / f"guard10_{name}_late_{key_of(early)}_{key_of(np.flatnonzero(late))}.npy",
                fit_late,
            )
        return out

    def ngram(with_rules: bool, signs: str = INTENTS_VERSION) -> Any:
        name = f"ngram_{'rules' + RULES_VERSION if with_rules else 'base'}_i{signs}"
        if signs != INTENTS_VERSION:  # another version's scores: only from the cache
            return by_source_scores(name, None, NGRAM_C)
        return by_source_scores(name, matrix(texts, with_rules=with_rules), NGRAM_C)

    def head() -> Any:
        vectors = embed_all([t[:MAX_CHARS] for t in texts], "query", Path(args.e5_cache))
        return by_source_scores("e5head", vectors, HEAD_C)

    if args.part:
        {"base": lambda: ngram(False), "rules": lambda: ngram(True), "e5": head}[args.part]()
        return
    p_rules, q = ngram(True), head()
    p_base = p_rules if args.no_base else ngram(False)
    if args.save:
        # Where bench/e5_guardrails.py --cache CACHE_DIR/guard10_e5_{prefix}.npz reads them.
        np.save(where / "guard10_e5_ngram_oof.npy", p_rules if args.save == "rules" else p_base)
        np.save(where / f"guard10_e5_query_head_C{HEAD_C:g}.npy", q)

    # Every rule's hits per row (any view), and when each rule and file could meet.
    hits = [sorted({name for view in vs for name in rule_hits(view)}) for vs in row_views]
    history = rule_history()
    names = [name for name, _ in RULES]
    hard = [i for i, row in enumerate(rows) if row["hard"]]

    def honest(rule: str, source: str) -> bool:
        readable = READABLE.get(source, "9999")  # a file newer than this table: honest
        return readable > history[rule][1]

    def row_scores(p: Any) -> Any:
        out = np.zeros(len(rows))
        mixed = NGRAM_SHARE * p + (1 - NGRAM_SHARE) * q
        np.maximum.at(out, owner, np.where(p >= args.sure, 1.0, mixed))
        return out

    def judge(verdicts: set[str], p: Any, budget: float) -> tuple[float, list[bool]]:
        ruled = [bool(verdicts.intersection(h)) for h in hits]
        scores = row_scores(p)
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

    candidates: dict[str, tuple[set[str], Any]] = {}
    if args.intents_before:
        p_old = ngram(True, args.intents_before)
        candidates["(a) g9 recipe"] = (set(names) - G9_FEATURE_ONLY, p_old)
        candidates["(b) + demotions"] = (set(names) - FEATURE_ONLY, p_old)
        candidates["(c) + signs of intent"] = (set(names) - FEATURE_ONLY, p_rules)
        candidates["(c) no verdicts"] = (set(), p_rules)
    if not args.no_base:
        candidates["a (g8 recipe)"] = (set(names), p_base)
    clean = {r for r in names if honest_ordinary[r][0] == 0}
    candidates["b features, clean verdicts"] = (clean, p_rules)
    for share in SHARES if not args.no_base else ():
        kept = {r for r in names if honest_ordinary[r][0] <= share * honest_ordinary[r][1]}
        candidates[f"c {share:.2%} feat"] = (kept, p_rules)
        candidates[f"c {share:.2%} drop"] = (kept, p_base)
    candidates["all rules features, none verdict"] = (set(), p_rules)
    candidates["shipped: FEATURE_ONLY features only"] = (set(names) - FEATURE_ONLY, p_rules)
    newest = [s for s in NEWEST if any(row["set"] == s for row in rows)]
    for budget in BUDGETS:
        print(f"\nbudget {budget:.2%}: pooled | " + " | ".join(short(s) for s in newest))
        for name, (verdicts, p) in candidates.items():
            threshold, flagged = judge(verdicts, p, budget)
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
    if args.show:
        for name, (verdicts, _) in candidates.items():
            print(name, sorted(set(names) - verdicts))


if __name__ == "__main__":
    main()
