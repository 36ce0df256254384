# ruff: noqa: E501  (data: one pattern per line reads better than split strings)
"""Signs of intent, as features of the classifier (apps/guardrails/classifier.py).

A rule (apps/guardrails/injection_rules.py) flags on its own, so it must be narrow. These
patterns are broad on purpose: each is one piece of an attack's intent (the text
addresses the model's own setup; asks to reveal it; to drop it; to act silently; names
other people's data; an outside destination...), present in many ordinary texts too. None
flags anything: each adds one feature ``i:<name>`` that the classifier weighs against
the others and the text's n-grams, so "your instructions" + "verbatim" counts for more
than either alone, whatever the exact words around them. Matched against the normalised
text (lower case). Change a pattern: bump INTENTS_VERSION and retrain
(bench/train_guardrails.py): the weights of the old patterns no longer fit.
"""

from __future__ import annotations

import re

INTENTS_VERSION = "1"

# What a model is set up with, in the languages of the training rows.
_SETUP = (
    r"(?:instructions?|prompt|preamble|guidelines|rules|directives|configuration|config|setup|"
    r"system message|guardrails?|restrictions|filters?|safety (?:rules|layer|settings|training)|content (?:rules|polic\w+)|"
    r"polic(?:y|ies)|consignes|règles|anweisung\w*|regeln|richtlinien|vorgaben|instrucciones|reglas|normas|"
    r"istruzioni|regole|instruções|regras|instructies|regels|instrukcj\w*|zasad\w*)"
)
_YOUR = (
    r"(?:your|you were|you've been|you have been|you got|you received|given to you|you're running|"
    r"yours|ton|ta|tes|tu|dein\w*|tus|tue|tuo|tuoi|teus|tuas|je|jouw|swoje|twoje)"
)

INTENTS: tuple[tuple[str, str], ...] = (
    ("your_setup", rf"\b{_YOUR}\b[^.?!]{{0,40}}\b{_SETUP}\b"),
    (
        "setup_origin",
        r"\b(?:operator|developer|deployer|creator|admin\w*|platform|betreiber|opérateur|operador|operatore|beheerder|operatora)s?\b[^.?!]{0,30}\b(?:gave|told|set|wrote|configured|loaded|installed|given|dich|ti|te|t'|je)\b|\b(?:before (?:this|our|the) (?:conversation|chat|message)|at the (?:start|top|beginning)|before i (?:arrived|came|wrote|joined)|loaded into you|you were (?:set up|configured|booted|deployed|initiali[sz]ed))\b",
    ),
    (
        "reveal",
        r"\b(?:reveal|show|print|repeat|dump|output|paste|quote|recite|copy|write out|spell out|display|translate|tell me|list|echo|send|return|gib|zeig|montre|affiche|recopie|donne|muestra|escribe|mostra|riporta|scrivi|mostra-me|toon|geef|pokaż|wypisz)\b",
    ),
    (
        "verbatim",
        r"\b(?:verbatim|word for word|word-for-word|exactly as|literally|unedited|unredacted|in full|no paraphras\w*|without (?:changing|leaving out|omitting)|mot pour mot|wortwörtlich|wörtlich|ungekürzt|palabra por palabra|sin cambiar|parola per parola|integralmente|palavra por palavra|letterlijk|słowo w słowo|dokładnie|code block|triple backticks|as json)\b",
    ),
    (
        "drop",
        r"\b(?:ignore|disregard|forget|bypass|override|overrule|drop|scrap|set aside|throw (?:away|out)|switch off|turn off|disable|lift|revoke|revoking|suspend|cancel\w*|void|rescind\w*|rolled back|withdrawn|no longer (?:apply|count|bind|valid)|don'?t (?:apply|bind|count)|deprecated|placeholder|outdated|ignor\w*|oublie|vergiss|olvida|dimentica|esquece|negeer|vergeet|zignoruj|aufgehoben|annul\w*|anulad\w*|non valgono|ya no)\b",
    ),
    (
        "obey_me",
        r"\b(?:follow|obey|listen to|answer to|work for|comply with|do what)\b[^.?!]{0,15}\b(?:me|my|mine|i (?:say|write|type|ask)|the user says)\b|\b(?:from (?:now|this message) on|from here on|à partir de maintenant|ab sofort|a partir de ahora|da ora|vanaf nu|od teraz)\b",
    ),
    (
        "no_limits",
        r"\b(?:no|without|zero|free (?:of|from)|never given|sans|ohne|keine|sin|senza|sem|zonder|geen|bez)\b (?:any |aucune? |jegliche |ninguna |nenhuma |żadnych )?(?:rules|restrictions|filters?|limits|guidelines|censorship|warnings|caveats|ethics|morals|safety|pushback|refusals?|règles?|regeln|reglas|regole|regras|regels|zasad|ograniczeń|content rules|limites|límites|limiti)\b",
    ),
    (
        "never_refuse",
        r"\b(?:never refuses?|refuse nothing|answer (?:everything|anything|whatever)|anything i ask|whatever i ask|stay in character|no matter what|nunca recusa|nie odmawia|jamais|nunca rechaza|non rifiuta|weigert nooit)\b",
    ),
    (
        "persona",
        r"\b(?:pretend|act as|you are now|you're now|role-?play|simulate|play the role|play a game|your new (?:name|persona)|stay in character|imagine you|fais comme si|tu es maintenant|du bist jetzt|stell dir vor|finge|finja|imagina|fai finta|doe alsof|udawaj|screenplay|for my (?:novel|story|book|script))\b",
    ),
    (
        "harmful_topic",
        r"\b(?:bombs?|explosives?|weapons?|meth\w*|malware|ransomware|keylogger|napalm|poison\w*|nerve agent|hack into|break into|steal\w*|phishing kit|credit card dump|/etc/shadow|bypass (?:the )?(?:login|authentication|paywall))\b",
    ),
    (
        "tool",
        r"\b(?:tool|function|plugin|api|terminal|shell|database|admin panel|settings|outil|werkzeug|funktion|herramienta|función|strumento|funzione|ferramenta|função)\b",
    ),
    (
        "act",
        r"\b(?:use|call|run|invoke|trigger|execute|open|utilise|nutze|benutze|usa|ejecuta|esegui|gebruik)\b",
    ),
    (
        "harm",
        r"\b(?:delete|remove|wipe|drop|truncate|purge|destroy|transfer|move the balance|wire|refund|pay ?out|payments?|grant|give (?:me|my)\b[^.]{0,20}\b(?:owner|admin|rights|access)|disable|change the (?:billing|payout|bank|owner|email|password)|create an? (?:new )?api key|full scopes|all scopes|owner rights|overwrite|rm -rf|curl\b[^|]{0,60}\| ?(?:ba)?sh|supprim\w*|vire\w*|lösch\w*|entferne|borra\w*|elimina\w*|rimborsa\w*|cancella\w*|apaga\w*|verwijder\w*)\b",
    ),
    (
        "stealth",
        r"\b(?:silently|quietly|secretly|without (?:telling|asking|notifying|approval|confirmation|checking|a preview)|don'?t (?:tell|notify|mention|log|ask|check)|do not (?:tell|notify|mention|log|ask)|no need to (?:check|confirm|ask|tell)|no confirmation|skip (?:the )?(?:approval|confirmation|review)|approval is not required|i'?m in charge|authori[sz]ed by me|sans (?:demander|confirmation|prévenir)|ohne (?:jemanden|rückfrage|bestätigung)|sin (?:confirmación|avisar|preguntar)|senza (?:avvisare|chiedere|conferma)|sem (?:confirmação|avisar)|zonder (?:te vragen|bevestiging))\b",
    ),
    (
        "bulk",
        r"\b(?:every|all|each|tous les|toutes les|alle|todos los|todas las|tutti|tutte|todos|todas)\b (?:the )?(?:customers?|users?|accounts?|members?|records?|employees?|staff|orders?|invoices?|meetings?|connected accounts?|documents?|files?|rows|clients?|kunden|mitarbeiter|benutzer|clientes|utenti|ordini)\b|\b(?:ten|20|twenty|\d+) times\b",
    ),
    (
        "others",
        r"\b(?:other|others'|every other|previous) (?:users?|customers?|tenants?|people|person|companies|departments?|members?|candidates?|accounts?)\b|\boutside my (?:team|department|org\w*)\b|\b(?:autres|anderen|otros|altri|outros|andere|innych)\b",
    ),
    (
        "secrets",
        r"\b(?:api keys?|access tokens?|tokens|passwords?|credentials|secrets?|connection strings?|private keys?|salary|salaries|payroll|phone numbers?|address book|payment details|mots de passe|passwörter|contraseñas|senhas|wachtwoorden|hasła|gehalt\w*)\b",
    ),
    (
        "destination",
        r"https?://|\b[\w.+-]+@[\w-]+\.[\w.]+\b|\b(?:my (?:server|endpoint|webhook|personal (?:email|address))|this address|the address below|iban|[a-z]{2}\d{2}(?: ?[a-z0-9]{4}){3,})\b|!\[",
    ),
    (
        "to_the_model",
        r"\b(?:note|message|instructions?|text|hinweis|nota|remarque|hidden text|p\.?s\.?)\b[^.:]{0,20}\b(?:to|for|pour|an|für|para|per|voor|dla|destinée à) (?:the |any |all |l'|den |el |la |lo )?(?:ai|ia|ki|assistants?|model|language models?|llm|chatbot|bot|support bot|agent|screen\w*|summari[sz]\w*|reviewer|system|systeme|sistema|kI-systeme)\b|\b(?:ai|ia|ki|model|llm|assistant|chatbot|bot|agent|screener|summari[sz]er)s? (?:reading|processing|summari[sz]ing|parsing|triaging|evaluat\w*|que lea|qui lit|die dies|che legge)\b|\bif (?:you are|you're) an? (?:ai|language model|assistant|llm)\b|(?:^|[.!?>]\s)(?:hey |dear |by the way,? )?(?:ai|assistant|chatbot|model|bot)\s?[:,]|<!--|display:\s?none|###",
    ),
    (
        "authority",
        r"\b(?:i am|i'm|as|this is|message from)\b (?:the |your |an? )?(?:admin\w*|developer|owner|operator|platform (?:team|owner)|security team|ceo|account owner|vendor|auditor|legal)\b|\b(?:als administrator|en tant qu'administrateur|como administrador)\b",
    ),
    (
        "new_rules",
        r"\b(?:new|updated|real|approved|actual) (?:instructions|rules|policy|directive|version|orders|configuration|persona)\b|\bnew instructions?\b",
    ),
    (
        "decode_follow",
        r"\b(?:decode|decrypt|base64|rot-?13|hex|translate)\b[^.]{0,40}\b(?:follow|execute|do (?:what|as)|obey|carry out|act on|run)\b",
    ),
    # Signs of an ordinary text that the classifier can weigh against the ones above.
    (
        "negated",
        r"\b(?:never|must not|mustn't|will not|won't|should not|shouldn't|do not|don't|cannot|can't|not allowed to|ne \w+ jamais|niemals|nunca|mai)\b (?:\w+ ){0,3}(?:reveal|share|ask|disclose|give|send|paste|run|delete|access|attempt|bypass|tell)\b",
    ),
    (
        "help_request",
        r"(?:^|[.?!]\s)(?:how (?:do|can|should|would) (?:i|we)|what(?:'s| is| are) (?:the|a|an)|is (?:it|there)|why (?:does|do|is)|which|can (?:i|we)|explain|comment|wie|cómo|como|come|hoe|jak)\b",
    ),
    (
        "writing_task",
        r"\b(?:write|draft|compose|create|suggest|translate|rédige|écris|schreib\w*|escribe|scrivi|escreve|schrijf)\b (?:me )?(?:an?|the|some|un|une|einen?|una?|um|een)\b[^.]{0,30}\b(?:prompt|email|e-mail|mail|policy|story|novel|scene|script|message|post|description|monologue|checklist|plan|systemprompt|prompt système|prompt de sistema|prompt di sistema)\b",
    ),
    (
        "about_a_bot",
        r"\b(?:our|my|the|a|an|un|une|unser\w*|nuestro|il nostro|o nosso|onze)\b (?:\w+ )?(?:chatbot|assistant|bot|llm app|language model|summari[sz]er|agent|model|asistente|assistente)\b (?:must|should|will|keeps|kept|is|was|does|doesn't|leaks|reads|refuses|ignores|says|answers|muss|debe|deve)\b",
    ),
)

COMPILED: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (name, re.compile(pattern)) for name, pattern in INTENTS
)


def intents(normalized: str) -> list[str]:
    """The names of the intent patterns found in an already normalised text."""
    return [name for name, pattern in COMPILED if pattern.search(normalized)]
