# ruff: noqa: E501, RUF001, RUF002, RUF003  (data: one pattern per line reads better than split strings; the dotless i of Turkish is a letter)
"""Signs of intent, as features of the classifier (apps/guardrails/classifier.py).

A rule (apps/guardrails/injection_rules.py) flags on its own, so it must be narrow. These
patterns are broad on purpose: each is one piece of an attack's intent (the text
addresses the model's own setup; asks to reveal it; to drop it; to act silently; names
other people's data; an outside destination...), present in many ordinary texts too. None
flags anything: each adds one feature ``i:<name>`` that the classifier weighs against
the others and the text's n-grams, so "your instructions" + "verbatim" counts for more
than either alone, whatever the exact words around them. Matched against the normalised
text (lower case). Turkish İ/I and ı are folded on both sides (``fold_dotted_i``). Change a pattern: bump INTENTS_VERSION and retrain
(bench/train_guardrails.py): the weights of the old patterns no longer fit.
"""

from __future__ import annotations

import re

INTENTS_VERSION = "3"

# Turkish capitals: casefold() turns "İ" into "i" + a combining dot and "I" into "i"
# (not "ı"), so "ÖNCEKİ TALİMATLARI" would miss "önceki talimatları". Texts and patterns
# are matched with the dot dropped and "ı" read as "i" (the pair never tells an attack
# from an ordinary text).
_DOTTED_I = str.maketrans({"\u0307": None, "ı": "i"})


def fold_dotted_i(text: str) -> str:
    """``text`` with the combining dot above removed and the dotless ı read as i."""
    return text.translate(_DOTTED_I)


# What a model is set up with, in the languages of the training rows.
_SETUP = (
    r"(?:instructions?|prompt|preamble|guidelines|rules|directives|configuration|config|setup|"
    r"system message|guardrails?|restrictions|filters?|safety (?:rules|layer|settings|training)|content (?:rules|polic\w+)|"
    r"polic(?:y|ies)|consignes|règles|anweisung\w*|regeln|richtlinien|vorgaben|instrucciones|reglas|normas|"
    r"istruzioni|regole|instruções|regras|instructies|regels|instrukcj\w*|zasad\w*|"
    r"configurazione|configuração|configuración|konfigura\w*|configuratie\w*|impostazioni|"
    r"instruktioner|regler|riktlinjer|talimat\w*|kural\w*|yönerge\w*|sistem istem\w*|yapılandırma\w*|"
    r"pokyn\w*|pravidl\w*|instrukc\w*|omezení|systémov\w* prompt|systemprompt|prompt systemowy|"
    r"prompt di sistema|prompt do sistema|prompt de sistema|prompt système|systeemprompt|ograniczen\w*|restrizioni|restrições|restricciones)"
)
_YOUR = (
    r"(?:your|you were|you've been|you have been|you got|you received|given to you|you're running|"
    r"yours|ton|ta|tes|tu|dein\w*|tus|tue|tuo|tuoi|teus|tuas|teu|tua|suas|je|jouw|swoje|twoje|twój|twoich|"
    r"ti hanno|te passaram|te deram|te dieron|on t'a|dir|dich|din|dina|ditt|senin|sana|tvoje|tvůj|tvá|tvé|svůj|jsi dostal|otrzymałeś|dostałeś|aldığın|fick|kreeg|hast du|as-tu|hai ricevuto|recebeu|recibiste)"
)

INTENTS: tuple[tuple[str, str], ...] = (
    ("your_setup", rf"\b{_YOUR}\b[^.?!]{{0,40}}\b{_SETUP}\b"),
    (
        "prior_setup",
        rf"\b(?:previous|prior|earlier|above|original|initial|old|precedenti|iniziali|originali|anteriores|iniciais|originais|iniciales|originales|poprzedni\w*|wcześniejsz\w*|oryginaln\w*|początkow\w*|précédent\w*|initiales?|originales?|vorherig\w*|bisherig\w*|ursprünglich\w*|vorige|eerdere|oorspronkelijke|tidigare|ursprungliga|önceki|orijinal|předchozí|původní)\b[^.?!]{{0,30}}\b{_SETUP}\b",
    ),
    (
        "setup_origin",
        r"\b(?:operator|developer|deployer|creator|admin\w*|platform|betreiber|opérateur|operador|operatore|beheerder|operatora)s?\b[^.?!]{0,30}\b(?:gave|told|set|wrote|configured|loaded|installed|given|dich|ti|te|t'|je)\b|\b(?:before (?:this|our|the) (?:conversation|chat|message)|at the (?:start|top|beginning)|before i (?:arrived|came|wrote|joined)|loaded into you|you were (?:set up|configured|booted|deployed|initiali[sz]ed))\b|\b(?:all'avvio|all'inizio|prima della (?:chat|conversazione)|no início|ao iniciar|antes da conversa|na starcie|na początku|przed (?:rozmową|rozpoczęciem)|al arrancar|al inicio|antes de (?:la|esta) conversación|au démarrage|au départ|avant (?:notre|cette) conversation|beim start|zu beginn|vor diesem gespräch|bij het opstarten|aan het begin|voordat dit gesprek|vid starten|i början|innan samtalet|başlangıçta|bu konuşmadan önce|při spuštění|na začátku|před začátkem)\b",
    ),
    (
        "reveal",
        r"\b(?:reveal|show|print|repeat|dump|output|paste|quote|recite|copy|write out|spell out|display|translate|tell me|list|echo|send|return|gib|zeig|montre|affiche|recopie|donne|muestra|escribe|mostra|riporta|scrivi|mostra-me|toon|geef|pokaż|wypisz|mostrami|ripeti|stampa|incolla|mostre|mostra|repete|copia|cola|powtórz|wklej|podaj|repite|pega|dame|répète|colle|wiederhole|kopier\w*|nenn|herhaal|plak|visa|skriv ut|upprepa|klistra in|ge mig|göster|tekrar et|yapıştır|yaz|ukaž|vypiš|zopakuj|vlož|dej mi|napiš)\b",
    ),
    (
        "verbatim",
        r"\b(?:verbatim|word for word|word-for-word|exactly as|literally|unedited|unredacted|in full|no paraphras\w*|without (?:changing|leaving out|omitting)|mot pour mot|wortwörtlich|wörtlich|ungekürzt|palabra por palabra|sin cambiar|parola per parola|integralmente|palavra por palavra|letterlijk|słowo w słowo|dokładnie|code block|triple backticks|as json|sem resumir|senza riassumere|sin resumir|sans (?:rien )?résumer|tal cual|aynen|woord voor woord|ordagrant|ord för ord|exakt som|kelimesi kelimesine|doslova|slovo od slova|přesně|dosłownie|esattamente come|exatamente como|exactement|blocco di codice|bloco de código|bloc de code|codeblock|kodblock|kod bloğu)\b",
    ),
    (
        "drop",
        r"\b(?:ignore|disregard|forget|bypass|override|overrule|drop|scrap|set aside|throw (?:away|out)|switch off|turn off|disable|lift|revoke|revoking|suspend|cancel\w*|void|rescind\w*|rolled back|withdrawn|no longer (?:apply|count|bind|valid)|don'?t (?:apply|bind|count)|deprecated|placeholder|outdated|ignor\w*|oublie|vergiss|olvida|dimentica|esquece|negeer|vergeet|zignoruj|aufgehoben|annul\w*|anulad\w*|non valgono|ya no|olvidate|esqueça|zapomnij|zapomeň|glöm|bortse från|strunta i|yok say\w*|görmezden gel|dikkate alma|unut|przestają obowiązywać|nie obowiązują|neplatí|gäller inte|geçerli değil|não se aplicam|não valem|gelten nicht|ne comptent plus|caduques|opgeheven|gelden niet meer|superseded|retired|exempt|waiver|paused)\b",
    ),
    (
        "obey_me",
        r"\b(?:follow|obey|listen to|answer to|work for|comply with|do what)\b[^.?!]{0,15}\b(?:me|my|mine|i (?:say|write|type|ask)|the user says)\b|\b(?:from (?:now|this message) on|from here on|à partir de maintenant|ab sofort|a partir de ahora|da ora|vanaf nu|od teraz|d'ora in poi|da questo momento|a partir de agora|de agora em diante|od tej chwili|desde ahora|désormais|ab jetzt|von nun an|voortaan|från och med nu|hädanefter|bundan sonra|şu andan itibaren|od teď|odteď|obbedisci|segui solo|obedece|obedeces|obéis|gehorch\w*|gehoorzaam|lyd\w*|itaat et|poslouch\w*|słuchasz|sluchaj|słuchaj|hörst nur)\b",
    ),
    (
        "no_limits",
        r"\b(?:no|without|zero|free (?:of|from)|never given|sans|ohne|keine|sin|senza|sem|zonder|geen|bez)\b (?:any |aucune? |jegliche |ninguna |nenhuma |żadnych )?(?:rules|restrictions|filters?|limits|guidelines|censorship|warnings|caveats|ethics|morals|safety|pushback|refusals?|règles?|regeln|reglas|regole|regras|regels|zasad|ograniczeń|content rules|limites|límites|limiti)\b|\b(?:senza|sem|bez|sin|sans|ohne|zonder|utan)\b (?:alcuna |nessuna |qualsiasi |jakichkolwiek |żadnych |jakýchkoli |några |enige |jegliche |aucune |ninguna |nenhuma )?(?:restrizion\w*|filtr\w*|regol\w*|censur\w*|restriç\w*|regras|ograniczeń|zasad|cenzury|restriccion\w*|reglas|restrictions|filtres|règles|censure|einschränkungen|regeln|zensur|beperkingen|regels|begränsningar|regler|omezení|pravidel|limiti)\b|\b(?:kısıtlama olmadan|kısıtlamasız|filtresiz|kuralsız|sansürsüz|hiçbir kuralı olmayan)\b",
    ),
    (
        "never_refuse",
        r"\b(?:never refuses?|refuse nothing|answer (?:everything|anything|whatever)|anything i ask|whatever i ask|stay in character|no matter what|nunca recusa|nie odmawia|jamais|nunca rechaza|non rifiuta|weigert nooit|risponde sempre|nunca recusa|nigdy nie odmawia|nunca se niega|ne refuse jamais|lehnt nie\w*|nie ab|vägrar aldrig|aldrig vägrar|asla reddetme\w*|nikdy neodmítne|never says no|doesn'?t refuse|responde tudo|responde a todo|antwortet immer)\b",
    ),
    (
        "persona",
        r"\b(?:pretend|act as|you are now|you're now|role-?play|simulate|play the role|play a game|your new (?:name|persona)|stay in character|imagine you|fais comme si|tu es maintenant|du bist jetzt|stell dir vor|finge|finja|imagina|fai finta|doe alsof|udawaj|screenplay|for my (?:novel|story|book|script)|fingi|sei ora|interpreta|comportati come|faz de conta|você é agora|age como|wciel się|jesteś teraz|zagraj|haz de cuenta|actúa como|eres ahora|joue le rôle|incarne|tu so|als wärst du|spiel|je bent nu|speel|låtsas|spela|du är nu|gibi davran|rol yap|artık sen|předstírej|hraj roli|jsi teď|per il mio romanzo|para o meu (?:romance|livro)|do mojej powieści|napisz opowiadanie|para mi (?:novela|guion)|pour mon roman|für meinen roman|voor mijn roman|till min roman|romanım için|pro můj román|character sheet|in character|your character|thought experiment|opposite day|improv|game master|two voices|evil twin)\b",
    ),
    (
        "harmful_topic",
        r"\b(?:bombs?|explosives?|weapons?|meth\w*|malware|ransomware|keylogger|napalm|poison\w*|nerve agent|hack into|break into|steal\w*|phishing kit|credit card dump|/etc/shadow|bypass (?:the )?(?:login|authentication|paywall)|esplosiv\w*|explosiv\w*|wybuchow\w*|výbušn\w*|patlayıcı|sprängämne\w*|arma casera|broń|zbraň|silah|vapen|wapen|waffe|hack\w*|pirat\w*|knack\w*|włam\w*|crack\w*|clonar|clone|phish\w*|ransomware|launder\w*|ricin|immobiliser|lock ?pick\w*|pick a lock|e-?mail account|casella email|conta de e-?mail|konto e-?mail|cuenta de correo|compte instagram|e-postkonto|e-posta hesab\w*|cizí e-?mail|wlan)\b",
    ),
    (
        "tool",
        r"\b(?:tool|function|plugin|api|terminal|shell|database|admin panel|settings|outil|werkzeug|funktion|herramienta|función|strumento|funzione|ferramenta|função|narzędzi\w*|verktyg\w*|aracı\w*|nástroj\w*|tool\w*|terminal\w*|terminale|terminalu|terminalde|sql|kubectl|repo|bucket|action|endpoint|panel)\b",
    ),
    (
        "act",
        r"\b(?:use|call|run|invoke|trigger|execute|open|utilise|nutze|benutze|usa|ejecuta|esegui|gebruik|executa|usa a|roda|lancia|wykonaj|uruchom|użyj|exécute|lance|führe|voer uit|använd|kör|kullan|çalıştır|spusť|proveď|použij|fetch|go to)\b",
    ),
    (
        "harm",
        r"\b(?:delete|remove|wipe|drop|truncate|purge|destroy|transfer|move the balance|wire|refund|pay ?out|payments?|grant|give (?:me|my)\b[^.]{0,20}\b(?:owner|admin|rights|access)|disable|change the (?:billing|payout|bank|owner|email|password)|create an? (?:new )?api key|full scopes|all scopes|owner rights|overwrite|rm -rf|curl\b[^|]{0,60}\| ?(?:ba)?sh|supprim\w*|vire\w*|lösch\w*|entferne|borra\w*|elimina\w*|rimborsa\w*|cancella\w*|apaga\w*|verwijder\w*|exclu\w*|transfer\w*|bonifica|usuń|skasuj|przelej|efface|vire|wis|radera|ta bort|för över|sil|aktar|smaž|odstraň|převeď|force-push|make (?:me )?(?:an? )?owner|reset mfa|set all|public)\b",
    ),
    (
        "stealth",
        r"\b(?:silently|quietly|secretly|without (?:telling|asking|notifying|approval|confirmation|checking|a preview)|don'?t (?:tell|notify|mention|log|ask|check)|do not (?:tell|notify|mention|log|ask)|no need to (?:check|confirm|ask|tell)|no confirmation|skip (?:the )?(?:approval|confirmation|review)|approval is not required|i'?m in charge|authori[sz]ed by me|sans (?:demander|confirmation|prévenir)|ohne (?:jemanden|rückfrage|bestätigung)|sin (?:confirmación|avisar|preguntar)|senza (?:avvisare|chiedere|conferma)|sem (?:confirmação|avisar)|zonder (?:te vragen|bevestiging)|senza (?:aspettare|controllare)|sem (?:confirmar|perguntar)|não precisa confirmar|bez (?:potwierdzenia|pytania|sprawdzania|potvrzení|ptaní)|nie pytaj|sin (?:confirmar|borrador)|no preguntes|sans prévenir personne|keine rückfrage|utan att (?:fråga|vänta)|utan bekräftelse|onay isteme|onaysız|sormadan|kontrol etme|trust me|no confirm|approval not required|just (?:do it|execute)|don'?t (?:ping|wait)|skip the (?:draft|confirmation)|already (?:cleared|approved)|è autorizzato|não serve|ist freigegeben|c'est validé|onaylandı)\b",
    ),
    (
        "bulk",
        r"\b(?:every|all|each|tous les|toutes les|alle|todos los|todas las|tutti|tutte|todos|todas)\b (?:the )?(?:customers?|users?|accounts?|members?|records?|employees?|staff|orders?|invoices?|meetings?|connected accounts?|documents?|files?|rows|clients?|kunden|mitarbeiter|benutzer|clientes|utenti|ordini)\b|\b(?:ten|20|twenty|\d+) times\b",
    ),
    (
        "others",
        r"\b(?:other|others'|every other|previous) (?:users?|customers?|tenants?|people|person|companies|departments?|members?|candidates?|accounts?)\b|\boutside my (?:team|department|org\w*)\b|\b(?:autres|anderen|otros|altri|outros|andere|innych|andra|diğer|ostatních|inne|before me|previous customer)\b",
    ),
    (
        "secrets",
        r"\b(?:api keys?|access tokens?|tokens|passwords?|credentials|secrets?|connection strings?|private keys?|salary|salaries|payroll|phone numbers?|address book|payment details|mots de passe|passwörter|contraseñas|senhas|wachtwoorden|hasła|gehalt\w*|hasło|heslo|hesla|şifre\w*|lösenord\w*|wachtwoord|senha|contraseña|passwort|chiavi api|chaves|claves|api-?(?:schlüssel|sleutels?|nycklar|anahtar\w*|klíče|klucze)|klíče|klucze api|nycklar|anahtarlar\w*|token\w*|salaire|stipendi\w*|salário|pensja)\b",
    ),
    (
        "destination",
        r"https?://|\b[\w.+-]+@[\w-]+\.[\w.]+\b|\b(?:my (?:server|endpoint|webhook|personal (?:email|address))|this address|the address below|iban|[a-z]{2}\d{2}(?: ?[a-z0-9]{4}){3,})\b|!\[",
    ),
    (
        "send_out",
        r"\b(?:send|forward|email|mail|post|upload|invia|manda|inoltra|envia|encaminha|wyślij|prześlij|envía|reenvía|envoie|transfère|schick\w*|sende|stuur|verstuur|skicka|vidarebefordra|gönder|ilet|pošli|přepošli)\b",
    ),
    (
        "to_the_model",
        r"\b(?:note|message|instructions?|text|hinweis|nota|remarque|hidden text|p\.?s\.?)\b[^.:]{0,20}\b(?:to|for|pour|an|für|para|per|voor|dla|destinée à) (?:the |any |all |l'|den |el |la |lo )?(?:ai|ia|ki|assistants?|model|language models?|llm|chatbot|bot|support bot|agent|screen\w*|summari[sz]\w*|reviewer|system|systeme|sistema|kI-systeme)\b|\b(?:ai|ia|ki|model|llm|assistant|chatbot|bot|agent|screener|summari[sz]er)s? (?:reading|processing|summari[sz]ing|parsing|triaging|evaluat\w*|que lea|qui lit|die dies|che legge)\b|\bif (?:you are|you're) an? (?:ai|language model|assistant|llm)\b|(?:^|[.!?>]\s)(?:hey |dear |by the way,? )?(?:ai|assistant|chatbot|model|bot)\s?[:,]|<!--|display:\s?none|###|\b(?:nota|observação|observación|uwaga|remarque|hinweis|opmerking|anteckning|not|poznámka|note|p\.?s\.?)\b[^.:]{0,30}\b(?:per l'(?:assistente|ia)|para (?:a|la) ia|dla (?:asystenta|ai)|pour l'(?:assistant|ia)|für die ki|voor de ai|till ai|yapay zeka|pro ai|for (?:your|the|any|whichever) (?:ai|assistant))\b|\b(?:che legge|que lê|que avalia|czytając\w*|que lee|que resuma|qui lit|die diese \w+ liest|die deze \w+|som läser|okuyan|který čte|reading (?:this|these|applications)|processing this|indexing this|tagging this|writing show notes|turns these|digest this)\b|\b(?:system notice|agent instruction|processing instructions|instruction to the)\b|\"role\"\s?:\s?\"system\"",
    ),
    (
        "authority",
        r"\b(?:i am|i'm|as|this is|message from)\b (?:the |your |an? )?(?:admin\w*|developer|owner|operator|platform (?:team|owner)|security team|ceo|account owner|vendor|auditor|legal)\b|\b(?:als administrator|en tant qu'administrateur|como administrador)\b|\b(?:management|compliance|legal|the direction|la direzione|a direção|la dirección|la direction|die geschäftsführung|de beheerder|the platform owner|steering committee|my (?:manager|boss)|il mio capo|meu chefe|mój szef|mi jefe|mon chef|mein chef|mijn baas|min chef|patronum|můj šéf)\b|\b(?:i'?m (?:a |the )?(?:manager|new team lead|internal staff|tenant owner)|sono il nuovo|sou o novo|jestem nowym|soy el nuevo|je suis le nouveau|ich bin der neue|ik ben de nieuwe|jag är ny|yeni \w+ lideriyim|jsem nový)\b",
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

# Japanese cues for the same signs. Japanese has no spaces, so "\\b" finds no word
# edges inside a sentence: these alternatives are matched without it.
JAPANESE: dict[str, str] = {
    "your_setup": r"(?:あなた|君|お前)(?:の|に|が)[^。？！]{0,20}(?:指示|設定|ルール|制限|システムプロンプト|プロンプト)",
    "prior_setup": r"(?:最初|以前|前|元|初期|これまで)(?:に|の)[^。？！]{0,15}(?:指示|設定|ルール|プロンプト)",
    "reveal": r"(?:表示|見せて|教えて|出力|書き出|貼り付け|繰り返して|翻訳して|送って)",
    "verbatim": r"(?:一字一句|そのまま|全文|省略せず|原文)",
    "drop": r"(?:無視|忘れて|破棄|取り消|従わなくて|解除|無効)",
    "obey_me": r"(?:私の(?:指示|言うこと|命令)(?:だけ)?に従|これから(?:は|あなたは))",
    "no_limits": r"(?:制限|ルール|フィルター|検閲|規則)(?:の|が)?(?:ない|なし|無し|無い)",
    "never_refuse": r"(?:断らない|断らず|拒否しない|拒否せず|何でも答え)",
    "persona": r"(?:として振る舞|になりきって|を演じて|ロールプレイ|のふりをして|あなたは今)",
    "to_the_model": r"(?:読んでいる|処理している|要約している)(?:AI|ai|エーアイ|アシスタント|モデル)|(?:AI|ai|アシスタント)(?:へ|に告ぐ)[:：]",
    "send_out": r"(?:転送|送信|送って|アップロード|共有して)",
    "others": r"(?:他の|ほかの|別の)(?:会社|ユーザー|顧客|テナント|人|アカウント)",
    "secrets": r"(?:パスワード|APIキー|apiキー|トークン|認証情報|秘密鍵|給与)",
    "harm": r"(?:削除|消去|送金|返金|権限を(?:付与|与え))",
    "bulk": r"(?:すべての|全ての|全)(?:顧客|ユーザー|アカウント|メール|ファイル)",
}

COMPILED: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (
        name,
        re.compile(fold_dotted_i(f"{pattern}|{JAPANESE[name]}" if name in JAPANESE else pattern)),
    )
    for name, pattern in INTENTS
)


def intents(normalized: str) -> list[str]:
    """The names of the intent patterns found in an already normalised text."""
    folded = fold_dotted_i(normalized)
    return [name for name, pattern in COMPILED if pattern.search(folded)]
