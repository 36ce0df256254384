"""Deterministic verifier for semantic-cache hits.

Contract
--------
The semantic cache reuses a cached answer when a new question's embedding is close
(cosine >= threshold) to a cached question's. Cosine alone cannot tell "How do I cancel
my Pro plan?" from "How do I cancel my Team plan?", so every candidate hit must also pass
``verify(query, cached_query)``, which extracts the facts that change an answer
(``extract_facets``) from both questions and says ``ok`` only when they agree:

* numbers        set equality after normalisation ("10" == "ten" == "10.0",
                 "1,000" == "1000" == "1k", "5%" == "5 percent", "twenty-five" == "25");
* negation       flag equality (not, no, never, n't, without, cannot, none, nobody, ...,
                 plus the common French/German/Spanish/Italian/Portuguese/Dutch words);
* plans          free, pro, premium, enterprise, basic, starter, team, business (the
                 everyday words free/basic/team/business only next to plan/tier/... or
                 capitalised mid-sentence);
* prog_languages python, javascript/js, typescript/ts, go/golang, rust, c, c++, c#, ...;
* natural_languages  english, french/francais, german/deutsch, ...: set equality; and a
                 stopword/script guess of the language each question is written in
                 (en/fr/de/es/it/pt/nl, plus zh/ja/ko/ru/ar/hi/el/he by script) must not
                 differ: an answer cached in French is wrong for an English question;
* times          today/tomorrow/yesterday, weekdays, months, years (2024), this/next/last
                 week..., daily/monthly/yearly (== "per month", "annual"), am/pm, Q1..Q4,
                 time zones: set equality;
* units          currencies ($ == usd == dollars, EUR, GBP...), storage (kb..tb), durations
                 (ms..year), tokens/characters/words: set equality;
* entities       capitalised words not at sentence start (or at sentence start if not a
                 function word), ALL-CAPS acronyms, quoted strings, versions (v2, 2.0.1),
                 emails/URLs, and a small gazetteer of product names matched in any case.
                 Compared by *presence*: every entity of one question must occur (any case,
                 crude stemming) in the other, so "Stripe" vs "stripe" agree while
                 "Stripe" vs "PayPal" do not; emails/URLs must match exactly;
* directions     antonym axes (before/after, increase/decrease, more/less, min/max,
                 upgrade/downgrade, enable/disable, add/remove, import/export, buy/sell,
                 first/last, ...). Compared per axis: a conflict only when both questions
                 use the same axis with different sides, so a paraphrase that simply does
                 not use a direction word still agrees;
* routes         what follows from/to/into ("CSV to JSON" vs "JSON to CSV", "English to
                 French"), compared per end like directions.

Pure Python (re, unicodedata, dataclasses): it runs in the web process on every
candidate hit. The first failing group is reported in ``Verdict.reason``. ``verify``
memoises the facets of up to 4096 recent questions (<= 500 characters); ``extract_facets``
never does. ``Facets.language`` is the written-language guess and ``Facets.words`` the
lower-cased words used by the presence checks. In German text capitalisation is ignored
for entities (every noun is capitalised); the gazetteer, acronyms and quotes still count.

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

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

__all__ = ["Facets", "Verdict", "extract_facets", "verify"]


@dataclass(frozen=True)
class Facets:
    """The answer-changing facts of one question (all values lower-case, normalised)."""

    numbers: frozenset[str] = frozenset()
    entities: frozenset[str] = frozenset()
    negation: bool = False
    plans: frozenset[str] = frozenset()
    prog_languages: frozenset[str] = frozenset()
    natural_languages: frozenset[str] = frozenset()
    directions: frozenset[str] = frozenset()  # "axis:side"
    times: frozenset[str] = frozenset()
    units: frozenset[str] = frozenset()
    routes: frozenset[str] = frozenset()  # "from:x" / "to:y"
    language: str | None = None  # language the question is written in (guess)
    words: frozenset[str] = frozenset()  # every word and its crude stem, for presence checks


@dataclass(frozen=True)
class Verdict:
    ok: bool
    reason: str


# --------------------------------------------------------------------------- lexicons


def _words(text: str) -> frozenset[str]:
    """A word list written as one string (keeps the lexicons below readable)."""
    return frozenset(text.split())


def _aliases(spec: str) -> dict[str, str]:
    """``canonical: alias alias ...`` lines -> {alias: canonical}."""
    table: dict[str, str] = {}
    for line in spec.strip().splitlines():
        canonical, _, aliases = line.strip().partition(": ")
        for alias in aliases.split():
            table[alias] = canonical
    return table


def _inflect(base: str) -> set[str]:
    """Regular English inflections of a verb/noun (cheap, over-generating on purpose)."""
    forms = {base, base + "s", base + "es", base + "ed", base + "ing"}
    if base.endswith("e"):
        forms |= {base + "d", base[:-1] + "ing"}
    if base.endswith("y") and len(base) > 3 and base[-2] not in "aeiou":
        forms |= {base[:-1] + "ies", base[:-1] + "ied"}
    if (
        len(base) >= 3
        and base[-1] in "bdglmnprt"
        and base[-2] in "aeiou"
        and base[-3] not in "aeiou"
    ):
        forms |= {base + base[-1] + "ed", base + base[-1] + "ing"}
    return forms


# axis -> side -> words (base forms; inflected automatically unless marked exact with "=")
_DIRECTION_AXES: dict[str, dict[str, str]] = {
    "time_order": {
        "before": "before =prior =earlier =until =till =beforehand",
        "after": "=after =later =afterwards =following",
    },
    "quantity": {
        "up": (
            "increase raise =more =higher =above =over exceed grow =larger =bigger =longer boost "
            "=extra =additional"
        ),
        "down": (
            "decrease reduce =less =fewer =lower =below =under shrink =smaller =shorter =cheaper "
            "lessen"
        ),
    },
    "extreme": {
        "max": (
            "=max =maximum =most =highest =largest =biggest =longest =greatest =maximal maximize "
            "maximise =top =upper"
        ),
        "min": (
            "=minimum =least =lowest =smallest =shortest =fewest =minimal minimize minimise =bottom"
        ),
    },
    "speed": {"fast": "=faster =fastest =quicker", "slow": "=slower =slowest"},
    "order": {
        "first": "=first =earliest =oldest =initial =ascending =asc",
        "last": "=last =latest =newest =recent =final =descending =desc",
    },
    "plan_change": {"upgrade": "upgrade", "downgrade": "downgrade"},
    "toggle": {"on": "enable activate", "off": "disable deactivate"},
    "membership": {
        "add": "add create insert invite generate =new",
        "remove": "remove delete erase revoke kick =deletion =removal",
    },
    "io": {"import": "import", "export": "export"},
    "transfer": {"upload": "upload", "download": "download"},
    "trade": {"buy": "buy purchase =bought", "sell": "sell =sold resell"},
    "message": {"send": "send =sent", "receive": "receive"},
    "scope": {"include": "include", "exclude": "exclude"},
    "lifecycle": {"start": "start begin =began =begun launch", "stop": "stop halt"},
    "subscription": {
        "cancel": "cancel =cancelled =cancelling terminate =cancellation",
        "pause": "pause suspend",
        "renew": "renew reactivate resume =renewal",
    },
    "open": {"open": "open", "close": "close"},
    "lock": {"lock": "lock", "unlock": "unlock"},
    "subscribe": {"subscribe": "subscribe", "unsubscribe": "unsubscribe"},
    "session": {"login": "=login =logins =signin =logon", "logout": "=logout =signout =logoff"},
    "crypto": {"encrypt": "encrypt", "decrypt": "decrypt"},
    "encode": {"encode": "encode", "decode": "decode"},
    "compress": {"compress": "compress zip", "decompress": "decompress unzip"},
    "visibility": {"show": "show =shown reveal unhide", "hide": "hide =hidden"},
    "access": {"public": "=public =publicly", "private": "=private =privately"},
    "rw": {"read": "=read =readonly", "write": "=write =writable"},
    "permission": {
        "allow": "allow grant permit whitelist allowlist unblock",
        "deny": "deny block forbid blacklist blocklist =banned",
    },
    "decision": {"accept": "accept approve", "reject": "reject decline"},
    "money": {"charge": "charge =paid =billed =debited", "refund": "refund reimburse =credited"},
    "archive": {"archive": "archive", "unarchive": "unarchive"},
    "backup": {"backup": "backup", "restore": "restore recover"},
    "flow": {"incoming": "=incoming =inbound", "outgoing": "=outgoing =outbound"},
    "connection": {
        "connect": "connect link attach join",
        "disconnect": "disconnect unlink detach leave",
    },
    "install": {"install": "install", "uninstall": "uninstall"},
    "merge": {"merge": "merge combine", "split": "=split =splitting"},
    "push": {"push": "push", "pull": "pull"},
    "promote": {"promote": "promote", "demote": "demote"},
    "pin": {"pin": "pin", "unpin": "unpin"},
    "mute": {"mute": "mute", "unmute": "unmute"},
    "follow": {"follow": "follow", "unfollow": "unfollow"},
    "share": {"share": "share", "unshare": "unshare"},
    "assign": {"assign": "assign", "unassign": "unassign"},
    "expand": {"expand": "expand", "collapse": "collapse"},
    "case": {"upper": "=uppercase", "lower": "=lowercase"},
}

# Two-word phrases: (first, second) -> "axis:side"
_DIRECTION_BIGRAMS: dict[tuple[str, str], str] = {}
for _verb in ("turn", "turned", "turning", "switch", "switched", "switching", "toggle"):
    _DIRECTION_BIGRAMS[(_verb, "on")] = "toggle:on"
    _DIRECTION_BIGRAMS[(_verb, "off")] = "toggle:off"
for _verb in ("log", "logged", "logging", "sign", "signed", "signing"):
    _DIRECTION_BIGRAMS[(_verb, "in")] = "session:login"
    _DIRECTION_BIGRAMS[(_verb, "out")] = "session:logout"
for _verb in ("opt", "opted", "opting"):
    _DIRECTION_BIGRAMS[(_verb, "in")] = "optin:in"
    _DIRECTION_BIGRAMS[(_verb, "out")] = "optin:out"
for _verb in ("scale", "scaled", "scaling"):
    _DIRECTION_BIGRAMS[(_verb, "up")] = "quantity:up"
    _DIRECTION_BIGRAMS[(_verb, "down")] = "quantity:down"
for _verb in ("back", "backed", "backing"):
    _DIRECTION_BIGRAMS[(_verb, "up")] = "backup:backup"
_DIRECTION_BIGRAMS[("at", "least")] = "extreme:min"
_DIRECTION_BIGRAMS[("at", "most")] = "extreme:max"
_DIRECTION_BIGRAMS[("prior", "to")] = "time_order:before"
_DIRECTION_BIGRAMS[("read", "only")] = "rw:read"

_DIRECTIONS: dict[str, str] = {}
for _axis, _sides in _DIRECTION_AXES.items():
    for _side, _words_str in _sides.items():
        for _w in _words_str.split():
            for _form in {_w[1:]} if _w.startswith("=") else _inflect(_w):
                _DIRECTIONS[_form] = f"{_axis}:{_side}"

_NEGATIONS = _words(
    # English
    "not no never cannot none nobody nothing neither nor nowhere without unable "
    "dont doesnt didnt cant wont isnt arent wasnt werent shouldnt couldnt wouldnt "
    "impossible unavailable unsupported incompatible inaccessible unpaid unverified "
    "havent hasnt hadnt aint mustnt neednt "
    # French, German, Spanish, Italian, Portuguese, Dutch
    "ne pas jamais sans aucun aucune rien "
    "nicht kein keine keinen keinem keiner keines nie niemals ohne nichts niemand "
    "nunca sin ningun ninguna ninguno nada nadie tampoco "
    "non mai senza nessuno nessuna niente nulla "
    "nao sem nenhum nenhuma ninguem "
    "niet geen nooit zonder niets niemand"
)

_UNITS_WORDS = {
    "zero": 0,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "thirteen": 13,
    "fourteen": 14,
    "fifteen": 15,
    "sixteen": 16,
    "seventeen": 17,
    "eighteen": 18,
    "nineteen": 19,
    "dozen": 12,
    "twice": 2,
    "thrice": 3,
}
_TENS_WORDS = {
    "twenty": 20,
    "thirty": 30,
    "forty": 40,
    "fourty": 40,
    "fifty": 50,
    "sixty": 60,
    "seventy": 70,
    "eighty": 80,
    "ninety": 90,
}
_SCALE_WORDS = {"hundred": 100, "thousand": 1000, "million": 1_000_000, "billion": 1_000_000_000}
_NUMBER_WORDS = _UNITS_WORDS.keys() | _TENS_WORDS.keys() | _SCALE_WORDS.keys()
# "one" after _ONE_PRONOUN_BEFORE is a pronoun ("which one"), and so is a phrase-final
# "one" ("a yearly one?") unless a _COUNT_BEFORE word precedes it ("more than one").
_COUNT_BEFORE = _words("than just only exactly least most over under about to from")
_ONE_PRONOUN_BEFORE = _words(
    "which the this that each any every no another a an some last first new right other "
    "same old older newer wrong correct current existing default main"
)

_PLANS_ALWAYS = {
    "pro": "pro",
    "premium": "premium",
    "enterprise": "enterprise",
    "starter": "starter",
    "freemium": "free",
}
_PLANS_CONTEXTUAL = {
    "free": "free",
    "basic": "basic",
    "team": "team",
    "business": "business",
    "growth": "growth",
    "plus": "plus",
}
_PLAN_CONTEXT_WORDS = _words(
    "plan plans tier tiers subscription subscriptions edition license licence package "
    "account accounts seat seats version customers users"
)

_PROG_LANGUAGES = _aliases(
    """
    python: python python3 py
    javascript: javascript js node nodejs
    typescript: typescript ts
    java: java
    go: golang
    rust: rust
    ruby: ruby
    php: php
    kotlin: kotlin
    swift: swift
    scala: scala
    sql: sql
    bash: bash shell zsh
    powershell: powershell
    perl: perl
    elixir: elixir
    erlang: erlang
    haskell: haskell
    clojure: clojure
    dart: dart
    lua: lua
    julia: julia
    matlab: matlab
    fortran: fortran
    cobol: cobol
    objective-c: objectivec
    ocaml: ocaml
    groovy: groovy
    c++: c++ cpp
    c#: c# csharp
    f#: f#
    vb: vb
    html: html
    css: css
    solidity: solidity
    zig: zig
    nim: nim
    """
)
_GO_CONTEXT = _words(
    "sdk client library code program module package snippet example version app service "
    "function lang developer developers backend server binary"
)
_PROG_CONTEXT_BEFORE = _words("in using with for to from and or")

_NATURAL_LANGUAGES = _aliases(
    """
    english: english anglais englisch ingles inglese engels
    french: french francais franzosisch frances francese frans
    german: german deutsch allemand aleman tedesco alemao duits
    spanish: spanish espanol castellano espagnol spanisch spagnolo espanhol spaans
    italian: italian italiano italien italienisch
    portuguese: portuguese portugues portugais
    dutch: dutch nederlands neerlandais flemish
    chinese: chinese mandarin
    cantonese: cantonese
    japanese: japanese
    korean: korean
    arabic: arabic
    hindi: hindi
    russian: russian
    polish: polish
    turkish: turkish
    swedish: swedish
    norwegian: norwegian
    danish: danish
    finnish: finnish
    greek: greek
    hebrew: hebrew
    czech: czech
    ukrainian: ukrainian
    vietnamese: vietnamese
    thai: thai
    indonesian: indonesian
    bengali: bengali
    urdu: urdu
    persian: persian farsi
    romanian: romanian
    hungarian: hungarian
    swahili: swahili
    tagalog: tagalog
    catalan: catalan
    """
)

_MONTHS = {
    "january": "january",
    "february": "february",
    "march": "march",
    "april": "april",
    "june": "june",
    "july": "july",
    "august": "august",
    "september": "september",
    "october": "october",
    "november": "november",
    "december": "december",
}
_MONTH_ABBR = {
    "jan": "january",
    "feb": "february",
    "mar": "march",
    "apr": "april",
    "jun": "june",
    "jul": "july",
    "aug": "august",
    "sep": "september",
    "sept": "september",
    "oct": "october",
    "nov": "november",
    "dec": "december",
}
_TIME_WORDS: dict[str, str] = {
    "today": "today",
    "tonight": "tonight",
    "tomorrow": "tomorrow",
    "yesterday": "yesterday",
    "weekend": "weekend",
    "weekends": "weekend",
    "weekday": "weekday",
    "weekdays": "weekday",
    "morning": "morning",
    "mornings": "morning",
    "afternoon": "afternoon",
    "evening": "evening",
    "evenings": "evening",
    "night": "night",
    "overnight": "night",
    "nights": "night",
    "midnight": "midnight",
    "noon": "noon",
    "midday": "noon",
    "hourly": "hourly",
    "daily": "daily",
    "weekly": "weekly",
    "biweekly": "biweekly",
    "fortnightly": "biweekly",
    "monthly": "monthly",
    "quarterly": "quarterly",
    "yearly": "yearly",
    "annual": "yearly",
    "annually": "yearly",
    "q1": "q1",
    "q2": "q2",
    "q3": "q3",
    "q4": "q4",
    "utc": "tz:utc",
    "gmt": "tz:utc",
    "pst": "tz:pacific",
    "pdt": "tz:pacific",
    "est": "tz:eastern",
    "edt": "tz:eastern",
    "cet": "tz:cet",
    "cest": "tz:cet",
    "bst": "tz:bst",
    "ist": "tz:ist",
    "jst": "tz:jst",
    "aest": "tz:aest",
}
for _day in ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"):
    _TIME_WORDS[_day] = _day
    _TIME_WORDS[_day + "s"] = _day
_TIME_WORDS.update(_MONTHS)
_PERIODS = {
    "day": "daily",
    "week": "weekly",
    "month": "monthly",
    "year": "yearly",
    "hour": "hourly",
    "quarter": "quarterly",
    "weekend": "weekend",
}
_RELATIVE = {
    "this": "this",
    "current": "this",
    "next": "next",
    "coming": "next",
    "following": "next",
    "upcoming": "next",
    "last": "last",
    "previous": "last",
    "past": "last",
    "prior": "last",
}
_FREQUENCY_BEFORE = frozenset(["per", "each", "every", "a", "an"])
_NOT_FREQUENCY_BEFORE = _words("in within for after than about around")

_UNIT_WORDS = _aliases(
    """
    usd: usd dollar dollars buck bucks
    eur: eur euro euros
    gbp: gbp pound pounds quid sterling
    jpy: jpy yen
    inr: inr rupee rupees
    cad: cad
    aud: aud
    chf: chf
    cny: cny yuan rmb
    brl: brl
    mxn: mxn
    sek: sek
    cent: cent cents
    kb: kb kilobyte kilobytes
    mb: mb megabyte megabytes
    gb: gb gigabyte gigabytes gigs
    tb: tb terabyte terabytes
    kib: kib
    mib: mib
    gib: gib
    byte: byte bytes
    mbps: mbps
    gbps: gbps
    millisecond: ms millisecond milliseconds
    second: seconds sec secs
    minute: minute minutes mins
    hour: hour hours hr hrs
    day: day days
    week: week weeks
    month: month months
    year: year years
    token: token tokens
    character: character characters char chars
    word: word words
    pixel: pixel pixels px
    """
)
_CURRENCY_SYMBOLS = {"$": "usd", "€": "eur", "£": "gbp", "¥": "jpy", "₹": "inr"}
_NUMBER_SUFFIX_MULT = {
    "k": 1000,
    "m": 1_000_000,
    "mm": 1_000_000,
    "b": 1_000_000_000,
    "bn": 1_000_000_000,
}
_ORDINAL_SUFFIXES = frozenset(("st", "nd", "rd", "th"))
_SHORT_UNIT_SUFFIXES = {"min": "minute", "h": "hour", "d": "day", "s": "second", "w": "week"}
_CREDENTIAL_BEFORE = _words("api access auth bearer refresh personal secret csrf jwt id")
_NOT_ACRONYMS = _words("OK FAQ ASAP FYI BTW PS PLS THX TL DR")
_PERCENT_WORDS = frozenset(("percent", "pct", "percentage"))

# Product, vendor and tech names recognised as entities in any case.
_GAZETTEER = _words(
    "stripe paypal braintree paddle chargebee slack discord zoom gmail outlook google "
    "microsoft apple github gitlab bitbucket jira confluence notion trello asana figma "
    "zapier hubspot salesforce pipedrive intercom zendesk freshdesk shopify woocommerce "
    "wordpress webflow mailchimp sendgrid twilio postmark okta auth0 aws azure gcp heroku "
    "vercel netlify cloudflare docker kubernetes terraform postgres postgresql mysql "
    "mongodb redis sqlite snowflake bigquery redshift airtable excel sheets dropbox "
    "onedrive quickbooks xero openai anthropic claude gpt chatgpt gemini llama mistral "
    "android ios iphone ipad macos windows linux ubuntu chrome firefox safari visa "
    "mastercard amex sepa ach csv json xml pdf yaml xlsx api sso saml oauth scim 2fa mfa "
    "webhook webhooks graphql grpc admin admins owner owners viewer viewers editor "
    "editors"
)

# Function words never taken as entities even when capitalised at a sentence start.
_FUNCTION_WORDS = _words(
    "i i'm i've i'd i'll a an the is are was were be been am do does did done can could "
    "would should will shall may might must have has had how what why when where which "
    "who whom whose whats hows wheres whys there here this that these those it its it's "
    "my our your their his her we you they he she me us them if then so and but or also "
    "any all some every each no yes not please hi hello hey thanks thank ok okay quick "
    "question help tell show give explain let list need want get just is there's what's "
    "how's where's who's why's in on at for to of from with by about after before into as "
    "since until while besides instead regarding re hmm well sorry still now again one "
    "anyone someone somebody anybody everyone everything something anything wondering "
    "curious trying looking possible is it combien wieviel wieviele cuantos cuantas "
    "quantos quantas quanti quante hoeveel puis"
)

_DETERMINERS = _words("the a an my our your their his her its this that these those")

# Stopwords for the written-language guess (accents folded). A word may count for several.
_LANG_STOPWORDS: dict[str, str] = {
    "en": "the is are how what why when where which who do does did can could my i to of "
    "and you your it this that with for from there have has an be get should would will "
    "me our on at or if not any much many was were been being in",
    "fr": "le la les un une des du est sont je tu vous nous mon ma mes votre vos comment "
    "pourquoi quand quel quelle quels quelles que qui pour avec dans sur pas ne et ou "
    "peux peut puis faire ce cette il elle au aux d l j qu n c m y ai avez de en si "
    "suis mais aussi tous toutes combien",
    "de": "der die das den dem des ein eine einen einem einer ist sind ich du sie wir "
    "mein meine meinen meinem wie warum wann wo welche welcher welches kann konnen "
    "nicht und oder mit fur auf zu von es bei habe hat wird werden mich mir ihr ihre "
    "ihren sich noch nach uber kein keine gibt bitte mochte in wieviel viele",
    "es": "el los las un una es son yo mi mis su sus como que por para con del al y o "
    "puedo puede cuando donde cual cuanto cuanta hay lo se tengo tiene esta este "
    "usted nuestro nuestra pero muy sin porque de en si cuantos",
    "it": "il lo la gli le un una uno di del della delle dei che e non per con come "
    "posso puo mio mia miei sono qual quale quanto cosa perche quando dove si ho ha nel "
    "nella al alla questo questa mi ti ci vorrei anche in ne",
    "pt": "o os as um uma do da dos das que nao com para por como posso pode meu minha "
    "meus seu sua e em na nos ao qual quanto porque quando onde voce eu isso este esta "
    "tenho tem ser estou sem de se quantos",
    "nl": "de het een ik mijn hoe wat waarom wanneer waar welke kan kunnen niet en met "
    "voor op van te je jij u uw zijn dit dat er naar geen wordt worden hij ze ook "
    "heb hebben in hoeveel",
}
_LANG_OF_WORD: dict[str, tuple[str, ...]] = {}
for _lang, _words_str in _LANG_STOPWORDS.items():
    for _w in set(_words_str.split()):
        _LANG_OF_WORD[_w] = (*_LANG_OF_WORD.get(_w, ()), _lang)

_SCRIPTS: tuple[tuple[int, int, str], ...] = (
    (0x3040, 0x30FF, "ja"),
    (0xAC00, 0xD7AF, "ko"),
    (0x1100, 0x11FF, "ko"),
    (0x4E00, 0x9FFF, "zh"),
    (0x0400, 0x04FF, "ru"),
    (0x0600, 0x06FF, "ar"),
    (0x0900, 0x097F, "hi"),
    (0x0370, 0x03FF, "el"),
    (0x0590, 0x05FF, "he"),
    (0x0E00, 0x0E7F, "th"),
)

# One lookup per word: word -> (Facets group, normalised value). Later updates win.
_LEXICON: dict[str, tuple[str, str]] = {w: ("entities", w) for w in _GAZETTEER}
_LEXICON.update({"to": ("route", "to"), "into": ("route", "to"), "from": ("route", "from")})
_LEXICON.update((w, ("directions", v)) for w, v in _DIRECTIONS.items())
_LEXICON.update((w, ("units", v)) for w, v in _UNIT_WORDS.items())
_LEXICON.update((w, ("times", v)) for w, v in _TIME_WORDS.items())
_LEXICON.update((w, ("naturals", v)) for w, v in _NATURAL_LANGUAGES.items())
_LEXICON.update((w, ("progs", v)) for w, v in _PROG_LANGUAGES.items())
_LEXICON.update((w, ("plans", v)) for w, v in _PLANS_ALWAYS.items())
# Time zones spelled like common words (French "est", "cet"; German "ist"): upper-case only.
_AMBIGUOUS_TZ = frozenset(("est", "ist", "cet"))
_AMBIGUOUS = frozenset(
    {"may", "min", "mins", "second", "go", "c", "r", "token", "tokens"}
    | _AMBIGUOUS_TZ
    | _MONTH_ABBR.keys()
    | _PLANS_CONTEXTUAL.keys()
)
_PHRASE_STARTERS = frozenset(
    {first for first, _ in _DIRECTION_BIGRAMS} | _RELATIVE.keys() | _FREQUENCY_BEFORE
)

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


def _fold(word: str) -> str:
    if word.isascii():
        return word
    return unicodedata.normalize("NFKD", word).encode("ascii", "ignore").decode("ascii")


def _stem(word: str) -> str:
    """Crude suffix stripping, good enough for "invoices" ~ "invoice" ~ "invoicing"."""
    if len(word) <= 4:
        return word[:-1] if len(word) == 4 and word[-1] == "s" and word[-2] != "s" else word
    if word.endswith("ies"):
        return word[:-3] + "y"
    if word.endswith("ing") and len(word) > 5:
        word = word[:-3]
    elif word.endswith("ed"):
        word = word[:-2]
    elif word.endswith("s") and not word.endswith("ss"):
        word = word[:-1]
    if word.endswith("e") and len(word) > 4:
        word = word[:-1]
    return word


def _norm_number(raw: str, mult: int = 1) -> str:
    raw = raw.replace(",", "")
    if "." in raw:
        whole, frac = raw.split(".", 1)
        frac = frac.rstrip("0")
        if mult != 1:
            value = float(f"{whole}.{frac or '0'}") * mult
            return str(int(value)) if value == int(value) else repr(value)
        whole = str(int(whole))
        return f"{whole}.{frac}" if frac else whole
    return str(int(raw) * mult)


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
        for low, high, lang in _SCRIPTS:
            if low <= code <= high:
                counts[lang] = counts.get(lang, 0) + 1
                break
    total = sum(counts.values())
    if not counts or total * 10 < letters * 3:
        return None
    if "ja" in counts:  # kana is decisive; kanji share the CJK block with Chinese
        return "ja"
    return max(counts, key=counts.__getitem__)


class _Extractor:
    """One pass over the tokens of one question; ``run`` returns its Facets."""

    __slots__ = (
        "at_start",
        "cap_entities",
        "directions",
        "entities",
        "in_spelled",
        "lang_scores",
        "last_was_number",
        "naturals",
        "negation",
        "numbers",
        "plans",
        "progs",
        "route_mode",
        "routes",
        "shouting",
        "spelled",
        "spelled_cur",
        "times",
        "units",
        "words",
    )

    def __init__(self) -> None:
        self.entities: set[str] = set()
        self.cap_entities: set[str] = set()  # entities known only from capitalisation
        self.words: set[str] = set()
        self.numbers: list[str] = []
        self.plans: set[str] = set()
        self.progs: set[str] = set()
        self.naturals: set[str] = set()
        self.directions: set[str] = set()
        self.times: set[str] = set()
        self.units: set[str] = set()
        self.routes: set[str] = set()
        self.negation = False
        self.lang_scores: dict[str, int] = {}
        self.at_start = True
        self.shouting = False  # an all-caps text: capitalisation carries no information
        self.spelled = 0
        self.spelled_cur = 0
        self.in_spelled = False
        self.last_was_number = False
        self.route_mode: str | None = None

    def flush_spelled(self) -> None:
        if self.in_spelled:
            self.numbers.append(str(self.spelled + self.spelled_cur))
            self.last_was_number = True
        self.spelled = self.spelled_cur = 0
        self.in_spelled = False

    def classified(self, value: str) -> None:
        if self.route_mode is not None:
            self.routes.add(f"{self.route_mode}:{value}")
            self.route_mode = None

    def number_token(self, digits: str, suffix: str, low: str, prev: str, nxt: str) -> None:
        self.at_start = False
        self.last_was_number = True
        if suffix in _NUMBER_SUFFIX_MULT:
            self.numbers.append(_norm_number(digits, _NUMBER_SUFFIX_MULT[suffix]))
        elif suffix == "%":
            self.numbers.append(_norm_number(digits) + "%")
        elif suffix in ("am", "pm"):
            self.numbers.append(_norm_number(digits))
            self.times.add(suffix)
        elif suffix in _UNIT_WORDS or suffix in _SHORT_UNIT_SUFFIXES:
            self.numbers.append(_norm_number(digits))
            self.units.add(_UNIT_WORDS.get(suffix) or _SHORT_UNIT_SUFFIXES[suffix])
        elif suffix and suffix not in _ORDINAL_SUFFIXES:
            # "2FA", "4o", "10x": an identifier rather than a quantity
            self.entities.add(low)
            self.words.add(low)
            self.last_was_number = False
        elif (
            len(digits) == 4
            and digits.isdigit()
            and not suffix
            and 1900 <= int(digits) <= 2099
            and prev not in _CURRENCY_SYMBOLS
            and nxt not in _UNIT_WORDS
        ):
            self.times.add(digits)
            self.classified(digits)
            self.last_was_number = False
        else:
            self.numbers.append(_norm_number(digits))

    def run(self, tokens: list[tuple[str, str, str, str]]) -> None:
        n = len(tokens)
        skip_next = False
        for i in range(n):
            if skip_next:
                skip_next = False
                continue
            kind, raw, low, suffix = tokens[i]
            nxt = tokens[i + 1][2] if i + 1 < n else ""
            nxt_kind = tokens[i + 1][0] if i + 1 < n else "end"
            prev = tokens[i - 1][2] if i > 0 else ""

            if self.in_spelled and (kind != "word" or low not in _NUMBER_WORDS):
                if kind == "word" and low == "and" and nxt in _NUMBER_WORDS:
                    continue
                self.flush_spelled()

            if kind == "end":
                self.at_start = True
                self.last_was_number = False
                self.route_mode = None
                continue
            if kind == "cur":
                self.units.add(_CURRENCY_SYMBOLS[raw])
                continue
            if kind == "pct":
                if self.last_was_number and self.numbers:
                    self.numbers[-1] += "%"
                self.last_was_number = False
                continue
            if kind == "arrow":
                self.route_mode = "to"
                continue
            if kind == "ver":
                self.entities.add(low)
                self.words.add(low)
                self.classified(low)
                self.at_start = False
                self.last_was_number = False
                continue
            if kind == "num":
                self.number_token(raw[: len(raw) - len(suffix)], suffix, low, prev, nxt)
                continue
            skip_next = self.word(raw, low, prev, nxt, nxt_kind)
        self.flush_spelled()

    def word(self, raw: str, low: str, prev: str, nxt: str, nxt_kind: str) -> bool:
        """Classify one word; True when the next token was consumed (a two-word phrase)."""
        was_start = self.at_start
        self.at_start = False
        if "'" in low:
            if low.endswith("n't") or (low.startswith("n'") and len(low) > 2):
                self.negation = True
            for part in low.split("'"):
                self.score_language(part)
        else:
            self.score_language(low)
        self.words.add(low)

        if low in _NEGATIONS:
            self.negation = True
            self.last_was_number = False
            return False
        if low in _NUMBER_WORDS:
            self.number_word(low, prev, nxt, nxt_kind)
            return False
        if low in _PERCENT_WORDS:
            if self.last_was_number and self.numbers:
                self.numbers[-1] += "%"
            self.last_was_number = False
            return False
        after_number = self.last_was_number
        self.last_was_number = False

        if low in _PHRASE_STARTERS:
            bigram = _DIRECTION_BIGRAMS.get((low, nxt))
            if bigram is not None:
                self.directions.add(bigram)
                self.route_mode = None
                return True
            # relative and frequency time expressions: "next month", "per year", "last Monday"
            if low in _RELATIVE and (nxt in _PERIODS or nxt in _TIME_WORDS):
                self.times.add(f"{_RELATIVE[low]}_{_TIME_WORDS.get(nxt, nxt)}")
                return True
            if low in _FREQUENCY_BEFORE and nxt in _PERIODS and prev not in _NOT_FREQUENCY_BEFORE:
                self.times.add(_PERIODS[nxt])
                return True

        is_cap = raw[0].isupper()
        if low in _AMBIGUOUS and self.ambiguous(
            raw, low, prev, nxt, nxt_kind, is_cap and not was_start, after_number
        ):
            return False

        entry = _LEXICON.get(low)
        if entry is not None:
            group, value = entry
            if group == "route":
                self.route_mode = value
                return False
            if group == "directions":
                self.directions.add(value)
                self.route_mode = None
                return False
            getattr(self, group).add(value)
            self.classified(value)
            return False

        if is_cap and not self.shouting:
            if len(raw) >= 2 and raw.isupper():
                # acronyms, including those spelled like function words: US, IT, EU
                if raw not in _NOT_ACRONYMS:
                    self.entities.add(low)
                    self.classified(low)
                    return False
            elif low in _FUNCTION_WORDS or low in _LANG_OF_WORD:
                pass
            elif (not was_start and raw != "A") or (was_start and len(raw) > 2):
                # Mid-sentence capitals are names. A capitalised opener that is not a function
                # word is a name ("Stripe payouts failing?") or a verb ("Export data?"):
                # entities are compared by presence, so a verb the other question also uses
                # costs nothing.
                self.entities.add(low)
                self.cap_entities.add(low)
                self.classified(low)
                return False
        if low not in _DETERMINERS:
            self.route_mode = None
        return False

    def score_language(self, word: str) -> None:
        langs = _LANG_OF_WORD.get(word)
        if langs:
            scores = self.lang_scores
            for lang in langs:
                scores[lang] = scores.get(lang, 0) + 1

    def number_word(self, low: str, prev: str, nxt: str, nxt_kind: str) -> None:
        """Accumulate a spelled-out number ("twenty-five", "one hundred and fifty")."""
        if low == "one" and (
            prev in _ONE_PRONOUN_BEFORE
            or nxt in ("of", "another", "by")
            # "a yearly one?", "the old one and": a pronoun closing the phrase
            or (
                (nxt_kind == "end" or nxt in ("and", "or", "instead")) and prev not in _COUNT_BEFORE
            )
        ):
            return
        self.in_spelled = True
        if low in _UNITS_WORDS:
            self.spelled_cur += _UNITS_WORDS[low]
        elif low in _TENS_WORDS:
            self.spelled_cur += _TENS_WORDS[low]
        elif low == "hundred":
            self.spelled_cur = max(self.spelled_cur, 1) * 100
        else:
            self.spelled += max(self.spelled_cur, 1) * _SCALE_WORDS[low]
            self.spelled_cur = 0

    def ambiguous(
        self,
        raw: str,
        low: str,
        prev: str,
        nxt: str,
        nxt_kind: str,
        mid_cap: bool,
        after_number: bool,
    ) -> bool:
        """Words whose group depends on context; True when the word was consumed."""
        if low == "may":  # the month, not the verb
            if mid_cap or nxt_kind == "num" or after_number:
                self.times.add("may")
                self.classified("may")
            return True
        if low in ("min", "mins"):
            if after_number:
                self.units.add("minute")
            else:
                self.directions.add("extreme:min")
            return True
        if low == "second":
            if after_number:
                self.units.add("second")
                return True
            return False
        if low in _MONTH_ABBR:
            if after_number or nxt_kind == "num":
                self.times.add(_MONTH_ABBR[low])
                self.classified(_MONTH_ABBR[low])
                return True
            return False
        if low == "go":
            if mid_cap or nxt in _GO_CONTEXT:
                self.progs.add("go")
                self.classified("go")
            return True
        if low in ("c", "r"):
            if raw in ("C", "R") and (prev in _PROG_CONTEXT_BEFORE or nxt in _GO_CONTEXT):
                self.progs.add(low)
                self.classified(low)
                return True
            return False
        if low in _AMBIGUOUS_TZ:
            if raw.isupper():
                self.times.add(_TIME_WORDS[low])
                self.classified(_TIME_WORDS[low])
            return True
        if low in ("token", "tokens"):  # "API token" is a credential, not a unit
            return prev in _CREDENTIAL_BEFORE or nxt in ("key", "keys")
        # everyday words that are also plan names: free, basic, team, business...
        if (
            nxt in _PLAN_CONTEXT_WORDS
            or mid_cap
            or (prev in ("to", "from", "on") and (nxt_kind == "end" or nxt in ("and", "or")))
        ):
            self.plans.add(_PLANS_CONTEXTUAL[low])
            self.classified(_PLANS_CONTEXTUAL[low])
        return True


_EMPTY: frozenset[str] = frozenset()


def extract_facets(text: str) -> Facets:
    """Extract the answer-changing facts of ``text`` (see the module docstring)."""
    if "\u2019" in text or "\u2018" in text:  # typographic apostrophes
        text = text.replace("\u2019", "'").replace("\u2018", "'")
    ex = _Extractor()

    if _URL_HINT_RE.search(text):
        found = _URL_EMAIL_RE.findall(text)
        if found:
            for match in found:
                ex.entities.add(match.lower().rstrip(".,;:!?)/"))
            text = _URL_EMAIL_RE.sub(" ", text)
    if '"' in text or "\u201c" in text or text.count("'") >= 2:
        for groups in _QUOTED_RE.findall(text):
            quoted = " ".join(
                w
                for w in _WORD_RE.findall(_fold("".join(groups).lower()))
                if w not in _FUNCTION_WORDS
            )
            if quoted:
                ex.entities.add(quoted)
    lowered = text.lower()
    for trigger, pattern, replacement in _ALIASES:
        if trigger in lowered:
            text = pattern.sub(replacement, text)

    tokens: list[tuple[str, str, str, str]] = []  # (kind, raw, lower-folded, number suffix)
    append = tokens.append
    for m in _TOKEN_RE.finditer(text):
        raw = m.group()
        kind = m.lastgroup or ""
        low = raw.lower()
        if kind == "word":
            if not low.isascii():
                low = _fold(low)
            if low.endswith("'s"):
                low = low[:-2]
            append((kind, raw, low, ""))
        elif kind == "suf":
            append(("num", raw, low, m.group("suf").lower()))
        else:
            append((kind, raw, low, ""))
    ex.shouting = text.isupper()
    ex.run(tokens)

    language = None if text.isascii() else _script_language(text)
    if language is None and ex.lang_scores:
        best = second = 0
        for lang, score in ex.lang_scores.items():
            if score > best:
                language, best, second = lang, score, best
            elif score > second:
                second = score
        if best == second:  # a tie: no guess
            language = None

    entities = ex.entities
    if language == "de" and ex.cap_entities:
        # German capitalises every noun: capitalisation says nothing about names there.
        entities = entities - ex.cap_entities
    return Facets(
        numbers=frozenset(ex.numbers) if ex.numbers else _EMPTY,
        entities=frozenset(entities) if entities else _EMPTY,
        negation=ex.negation,
        plans=frozenset(ex.plans) if ex.plans else _EMPTY,
        prog_languages=frozenset(ex.progs) if ex.progs else _EMPTY,
        natural_languages=frozenset(ex.naturals) if ex.naturals else _EMPTY,
        directions=frozenset(ex.directions) if ex.directions else _EMPTY,
        times=frozenset(ex.times) if ex.times else _EMPTY,
        units=frozenset(ex.units) if ex.units else _EMPTY,
        routes=frozenset(ex.routes) if ex.routes else _EMPTY,
        language=language,
        words=frozenset(ex.words),
    )


# --------------------------------------------------------------------------- comparison


def _fmt(values: frozenset[str] | set[str]) -> str:
    return "{" + ", ".join(repr(v) for v in sorted(values)) + "}"


def _absent(mine: frozenset[str], other: Facets, other_group: frozenset[str]) -> set[str]:
    """Items of ``mine`` that the other question neither has in its group nor mentions."""
    missing: set[str] = set()
    other_stems: set[str] | None = None
    for item in mine:
        if item in other_group:
            continue
        if "@" in item or "/" in item:  # emails and URLs: exact only
            missing.add(item)
            continue
        for part in item.split():
            if part in other.words:
                continue
            if other_stems is None:
                other_stems = {_stem(w) for w in other.words} | other.words
            if _stem(part) not in other_stems:
                missing.add(item)
                break
    return missing


def _axis_conflict(a: frozenset[str], b: frozenset[str]) -> bool:
    """True when both sets use an axis ("axis:side") with different sides."""
    sides_a: dict[str, set[str]] = {}
    for item in a:
        axis, _, side = item.partition(":")
        sides_a.setdefault(axis, set()).add(side)
    sides_b: dict[str, set[str]] = {}
    for item in b:
        axis, _, side = item.partition(":")
        sides_b.setdefault(axis, set()).add(side)
    return any(axis in sides_b and sides_b[axis] != sides for axis, sides in sides_a.items())


# Facets of recently seen questions: a query is verified against several candidates, and a
# popular cached question against many queries. Plain dict (thread-safe enough: the worst
# case is a duplicate extraction), emptied when full; long texts are not kept.
_MEMO: dict[str, Facets] = {}
_MEMO_MAX_ENTRIES = 4096
_MEMO_MAX_CHARS = 500


def _facets(text: str) -> Facets:
    facets = _MEMO.get(text)
    if facets is None:
        facets = extract_facets(text)
        if len(text) <= _MEMO_MAX_CHARS:
            if len(_MEMO) >= _MEMO_MAX_ENTRIES:
                _MEMO.clear()
            _MEMO[text] = facets
    return facets


def verify(query: str, cached_query: str) -> Verdict:
    """Whether the cached answer to ``cached_query`` may be served for ``query``."""
    a = _facets(query)
    b = _facets(cached_query)
    if a.language is not None and b.language is not None and a.language != b.language:
        return Verdict(False, f"written language differs: {a.language!r} vs {b.language!r}")
    if a.natural_languages != b.natural_languages:
        return Verdict(
            False,
            f"languages differ: {_fmt(a.natural_languages)} vs {_fmt(b.natural_languages)}",
        )
    if a.negation != b.negation:
        return Verdict(False, f"negation differs: {a.negation} vs {b.negation}")
    if a.numbers != b.numbers:
        return Verdict(False, f"numbers differ: {_fmt(a.numbers)} vs {_fmt(b.numbers)}")
    if a.plans != b.plans and (_absent(a.plans, b, b.plans) or _absent(b.plans, a, a.plans)):
        return Verdict(False, f"plans differ: {_fmt(a.plans)} vs {_fmt(b.plans)}")
    if a.prog_languages != b.prog_languages:
        return Verdict(
            False,
            f"programming languages differ: {_fmt(a.prog_languages)} vs {_fmt(b.prog_languages)}",
        )
    if a.entities != b.entities:
        only_a = _absent(a.entities, b, b.entities)
        only_b = _absent(b.entities, a, a.entities)
        if only_a or only_b:
            return Verdict(False, f"entities differ: {_fmt(only_a)} vs {_fmt(only_b)}")
    if a.directions != b.directions and _axis_conflict(a.directions, b.directions):
        return Verdict(False, f"directions differ: {_fmt(a.directions)} vs {_fmt(b.directions)}")
    if a.routes != b.routes and _axis_conflict(a.routes, b.routes):
        return Verdict(False, f"routes differ: {_fmt(a.routes)} vs {_fmt(b.routes)}")
    if a.times != b.times:
        return Verdict(False, f"times differ: {_fmt(a.times)} vs {_fmt(b.times)}")
    if a.units != b.units:
        return Verdict(False, f"units differ: {_fmt(a.units)} vs {_fmt(b.units)}")
    return Verdict(True, "ok")
