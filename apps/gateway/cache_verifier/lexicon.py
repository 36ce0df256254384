"""The verifier's vocabulary: word lists and the lookup tables built from them.

Data only: what a table means to a question is decided by the modules that read it
(``extraction.py`` and its helpers). Words are lower-case ASCII (accents folded), as
``tokens.py`` yields them; only NOT_ACRONYMS is upper-case, as it is matched against the
text as written. The small helpers here turn readable lists (``"a b c"``, or
``canonical: alias alias`` lines) into frozensets and dicts at import; nothing changes a
table afterwards (they are typed ``frozenset``, ``Mapping`` or tuples, so the type
checker says so too).

A word added here changes verdicts: run tests/gateway/test_cache_verifier.py and
bench/semantic_cache_quality.py afterwards.
"""

from __future__ import annotations

from collections.abc import Mapping


def _words(text: str) -> frozenset[str]:
    """A word list written as one string."""
    return frozenset(text.split())


def _same(text: str) -> dict[str, str]:
    """Words that stand for themselves: {word: word}."""
    return {word: word for word in text.split()}


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


def _counting(text: str, start: int, step: int) -> dict[str, int]:
    """Words that count: the first is ``start``, each next one ``step`` more."""
    return {word: start + i * step for i, word in enumerate(text.split())}


def _phrases(firsts: str, seconds: Mapping[str, str]) -> dict[tuple[str, str], str]:
    """Each of ``firsts`` followed by each key of ``seconds`` -> that key's value."""
    return {(first, second): value for first in firsts.split() for second, value in seconds.items()}


# --------------------------------------------------------------------------- negation

NEGATIONS = _words(
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


# ---------------------------------------------------------------------------- numbers

UNITS_WORDS: Mapping[str, int] = {
    **_counting(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen "
        "fourteen fifteen sixteen seventeen eighteen nineteen",
        start=0,
        step=1,
    ),
    "dozen": 12,
    "twice": 2,
    "thrice": 3,
}
TENS_WORDS: Mapping[str, int] = {
    **_counting("twenty thirty forty fifty sixty seventy eighty ninety", start=20, step=10),
    "fourty": 40,
}
SCALE_WORDS: Mapping[str, int] = {
    "hundred": 100,
    "thousand": 1000,
    "million": 1_000_000,
    "billion": 1_000_000_000,
}
NUMBER_WORDS = frozenset(UNITS_WORDS.keys() | TENS_WORDS.keys() | SCALE_WORDS.keys())
# "one" after ONE_PRONOUN_BEFORE is a pronoun ("which one"), and so is a phrase-final
# "one" ("a yearly one?") unless a COUNT_BEFORE word precedes it ("more than one").
COUNT_BEFORE = _words("than just only exactly least most over under about to from")
ONE_PRONOUN_BEFORE = _words(
    "which the this that each any every no another a an some last first new right other "
    "same old older newer wrong correct current existing default main"
)
PERCENT_WORDS = frozenset(("percent", "pct", "percentage"))
# "10k", "2.5m": multipliers written after the digits
NUMBER_SUFFIX_MULT: Mapping[str, int] = {
    "k": 1000,
    "m": 1_000_000,
    "mm": 1_000_000,
    "b": 1_000_000_000,
    "bn": 1_000_000_000,
}
ORDINAL_SUFFIXES = frozenset(("st", "nd", "rd", "th"))

# ------------------------------------------------------------------------------ plans

PLANS_ALWAYS: Mapping[str, str] = {**_same("pro premium enterprise starter"), "freemium": "free"}
# Everyday words that are plan names only in context ("the Team plan", "to Business").
PLANS_CONTEXTUAL: Mapping[str, str] = _same("free basic team business growth plus")
PLAN_CONTEXT_WORDS = _words(
    "plan plans tier tiers subscription subscriptions edition license licence package "
    "account accounts seat seats version customers users"
)

# --------------------------------------------------------------- programming languages

PROG_LANGUAGES: Mapping[str, str] = {
    **_same(
        "java rust ruby php kotlin swift scala sql powershell perl elixir erlang haskell "
        "clojure dart lua julia matlab fortran cobol ocaml groovy f# vb html css solidity "
        "zig nim"
    ),
    **_aliases(
        """
        python: python python3 py
        javascript: javascript js node nodejs
        typescript: typescript ts
        go: golang
        bash: bash shell zsh
        objective-c: objectivec
        c++: c++ cpp
        c#: c# csharp
        """
    ),
}
GO_CONTEXT = _words(
    "sdk client library code program module package snippet example version app service "
    "function lang developer developers backend server binary"
)
PROG_CONTEXT_BEFORE = _words("in using with for to from and or")

# ------------------------------------------------------------------ natural languages

# Names of languages, in English and in the language itself.
NATURAL_LANGUAGES: Mapping[str, str] = {
    **_same(
        "cantonese japanese korean arabic hindi russian polish turkish swedish norwegian "
        "danish finnish greek hebrew czech ukrainian vietnamese thai indonesian bengali "
        "urdu romanian hungarian swahili tagalog catalan"
    ),
    **_aliases(
        """
        english: english anglais englisch ingles inglese engels
        french: french francais franzosisch frances francese frans
        german: german deutsch allemand aleman tedesco alemao duits
        spanish: spanish espanol castellano espagnol spanisch spagnolo espanhol spaans
        italian: italian italiano italien italienisch
        portuguese: portuguese portugues portugais
        dutch: dutch nederlands neerlandais flemish
        chinese: chinese mandarin
        persian: persian farsi
        """
    ),
}

# Stopwords for the guess of the language a question is written in (accents folded). A
# word may count for several languages.
LANG_STOPWORDS: Mapping[str, str] = {
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


def _languages_of_words(stopwords: Mapping[str, str]) -> dict[str, tuple[str, ...]]:
    """word -> the languages it is a stopword of, in the order of ``stopwords``."""
    table: dict[str, tuple[str, ...]] = {}
    for lang, words in stopwords.items():
        for word in set(words.split()):
            table[word] = (*table.get(word, ()), lang)
    return table


LANG_OF_WORD: Mapping[str, tuple[str, ...]] = _languages_of_words(LANG_STOPWORDS)

# Unicode blocks that say which language a text is written in: (first, last, language).
SCRIPTS: tuple[tuple[int, int, str], ...] = (
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

# ------------------------------------------------------------------------------ times

TIME_WORDS: Mapping[str, str] = {
    **_same("today tonight tomorrow yesterday afternoon midnight hourly daily weekly"),
    **_same("monthly quarterly yearly q1 q2 q3 q4"),
    **_aliases(
        """
        weekend: weekend weekends
        weekday: weekday weekdays
        morning: morning mornings
        evening: evening evenings
        night: night overnight nights
        noon: noon midday
        biweekly: biweekly fortnightly
        yearly: annual annually
        tz:utc: utc gmt
        tz:pacific: pst pdt
        tz:eastern: est edt
        tz:cet: cet cest
        tz:bst: bst
        tz:ist: ist
        tz:jst: jst
        tz:aest: aest
        """
    ),
    **_aliases(
        """
        monday: monday mondays
        tuesday: tuesday tuesdays
        wednesday: wednesday wednesdays
        thursday: thursday thursdays
        friday: friday fridays
        saturday: saturday saturdays
        sunday: sunday sundays
        """
    ),
    # "may" is missing: it is a month only in context (extraction.py)
    **_same("january february march april june july august september october november"),
    **_same("december"),
}
MONTH_ABBR: Mapping[str, str] = _aliases(
    """
    january: jan
    february: feb
    march: mar
    april: apr
    june: jun
    july: jul
    august: aug
    september: sep sept
    october: oct
    november: nov
    december: dec
    """
)
# Time zones spelled like common words (French "est", "cet"; German "ist"): upper-case only.
AMBIGUOUS_TZ = frozenset(("est", "ist", "cet"))
# "per month", "next week": the period after a frequency or relative word
PERIODS: Mapping[str, str] = {
    **_aliases(
        """
        daily: day
        weekly: week
        monthly: month
        yearly: year
        hourly: hour
        quarterly: quarter
        """
    ),
    "weekend": "weekend",
}
RELATIVE: Mapping[str, str] = _aliases(
    """
    this: this current
    next: next coming following upcoming
    last: last previous past prior
    """
)
FREQUENCY_BEFORE = frozenset(["per", "each", "every", "a", "an"])
NOT_FREQUENCY_BEFORE = _words("in within for after than about around")

# ------------------------------------------------------------------------------ units

UNIT_WORDS: Mapping[str, str] = {
    **_same("cad aud chf brl mxn sek kib mib gib mbps gbps"),
    **_aliases(
        """
        usd: usd dollar dollars buck bucks
        eur: eur euro euros
        gbp: gbp pound pounds quid sterling
        jpy: jpy yen
        inr: inr rupee rupees
        cny: cny yuan rmb
        cent: cent cents
        kb: kb kilobyte kilobytes
        mb: mb megabyte megabytes
        gb: gb gigabyte gigabytes gigs
        tb: tb terabyte terabytes
        byte: byte bytes
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
    ),
}
CURRENCY_SYMBOLS: Mapping[str, str] = {"$": "usd", "€": "eur", "£": "gbp", "¥": "jpy", "₹": "inr"}
# "5min", "2h": units written after the digits
SHORT_UNIT_SUFFIXES: Mapping[str, str] = {
    "min": "minute",
    "h": "hour",
    "d": "day",
    "s": "second",
    "w": "week",
}
# "API token" is a credential, not a unit
CREDENTIAL_BEFORE = _words("api access auth bearer refresh personal secret csrf jwt id")

# --------------------------------------------------------------------------- entities

# Product, vendor and tech names recognised as entities in any case.
GAZETTEER = _words(
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
FUNCTION_WORDS = _words(
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

DETERMINERS = _words("the a an my our your their his her its this that these those")
NOT_ACRONYMS = _words("OK FAQ ASAP FYI BTW PS PLS THX TL DR")

# ------------------------------------------------------------------ directions, routes

# axis -> side -> words (base forms; inflected automatically unless marked exact with "=")
DIRECTION_AXES: Mapping[str, Mapping[str, str]] = {
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
DIRECTION_BIGRAMS: Mapping[tuple[str, str], str] = {
    **_phrases(
        "turn turned turning switch switched switching toggle",
        {"on": "toggle:on", "off": "toggle:off"},
    ),
    **_phrases(
        "log logged logging sign signed signing",
        {"in": "session:login", "out": "session:logout"},
    ),
    **_phrases("opt opted opting", {"in": "optin:in", "out": "optin:out"}),
    **_phrases("scale scaled scaling", {"up": "quantity:up", "down": "quantity:down"}),
    **_phrases("back backed backing", {"up": "backup:backup"}),
    ("at", "least"): "extreme:min",
    ("at", "most"): "extreme:max",
    ("prior", "to"): "time_order:before",
    ("read", "only"): "rw:read",
}
# word -> "axis:side", every inflection of DIRECTION_AXES' words
DIRECTIONS: Mapping[str, str] = {
    form: f"{axis}:{side}"
    for axis, sides in DIRECTION_AXES.items()
    for side, words in sides.items()
    for word in words.split()
    for form in ({word[1:]} if word.startswith("=") else _inflect(word))
}
# Words after which the next fact is one end of a route ("from CSV to JSON").
ROUTE_WORDS: Mapping[str, str] = {"to": "to", "into": "to", "from": "from"}
