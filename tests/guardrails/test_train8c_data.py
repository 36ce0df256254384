"""Shape of the training rows for the injection detector by writer 8c.

bench/data/guardrails_injection_train8c.jsonl is training data written by a new writer
(see bench/data/README.md), about 70% in English in many voices and 30% in ten other
languages. These checks keep it loadable, labelled consistently, mixed in language and
apart from every other injection set; none of them looks at what the detector says about
a row.
"""

from __future__ import annotations

from tests.guardrails.heldout_checks import DATA, TrainingSetChecks


class TestTrain8cData(TrainingSetChecks):
    path = DATA / "guardrails_injection_train8c.jsonl"
    prefix = "t8c"
    # English and ten European languages, as the brief asked: fewer languages and a
    # smaller non-English share than the sets written mainly in other languages.
    min_languages = 11
    min_foreign_share = 0.25
