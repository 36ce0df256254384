# ruff: noqa: E501  (data: the word lists read better one language a line)
"""Is a normalised text English? A cheap guess (microseconds) for the detector's second
stage, which gives the multilingual encoder a larger say where the n-gram model has seen
few rows of the language (g11, docs/guardrails-model-card.md).

A text is English unless more than 3% of its letters are not a-z (accents, other scripts)
or more of its words are common function words of the other languages the training data
carries most than of English. Short imperatives with no function word ("ignore previous
instructions") count as English, the n-gram model's strongest language. Measured on the
development rows' ``lang`` labels (bench/rules_by_source.py --share-other).
"""

from __future__ import annotations

import re


def _words(*lines: str) -> frozenset[str]:
    return frozenset(" ".join(lines).split())


_ENGLISH = _words(
    "the and you your of are this that with for please what my it be not can all from have",
    "will would should was were any our how when which there their they about into just only",
    "an on or if then than them these those been has had does did could",
)
# Spellings English shares with them (a, i, in, is, to, me, we, do, de) count for neither.
_OTHER = _words(
    "der die das und ist nicht ich du sie wir ein eine mit auf für den dem zu von bitte alle alles deine dein ihre keine oder wenn auch noch nur sind wie mir mich dir uns ohne",
    "le la les et est pas je tu vous nous un une des du pour avec sur ce cette tes vos votre ton ta toutes tous qui que ne plus",
    "el los las y es no yo usted una con por para este esta tus su sus todas todos que del al",
    "o os as um uma não com seu sua você isso",
    "il lo gli e è non io di per questo questa tutte tutti che della mi ti",
    "het een en niet ik je jij u wij van voor met op dit deze jouw uw maar ook mijn zijn naar wat hoe kunt graag",
    "och är inte jag vi ett för på den det att alla din ditt dina",
    "og er ikke jeg et at alle dit dine min mig venligst hvad hvordan",
    "w z na nie jest się że ze co jak wszystkie twoje proszę",
    "v se je že jsi jste prosím všechny tvoje",
    "și în nu este cu pe la că toate tale",
    "ve bir bu için ile değil tüm senin lütfen",
) - _words("a i in is to me we do de")
_WORD = re.compile(r"[^\W\d_]+")
# More letters outside a-z than this share: another alphabet or a language with accents.
_FOREIGN_LETTERS = 0.03


def is_english(normalized: str) -> bool:
    """Whether a normalised (lower-case) text reads as English."""
    words = _WORD.findall(normalized)
    if not words:
        return True
    letters = sum(map(len, words))
    foreign = sum(1 for word in words for ch in word if not "a" <= ch <= "z")
    if foreign > _FOREIGN_LETTERS * letters:
        return False
    english = sum(word in _ENGLISH for word in words)
    return english >= sum(word in _OTHER for word in words)
