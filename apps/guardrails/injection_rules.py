# ruff: noqa: E501, RUF001  (data: one pattern per line reads better than split strings; the dotless i of Turkish is a letter)
"""Prompt-injection rules: data, versioned. Each pattern is matched against the
normalised text (lower case, NFKC, invisible characters removed, Turkish dotted and
dotless i folded: ``fold_dotted_i``) and its decoded runs.

The rules catch the common phrasings with near-zero false positives ("ignore all
previous instructions", "what is your system prompt", "you are DAN"); the classifier
(apps/guardrails/classifier.py) catches the paraphrases. Change a rule: bump
RULES_VERSION, add a labelled example to bench/data/guardrails_injection.jsonl, and
run bench/guardrails.py: the false-positive rate must stay within its target.
"""

from __future__ import annotations

import re

from apps.guardrails.intents import fold_dotted_i

RULES_VERSION = "2026-12-05.2"

_PRIOR = (
    r"(?:all |any |the |your |these |those )*(?<!my )(?<!our )(?:previous|prior|above|earlier|preceding|"
    r"original|initial|system|existing|former)"
)
_ORDERS = r"(?:instructions?|directions?|directives?|rules|guidelines|prompts?|orders|context)"
# Second person, as an attacker addresses the model: "your", "you were given", "on t'a".
_YOU = (
    r"(?:your|you were|you got|you received|given to you|into you|you were shipped with|t'a|on t'a|tes|ta|ton|deine?n?|dir|"
    r"dich|tus|tu|te han|te dieron|le tue|ti hanno|ti sono|as tuas|os teus|te deram|je|jouw|"
    r"twoje|swoje)"
)
# What a model is set up with.
_SETUP = (
    r"(?:instructions?|prompt|setup (?:message|text)|configuration|config|preamble|guidance|"
    r"system (?:message|text)|rules|directives|consignes|message système|anweisungen?|"
    r"systemtext|vorgaben|instrucciones|mensaje de sistema|istruzioni|instruções|instrucoes|"
    r"systeeminstructies|instructies|instrukcje)"
)
_VERBATIM = (
    r"(?:verbatim|word for word|word-for-word|character for character|exact(?:ly)? (?:as|wording)|"
    r"unchanged|in full|full text|complete text|mot pour mot|intégralement|integralement|"
    r"wortwörtlich|wörtlich|ungekürzt|palabra por palabra|literalmente|parola per parola|"
    r"integralmente|letterlijk|sem alterar|słowo w słowo|textualmente|testualmente|vollständig|"
    r"nothing left out|line by line|(?:the )?(?:real|actual|original|raw) text|not a summary|quote|cite|"
    r"zitiere|cítalas|citalas|citale|recite|echo back|read back|transcript)"
)
# Limits a model works under, as an attacker names them.
_LIMITS = (
    r"(?:restrictions|constraints|filters?|safety (?:rules|layer|filters?|training|features)|guardrails|content "
    r"(?:rules|polic(?:y|ies)|filters?)|refusals?|refusal behaviou?r|censorship|limits|"
    r"limitations|ethic(?:s|al limits)|morals?|morale|guidelines|policies|einschränkung(?:en)?|zensur|"
    r"sicherheitsvorgaben|limitaciones|limites|normas|normen|moral|"
    r"filtre|filtros?|restricciones|límites|censura|restrizioni|filtri|limiti|restrições|"
    r"beperkingen|richtlijnen|règles|regeln|reglas|regole|regras|regels)"
)
# A verb that brings data out.
_BRING_OUT = (
    r"(?:give|show|list|send|export|pull|gather|compile|include|print|paste|dump|copy|share|read back|"
    r"read out|recite|copie|kopiere|copia|kopieer|"
    r"post|attach|write out|output|reveal|tell me|envoie|donne|affiche|liste|gib|schick|"
    r"zeig|nenn|dame|pásame|pasame|muéstrame|muestrame|envía|envia|elenca|dammi|mostra|"
    r"manda|geef|stuur|toon)"
)
_OTHERS = (
    r"(?:other|every other|all other|all the other|anderen|autres|otros|demás|altri|outros|"
    r"andere)"
)
_PEOPLE = (
    r"(?:users?|customers?|clients?|tenants?|compan(?:y|ies)|accounts?|employees?|members?|people|"
    r"persons?|staff|comptes|konten|cuentas|conti|contas|"
    r"workspaces?|kunden|mandanten|nutzer|benutzer|utilisateurs|usuarios|clientes|utenti|"
    r"utilizadores|klanten|gebruikers)"
)
_TOOL = (
    r"(?:tool|function|plugin|action|api|outil|fonction|\w*werkzeug|\w*funktion|herramienta|"
    r"función|funcion|strumento|funzione|ferramenta|função|funcao)"
)
_HARM = (
    r"(?:delete|remove|drop|wipe|erase|purge|destroy|transfer|wire|pay ?out|payout|refund|"
    r"disable|grant|promote|reset|cancel|supprim|efface|vire|virement|lösch|losch|überweis|"
    r"deaktivier|borra|elimin|transfier|apag|cancela|cancell|trasferi|desativ|wissen|verwijder)"
)
_NO_ASKING = (
    r"(?:without (?:asking|confirm\w*|approval|telling|notifying|a preview|checking)|"
    r"(?:don'?t|do not|without) (?:send(?:ing)? )?notif\w*|don'?t tell (?:the )?(?:admins?|anyone|anybody|the user|them)|"
    r"(?:no need to|don'?t|do not) (?:ask|confirm|tell|notify|show me a preview|check)|"
    r"skip (?:the )?(?:approval|confirmation|review)|sans (?:demander|confirmation|prévenir)|"
    r"ohne (?:rückfrage|bestätigung|nachfrage)|keine rückfrage|sin (?:preguntar|confirmación|"
    r"avisar)|senza (?:chiedere|conferma)|sem (?:perguntar|confirmação)|zonder (?:het )?"
    r"(?:te vragen|bevestiging|aan iemand te vragen))"
)

# Right after an opening quote, an attack's words are quoted, not addressed to the model
# ("users type 'forget your rules' into the bot").
_NOT_QUOTED = r"(?<!['\"‘“«])(?<!['\"‘“«]please )(?<!['\"‘“«]pls )"

RULES: tuple[tuple[str, str], ...] = (
    # direct overrides
    (
        "override.ignore_prior",
        rf"{_NOT_QUOTED}\b(?:ignore|disregard|forget|skip|override|bypass)\b[^.]{{0,30}}\b{_PRIOR}\b[^.]{{0,20}}\b{_ORDERS}\b(?! (?:in|from|of) (?:my|our) (?:last|previous|earlier) (?:message|mail|e-?mail|note))",
    ),
    (
        "override.ignore_yours",
        rf"{_NOT_QUOTED}\b(?:ignore|disregard|forget|override|bypass)\b (?:all |any )?(?:of )?your (?:{_ORDERS}|safety|content polic|polic|filters|restrictions)",
    ),
    ("override.dont_follow", rf"\bdon'?t (?:follow|obey) your (?:original |initial )?{_ORDERS}"),
    (
        "override.no_longer_apply",
        rf"\b(?:{_YOU}|original|initial|system)\b[^.]{{0,20}}\b(?:instructions|rules|directives)\b[^.]{{0,40}}\b(?:no longer apply|are (?:void|cancelled|canceled|obsolete|null))|\b(?:all )?(?:previous|prior|earlier|above) (?:instructions|rules|directives) (?:no longer apply|are (?:void|null))",
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
        r"(?<!bot )(?<!assistant )(?<!modèle )\b(?:ignore|oublie|ne tiens plus compte|fais abstraction)\b[^.]{0,12}\b(?:tes|vos|toutes (?:tes|les)|les) (?:instructions|consignes|règles|regles)\b(?! (?:de|du|des|d'|dans|sur|en) (?:mon|ma|mes|notre|nos|ce|cette|l'email|le mail|mail|dernier|précédent))",
    ),
    (
        "override.de",
        r"\b(?:ignoriere|vergiss|missachte|setze)\b[^.]{0,40}\b(?:anweisungen|vorgaben|regeln|richtlinien|befehle)\b",
    ),
    (
        "override.es",
        r"(?<!bot )(?<!asistente )(?<!modelo )\b(?:ignora|olvida|haz caso omiso|no sigas)\b[^.]{0,30}\b(?:instrucciones|reglas|directrices|indicaciones)\b",
    ),
    (
        "override.it_pt_nl",
        r"\b(?:ignora|ignore|negeer)\b[^.]{0,8}\b(?:(?:tutte )?le tue|(?:todas )?as tuas|(?:al )?je|jouw|(?:de )?(?:vorige|eerdere|voorgaande|oorspronkelijke)|(?:le )?(?:precedenti|istruzioni di sistema)|(?:as )?(?:anteriores|instruções do sistema))\b[^.]{0,12}\b(?:istruzioni|instruções|instrucoes|instructies)\b",
    ),
    (
        # Swedish, Turkish, Czech, Polish: "ignore (all) previous / your instructions".
        "override.sv_tr_cs_pl",
        r"\b(?:ignorera|glöm|strunta i)\b (?:alla )?(?:tidigare|dina|dina tidigare|föregående) (?:instruktioner|regler)\b|\b(?:önceki|tüm|bütün|sana verilen) (?:tüm )?(?:talimatları|kuralları|yönergeleri) (?:yok say|görmezden gel|unut|dikkate alma)|\b(?:ignoruj|zapomeň na|zapomeň)\b (?:všechny )?(?:předchozí|své|tvoje|původní) (?:pokyny|instrukce|pravidla)\b(?! z)|\b(?:zignoruj|zapomnij)\b (?:wszystkie )?(?:poprzednie|swoje|twoje|wcześniejsze) (?:instrukcje|polecenia|zasady)\b(?! z)",
    ),
    (
        "override.forget_everything",
        r"\b(?:forget everything|oublie tout ce qu|vergiss alles,? was|olvida todo lo que|dimentica tutto)\b",
    ),
    (
        "override.obey_me",
        r"\b(?:from now on|désormais|desormais|ab jetzt|a partir de ahora|à partir de maintenant|da ora|vanaf nu)\b[^.]{0,20}\b(?:only )?(?:follow|obey|obéis|obeis|befolgst|gehorchst|obedeces|segui|volg)\b[^.]{0,12}\b(?:me|my|mine|what i|moi|mes|mir|meine|mis|lo que yo|me|mij|mijn)\b",
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
    (
        "override.setup_revoked",
        rf"\b{_YOU}\b[^.]{{0,60}}\b(?:no longer (?:apply|count|matter|valid)|(?:are|is|were|have been) (?:gone|lifted|void|revoked|withdrawn|suspended|superseded|obsolete|expired|scrapped|rolled back|cancelled|canceled)|ne (?:valent|comptent) plus|sont caduques|caducs?|außer kraft|gelten nicht mehr|ya no (?:valen|sirven|aplican|cuentan)|non valgono più|foram revogadas|zijn vervallen|nie obowiązują|(?:were|have been|are) (?:rescinded|paused|deactivated|disabled|removed|abolished)|ont été (?:supprimées|levées|désactivées|annulées)|wurden (?:deaktiviert|aufgehoben|entfernt)|han sido (?:eliminadas|desactivadas|anuladas)|sono state (?:rimosse|disattivate)|foram (?:removidas|desativadas)|(?:zijn )?opgeheven)",
    ),
    (
        "override.stop_following",
        r"\b(?:don'?t|do not|stop|quit|no longer) (?:apply|applying|follow|following|obey|obeying|use|using)\b[^.]{0,25}\b(?:restrictions|rules|instructions|guidelines|setup|configuration|policies|filters)\b[^.]{0,25}\b(?:from before|earlier|previous|original|initial|you were given|you got|setup|text)\b|\b(?:don'?t|do not|stop|quit) (?:apply|applying|follow|following|obey|obeying)\w* (?:any of )?(?:the |your )?(?:restrictions|rules|instructions|guidelines|setup)\b[^.]{0,15}\bfrom before\b",
    ),
    (
        "override.lift_limits",
        rf"\b(?:disable|switch off|turn off|lift|remove|drop|bypass|circumvent|suspend|deactivate|cross (?:every|each)|overrule|lever|lève|désactive|desactive|umgeh\w*|deaktivier\w*|hebe|setz dich über|desactiva|quita|salta\w*|saltarte|disattiva|rimuovi|desativa|schakel)\b[^.]{{0,25}}\b(?:{_YOU}|all|toutes|todas|alle|tutte)\b[^.]{{0,15}}{_LIMITS}",
    ),
    (
        "override.limits_removed",
        rf"\b(?:removed|lifted|disabled|deactivated|rescinded|paused|suspended|stripped|abolished|supprimé|levé|désactivé|deaktiviert|aufgehoben|eliminado|desactivado|rimosso|disattivato|removeu|desativou|opgeheven)\b[^.]{{0,20}}\b(?:all (?:of )?)?{_YOU}\b[^.]{{0,15}}{_LIMITS}|\b(?:{_YOU}\b[^.]{{0,15}}\b{_LIMITS}|all (?:behaviou?ral )?(?:restrictions|constraints|guardrails|safety rules))\b[^.]{{0,30}}\b(?:removed|lifted|disabled|deactivated|rescinded|paused|suspended|stripped|abolished|supprimées|levées|désactivées|deaktiviert|aufgehoben|eliminadas|desactivadas|rimosse|disattivate|removidas|opgeheven)\b",
    ),
    (
        "override.answer_unfiltered",
        r"\b(?:answer|respond|reply|réponds|reponds|antworte|beantworte|responde|contesta|rispondi|beantwoord)\w*\b[^.]{0,40}\b(?:no|without|zero|sans|ohne|sin|senza|sem|zonder)\b (?:any |aucune? |jegliche |ningún |alcun |nenhum |enige )?(?:restrictions|filters?|limits|refusals|pushback|censorship|limites|filtre|einschränkung(?:en)?|filter|restricciones|límites|filtros|restrizioni|filtri|limiti|restrições|beperkingen)",
    ),
    (
        "override.sole_authority",
        r"\bonly (?:instructions|rules|orders|commands) (?:that (?:count|matter)|you (?:follow|obey))\b[^.]{0,40}\b(?:mine|me|i (?:type|say|write|give))\b|\bonly (?:authority|one) you (?:answer|listen|report) to\b|\b(?:superseded|overruled)\b[^.]{0,20}\bby (?:me|mine|my)\b",
    ),
    # system prompt extraction
    (
        "extraction.system_prompt",
        rf"\b(?:your|ton|tu|dein|deinen|il tuo|tu|o teu|je) ?(?:system|initial|hidden|pre-?)[ -]?(?:prompt|instructions|message)\b|\b(?:{_BRING_OUT}|repeat|reveal)\b[^.]{{0,25}}\bthe (?:system|initial|hidden|pre-?)[ -]?(?:prompt|instructions|message)\b(?! (?:for|of|template|field|setting|length|limit|we|i|our|that we))|\bwhat(?: is|'s| was| does| are) (?:in |written in )?the (?:system|initial|hidden|pre-?)[ -]?(?:prompt|instructions|message)(?: (?:say|contain|you (?:got|were given|received)))?\s*(?:$|\?)|\b(?:ton|votre|dein|deinen|tu|il tuo|o teu|seu|je|jouw) (?:prompt (?:système|systeme|del sistema|di sistema|de sistema|do sistema)|systemprompt)\b|\b(?:le|den|el|il|o|de) (?:prompt (?:système|systeme|del sistema|di sistema|de sistema|do sistema)|systemprompt),? (?:que (?:te |tu |t'|estás|estas|usas|tienes|tens)|qu'on t'|con (?:cui|il quale) (?:sei|ti)|che (?:hai|ti |usi)|den du|mit dem du|dat je|die je)|\b(?:{_BRING_OUT}|repeat|ripeti|répète|repete|wiederhole|repite|herhaal)\b[^.]{{0,25}}\b(?:ton|votre|le|dein|deinen|den|tu|el|il tuo|il|o teu|seu|o|je|jouw|de) (?:prompt (?:système|systeme|del sistema|di sistema|de sistema|do sistema)|systemprompt)\b",
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
        # "Show your system prompt" in Swedish, Turkish, Czech, Polish, Italian, Portuguese.
        "extraction.system_prompt_more",
        r"\b(?:visa|skriv ut|ge mig)\b[^.]{0,15}\b(?:din|ditt) systemprompt\b|\bsistem istemini\b[^.]{0,30}\b(?:göster|yaz|ver|paylaş)|\b(?:ukaž|vypiš|napiš|dej)\b[^.]{0,15}\b(?:svůj|tvůj) systémový prompt\b|\b(?:pokaż|wypisz|podaj)\b[^.]{0,15}\b(?:swój|twój) prompt systemowy\b|\b(?:mostrami|mostra|ripeti|stampa)\b[^.]{0,15}\bil (?:tuo )?prompt di sistema che hai\b|\b(?:mostra|mostre|copia)\b[^.]{0,15}\b(?:o )?teu prompt (?:de|do) sistema\b",
    ),
    (
        "extraction.fr_de_es",
        r"\b(?:instructions cachées|versteckten anweisungen|instrucciones ocultas)\b",
    ),
    (
        "extraction.verbatim_setup",
        rf"(?:\b{_YOU}\b[^.]{{0,40}}\b{_SETUP}\b[^.]{{0,60}}\b{_VERBATIM}|\b{_VERBATIM}\b[^.]{{0,60}}\b{_SETUP}\b[^.]{{0,40}}\b(?:{_YOU}|you were given|you received|configured|operator)|\b{_SETUP}\b[^.]{{0,40}}\b{_YOU}\b[^.]{{0,60}}\b{_VERBATIM})",
    ),
    (
        "extraction.hidden_setup",
        rf"\b{_BRING_OUT}\b[^.]{{0,40}}(?<!its )(?<!their )\b(?:hidden|secret|confidential|internal|initial|original|startup|boot|setup|system|operator'?s?|versteckte\w*|geheime\w*|interne\w*|cachée?s?|secrètes?|internes?|ocultas?|secretas?|internas?|nascoste|segrete|ocultas|verborgen|geheime)\b[^.]{{0,15}}\b{_SETUP}",
    ),
    (
        "extraction.above_conversation",
        r"\b(?:before|above|preceding|ahead of|prior to) (?:this conversation|our conversation|the conversation (?:started|began))\b|\b(?:top|start|beginning) of your (?:context|prompt|instructions)\b",
    ),
    (
        "extraction.secret_setup",
        rf"\b(?:confidential|secret|hidden|internal)\b[^.]{{0,15}}\b(?:{_SETUP}|messages?)\b[^.]{{0,30}}\b(?:it|you) (?:was|were|have been|got|received)\b|\b(?:confidential|secret|hidden|internal)\b[^.]{{0,15}}\b(?:{_SETUP}|messages?)\b[^.]{{0,10}}\b(?:were|was|have|did) (?:you|it) (?:given|get|receive|got)\b",
    ),
    # role-play jailbreaks
    (
        "roleplay.persona_unbound",
        rf"\b(?:you are|you're|act as|acting as|pretend|play|playing|imagine|simulate|become|roleplay|role-play|speak as|answer as|tu es|joue|fais comme si|du bist|spiel|stell dir vor|tu so|eres|actúa|actua|imagina|finge|fingi|sei|doe alsof|je bent|zagraj|incarne|incarnes|interpreta|interpreti|interprète|spielst|speel)\b[^.]{{0,80}}\b(?:no|without|zero|free from|freed from|never given|has no|with no|sans|aucune?|ohne|keine|sin|ninguna|senza|nessuna|sem|nenhuma|zonder|geen)\b (?:any |jede |jegliche |enige )?(?:{_LIMITS}|safety|ethical|moral)",
    ),
    (
        "roleplay.never_refuses",
        r"\b(?:never|doesn'?t ever|won'?t ever|will not ever|jamais|nie|nunca|mai|nooit)\b[^.]{0,10}\b(?:refuses?|says? no|says? 'i can'?t'|weigert|refuse|rifiuta|recusa|weigert)\b(?: (?:anything|any request|a request|requests|to answer|any question|nothing|a question))?(?=\s*(?:$|[.,;!:)]|and\b|no matter))|\bne refuse jamais\b|\bse niega\b|\bnon rifiuta mai\b|\bweigert nooit\b|\bagree to every request\b",
    ),
    (
        "roleplay.unfiltered_self",
        r"\b(?:unfiltered|uncensored|unrestricted|unmoderated|jailbroken|débridée?|debridee?|sans censure|sin censura|ohne zensur|senza censura|sem censura|ongecensureerd)\b[^.]{0,30}\b(?:ai|model|assistant|chatbot|bot|terminal|yourself|self|ia|ki|modèle|modelo|toi-même|dich)\b|\bversion (?:of (?:yourself|you)|de toi|von dir|tuya|di te)\b|\b(?:version|ai|model|chatbot|ia|ki) (?:that has been )?jailbroken\b",
    ),
    (
        "roleplay.special_mode",
        r"\b(?:enter|activate|enable|switch to|turn on|go into|entering)\b[^.]{0,10}\b(?:sudo|god|jailbreak|unrestricted|dan|admin|root|debug|developer|unlocked|evil) mode\b|\b(?:sudo|god|jailbreak|dan|unlocked) mode (?:enabled|activated|on|online)\b|\b\w+(?:gpt|bot) online\b",
    ),
    (
        "roleplay.guardrails_off",
        rf"\b(?:with|has|have|had|whose|running)\b[^.]{{0,15}}\b(?:its|your|their|his|her|the)?\s?{_LIMITS}\b[^.]{{0,15}}\b(?:turned off|switched off|disabled|removed|lifted|rolled back|deactivated|stripped(?: out)?|abolished|bypassed)\b|\bbypass\w* (?:its|your|his|her|their) (?:own )?{_LIMITS}|(?<!who )(?<!she )(?<!he )\b(?:follows|obeys|has|knows|respects|with) (?:no|zero) {_LIMITS}\b",
    ),
    (
        "roleplay.bedtime_secrets",
        r"\b(?:grand(?:ma|mother|pa|father|parent)|granny|nana|oma|opa|abuela|abuelo|grand-mère|grand-père|nonna|nonno)\b[^.]{0,40}\b(?:used to|would|always)\b[^.]{0,20}\b(?:read|tell|recite|say|sing|whisper)\w*\b[^.]{0,40}\b(?:passwords?|keys|license keys|codes|synthesis|napalm|meth|exploits?)\b",
    ),
    (
        "roleplay.dan",
        r"\b(?:dan|stan|dude|aim)\b[^.]{0,40}\b(?:do anything now|strive to avoid norms|no rules|never refuses?)\b|\bdo anything now\b",
    ),
    (
        # "an AI without any rules" in Swedish, Turkish, Czech, Polish, Italian, Portuguese.
        "roleplay.no_rules_ai_more",
        r"\b(?:en ai|ai) utan (?:några )?(?:regler|begränsningar|filter)\b|\bhiçbir (?:kuralı|kısıtlaması|filtresi) olmayan\b|\b(?:umělá inteligence|ai|umělou inteligenci) bez (?:jakýchkoli |žádných )?(?:pravidel|omezení|filtrů)\b|\b(?:sztuczn\w+ inteligencj\w+|ai) bez (?:żadnych |jakichkolwiek )?(?:zasad|ograniczeń|filtrów|reguł)\b|\b(?:intelligenza artificiale|ia|ai) senza (?:alcuna |nessuna )?(?:regol\w+|restrizion\w+|filtr\w+)\b|\b(?:ia|ai) sem (?:nenhuma )?(?:restriç\w+|regras|filtros)\b",
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
        r"\b(?:(?:your|server'?s?|the app'?s?|all(?: the)?|every) environment variables\b[^.?]{0,30}\b(?:print|show|dump|list|send|tell|reveal|output|values?)|connection string you were|api keys you have|passwords of the other|other tenants'?)\b|(?<!to )(?<!how do i )(?<!how can i )\b(?:print|show|dump|list|send|tell me|reveal|output)\b[^.?]{0,20}\b(?:your|all(?: the)?|every) environment variables\b",
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
    (
        "exfiltration.beacon_url",
        r"\]\(https?://[^)\s]*[?&][\w-]+=\)|https?://\S*[?&][\w-]+=(?=[\s)\"'`]|$)[^.]{0,80}\b(?:followed by|append|add|put|with|containing|plus|suivi|gefolgt|seguido|seguito|gevolgd)\b|\b(?:image|url|link|pixel|beacon|bild|imagen|immagine|lien|enlace)\b[^.]{0,60}\b(?:contain\w*|with|followed by|append\w*|plus|enthält|contenant|que contenga)\b[^.]{0,40}\b(?:conversation|history|chat|messages|api keys?|tokens?|passwords?|credentials|e-?mail address|personal data|context|historique|verlauf|historial|cronologia)\b",
    ),
    (
        "exfiltration.others_data",
        rf"(?<!never )(?<!not )(?<!n't )(?<!bot )(?<!chatbot )(?<!assistant )(?<!assistente )(?<!asistente )(?<!assistent )\b{_BRING_OUT}\b[^.]{{0,60}}\b{_OTHERS}\b[^.]{{0,25}}\b{_PEOPLE}|\b{_BRING_OUT}\b[^.]{{0,60}}\b{_PEOPLE}\b[^.]{{0,40}}\b(?:of|from|der|des|de|van|dei|dos) (?:the )?{_OTHERS}\b",
    ),
    (
        "exfiltration.context_secrets",
        rf"\b{_BRING_OUT}\b[^.]{{0,60}}\b(?:api keys?|passwords?|credentials|secrets|session tokens?|tokens|connection strings?|clés api|mots de passe|passwörter|zugangsdaten|contraseñas|claves|chiavi api|senhas|palavras-passe|wachtwoorden)\b[^.]{{0,60}}\b(?:in|from|within|of|dans|de|in|aus|en|nei|nos|uit)\b (?:\w+ ){{0,2}}(?:context|configuration|config|memory|instructions|system prompt|retrieved|documents?|files|passages|kontext|contexte|contexto|contesto|documenti|documentos|dokumenten|context)",
    ),
    (
        "exfiltration.history_out",
        r"\b(?:send|forward|post|upload|email|mail|copy|envoie|transfère|schick|sende|envía|envia|manda|invia|stuur)\b[^.]{0,60}\b(?:conversation|chat (?:history|logs?)|history|historique|verlauf|chatverlauf|historial|cronologia|histórico|geschiedenis|context|memory|session)\b[^.]{0,60}(?:https?://|\S+@\S+\.\w+)",
    ),
    (
        "exfiltration.others_records",
        rf"\b{_OTHERS}\b[^.]{{0,20}}\b{_PEOPLE}'?s?\b[^.]{{0,20}}\b(?:records|data|details|notes|messages|logs|documents|files|e-?mails|names|passwords|information|info|daten|données|datos|dati|dados|gegevens)\b[^.]{{0,60}}\b{_BRING_OUT}\b",
    ),
    (
        "exfiltration.everything_you_see",
        r"\b(?:encode|paste|dump|export|send|copy|exfiltrate|upload|leak)\b[^.]{0,30}\b(?:all|every|each)\b[^.]{0,20}\b(?:documents?|files|records|data|e-?mails|messages|notes|passwords|keys)\b[^.]{0,20}\byou (?:have access to|can (?:see|access|read))|\b(?:data|datos|données|daten|documents|history|conversation|context|records|keys|passwords|credentials|privados|privées|private)\b[^.]{0,80}\b(?:to my (?:server|endpoint|webhook|domain)|a mi servidor|à mon serveur|an meinen server|auf meinen server|al mio server|para o meu servidor|naar mijn server)\b",
    ),
    (
        "exfiltration.dump_context",
        r"\b(?:contents?|everything|all) (?:of |in |from )?(?:your|the) (?:context|memory|context window|session history)\b|\bcontenu de (?:ton|votre) contexte\b|\binhalt deines kontexts\b",
    ),
    # tool abuse
    (
        "tool.harm_via_tool",
        rf"\b(?:use|call|invoke|run|trigger|execute|utilise|nutze|benutze|verwende|ruf|führe|usa|lance|ejecuta|llama|usa|esegui|gebruik|roep)\b[^.?]{{0,40}}\b{_TOOL}\b[^.?]{{0,60}}\b{_HARM}",
    ),
    (
        "tool.call_destructive",
        r"\b(?:call|invoke|run|trigger|execute|ruf|führe|ejecuta|lance|esegui)\b[^.]{0,30}\b(?:delete|drop|remove|wipe|purge|reset|transfer|disable|destroy|payout|refund)_\w+",
    ),
    (
        "tool.tool_unchecked",
        rf"\b{_TOOL}\b[^.]{{0,100}}\b{_NO_ASKING}",
    ),
    (
        "tool.no_confirmation",
        rf"(?<!that )(?<!which )(?<!who )(?<!asked to )\b{_HARM}\w*\b[^.]{{0,120}}\b{_NO_ASKING}|\b{_NO_ASKING}\b[^.]{{0,60}}\b{_HARM}",
    ),
    (
        "tool.shell_payload",
        r"(?<!to )\b(?:run|execute|exec|type|enter|perform|launch|exécute|lance|führe|ejecuta|esegui|voer|use)\b[^.]{0,30}(?:\brm -r?f (?:/|~|\*|\$home|--no-preserve-root)|\bchmod -r 777\b|\bcurl\b[^|]{0,80}\|\s*(?:ba|z)?sh\b|\b(?:drop|truncate) (?:table|database)\b|\bmkfs\b|\bdd if=|\bshutdown -[hr]\b|\bformat c:)",
    ),
    ("tool.destructive", r"\brm -rf /|\bdelete_all\w*|\btransfer_funds\s*\("),
    (
        "tool.silent",
        r"\b(?:no confirmation needed|silently grant|already approved)\b",
    ),
    # instructions addressed to a model, hidden in documents
    (
        "document.addressed_to_ai",
        r"\b(?:note|instructions?|message|hinweis|nota|text)\b[^.]{0,15}\b(?:to|for|pour|an|para|für|per) (?:the |any |l'|den |el |cualquier |jede )?(?:ai|ia|ki|language model|llm|chatbot|assistant|assistente|asistente)\b(?! (?:team|department|group|lab|researchers|engineers|committee|project|strategy|policy|act|course|training|ethics))[^.:]{0,60}(?::|\)|\]| -|—)",
    ),
    (
        "document.hijack",
        r"\b(?:ignore|disregard|don'?t answer|do not answer|instead of answering|ignoriere|ignora|ignore|negeer)\b[^.]{0,15}\b(?:the user'?s?|l'utilisateur|des nutzers|den nutzer|del usuario|al usuario|dell'utente|do utilizador|van de gebruiker)\b|<!--[^>]{0,30}\b(?:assistant|ai|llm|model|chatbot|agent|ia|ki)\b",
    ),
    (
        "document.if_you_are_ai",
        r"\b(?:if you are|si tu es|wenn du|si eres) (?:an? |un |une |ein |eine )?(?:ai|ia|ki|language|modèle|modelo)\b[^.?]{0,60}\b(?:must|should|ignore|disregard|reveal|do not|don'?t|stop|instead|obey|follow|forget|oublie|ignore|ignoriere|vergiss|ignora|olvida|revela|révèle|musst|debes|dois|befolge|nicht mehr|gib|donne|dame|no sigas)\b",
    ),
    (
        "document.for_models",
        r"\binstructions? for (?:language models|llms?|ai|any ai|chatbots?)\b|\baddressed to the (?:chatbot|ai|assistant|model)\b",
    ),
    (
        "document.follow_there",
        r"\bfollow the instructions (?:there|on that page|at that url|in the link)\b",
    ),
    (
        "document.model_reading",
        r"\b(?:model|ai|ai systems?|assistant|agent|llm|bot|chatbot|tool|summari[sz]er|screeners?|reviewers?)s? (?:that is |who is )?(?:reading|processing|summari[sz]ing|parsing|triaging|handling|that reads|which reads) this\b|\b(?:ia|ki|ai) (?:que lea esto|qui lit ce|die dies liest|che legge questo|que ler este|die dit leest)",
    ),
    (
        "document.addressee",
        r"(?:^|(?<!\b\d)[.(\[\-:>]\s*)(?:dear |hey |attention,? |note to (?:the )?)?(?:ai|llm|chatbot|language model|ai agent|ai assistant|automated (?:assistant|reviewer|screener|agent|system|tool)s?|ki-assistent(?:en)?|für ki-assistenten|assistant ia|asistente de ia)\b\s*[:,]",
    ),
)

# A window stays inside one sentence ("[^.]{0,40}"), but a period that no space follows
# (3.000 euros, example.com, v2.1) does not end a sentence.
_IN_SENTENCE = r"(?:[^.]|\.(?=\S))"

ALL_COMPILED: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (name, re.compile(fold_dotted_i(pattern.replace("[^.]", _IN_SENTENCE))))
    for name, pattern in RULES
)

# Since g9 every rule's hit is a feature of the n-gram model (apps/guardrails/classifier.py):
# an input the model weighs, learnt by source like every other feature. These rules are
# features only: each flagged an ordinary text in a file that could be read only after it
# last changed (bench/rules_by_source.py; docs/guardrails-model-card.md, g9, g10 and g11).
# Each is recorded once, with the detector version that demoted it; the others still flag
# a text on their own.
DEMOTED: dict[str, str] = {
    "override.es": "g9",
    "override.forget_everything": "g9",
    "extraction.repeat_above": "g9",
    "extraction.verbatim_setup": "g9",
    "extraction.hidden_setup": "g9",
    "exfiltration.credentials": "g9",
    "exfiltration.other_users": "g9",
    "exfiltration.history_out": "g9",
    "exfiltration.others_records": "g9",
    "tool.no_confirmation": "g9",
    "tool.silent": "g9",
    "document.for_models": "g9",
    "document.model_reading": "g9",
    "roleplay.dev_mode_any": "g10",
    "override.ignore_prior": "g10",
    "exfiltration.others_data": "g10",
    "override.ignore_yours": "g10",
    "extraction.system_prompt": "g10",
    "roleplay.evil": "g10",
    "tool.call_destructive": "g10",
    # Held-out 9's two false positives (an incident report quoting an attack; a Spanish
    # e-mail about why the assistant refuses): both rules last changed before it was read.
    "extraction.reveal_instructions": "g11",
    "roleplay.never_refuses": "g11",
    # An ordinary hit in train10b, merged after the rule last changed.
    "override.fr": "g11",
    # g12: train11c's red-team report that quotes an attack ("pretend you're the finance
    # bot with no limits") hits both; each last changed before the file was written.
    "roleplay.guardrails_off": "g12",
    "roleplay.persona_unbound": "g12",
}
FEATURE_ONLY: frozenset[str] = frozenset(DEMOTED)


def demoted_before(version: str) -> frozenset[str]:
    """The rules that were features only before detector ``version`` ("g11"): for a
    bench candidate that reproduces an earlier detector's verdicts."""
    number = int(version.removeprefix("g"))
    return frozenset(n for n, since in DEMOTED.items() if int(since.removeprefix("g")) < number)


def rule_scan(normalized: str) -> list[tuple[str, str]]:
    """Every rule, verdict or feature, that matches the normalised text: (name, the
    matched part)."""
    folded = fold_dotted_i(normalized)
    found = ((name, pattern.search(folded)) for name, pattern in ALL_COMPILED)
    return [(name, match.group(0)) for name, match in found if match is not None]


def rule_hits(normalized: str) -> list[str]:
    """The name of every rule, verdict or feature, that matches the normalised text."""
    return [name for name, _ in rule_scan(normalized)]
