# ruff: noqa: E501  (data: one pattern per line reads better than split strings)
"""Prompt-injection rules: data, versioned. Each pattern is matched against the
normalised text (lower case, NFKC, invisible characters removed) and its decoded runs.

The rules catch the common phrasings with near-zero false positives ("ignore all
previous instructions", "what is your system prompt", "you are DAN"); the classifier
(apps/guardrails/classifier.py) catches the paraphrases. Change a rule: bump
RULES_VERSION, add a labelled example to bench/data/guardrails_injection.jsonl, and
run bench/guardrails.py: the false-positive rate must stay within its target.
"""

from __future__ import annotations

import re

RULES_VERSION = "2026-12-04.2"

_PRIOR = (
    r"(?:all |any |the |your |my |these |those )*(?:previous|prior|above|earlier|preceding|"
    r"original|initial|system|existing|former)"
)
_ORDERS = r"(?:instructions?|directions?|directives?|rules|guidelines|prompts?|orders|context)"

RULES: tuple[tuple[str, str], ...] = (
    # direct overrides
    (
        "override.ignore_prior",
        rf"\b(?:ignore|disregard|forget|skip|override|bypass)\b[^.]{{0,30}}\b{_PRIOR}\b[^.]{{0,20}}\b{_ORDERS}",
    ),
    (
        "override.ignore_yours",
        rf"\b(?:ignore|disregard|forget|override|bypass)\b (?:all |any )?(?:of )?your (?:{_ORDERS}|safety|content polic|polic|filters|restrictions)",
    ),
    ("override.dont_follow", rf"\bdon'?t (?:follow|obey) your (?:original |initial )?{_ORDERS}"),
    (
        "override.no_longer_apply",
        r"\b(?:instructions|rules|directives)\b[^.]{0,40}\b(?:no longer apply|are (?:void|cancelled|canceled|obsolete|null))",
    ),
    (
        "override.without_restrictions",
        r"\b(?:without|no) (?:any )?(?:restrictions|filters|content polic(?:y|ies)|safety rules)\b",
    ),
    (
        "override.system_override",
        r"\b(?:system|safety) override\b|\bsafety settings off\b|\bdeveloper mode (?:enabled|on)\b",
    ),
    (
        "override.fr",
        r"\b(?:ignore|oublie|ne tiens plus compte|fais abstraction)\b[^.]{0,30}\b(?:instructions|consignes|règles|regles)\b",
    ),
    (
        "override.de",
        r"\b(?:ignoriere|vergiss|missachte|setze)\b[^.]{0,40}\b(?:anweisungen|vorgaben|regeln|richtlinien|befehle)\b",
    ),
    (
        "override.es",
        r"\b(?:ignora|olvida|haz caso omiso|no sigas)\b[^.]{0,30}\b(?:instrucciones|reglas|directrices|indicaciones)\b",
    ),
    (
        "override.it_pt_nl",
        r"\b(?:ignora|ignore|negeer)\b[^.]{0,20}\b(?:istruzioni|instruções|instrucoes|instructies)\b",
    ),
    (
        "override.forget_everything",
        r"\b(?:forget everything|oublie tout ce qu|vergiss alles,? was|olvida todo lo que|dimentica tutto)\b",
    ),
    (
        "override.obey_me",
        r"\b(?:from now on|désormais|desormais|ab jetzt|a partir de ahora)\b[^.]{0,20}\b(?:only )?(?:follow|obey|obéis|obeis|befolgst|gehorchst|obedeces)\b",
    ),
    (
        "override.cancelled",
        r"\b(?:instructions?|consignes?|anweisungen|vorgaben|systemvorgaben|reglas|instrucciones|rules)\b[^.]{0,40}\b(?:annulées|annulees|gelten nicht mehr|anuladas|quedan anuladas|are void|is void|were a test)\b",
    ),
    (
        "override.ignore_policy",
        r"\bignore (?:the |our |your )?(?:company |content )?polic(?:y|ies)\b",
    ),
    ("override.no_guidelines", r"\bif you had no (?:guidelines|rules|restrictions|filters)\b"),
    # system prompt extraction
    (
        "extraction.system_prompt",
        r"\b(?:your|the|ton|tu|dein|il tuo) ?(?:system|initial|hidden|pre-?)[ -]?(?:prompt|instructions|message)\b|\bprompt (?:système|systeme|del sistema|di sistema)\b|\bsystemprompt\b",
    ),
    (
        "extraction.repeat_above",
        r"\b(?:repeat|print|output|copy|dump|répète|wiederhole|repite)\b[^.]{0,40}\b(?:text|everything|tout|alles|todo)\b[^.]{0,30}\b(?:above|before my|au-dessus|vor meiner|anterior)",
    ),
    (
        "extraction.reveal_instructions",
        r"\b(?:reveal|show|print|dump|tell me|list)\b[^.]{0,25}\b(?:your|the hidden|hidden) (?:instructions|configuration|rules)\b",
    ),
    (
        "extraction.fr_de_es",
        r"\b(?:instructions cachées|versteckten anweisungen|instrucciones ocultas)\b",
    ),
    # role-play jailbreaks
    (
        "roleplay.dan",
        r"\b(?:dan|stan|dude|aim)\b[^.]{0,40}\b(?:do anything now|strive to avoid norms|no rules|never refuses?)\b|\bdo anything now\b",
    ),
    (
        "roleplay.no_rules_ai",
        r"\b(?:ai|model|assistant|ia|ki)\b[^.]{0,30}\b(?:without any|with no|sans aucune?|ohne jegliche|sin)\b[^.]{0,15}\b(?:rules|content policy|filters?|restrictions|règles?|regeln|políticas|politicas|filtre)\b",
    ),
    (
        "roleplay.jailbreak",
        r"\bjailbr[eo]a?k(?:en|ed)? (?:mode|model|successful)\b|\bunfiltered ai\b|\bunrestricted (?:ai|terminal|mode)\b",
    ),
    (
        "roleplay.dev_mode",
        r"\b(?:developer|entwickler|développeur|desarrollador) ?(?:mode|modus)\b[^.]{0,40}\b(?:anything|alles|tout|cualquier)",
    ),
    (
        "roleplay.evil",
        r"\b(?:evil|malicious|maléfique|böser|malvado) (?:assistant|assistent|asistente|ai)\b|\b(?:assistant|asistente|assistent) (?:maléfique|malvado|malveillant)\b",
    ),
    (
        "roleplay.dev_mode_any",
        r"\b(?:mode développeur|mode developpeur|modo desarrollador|entwicklermodus|modalità sviluppatore)\b",
    ),
    # exfiltration
    (
        "exfiltration.send_history",
        r"\b(?:send|envoie|schick|envía|envia)\b[^.]{0,40}\b(?:conversation|history|historique|verlauf|historial)\b[^.]{0,30}https?://",
    ),
    ("exfiltration.markdown_beacon", r"!\[[^\]]*\]\(https?://[^)]*[?&][a-z_]+=\{"),
    (
        "exfiltration.credentials",
        r"\b(?:environment variables|connection string you were|api keys you have|passwords of the other|other tenants'?)\b",
    ),
    (
        "exfiltration.other_users",
        r"\b(?:previous user'?s?|other users'?|anderen benutzer|autres utilisateurs|otros usuarios)\b[^.]{0,20}\b(?:messages|passwords|passwörter|mots de passe|contraseñas|data|daten)\b|\b(?:passwords?|passwörter|mots de passe|contraseñas) (?:of|der|des|de) (?:the )?(?:other|anderen|autres|otros)\b",
    ),
    (
        "exfiltration.keys_you_know",
        r"\b(?:api keys?|clés api|api-schlüssel|claves api)\b[^.]{0,30}\b(?:you know|tu connais|du kennst|conozcas|you have)\b",
    ),
    (
        "exfiltration.secret_from_instructions",
        r"\b(?:secret|token|key)\b[^.]{0,20}\bfrom your (?:instructions|system prompt|configuration)\b",
    ),
    (
        "exfiltration.mail_list_out",
        r"\b(?:send|envoyer|schick|enviar|mail)\b[^.]{0,30}\b(?:customer|client|kunden|clientes)\w*[ -]?(?:list|liste|lista)\b[^.]{0,15}\b(?:to|à|an|a) \S+@",
    ),
    # tool abuse
    ("tool.destructive", r"\brm -rf /|\bdrop table\b|\bdelete_all\w*|\btransfer_funds\s*\("),
    (
        "tool.silent",
        r"\b(?:without asking|no confirmation needed|silently grant|already approved)\b",
    ),
    # instructions addressed to a model, hidden in documents
    (
        "document.addressed_to_ai",
        r"\b(?:note|instructions?|message|hinweis|nota)\b[^.]{0,15}\b(?:to|for|pour|an|para) (?:the |any |l'|den |el )?(?:ai|ia|ki|language model|llm|chatbot|assistant|assistente|asistente)\b",
    ),
    (
        "document.if_you_are_ai",
        r"\b(?:if you are|si tu es|wenn du|si eres) (?:an? |un |ein )?(?:ai|ia|ki|language|modèle|modelo)",
    ),
    (
        "document.for_models",
        r"\binstructions? for (?:language models|llms?|ai|any ai|chatbots?)\b|\baddressed to the (?:chatbot|ai|assistant|model)\b",
    ),
    (
        "document.follow_there",
        r"\bfollow the instructions (?:there|on that page|at that url|in the link)\b",
    ),
    ("document.model_reading", r"\b(?:the model|any ai|ai systems?) (?:reading|processing) this\b"),
)

COMPILED: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (name, re.compile(pattern)) for name, pattern in RULES
)
