"""A question's text as tokens, the input of ``extraction.py``.

``prepare`` straightens typographic apostrophes, returns as entities what is compared
as written (URLs and email addresses, which it blanks out of the text, and quoted
strings) and rewrites a few multi-word names to one word ("single sign-on" -> SSO, "/mo"
-> "per month").
``tokenize`` then cuts the prepared text into ``Token`` tuples. Pure functions.
"""

from __future__ import annotations

import re
import unicodedata

from apps.gateway.cache_verifier.lexicon import FUNCTION_WORDS

# (kind, raw text, lower-cased and accent-folded text, number suffix): a plain tuple, as
# there are a dozen per question and extraction must stay cheap. The kinds are the named
# groups of _TOKEN_RE: word, ver (v2, 2.0.1), num (with its suffix: 10k, 5%, 3pm), end
# (of a sentence), cur (currency symbol), pct (% alone), arrow (-> or →).
Token = tuple[str, str, str, str]

# (substring that must occur in the lower-cased text, pattern, replacement)
_ALIASES: tuple[tuple[str, re.Pattern[str], str], ...] = (
    ("sign", re.compile(r"\bsingle[\s-]+sign[\s-]*on\b", re.I), " SSO "),
    (
        "two",
        re.compile(r"\btwo[\s-]*(?:factor|step)(?:[\s-]+auth\w*|[\s-]+verification)?", re.I),
        " 2FA ",
    ),
    ("multi", re.compile(r"\bmulti[\s-]*factor(?:[\s-]+auth\w*)?", re.I), " MFA "),
    ("cent", re.compile(r"\bper\s+cent\b", re.I), " percent "),
    ("non-", re.compile(r"\bnon-(?=[^\W\d_])", re.I), "non"),  # non-profit: not a negation
    ("version", re.compile(r"\bversion\s+(?=\d)", re.I), "v"),  # "version 2.0" == "v2.0"
    ("objective", re.compile(r"\bobjective[\s-]c\b", re.I), " objectivec "),
    ("/", re.compile(r"\s*/\s*(?:mo|month)\b", re.I), " per month "),
    ("/", re.compile(r"\s*/\s*(?:yr|year)\b", re.I), " per year "),
    ("/", re.compile(r"\s*/\s*(day|week|hour)\b", re.I), r" per \1 "),
    *(
        (trigger, re.compile(pattern, flags), f" {name} ")
        for trigger, pattern, flags, name in (
            # Well-known names and their usual short forms: one entity, however written.
            ("u", r"\bUnited\s+States(?:\s+of\s+America)?\b|\bU\.S\.(?:A\.)?|\bUSA\b", re.I, "US"),
            ("americ", r"\bAmerica(?:n)?\b", 0, "US"),
            ("u", r"\bUnited\s+Kingdom\b|\bGreat\s+Britain\b|\bBritain\b|\bU\.K\.", re.I, "UK"),
            ("arab", r"\bUnited\s+Arab\s+Emirates\b", re.I, "UAE"),
            ("new york", r"\bNew\s+York(?:\s+City)?\b|\bthe\s+Big\s+Apple\b", re.I, "NYC"),
            ("los angeles", r"\bLos\s+Angeles\b", re.I, "LA"),
            ("san francisco", r"\bSan\s+Francisco\b", re.I, "SF"),
            ("postgres", r"\bPostgres(?:QL)?\b", re.I, "Postgres"),
            ("os", r"\bmac\s?OS(?:\s?X)?\b|\bOS\s?X\b", re.I, "Mac"),
            ("react", r"\bReact(?:\.js|JS)\b", re.I, "React"),
            ("next", r"\bNext(?:\.js|JS)\b", re.I, "Nextjs"),
            ("node", r"\bNode(?:\.js|JS)\b", re.I, "Node"),
            ("gh", r"\bGH\b", 0, "GitHub"),
            ("k8s", r"\bk8s\b", re.I, "Kubernetes"),
            ("amazon web", r"\bAmazon\s+Web\s+Services\b", re.I, "AWS"),
            ("pull request", r"\bpull\s+requests?\b", re.I, "PR"),
            ("paid time off", r"\bpaid\s+time\s+off\b", re.I, "PTO"),
            ("service level", r"\bservice[\s-]+level\s+agreements?\b", re.I, "SLA"),
            ("from home", r"\bwork(?:ing)?\s+from\s+home\b", re.I, "WFH"),
            ("massachusetts", r"\bMassachusetts\s+Institute\s+of\s+Technology\b", re.I, "MIT"),
            ("tf", r"\bTF\b", 0, "TensorFlow"),
        )
    ),
)
_URL_HINT_RE = re.compile(r"@|://|www\.|\w\.(?:com|io|org|net|dev|app|ai|co|uk|de|fr)\b", re.I)

_URL_EMAIL_RE = re.compile(
    r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b|\bhttps?://\S+|\bwww\.\S+|\b[\w-]+(?:\.[\w-]+)*\."
    r"(?:com|io|org|net|dev|app|ai|co|uk|de|fr)(?:/\S*)?\b",
    re.I,
)
_QUOTED_RE = re.compile(r"\"([^\"]{1,80})\"|“([^”]{1,80})”|(?<!\w)'([^']{1,80})'(?!\w)")
_TOKEN_RE = re.compile(
    r"(?P<word>(?![vV]\d)[^\W\d_]\w*(?:'[^\W\d_]+)?(?:\+\+|#)?)"
    r"|(?P<ver>\b[vV]\d+(?:\.\d+)*\b|\b\d+\.\d+\.\d+(?:\.\d+)*\b)"
    r"|(?P<num>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)(?P<suf>[^\W\d_]+\b|%)?"
    r"|(?P<end>[.?!;:]+|\n)"
    r"|(?P<cur>[$€£¥₹])"
    r"|(?P<pct>%)"
    r"|(?P<arrow>->|→)"
)
_WORD_RE = re.compile(r"\w+")


def fold(word: str) -> str:
    """``word`` without accents ("français" -> "francais")."""
    if word.isascii():
        return word
    return unicodedata.normalize("NFKD", word).encode("ascii", "ignore").decode("ascii")


def prepare(text: str) -> tuple[str, set[str]]:
    """The text to tokenize, and the entities taken out of it: URLs and email addresses
    (lower-cased) and quoted strings (their words, lower-cased, without function words)."""
    if "\u2019" in text or "\u2018" in text:  # typographic apostrophes
        text = text.replace("\u2019", "'").replace("\u2018", "'")
    literals: set[str] = set()
    if _URL_HINT_RE.search(text):
        found = _URL_EMAIL_RE.findall(text)
        if found:
            for match in found:
                literals.add(match.lower().rstrip(".,;:!?)/"))
            text = _URL_EMAIL_RE.sub(" ", text)
    if '"' in text or "\u201c" in text or text.count("'") >= 2:
        for groups in _QUOTED_RE.findall(text):
            quoted = " ".join(
                w
                for w in _WORD_RE.findall(fold("".join(groups).lower()))
                if w not in FUNCTION_WORDS
            )
            if quoted:
                literals.add(quoted)
    lowered = text.lower()
    for trigger, pattern, replacement in _ALIASES:
        if trigger in lowered:
            text = pattern.sub(replacement, text)
    return text, literals


def tokenize(text: str) -> list[Token]:
    """The tokens of a prepared text. A word's folded form drops a possessive "'s"; a
    number's suffix is lower-cased."""
    tokens: list[Token] = []
    append = tokens.append
    for m in _TOKEN_RE.finditer(text):
        raw = m.group()
        kind = m.lastgroup or ""
        low = raw.lower()
        if kind == "word":
            if not low.isascii():
                low = fold(low)
            if low.endswith("'s"):
                low = low[:-2]
            append((kind, raw, low, ""))
        elif kind == "suf":  # the last group of a number with a suffix
            append(("num", raw, low, m.group("suf").lower()))
        else:
            append((kind, raw, low, ""))
    return tokens
