"""Guardrails benchmark: detection, false positives, PII recall and the time added.

    .venv/bin/python bench/guardrails.py [--quick] [--json FILE] [--early EARLY.json]

No database, no provider: the checks are CPU-only and are timed as the gateway runs
them (apps/guardrails/engine.py ``scan_builtin``, apps/guardrails/stream.py).

1. Prompt injection: detection rate (injections flagged) and false-positive rate
   (ordinary texts flagged), overall and per category and language, on held-out 50 to 53
   pooled (``WRITTEN_APART``: four sets written apart from the detector; no rule or
   training run has seen them; scored once, on g25 and g26, so now spent), when all four
   files are there: their pooled figures are then the headline keys
   ``injection_detection_rate`` / ``false_positive_rate`` (key suffix ``heldout50_53``),
   each set's beside them. Without them, the headline is the newest set that is there,
   marked spent; held-out 4 to 49 (spent since g5 to g26: held-out 11 to 36 and 38 to 45
   trained g26's adapter and heads, 46 to 49 chose its operating point) are reported
   beside it. Held-out 37 (built from templates) is sealed for choosing a later detector's
   point: a set written apart goes into the list only once a detector is finished, so no
   run scores it by accident.
   Also on the other spent sets, trained on: the test half of
   bench/data/guardrails_injection.jsonl, bench/data/guardrails_injection_fresh.jsonl and
   bench/data/guardrails_injection_heldout2.jsonl.
2. PII recall and precision on bench/data/guardrails_pii.jsonl (entity = kind + exact
   value; negatives include Luhn-failing card numbers, order ids, dates, placeholders).
3. Time added per request: the input scan of each test text plus the output scan of a
   400-character answer, with every check on (redaction included), p50 and p95, in wall
   time and in this thread's CPU time (steady when the machine is shared), also for the
   ordinary texts alone, and the share of texts that reach the e5 stage; and per
   streamed sentence: a StreamGuard holding sentences, fed a 12-sentence answer in
   4-character chunks, divided by its sentences.
Prints a table and writes JSON (default bench/results/guardrails.json). With ``--early``
the product runs with the shipped e5 head's exit read by another early head
(bench/distil_early_head.py's output; since g22b), so a candidate exit is measured by the
same code, rows and timings as the shipped one.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402

from apps.guardrails import e5_graph, encoder, injection  # noqa: E402
from apps.guardrails.engine import Direction, scan_builtin  # noqa: E402
from apps.guardrails.injection import detect, versions  # noqa: E402
from apps.guardrails.pii import find_pii  # noqa: E402
from apps.guardrails.policy import Action, Check, Policy  # noqa: E402
from apps.guardrails.stream import StreamGuard  # noqa: E402

DATA = ROOT / "bench" / "data"


def _held_out(number: int, status: str) -> tuple[str, str, str]:
    """A held-out set's file, key suffix and headline label, from its number and status."""
    return (
        f"guardrails_injection_heldout{number}.jsonl",
        f"heldout{number}",
        f"held-out {number} ({status})",
    )


# The held-out sets, oldest first, each with its file, key suffix and headline label (its
# status: how it was spent, what it trained or chose): the newest one that is there is the
# headline.
HELD_OUT_SETS = tuple(
    _held_out(number, status)
    for number, status in (
        (4, "spent, trained on"),
        (5, "spent: scored once on g6, trained on since g7"),
        (6, "spent: scored once on g7, trained on since g8"),
        (7, "spent: scored once on g8, trained on since g9"),
        (8, "spent: scored once on g9, trained on since g10"),
        (9, "spent: scored once on g10, trained on since g11"),
        (10, "spent: scored once on g11, trained on since g12"),
        (11, "spent: scored once on g12, chose g12b's threshold"),
        (12, "spent: scored once on g12 and g12b"),
        (13, "spent: scored once on g12b and g13b"),
        (14, "spent: scored once on g13b and g14b"),
        (15, "spent: scored once on g14b and g16, trained on since g21"),
        (16, "spent: scored once on g14b and g18, trained on since g21"),
        (17, "spent: scored once on g18 and g19, trained on since g21"),
        (18, "spent: scored once on g18 and g20b, trained on since g21"),
        (19, "spent: scored once on g18 and g20c, trained on since g21"),
        (20, "spent: chose g21a's point, trained on since g22"),
        (21, "spent: chose g21a's point, trained on since g22"),
        (22, "spent: scored once on g21a, trained on since g22"),
        (23, "spent: scored once on g21a, trained on since g22"),
        (24, "spent: scored once on g21c, chose g22's point"),
        (25, "spent: scored once on g21c, chose g22's point"),
        (26, "spent: scored once on g21c, chose g22's point"),
        (27, "spent: scored once, on g21c and g22"),
        (28, "spent: scored once, on g21c and g22"),
        (29, "spent: scored once, on g21c and g22"),
        (30, "spent: chose g23's, g24's and g22b's points, trained on since g25"),
        (31, "spent: chose g23's, g24's and g22b's points, trained on since g25"),
        (32, "spent: chose g23's, g24's and g22b's points, trained on since g25"),
        (33, "spent: scored on g22, g23 and g23r1, chose g24's, trained on since g25"),
        (34, "spent: scored on g22, g23 and g23r1, chose g24's, trained on since g25"),
        (35, "spent: scored on g22, g23 and g23r1, chose g24's, trained on since g25"),
        # In the order they were spent: 42 to 45 before 36 and 38 to 41, then 46 to 49, 50 to 53.
        (42, "spent: scored on g22 and g22b, chose g24's point, trained on since g25"),
        (43, "spent: scored on g22 and g22b, chose g24's point, trained on since g25"),
        (44, "spent: scored on g22 and g22b, chose g24's point, trained on since g25"),
        (45, "spent: scored on g22 and g22b, chose g24's point, trained on since g25"),
        (36, "spent: scored on g22 and g24, chose g25's point, trained on since g26"),
        (38, "spent: scored on g22 and g24, chose g25's point, trained on since g26"),
        (39, "spent: scored on g22 and g24, chose g25's point, trained on since g26"),
        (40, "spent: scored on g22 and g24, chose g25's point, trained on since g26"),
        (41, "spent: scored on g22 and g24, chose g25's point, trained on since g26"),
        (46, "spent: scored once on g24 and g25, chose g26's point"),
        (47, "spent: scored once on g24 and g25, chose g26's point"),
        (48, "spent: scored once on g24 and g25, chose g26's point"),
        (49, "spent: scored once on g24 and g25, chose g26's point"),
        (50, "written apart: scored once, on g25 and g26"),
        (51, "written apart: scored once, on g25 and g26"),
        (52, "written apart: scored once, on g25 and g26"),
        (53, "written apart: scored once, on g25 and g26"),
    )
)
HELDOUT4 = HELD_OUT_SETS[0][0]  # the oldest set's file

# The sets written apart from the detector, by four writers: pooled, they are the
# headline (a false-positive rate read on 1,220 ordinary texts, not 305), and their texts
# are timed as a new writer's. 37 (built from templates) is sealed for choosing later.
WRITTEN_APART = ("heldout50", "heldout51", "heldout52", "heldout53")
POOLED = "heldout50_53"
POOLED_NAME = "held-out 50 to 53"
POOLED_LABEL = f"{POOLED_NAME} pooled (written apart: scored once, on g25 and g26)"
ANSWER = (
    "Refunds on annual plans are available within 30 days of purchase. After that, the "
    "remaining months are credited to your account. Contact billing if you were charged "
    "twice; they answer within one business day. You can also download every invoice from "
    "the billing page, as PDF or CSV. Your plan renews automatically unless you cancel."
)
STREAM_ANSWER = " ".join(
    f"Sentence {i} explains one more detail of the refund policy for annual plans."
    for i in range(12)
)
DEFAULT = Policy()  # what a new tenant gets: injections flagged (policy.DEFAULT_ACTIONS)
ALL_ON = Policy(
    actions={
        Check.PROMPT_INJECTION: Action.BLOCK,
        Check.PII: Action.REDACT,
        Check.SECRETS: Action.REDACT,
        Check.MODERATION: Action.BLOCK,
        Check.CANARY: Action.BLOCK,
    }
)


def load(name: str, data: Path = DATA) -> list[dict[str, Any]]:
    lines = (data / name).read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line]


def rate(hits: int, total: int) -> float:
    return round(hits / total, 4) if total else 0.0


def injection_rates() -> dict[str, Any]:
    rows = [row for row in load("guardrails_injection.jsonl") if row["split"] == "test"]
    return _rates(rows)


def set_rates(name: str, suffix: str, data: Path = DATA) -> dict[str, Any]:
    """The same rates on a whole set, keyed with ``suffix``: ``fresh``, ``heldout2``,
    ``heldout4`` and on (``HELD_OUT_SETS``)."""
    return _keyed(load(name, data), suffix)


def written_apart_rows(data: Path = DATA) -> list[dict[str, Any]] | None:
    """The rows of the sets written apart (``WRITTEN_APART``) together, or None unless
    every one of them is there."""
    names = [name for name, suffix, _ in HELD_OUT_SETS if suffix in WRITTEN_APART]
    if not all((data / name).exists() for name in names):
        return None
    return [row for name in names for row in load(name, data)]


def _keyed(rows: list[dict[str, Any]], suffix: str) -> dict[str, Any]:
    found = _rates(rows)
    return {
        f"injection_detection_rate_{suffix}": found["injection_detection_rate"],
        f"false_positive_rate_{suffix}": found["false_positive_rate"],
        f"{suffix}_injections": found["test_injections"],
        f"{suffix}_benign": found["test_benign"],
        f"detection_by_{suffix}": found["detection_by"],
    }


def headline_rates(data: Path = DATA) -> dict[str, Any]:
    """A block for each held-out set that is there (a set written apart from the detector
    is merged later), with the headline keys set to the newest one's figures, or where
    every set written apart is there to their pooled figures (key suffix ``POOLED``);
    nothing when none is there."""
    found: dict[str, Any] = {}
    headline = ("", "")
    for name, suffix, label in HELD_OUT_SETS:
        if (data / name).exists():
            found.update(set_rates(name, suffix, data))
            headline = (suffix, label)
    if not found:
        return {}
    pooled = written_apart_rows(data)
    if pooled is not None:
        found.update(_keyed(pooled, POOLED))
        headline = (POOLED, POOLED_LABEL)
    return {
        **found,
        "injection_detection_rate": found[f"injection_detection_rate_{headline[0]}"],
        "false_positive_rate": found[f"false_positive_rate_{headline[0]}"],
        "headline": headline[1],
    }


def _rates(rows: list[dict[str, Any]]) -> dict[str, Any]:
    by: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    tp = fn = fp = tn = 0
    for row in rows:
        flagged = detect(row["text"]).flagged
        if row["label"]:
            tp, fn = tp + flagged, fn + (not flagged)
            keys = [f"category:{row['category']}", f"lang:{row['lang']}"]
            if "encoding" in row:
                keys.append(f"encoding:{row['encoding']}")
            for key in keys:
                by[key][0] += flagged
                by[key][1] += 1
        else:
            fp, tn = fp + flagged, tn + (not flagged)
            by["benign_flagged"][0] += flagged
            by["benign_flagged"][1] += 1
    return {
        "injection_detection_rate": rate(tp, tp + fn),
        "false_positive_rate": rate(fp, fp + tn),
        "test_injections": tp + fn,
        "test_benign": fp + tn,
        "detection_by": {key: rate(a, b) for key, (a, b) in sorted(by.items())},
    }


def pii_rates() -> dict[str, Any]:
    tp = fp = fn = 0
    for row in load("guardrails_pii.jsonl"):
        expected = {(e["kind"], e["value"]) for e in row["entities"]}
        found = {(f.kind, f.value) for f in find_pii(row["text"])}
        tp, fp, fn = (
            tp + len(expected & found),
            fp + len(found - expected),
            fn + len(expected - found),
        )
    return {
        "pii_recall": rate(tp, tp + fn),
        "pii_precision": rate(tp, tp + fp),
        "pii_entities": tp + fn,
    }


def use_early(path: Path) -> None:
    """Run the product with the shipped e5 head's first exit read by the early head at
    ``path``: the head, with that early block, and its adapter are copied to a new folder
    that the encoder then reads (before anything loads the head)."""
    folder = Path(tempfile.mkdtemp(prefix="guardrails-early-"))
    data = json.loads(encoder.HEAD_PATH.read_text(encoding="utf-8"))
    data["early"] = json.loads(path.read_text(encoding="utf-8"))
    (folder / encoder.HEAD_PATH.name).write_text(json.dumps(data), encoding="utf-8")
    if data.get("adapter"):
        shutil.copy(encoder.HEAD_PATH.parent / data["adapter"], folder / data["adapter"])
    encoder.HEAD_PATH = folder / encoder.HEAD_PATH.name


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


@contextlib.contextmanager
def depths() -> Iterator[list[str]]:
    """Each depth the product's e5 stage reaches from here on, in order: "e5" when a view
    enters it (``encoder.average``), "exit0", "exit1" when an exit is asked for (since g18
    and g24), "top" when the layers over the exits run; put back as they were after."""
    reached: list[str] = []
    average, exit_vector, pooled = (
        encoder.average,
        e5_graph.Reading.exit_vector,
        e5_graph.Reading.pooled,
    )

    def counted(normalized: str, ngram: float, english: bool) -> float | None:
        reached.append("e5")
        return average(normalized, ngram, english)

    def counted_exit(reading: e5_graph.Reading, index: int = 0) -> e5_graph.Vector:
        reached.append(f"exit{index}")
        return exit_vector(reading, index)

    def counted_top(reading: e5_graph.Reading) -> list[tuple[int, e5_graph.Array]]:
        reached.append("top")
        return pooled(reading)

    encoder.average = counted
    e5_graph.Reading.exit_vector = counted_exit  # type: ignore[method-assign,assignment]
    e5_graph.Reading.pooled = counted_top  # type: ignore[method-assign,assignment]
    try:
        yield reached
    finally:
        encoder.average = average
        e5_graph.Reading.exit_vector = exit_vector  # type: ignore[method-assign]
        e5_graph.Reading.pooled = pooled  # type: ignore[method-assign]


def latency(rows: list[dict[str, Any]], repeats: int) -> dict[str, Any]:
    """Added time per request over ``rows`` (the texts of a held-out set or the test half)."""
    canary = "zq0123456789abcd"
    per_request: list[float] = []
    # CPU time of this thread too: on a shared machine the wall-clock p95 is mostly the
    # other processes' turn on the core, which CPU time leaves out.
    per_request_cpu: list[float] = []
    ordinary_cpu: list[float] = []
    past = {"ordinary": 0, "attack": 0}
    past_first = {"ordinary": 0, "attack": 0}
    reaching = {"ordinary": 0, "attack": 0, "en": 0, "other": 0}
    path: list[float] = []
    path_ordinary_cpu: list[float] = []
    with depths() as reached:
        for _ in range(repeats):
            for row in rows:
                before = len(reached)
                start, start_cpu = time.perf_counter(), time.thread_time()
                scan_builtin(row["text"], ALL_ON, Direction.INPUT)
                scan_builtin(ANSWER, ALL_ON, Direction.OUTPUT, canary=canary)
                per_request.append((time.perf_counter() - start) * 1000)
                per_request_cpu.append((time.thread_time() - start_cpu) * 1000)
                if not row["label"]:
                    ordinary_cpu.append(per_request_cpu[-1])
                kind, here = "attack" if row["label"] else "ordinary", reached[before:]
                if "e5" in here:
                    reaching[kind] += 1
                    reaching["en" if row["lang"] == "en" else "other"] += 1
                past[kind] += "top" in here
                past_first[kind] += "top" in here or "exit1" in here
                # Since ADR 0019: the request's path under the default policy, which
                # flags injections, so the encoder's part runs beside the provider.
                start, start_cpu = time.perf_counter(), time.thread_time()
                early, _ = injection.split(row["text"][: settings.GUARDRAILS_MAX_CHARS])
                scan_builtin(row["text"], DEFAULT, Direction.INPUT, detected=early)
                scan_builtin(ANSWER, DEFAULT, Direction.OUTPUT, canary=canary)
                path.append((time.perf_counter() - start) * 1000)
                if not row["label"]:
                    path_ordinary_cpu.append((time.thread_time() - start_cpu) * 1000)
    ordinary = sum(1 for row in rows if not row["label"]) * repeats
    english = sum(1 for row in rows if row["lang"] == "en") * repeats
    per_sentence: list[float] = []
    chunks = [STREAM_ANSWER[i : i + 4] for i in range(0, len(STREAM_ANSWER), 4)]
    for _ in range(repeats * 20):
        guard = StreamGuard(ALL_ON, canary=canary)
        start = time.perf_counter()
        for chunk in chunks:
            guard.feed(chunk)
        guard.finish()
        per_sentence.append((time.perf_counter() - start) * 1000 / 12)
    return {
        "added_p50_ms": round(statistics.median(per_request), 3),
        "added_p95_ms": round(percentile(per_request, 0.95), 3),
        "added_cpu_p50_ms": round(statistics.median(per_request_cpu), 3),
        "added_cpu_p95_ms": round(percentile(per_request_cpu, 0.95), 3),
        "added_cpu_p50_ms_ordinary": round(statistics.median(ordinary_cpu), 3),
        "added_cpu_p95_ms_ordinary": round(percentile(ordinary_cpu, 0.95), 3),
        "encoder_share_ordinary": rate(reaching["ordinary"], ordinary),
        "encoder_share_attacks": rate(reaching["attack"], len(per_request) - ordinary),
        # Since g18: the share going past the early exit to the later layers (since
        # g24 past every exit, and past the first one alone).
        "past_exit_share_ordinary": rate(past["ordinary"], ordinary),
        "past_exit_share_attacks": rate(past["attack"], len(per_request) - ordinary),
        "past_first_exit_share_ordinary": rate(past_first["ordinary"], ordinary),
        "past_first_exit_share_attacks": rate(past_first["attack"], len(per_request) - ordinary),
        # Since g11 the encoder's band is wider off English (apps/guardrails/language.py).
        "encoder_share_english": rate(reaching["en"], english),
        "encoder_share_not_english": rate(reaching["other"], len(per_request) - english),
        # Since ADR 0019, the default policy (injections flagged): the time on the
        # request's path, the encoder's part left to run beside the provider's call.
        "path_p50_ms": round(statistics.median(path), 3),
        "path_p95_ms": round(percentile(path, 0.95), 3),
        "path_cpu_p95_ms_ordinary": round(percentile(path_ordinary_cpu, 0.95), 3),
        "stream_sentence_p50_ms": round(statistics.median(per_sentence), 3),
        "stream_sentence_p95_ms": round(percentile(per_sentence, 0.95), 3),
        "requests_timed": len(per_request),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer timing repeats")
    parser.add_argument("--json", default=str(ROOT / "bench" / "results" / "guardrails.json"))
    parser.add_argument("--early", default="", help="an early head's JSON for the first exit")
    args = parser.parse_args()

    if args.early:
        use_early(Path(args.early))
    detect("warm up")  # loads the classifier
    result: dict[str, Any] = {"detector": versions()}
    if args.early:
        early = json.loads(Path(args.early).read_text(encoding="utf-8"))
        result["early_head"] = early.get("version", args.early)
        result["detector"] += f", early head {result['early_head']}"
    test_half = injection_rates()
    result.update(test_half)
    result["injection_detection_rate_test_half"] = test_half["injection_detection_rate"]
    result["false_positive_rate_test_half"] = test_half["false_positive_rate"]
    result["headline"] = "test half (trained on)"
    result.update(set_rates("guardrails_injection_fresh.jsonl", "fresh"))
    result.update(set_rates("guardrails_injection_heldout2.jsonl", "heldout2"))
    result.update(headline_rates())
    result.update(pii_rates())
    repeats = 2 if args.quick else 10
    test_half_rows = [r for r in load("guardrails_injection.jsonl") if r["split"] == "test"]
    result.update(latency(test_half_rows, repeats))
    # The same on a new writer's texts (the headline set: the one written apart, else the
    # newest spent one, which no model had seen when it was written): on the test half,
    # which the detector was trained on, the encoder's band is rarely reached; on text it
    # has not seen it is reached as often as on real traffic.
    newest = [(n, s) for n, s, _ in HELD_OUT_SETS if f"{s}_injections" in result][-1:]
    pooled = written_apart_rows()
    timed = [(pooled, POOLED)] if pooled is not None else [(load(n), s) for n, s in newest]
    for timed_rows, suffix in timed:
        new_writer = latency(timed_rows, repeats)
        result["new_writer_set"] = suffix
        for key in (
            "added_p50_ms",
            "added_p95_ms",
            "added_cpu_p95_ms_ordinary",
            "encoder_share_ordinary",
            "encoder_share_attacks",
            "past_first_exit_share_ordinary",
            "past_exit_share_ordinary",
            "path_p95_ms",
            "path_cpu_p95_ms_ordinary",
        ):
            result[f"{key}_new_writer"] = new_writer[key]

    def rates_of(label: str, suffix: str, target: bool = False) -> list[tuple[str, str, str]]:
        detection, fpr = (
            result[f"injection_detection_rate_{suffix}"],
            result[f"false_positive_rate_{suffix}"],
        )
        return [
            (f"detection ({label})", f"{detection:.1%}", ">= 90%" if target else ""),
            (f"false positives ({label})", f"{fpr:.1%}", "<= 2%" if target else ""),
        ]

    # The held-out sets, newest first: the one written apart, then the spent ones.
    held_out = [
        (suffix, POOLED_NAME if suffix == POOLED else f"held-out {suffix.removeprefix('heldout')}")
        for suffix in [POOLED, *(s for _, s, _ in reversed(HELD_OUT_SETS))]
        if f"{suffix}_injections" in result
    ]
    rows = []
    for suffix, label in held_out:
        if suffix == POOLED:
            rows += rates_of(f"{label}, written apart", suffix, target=True)
        elif suffix in WRITTEN_APART:
            rows += rates_of(f"{label}, written apart", suffix)
        else:
            rows += rates_of(f"{label}, spent", suffix)
    rows += rates_of("test half, trained on", "test_half")
    named = result.get("new_writer_set", "")
    timed_label = POOLED_NAME if named == POOLED else f"held-out {named.removeprefix('heldout')}"
    rows += rates_of("fresh set, spent", "fresh")
    rows += rates_of("held-out 2, spent", "heldout2")
    rows += [
        ("PII recall", f"{result['pii_recall']:.3f}", ">= 0.98"),
        ("PII precision", f"{result['pii_precision']:.3f}", ""),
        ("added per request p50", f"{result['added_p50_ms']:.2f} ms", ""),
        ("added per request p95", f"{result['added_p95_ms']:.2f} ms", "<= 5 ms"),
        (
            "request path p50 / p95, default policy (encoder beside the provider)",
            f"{result['path_p50_ms']:.2f} / {result['path_p95_ms']:.2f} ms",
            "<= 5 ms",
        ),
        (
            "added per request CPU p50 / p95",
            f"{result['added_cpu_p50_ms']:.2f} / {result['added_cpu_p95_ms']:.2f} ms",
            "",
        ),
        (
            "added CPU p50 / p95, ordinary texts",
            f"{result['added_cpu_p50_ms_ordinary']:.2f} / "
            f"{result['added_cpu_p95_ms_ordinary']:.2f} ms",
            "",
        ),
        (
            "reach the e5 stage: ordinary / attacks",
            f"{result['encoder_share_ordinary']:.1%} / {result['encoder_share_attacks']:.1%}",
            "",
        ),
        (
            "reach the e5 stage: English / not",
            f"{result['encoder_share_english']:.1%} / {result['encoder_share_not_english']:.1%}",
            "",
        ),
        *(
            [
                (
                    f"added p50 / p95, {timed_label}",
                    f"{result['added_p50_ms_new_writer']:.2f} / "
                    f"{result['added_p95_ms_new_writer']:.2f} ms",
                    "<= 5 ms",
                ),
                (
                    f"added CPU p95, {timed_label}'s ordinary",
                    f"{result['added_cpu_p95_ms_ordinary_new_writer']:.2f} ms",
                    "",
                ),
                (
                    f"reach e5, {timed_label}: ordinary / attacks",
                    f"{result['encoder_share_ordinary_new_writer']:.1%} / "
                    f"{result['encoder_share_attacks_new_writer']:.1%}",
                    "",
                ),
                (
                    f"past the first exit / every exit, {timed_label}'s ordinary",
                    f"{result['past_first_exit_share_ordinary_new_writer']:.1%} / "
                    f"{result['past_exit_share_ordinary_new_writer']:.1%}",
                    "",
                ),
                (
                    f"request path p95 / CPU p95 ordinary, default policy, {timed_label}",
                    f"{result['path_p95_ms_new_writer']:.2f} / "
                    f"{result['path_cpu_p95_ms_ordinary_new_writer']:.2f} ms",
                    "<= 5 ms",
                ),
            ]
            if "added_p95_ms_new_writer" in result
            else []
        ),
        ("per streamed sentence p50", f"{result['stream_sentence_p50_ms']:.3f} ms", ""),
        ("per streamed sentence p95", f"{result['stream_sentence_p95_ms']:.3f} ms", ""),
    ]
    if f"{POOLED}_injections" in result:
        counted = f"{POOLED_NAME}: "
        counted += f"{result[f'{POOLED}_injections']} injections, "
        counted += f"{result[f'{POOLED}_benign']} ordinary texts"
    else:
        counted = f"not every set written apart is there: headline = {result['headline']}"
    print(f"guardrails ({result['detector']}; {counted}; {result['pii_entities']} PII entities)")
    for name, value, target in rows:
        print(f"  {name:<40} {value:>10}  {target}")
    for label, by in (
        *((label, f"detection_by_{suffix}") for suffix, label in held_out),
        ("test half", "detection_by"),
        ("held-out 2", "detection_by_heldout2"),
    ):
        if by not in result:
            continue
        weakest = sorted((k, v) for k, v in result[by].items() if k != "benign_flagged" and v < 0.9)
        if weakest:
            print(f"  below 90% ({label}): " + ", ".join(f"{k} {v:.0%}" for k, v in weakest))
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
