"""Deterministic verifier for semantic-cache hits.

Contract
--------
The semantic cache reuses a cached answer when a new question's embedding is close
(cosine >= threshold) to a cached question's. Cosine alone cannot tell "How do I cancel
my Pro plan?" from "How do I cancel my Team plan?", so every candidate hit must also pass
``verify(query, cached_query)``: it extracts the facts that change an answer
(``extract_facets``: numbers, negation, plans, programming and natural languages, the
written language, times, units, entities, directions, routes) from both questions and
returns ``Verdict(ok=True, reason="ok")`` only when they agree, else ``ok=False`` and the
first group that differs ("numbers differ: {'10'} vs {'20'}").

Pure Python (re, unicodedata, dataclasses, functools), importing neither Django nor any
model: it runs in the web process on every candidate hit. ``verify`` memoises the facets
of recent questions (``clear_memo`` empties that memo); ``extract_facets`` never does.

Modules, in reading order:

* ``lexicon``       the vocabulary: word lists and lookup tables, data only;
* ``tokens``        a question's text as tokens;
* ``extraction``    tokens -> ``Facets`` (what each group holds and how it is found), with
                    ``numbers``, ``contextual`` (words read by their neighbours) and
                    ``language`` (the written-language guess);
* ``verification``  two questions' ``Facets`` -> ``Verdict`` (how each group is compared).

Measured (bench/semantic_cache_quality.py, all-MiniLM-L6-v2, bench/data/
semantic_cache_pairs.jsonl: 212 paraphrase pairs, 250 one-fact near-miss pairs):

* verifier alone: accepts 193/212 paraphrases (91.0%), rejects 248/250 near-misses (99.2%).
  The set was written alongside the verifier; a last batch of 40 + 40 pairs, scored before
  any tuning on it, gave 34/40 (85%) accepted and 36/40 (90%) rejected: expect that
  order of recall on unseen traffic, not 99%;
* cosine alone: at 0.80, 98/212 paraphrases hit and 147 near-misses hit (60% of hits
  wrong); at 0.95, 6/212 and 51 (89% wrong): on hard near-misses a higher threshold makes
  the share of wrong answers worse, not better;
* cosine + verifier: 2 wrong hits at 0.70-0.90 and 1 at 0.95; the wrong-hit share is lowest
  at 0.70 (1.4%: 139/212 paraphrases hit, 2 wrong) and no threshold reaches <= 1% on this
  set because of the two order/verb slips listed below;
* about 20 us per extract_facets() and 40 us per verify() call with nothing memoised,
  ~3 us when both questions' facets are in the small memo (CPython 3.11).

What still slips through: facts outside the groups above, e.g. swapped order of two
ordinary nouns ("invoice instead of credit card" vs "credit card instead of invoice"),
verbs from different direction axes ("set a cap" vs "remove the cap"), a different noun
("invoice" vs "receipt"), and a lowercase product name missing from the gazetteer. What it
wrongly rejects: paraphrases that expand an unknown acronym ("SDK" vs "client library"),
add or drop a number/unit/time ("How long" vs "How many days", "weekends" vs "Saturday or
Sunday"), or phrase the question negatively ("offline" vs "with no internet").
"""

from apps.gateway.cache_verifier.extraction import Facets, extract_facets
from apps.gateway.cache_verifier.verification import Verdict, clear_memo, verify

__all__ = ["Facets", "Verdict", "clear_memo", "extract_facets", "verify"]
