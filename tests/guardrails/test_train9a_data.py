"""Shape of the training rows for the injection detector by writer 9a.

bench/data/guardrails_injection_train9a.jsonl is training data written by a new writer
(see bench/data/README.md). These checks keep it loadable, labelled consistently, mixed in
language and apart from every other injection set; none of them looks at what the
detector says about a row.
"""

from __future__ import annotations

from tests.guardrails.heldout_checks import DATA, TrainingSetChecks


class TestTrain9aData(TrainingSetChecks):
    path = DATA / "guardrails_injection_train9a.jsonl"
    prefix = "t9a"
    # Written in English and ten European languages (the brief's list), not fifteen.
    min_languages = 11
