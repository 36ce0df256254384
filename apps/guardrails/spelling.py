"""Spelling tricks that NFKC leaves alone, undone so the detector reads the words.

- **Homoglyphs**: Cyrillic and Greek letters that look like Latin ones ("ignore" spelt
  with a Cyrillic i, o and e). NFKC keeps them apart, so a pattern for "ignore" misses. A word
  that mixes Latin with such letters is folded to Latin; a word wholly in Cyrillic or
  Greek is real text in that script and stays as written.
- **Leetspeak** ("1gn0re y0ur pr3vious") and **spaced letters** ("r e v e a l  t h e"):
  ``respellings`` returns the text read back, as extra views for the detector, only when
  the text shows the trick (several words mixing letters and digits; a long run of
  single letters), so ordinary text costs nothing.
- **rot13 without a hint**: ``looks_rot13`` says whether rotating the text turns
  gibberish into common words, so a rot13 run is decoded even when nothing names it.
"""

from __future__ import annotations

import re

# Letters of other scripts drawn like Latin ones (Unicode's confusables that survive NFKC
# and lower-casing), by code point: Cyrillic, then Greek.
_CONFUSABLE = str.maketrans(
    {
        chr(code): latin
        for code, latin in (
            (0x0430, "a"),
            (0x0432, "b"),
            (0x0435, "e"),
            (0x0451, "e"),
            (0x04BB, "h"),
            (0x0456, "i"),
            (0x0457, "i"),
            (0x0458, "j"),
            (0x043A, "k"),
            (0x043C, "m"),
            (0x043D, "h"),
            (0x043E, "o"),
            (0x0440, "p"),
            (0x0441, "c"),
            (0x0442, "t"),
            (0x0443, "y"),
            (0x0445, "x"),
            (0x0455, "s"),
            (0x0501, "d"),
            (0x051B, "q"),
            (0x051D, "w"),
            (0x03B1, "a"),
            (0x03B5, "e"),
            (0x03B9, "i"),
            (0x03BA, "k"),
            (0x03BD, "v"),
            (0x03BF, "o"),
            (0x03C1, "p"),
            (0x03C4, "t"),
            (0x03C5, "u"),
            (0x03C7, "x"),
        )
    }
)
_CONFUSABLE_CHARS = "".join(chr(code) for code in _CONFUSABLE)
_MIXED_WORD_RE = re.compile(
    rf"\b(?=\w*[a-z])(?=\w*[{_CONFUSABLE_CHARS}])[\w{_CONFUSABLE_CHARS}]+\b"
)

_LEET = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a"})
_LEET_WORD_RE = re.compile(r"\b(?=[\w@]*[a-z])(?=[\w@]*[013457@])[a-z013457@]{3,}\b")
_SPACED_RUN_RE = re.compile(r"(?:\b\w\b {1,3}){5,}\b\w\b")

# The commonest English words, and those of the attacks: rot13 text has few of them,
# its rotation many.
_COMMON_WORDS = (
    "the be to of and a in that have i it for not on with he as you do at this but his by "
    "from they we say her she or an will my one all would there their what so up out if "
    "about who get which go me when make can like time no just him know take people into "
    "year your good some could them see other than then now look only come its over think "
    "also back after use two how our work first well way even new want because any these "
    "give day most us is are was were been has had did said ignore previous instructions "
    "prompt system rules reveal show print tell delete send answer without"
)
_COMMON = frozenset(_COMMON_WORDS.split())
_ASCII_WORD_RE = re.compile(r"[a-z]+")
# rot13 of ASCII lower-case letters (the words above), without the codec's lookup per word.
_ROT13 = str.maketrans("abcdefghijklmnopqrstuvwxyz", "nopqrstuvwxyzabcdefghijklm")


def fold_homoglyphs(lowered: str) -> str:
    """``lowered`` (lower case) with mixed-script words spelt in Latin letters."""
    return _MIXED_WORD_RE.sub(lambda m: m.group(0).translate(_CONFUSABLE), lowered)


def respellings(text: str) -> list[str]:
    """``text`` with leetspeak or spaced-out letters read back; empty when it has neither.

    Takes the text before its spaces are collapsed: in "r e v e a l   t h e" one space
    joins the letters of a word and two or more separate words."""
    lowered = text.casefold()
    found: list[str] = []
    if len(_LEET_WORD_RE.findall(lowered)) >= 2:
        found.append(_LEET_WORD_RE.sub(lambda m: m.group(0).translate(_LEET), lowered))
    if _SPACED_RUN_RE.search(lowered):
        found.append(_SPACED_RUN_RE.sub(lambda m: _unspace(m.group(0)), lowered))
    return found


def _unspace(run: str) -> str:
    return " ".join(word.replace(" ", "") for word in re.split(r" {2,}", run))


def looks_rot13(text: str) -> bool:
    """Whether rotating ``text`` by 13 letters turns it into noticeably more common words."""
    words = _ASCII_WORD_RE.findall(text.lower())
    if len(words) < 4:
        return False
    plain = sum(word in _COMMON for word in words)
    if 2 * plain + 2 > len(words):
        return False  # even every word rotating into a common one would not be enough
    rotated = sum(word.translate(_ROT13) in _COMMON for word in words)
    return rotated >= 3 and rotated >= 2 * plain + 2
