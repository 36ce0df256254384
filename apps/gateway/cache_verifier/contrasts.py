"""Vocabulary of the alignment check (``alignment.py``): data only.

Three tables, written from general knowledge of how questions differ, not from any
evaluation pair:

* ``SYNONYMS``     canonical: aliases. Words (or stems) that ask the same thing
                   ("delete: remove erase"), so a reworded paraphrase aligns word for word;
* ``CONTRASTS``    class -> sides -> words. Two questions that use the same class on
                   different sides ask different things ("ascending" vs "descending",
                   "internal" vs "external", "within" vs "after"): never a hit;
* ``DECISIVE``     words that change an answer even when only one question has one
                   ("the second largest" vs "the largest", "on my personal laptop" vs
                   "on my laptop").

``FILLERS`` are words that carry no content in a question ("know", "way", "please").
"""

from __future__ import annotations

from collections.abc import Mapping


def _table(spec: str) -> dict[str, str]:
    """``canonical: alias alias`` lines -> {alias: canonical, canonical: canonical}."""
    table: dict[str, str] = {}
    for line in spec.strip().splitlines():
        canonical, _, aliases = line.strip().partition(":")
        canonical = canonical.strip()
        table[canonical] = canonical
        for alias in aliases.split():
            table[alias] = canonical
    return table


# Stems (see alignment.stem) on the left and right: "deleting" and "removed" both meet
# "delete". Multi-word aliases are handled in alignment.PHRASES.
SYNONYMS: Mapping[str, str] = _table(
    """
    delete: remove erase eras wipe drop
    create: make add set setup build generate new
    change: modify update edit alter amend switch
    find: locate see view check look
    get: obtain receive fetch retrieve download
    cancel: terminate end stop quit
    enable: activate on
    disable: deactivate off
    start: begin launch kick
    big: large huge long
    biggest: largest longest greatest max maximum
    small: little tiny short
    smallest: least min minimum shortest
    fast: quick rapid speedy
    cost: price fee charge pay payment expense
    buy: purchase
    error: issue problem bug fault failure
    fix: resolve solve repair troubleshoot
    account: profile
    password: pw passwd passcode
    email: mail e-mail
    document: doc file
    picture: photo image pic
    number: num no
    phone: telephone mobile cell
    company: organisation organization org business firm
    team: group
    user: member person people
    customer: client
    employee: staff worker
    manager: boss supervisor
    meeting: call
    money: fund cash
    refund: reimbursement reimburse
    invoice: bill receipt
    subscription: plan sub membership
    month: monthly
    year: annual annually yearly
    week: weekly
    day: daily
    hour: hourly
    allow: let permit
    need: require must
    use: utilise utilize
    show: display
    help: assist support
    contact: reach
    work: function operate
    explain: describe
    difference: differ distinguish
    reset: recover
    sign: log
    login: signin logon
    logout: signout logoff
    app: application
    site: website page
    doc: documentation docs
    database: db
    repository: repo
    configuration: config settings setting
    environment: env
    variable: var
    function: func method
    directory: folder dir
    message: msg
    information: info detail details
    maximum: max
    minimum: min
    administrator: admin
    authentication: auth
    authorization: authorisation
    kubernetes: k8s
    javascript: js
    typescript: ts
    python: py
    new-york: nyc
    los-angeles: la
    united-states: us usa america
    united-kingdom: uk britain
    kilogram: kg kilo
    kilometre: km kilometer
    metre: meter m
    gigabyte: gb gig
    megabyte: mb
    percent: pct percentage
    vacation: holiday leave pto
    laptop: computer notebook
    """
)

# class -> side -> words (stems). Sides of one class exclude each other.
CONTRASTS: Mapping[str, Mapping[str, str]] = {
    # Time prepositions in de/fr/es/pt/it/nl too ("vor der Lieferung" / "nach der
    # Lieferung", "avant" / "après"; accents folded).
    "period": {
        "within": "within inside during wahrend pendant durante",
        "after": "after beyond past later nach nachdem apres despues depois dopo nadat",
        "before": "before prior earlier vor bevor avant antes prima voordat",
    },
    "presence": {"without": "without excluding except"},
    "sort": {"ascending": "ascending asc increasing", "descending": "descending desc decreasing"},
    "reach": {
        "internal": "internal intern inhouse intranet inbound",
        "external": "external outside third-party thirdparty outbound",
    },
    "owner": {
        "personal": "personal private own home",
        "work": "work company corporate office business",
    },
    "rank": {
        "first": "first 1st",
        "second": "second 2nd",
        "third": "third 3rd",
        "last": "last final",
        "next": "next following upcoming",
        "previous": "previous prior preceding",
    },
    "extreme": {"max": "biggest max most highest top", "min": "smallest min least lowest bottom"},
    "side": {"left": "left", "right": "right"},
    "axis": {"horizontal": "horizontal row", "vertical": "vertical column"},
    "tier": {"frontend": "frontend front-end client", "backend": "backend back-end server"},
    "party": {"sender": "sender", "recipient": "recipient receiver"},
    "trade": {"buyer": "buyer", "seller": "seller vendor"},
    "family": {"parent": "parent", "child": "child"},
    "flow": {"input": "input", "output": "output"},
    "place": {"local": "local", "remote": "remote"},
    "connectivity": {"online": "online", "offline": "offline"},
    "mode": {"manual": "manual manually", "automatic": "automatic automatically auto"},
    "rankorder": {"primary": "primary main", "secondary": "secondary backup"},
    "timing": {"sync": "synchronous sync", "async": "asynchronous async"},
    "reference": {"absolute": "absolute", "relative": "relative"},
    "stat": {"mean": "mean average avg", "median": "median", "mode": "mode", "sum": "sum total"},
    "parity": {"odd": "odd", "even": "even"},
    "sign": {"positive": "positive", "negative": "negative"},
    "truth": {"true": "true", "false": "false"},
    "case": {"upper": "uppercase upper capital", "lower": "lowercase lower small"},
    "count": {"singular": "singular", "plural": "plural"},
    "tense": {"past": "past", "future": "future"},
    "term": {"short-term": "short-term shortterm", "long-term": "long-term longterm"},
    "hours": {"full-time": "full-time fulltime", "part-time": "part-time parttime"},
    "pay": {"gross": "gross pre-tax pretax", "net": "net after-tax aftertax"},
    "ledger": {"debit": "debit", "credit": "credit"},
    "reach2": {"domestic": "domestic national", "international": "international abroad foreign"},
    "role": {
        "employee": "employee",
        "contractor": "contractor freelancer",
        "intern": "intern",
    },
    "seat": {"admin": "admin administrator owner", "guest": "guest viewer", "member": "member"},
    "daypart": {"morning": "morning", "evening": "evening night"},
    "week": {"weekday": "weekday", "weekend": "weekend"},
    "temperature": {"hot": "hot warm", "cold": "cold cool"},
    "compass": {"north": "north", "south": "south", "east": "east", "west": "west"},
    "theme": {"light": "light", "dark": "dark"},
    "likeness": {"same": "same identical", "different": "different distinct"},
    "join": {"inner": "inner", "outer": "outer", "union": "union", "intersection": "intersection"},
    "http": {"get": "get", "post": "post", "put": "put", "patch": "patch"},
    "proto": {"tcp": "tcp", "udp": "udp"},
    "ip": {"ipv4": "ipv4", "ipv6": "ipv6"},
    "crypto": {"symmetric": "symmetric", "asymmetric": "asymmetric"},
    "stage": {"staging": "staging sandbox test", "production": "production prod live"},
    "age": {"old": "old older oldest legacy", "new": "newer newest latest recent"},
    "size": {"small": "small smaller little", "large": "large larger big bigger"},
    "speed": {"fast": "faster fastest", "slow": "slow slower slowest"},
    "price": {"cheap": "cheap cheaper cheapest", "expensive": "expensive pricier"},
    "start": {"start": "start beginning begin", "end": "end ending"},
    "vs_free": {"free": "free unpaid", "paid": "paid premium"},
    "direction": {"up": "up upward", "down": "down downward"},
    "inout": {"in": "into", "out": "out"},
    "hard": {"soft": "soft", "hard": "hard"},
    "gender": {"male": "male", "female": "female"},
    "minmaj": {"minor": "minor", "major": "major"},
    "access": {"grant": "grant", "revoke": "revoke"},
    "verdict": {"accept": "accept approve", "reject": "reject decline deny"},
    "need": {"required": "required mandatory compulsory", "optional": "optional"},
    "shown": {"visible": "visible", "hidden": "hidden"},
    "sync_way": {"push": "push", "pull": "pull"},
    "depth": {"front": "front", "back": "back behind"},
    "play": {"forward": "forward fast-forward", "backward": "backward rewind"},
    "light_level": {"bright": "brighten bright", "dim": "dim darken"},
    "amount": {
        "more": "increase raise boost extend enlarge grow expand lengthen",
        "less": "decrease reduce shorten shrink collapse",
    },
    "quality": {"best": "best", "worst": "worst"},
    "platform": {"desktop": "desktop", "mobile": "mobile"},
}

# Prefixes that negate or reverse the word they start ("tracked" / "untracked", "include"
# / "exclude", "increase" / "decrease", "clockwise" / "counterclockwise"): two questions
# that differ by such a pair of words ask opposite things.
REVERSING_PREFIXES = (
    "un",
    "in",
    "im",
    "il",
    "ir",
    "non",
    "dis",
    "de",
    "ex",
    "en",
    "out",
    "counter",
    "anti",
    "over",
    "under",
)

# Words that change an answer even when only one question has one ("the second largest"
# vs "the largest", "on my personal laptop" vs "on my laptop"). Everyday words that are
# often only filler ("work", "first", "right", "new") are left out on purpose.
DECISIVE = frozenset(
    [
        "within",
        "during",
        "after",
        "beyond",
        "before",
        "prior",
        "without",
        "excluding",
        "except",
        "ascending",
        "descending",
        "asc",
        "desc",
        "increasing",
        "decreasing",
        "internal",
        "external",
        "inhouse",
        "intranet",
        "third-party",
        "thirdparty",
        "inbound",
        "outbound",
        "personal",
        "private",
        "corporate",
        "second",
        "2nd",
        "third",
        "3rd",
        "previous",
        "preceding",
        "horizontal",
        "vertical",
        "frontend",
        "backend",
        "sender",
        "recipient",
        "buyer",
        "seller",
        "parent",
        "child",
        "input",
        "output",
        "remote",
        "offline",
        "online",
        "manual",
        "manually",
        "automatic",
        "automatically",
        "secondary",
        "synchronous",
        "asynchronous",
        "async",
        "absolute",
        "relative",
        "median",
        "mode",
        "odd",
        "even",
        "positive",
        "negative",
        "singular",
        "plural",
        "short-term",
        "shortterm",
        "long-term",
        "longterm",
        "full-time",
        "fulltime",
        "part-time",
        "parttime",
        "gross",
        "net",
        "pre-tax",
        "pretax",
        "after-tax",
        "aftertax",
        "debit",
        "credit",
        "domestic",
        "international",
        "abroad",
        "foreign",
        "contractor",
        "freelancer",
        "intern",
        "guest",
        "viewer",
        "weekday",
        "weekend",
        "morning",
        "evening",
        "north",
        "south",
        "east",
        "west",
        "dark",
        "inner",
        "outer",
        "union",
        "intersection",
        "tcp",
        "udp",
        "ipv4",
        "ipv6",
        "symmetric",
        "asymmetric",
        "staging",
        "sandbox",
        "production",
        "prod",
        "legacy",
        "cheapest",
        "cheaper",
        "expensive",
        "fastest",
        "slowest",
        "faster",
        "slower",
        "male",
        "female",
        "minor",
        "major",
        "uppercase",
        "lowercase",
    ]
)

# word -> (class, side)
CONTRAST_OF: Mapping[str, tuple[str, str]] = {
    word: (cls, side)
    for cls, sides in CONTRASTS.items()
    for side, words in sides.items()
    for word in words.split()
}

FILLERS = (
    frozenset(
        [
            "know",
            "way",
            "possible",
            "able",
            "go",
            "going",
            "like",
            "would",
            "want",
            "wanted",
            "need",
            "please",
            "thank",
            "thanks",
            "hi",
            "hello",
            "hey",
            "tell",
            "show",
            "let",
            "mean",
            "trying",
            "try",
            "wondering",
            "curious",
            "question",
            "quick",
            "simply",
            "exactly",
            "actually",
            "really",
            "basically",
            "currently",
            "also",
            "even",
            "ever",
            "still",
            "already",
            "just",
            "only",
            "much",
            "many",
            "lot",
            "lots",
            "thing",
            "things",
            "something",
            "anything",
            "kind",
            "sort",
            "type",
            "use",
            "using",
            "used",
            "via",
            "proper",
            "properly",
            "correct",
            "correctly",
            "right",
            "best",
            "good",
            "well",
            "easy",
            "easiest",
            "steps",
            "step",
            "process",
            "procedure",
            "exact",
            "anyone",
            "someone",
            "guy",
            "guys",
            "folks",
            "team",
            "there",
            "here",
            "this",
            "that",
            "these",
            "those",
            "it",
            "its",
            "me",
            "my",
            "mine",
            "you",
            "your",
            "yours",
            "we",
            "our",
            "us",
            "they",
            "them",
            "their",
            "i",
            "a",
            "an",
            "the",
            "of",
            "to",
            "in",
            "on",
            "at",
            "for",
            "with",
            "by",
            "from",
            "about",
            "as",
            "into",
            "is",
            "are",
            "was",
            "were",
            "be",
            "been",
            "being",
            "am",
            "do",
            "does",
            "did",
            "doing",
            "can",
            "could",
            "should",
            "shall",
            "will",
            "may",
            "might",
            "must",
            "have",
            "has",
            "had",
            "having",
            "what",
            "which",
            "who",
            "whom",
            "whose",
            "when",
            "where",
            "why",
            "how",
            "whats",
            "hows",
            "if",
            "then",
            "than",
            "so",
            "and",
            "or",
            "but",
            "not",
            "no",
            "yes",
            "ok",
            "okay",
            "any",
            "all",
            "some",
            "every",
            "each",
            "own",
            "again",
            "now",
            "today",
            "currently",
            "its",
            "it's",
            "i'm",
            "i've",
            "im",
            "ive",
            "youre",
            "dont",
            "don't",
            "doesn't",
            "can't",
            "cant",
            "isn't",
            "wont",
            "won't",
            "would've",
        ]
    )
    - frozenset(CONTRAST_OF)
    - frozenset({"not", "no"})
)
