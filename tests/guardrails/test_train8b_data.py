"""Shape of the training rows for the injection detector by writer 8b.

bench/data/guardrails_injection_train8b.jsonl is training data written by a new writer
(see bench/data/README.md). These checks keep it loadable, labelled consistently, mixed in
language and apart from every other injection set; none of them looks at what the
detector says about a row.
"""

from __future__ import annotations

from tests.guardrails.heldout_checks import DATA, TrainingSetChecks


class TestTrain8bData(TrainingSetChecks):
    path = DATA / "guardrails_injection_train8b.jsonl"
    prefix = "t8b"
