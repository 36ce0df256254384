"""The language a question is written in (``Facets.language``), guessed.

By the script when a large part of the letters is not Latin (zh, ja, ko, ru, ar, hi, el,
he, th), else by the language whose stopwords the question uses most (en, fr, de, es, it,
pt, nl: the scan counts them, ``lexicon.LANG_OF_WORD``); no guess on a tie. An answer
cached in French is wrong for an English question, so guesses that differ reject a hit.
"""

from __future__ import annotations

from apps.gateway.cache_verifier.lexicon import SCRIPTS


def written_language(text: str, scores: dict[str, int]) -> str | None:
    """The language ``text`` is written in: by its script, else by the stopword scores
    (None on a tie)."""
    language = None if text.isascii() else _script_language(text)
    if language is None and scores:
        best = second = 0
        for lang, score in scores.items():
            if score > best:
                language, best, second = lang, score, best
            elif score > second:
                second = score
        if best == second:  # a tie: no guess
            language = None
    return language


def _script_language(text: str) -> str | None:
    """Language guess from the script, when a large part of the letters is non-Latin."""
    counts: dict[str, int] = {}
    letters = 0
    for ch in text:
        if not ch.isalpha():
            continue
        letters += 1
        code = ord(ch)
        if code < 0x0370:
            continue
        for low, high, lang in SCRIPTS:
            if low <= code <= high:
                counts[lang] = counts.get(lang, 0) + 1
                break
    total = sum(counts.values())
    if not counts or total * 10 < letters * 3:
        return None
    if "ja" in counts:  # kana is decisive; kanji share the CJK block with Chinese
        return "ja"
    return max(counts, key=counts.__getitem__)
