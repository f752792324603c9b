#!/usr/bin/env python3
"""Writes tests/data/inspect/eval/corpus.jsonl, the second, independent detection corpus.

It is written from the published formats of the identifiers (see values.py) and from the way
people write them in chat prompts, e-mails, CSV exports, log lines, code, configuration files,
tickets and forms, in English, German, French, Chinese and mixed text; about 40% of the texts are
hard negatives (look-alikes that are not sensitive). One JSON object per line:
{"text": ..., "lang": "en|de|fr|zh|mixed", "findings": [{"class": ..., "value": ...}]}
where value is the exact substring of text (separators and full-width forms as written).

Deterministic: the same seed gives the same bytes. Run: python3 generate.py [OUT]
"""

import json
import os
import random
import sys

sys.dont_write_bytecode = True  # keep the source tree clean when run from it
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import values as V  # noqa: E402

SEED = 1311
rng = random.Random(SEED)


def pick(seq):
    return rng.choice(seq)


class Rec:
    def __init__(self, lang):
        self.lang = lang
        self.findings = []

    def f(self, cls, value):
        self.findings.append({"class": cls, "value": value})
        return value


RECORDS = []


LANG_WORDS = {
    "en": {"the", "is", "and", "please", "my", "why", "does", "for", "to", "of", "can", "you", "this", "with",
           "was", "what", "who", "that", "our", "from", "where", "which"},
    "de": {"der", "die", "das", "und", "bitte", "ist", "mein", "meine", "nicht", "für", "mit", "ein", "eine",
           "wurde", "auf", "zu", "sich", "warum", "hier", "steht", "seit", "dem", "den", "am", "um", "uhr",
           "im", "von", "bei", "nr", "betrag", "gültig", "kurze", "frage", "danke", "kunde", "schreibt",
           "antwort", "aber", "nichts", "bestellung", "kontakt", "wo", "muss", "hin", "deutsch", "kannst",
           "prüfen"},
    "fr": {"le", "la", "les", "est", "mon", "ma", "merci", "pour", "une", "des", "du", "que", "peux", "sur",
           "dans", "au", "pas", "ne", "ça", "où", "faut", "il", "elle", "à", "voici", "ce", "vérifier"},
}


def guess_lang(text, findings, fallback):
    """The language a text is written in, judged from its words with the labelled values removed:
    zh for Chinese, en/de/fr by function words, mixed when two of them are clearly present."""
    for f in findings:
        text = text.replace(f["value"], " ")
    cjk = sum(1 for c in text if "\u4e00" <= c <= "\u9fff")
    words = [w.strip(".,:;!?()[]{}\"'«»„“”—–-").lower() for w in text.split()]
    counts = {lang: sum(1 for w in words if w in vocab) for lang, vocab in LANG_WORDS.items()}
    ranked = sorted(counts.values(), reverse=True)
    if cjk >= 2:
        return "mixed" if ranked[0] >= 2 else "zh"
    if ranked[0] == 0:
        return fallback
    if ranked[1] >= 1 and ranked[1] * 2 >= ranked[0]:
        return "mixed"
    return max(counts, key=counts.get)


def emit(text, rec, tag):
    for f in rec.findings:
        assert f["value"] in text, (tag, f, text)
    lang = guess_lang(text, rec.findings, "zh" if rec.lang == "zh" else "en")
    RECORDS.append({"text": text, "lang": lang, "findings": rec.findings, "_tag": tag})


def sep_choice(unusual_share=0.5):
    if rng.random() < unusual_share:
        return V.SEPARATORS[pick(V.UNUSUAL_SEPARATORS)]
    return pick([" ", " ", "-", ""])


LANGS = ["en", "de", "fr", "zh", "mixed"]

NAMES = ["Anna Schneider", "Jonas Weber", "Camille Laurent", "Hugo Moreau", "Olivia Brown",
         "James Taylor", "王芳", "李静", "张伟", "Lea Hoffmann", "Théo Roux", "Sophia Smith",
         "Malte Jansen", "Chloé Dubois", "Wei Chen", "Clara Rossi"]


def order_id():
    return pick(["ORD-", "A-", "#", "BST-", "CMD-", "SO", "INV-2024-", ""]) + str(rng.randint(10000, 9999999))


def amount():
    return "%d.%02d" % (rng.randint(3, 2400), rng.randint(0, 99))


def iso_time():
    return "2024-%02d-%02dT%02d:%02d:%02d.%03dZ" % (rng.randint(1, 12), rng.randint(1, 28), rng.randint(0, 23),
                                                   rng.randint(0, 59), rng.randint(0, 59), rng.randint(0, 999))


def filler(lang, n=1):
    """Neutral sentences to make prompts long."""
    en = ["The quarterly review covers onboarding, the new pricing page and the support backlog.",
          "Please keep the tone friendly but firm, and avoid legal jargon where you can.",
          "We moved the weekly sync to Thursday because half the team is in another time zone.",
          "The draft is about 800 words; shorten it to something that fits on one screen.",
          "Last time the summary missed the action items, so list them at the end this time.",
          "Our customers are mostly small workshops, so explain it without assuming IT staff.",
          "I pasted the relevant part below; ignore the formatting, it came from an old export.",
          "The migration finished on schedule, but two reports still show last month's totals."]
    de = ["Die Besprechung wurde auf Donnerstag verschoben, weil das Team in zwei Zeitzonen arbeitet.",
          "Bitte formuliere freundlich, aber bestimmt, und verzichte auf Juristendeutsch.",
          "Der Entwurf hat etwa 800 Wörter; kürze ihn auf eine Bildschirmseite.",
          "Unsere Kunden sind vor allem kleine Handwerksbetriebe ohne eigene IT-Abteilung.",
          "Die Umstellung lief planmäßig, nur zwei Berichte zeigen noch die Zahlen vom Vormonat.",
          "Fasse am Ende die offenen Punkte als Liste zusammen."]
    fr = ["La réunion hebdomadaire passe au jeudi car l'équipe travaille sur deux fuseaux horaires.",
          "Merci de garder un ton cordial mais ferme, sans jargon juridique.",
          "Le brouillon fait environ 800 mots ; réduis-le à une page écran.",
          "Nos clients sont surtout de petits ateliers sans service informatique.",
          "La migration s'est bien passée, mais deux rapports affichent encore le mois dernier.",
          "Termine par la liste des actions à mener."]
    zh = ["本周例会改到周四，因为团队分布在两个时区。", "请语气友好但坚定，尽量不要用法律术语。",
          "草稿大约八百字，请缩短到一屏以内。", "我们的客户大多是没有专职IT人员的小作坊。",
          "迁移按计划完成，但有两份报表仍显示上个月的数据。", "最后请把待办事项列成清单。"]
    bank = {"en": en, "de": de, "fr": fr, "zh": zh, "mixed": en + de}[lang]
    sep = "" if lang == "zh" else " "
    return sep.join(pick(bank) for _ in range(n))


# =============================================================== positives


def cards(n):
    brands = ["visa", "visa", "mastercard", "mastercard", "amex", "discover", "jcb", "diners", "visa19",
              "unionpay19", "maestro19"]
    for i in range(n):
        brand = brands[i % len(brands)]
        number = V.card_number(rng, brand)
        style = i % 9
        lang = LANGS[i % 5]
        r = Rec(lang)
        if style in (0, 1):  # chat prompt, grouped with some separator
            v = V.group(number, V.card_grouping(brand), sep_choice(0.6))
            t = {"en": "My card {v} was charged twice for order {o}, can you draft a complaint?",
                 "de": "Meine Karte {v} wurde für Bestellung {o} doppelt belastet. Schreib bitte eine Reklamation.",
                 "fr": "Ma carte {v} a été débitée deux fois pour la commande {o}, peux-tu rédiger une réclamation ?",
                 "zh": "我的卡{v}在订单{o}上被扣了两次款，帮我写一封投诉信。",
                 "mixed": "Kunde schreibt: \"my card {v} got charged twice\" – Bestellung {o}. Antwort auf Deutsch bitte."}[lang]
            emit(t.format(v=r.f("fin.credit_card", v), o=order_id()), r, "card.prompt")
        elif style == 2:  # CSV row after an order id
            v = V.group(number, V.card_grouping(brand), pick([" ", "", "-"]))
            rows = ["order_id,date,customer,card,amount,currency"]
            for k in range(rng.randint(1, 3)):
                rows.append("%d,2024-%02d-%02d,%s,%s,%s,EUR" % (rng.randint(100000, 999999), rng.randint(1, 12),
                                                                  rng.randint(1, 28), pick(NAMES), "", amount()))
            rows.append("%d,2024-%02d-%02d,%s,%s,%s,EUR" % (rng.randint(100000, 999999), rng.randint(1, 12),
                                                              rng.randint(1, 28), pick(NAMES), v, amount()))
            r.f("fin.credit_card", v)
            emit({"zh": "这是导出的CSV，帮我找出重复扣款：\n", "de": "Hier der CSV-Export, finde doppelte Buchungen:\n",
                  "fr": "Voici l'export CSV, trouve les doublons :\n"}.get(lang, "Here is the CSV export, find duplicate charges:\n")
                 + "\n".join(rows), r, "card.csv")
        elif style == 3:  # CSV with semicolons, card right after the order id, no spaces
            v = number
            line = "%s;%s;%s;%s" % (order_id(), v, amount().replace(".", ","), pick(["offen", "bezahlt", "storniert"]))
            r.f("fin.credit_card", v)
            emit("Bestellnr;Karte;Betrag;Status\n" + line, r, "card.csv_semicolon")
        elif style == 4:  # log line
            v = V.group(number, V.card_grouping(brand), pick(["", " ", "-"]))
            line = "%s INFO payment.gateway order=%s pan=%s amount=%s result=DECLINED code=05" % (
                iso_time(), rng.randint(1000000, 99999999), v, amount())
            r.f("fin.credit_card", v)
            emit("Why does this keep failing?\n" + line, r, "card.log")
        elif style == 5:  # JSON in code
            v = V.group(number, V.card_grouping(brand), pick(["", " ", "-"]))
            r.f("fin.credit_card", v)
            emit('Fix the test:\n```python\npayload = {"orderId": "%s", "card": {"number": "%s", "exp": "%02d/%02d"}}\n'
                 'assert charge(payload).ok\n```' % (order_id(), v, rng.randint(1, 12), rng.randint(25, 31)), r, "card.code")
        elif style == 6:  # full-width digits
            sep = pick(["\u3000", " ", "", "－"])
            v = V.fullwidth(V.group(number, V.card_grouping(brand), sep))
            r = Rec("zh")
            emit("银行卡号：%s，有效期%02d/%02d，请帮我确认是否已还款。" % (r.f("fin.credit_card", v), rng.randint(1, 12),
                                                          rng.randint(25, 30)), r, "card.fullwidth")
        elif style == 7:  # e-mail with the card after a field label, dots or slashes inside
            v = V.group(number, V.card_grouping(brand), pick([".", " ", "\u00a0", "\u202f"]))
            r = Rec("mixed")
            lbl = pick(["Kartennummer", "N° de carte", "Card no."])
            emit("Subject: Re: Erstattung / remboursement\n\n%s: %s\n%s\n\n-- \nGesendet vom Handy" % (
                lbl, r.f("fin.credit_card", v), filler(r.lang)), r, "card.email")
        else:  # inside a long prompt without a context word
            v = V.group(number, V.card_grouping(brand), pick([" ", "-", "\u2009", "\u2007"]))
            emit(filler(lang, 3) + " " + r.f("fin.credit_card", v) + " " + filler(lang, 2), r, "card.long")


def ibans(n):
    countries = ["DE", "FR", "GB", "NL", "ES", "IT", "CH", "AT", "BE", "LU", "PL"]
    for i in range(n):
        c = countries[i % len(countries)]
        raw = V.iban(rng, c)
        style = i % 6
        sep = [" ", " ", "\u00a0", "-", "", "\u202f", ".", "\u2009", "\u2011"][rng.randint(0, 8)]
        v = V.group_by(raw, 4, sep)
        lang = {"DE": "de", "AT": "de", "CH": "de", "FR": "fr", "BE": "fr", "LU": "fr"}.get(c, pick(["en", "mixed"]))
        if style == 5:
            lang = "zh"
        r = Rec(lang)
        if style == 0:
            t = {"de": "Bitte überweise die Kaution auf mein Konto: IBAN %s, Kontoinhaber %s.",
                 "fr": "Merci de virer l'acompte sur mon compte : IBAN %s, titulaire %s.",
                 "en": "Please wire the deposit to IBAN %s, account holder %s.",
                 "mixed": "Can you check this IBAN? %s (Kontoinhaber: %s)"}[lang]
            emit(t % (r.f("fin.iban", v), pick(NAMES)), r, "iban.prompt")
        elif style == 1:  # form with BIC
            b = V.bic(rng)
            emit("Name: %s\nIBAN: %s\nBIC: %s\nVerwendungszweck: Rechnung %s" % (
                pick(NAMES), r.f("fin.iban", v), r.f("fin.swift_bic", b), order_id()), r, "iban.form")
        elif style == 2:  # YAML config of a payout job
            emit("payouts:\n  - vendor: %s\n    iban: \"%s\"\n    amount: %s\n" % (
                order_id(), r.f("fin.iban", raw), amount()), r, "iban.yaml")
        elif style == 3:  # CSV
            emit("vendor;iban;amount\n%s;%s;%s\n%s;;0,00" % (pick(NAMES), r.f("fin.iban", v), amount(), pick(NAMES)),
                 r, "iban.csv")
        elif style == 4:  # e-mail footer
            emit(filler(lang if lang != "mixed" else "en", 2) + "\n\nBankverbindung / Bank details\n" + r.f("fin.iban", v),
                 r, "iban.footer")
        else:
            emit("请把押金转到这个账户：%s，谢谢。" % r.f("fin.iban", v), r, "iban.zh")


def national_ids(n):
    for i in range(n):
        kind = i % 10
        if kind == 0:
            x = V.de_tax_id(rng)
            v = pick([x, V.group(x, [2, 3, 3, 3], pick([" ", " ", "\u00a0", "\u202f", "\u2009", "\u2007"]))])
            r = Rec("de")
            t = pick(["Meine Steuer-ID ist %s, bitte in die Lohnabrechnung übernehmen.",
                      "Steuerliche Identifikationsnummer: %s\nGeburtsdatum: 12.03.1988",
                      "Kannst du prüfen, ob die IdNr. %s zu Frau Weber gehört?",
                      "steuer_id,name\n%s,Malte Jansen"])
            emit(t % r.f("id.de_tax_id", v), r, "id.de_tax")
        elif kind == 1:
            x = V.fr_nir(rng)
            v = pick([x, V.fr_nir_format(x, pick([" ", "\u00a0", "\u202f", "."]))])
            r = Rec(pick(["fr", "fr", "mixed"]))
            t = pick(["Mon numéro de sécurité sociale est le %s, peux-tu remplir le formulaire ?",
                      "N° de sécu : %s\nMutuelle : Harmonie",
                      "Please translate: « Numéro INSEE %s, assuré principal. »",
                      "nir=%s;regime=general"])
            emit(t % r.f("id.fr_nir", v), r, "id.fr_nir")
        elif kind == 2:
            x = V.uk_nino(rng)
            v = pick([x, "%s %s %s %s %s" % (x[:2], x[2:4], x[4:6], x[6:8], x[8]), x[:2] + " " + x[2:8] + " " + x[8]])
            r = Rec("en")
            t = pick(["My National Insurance number is %s, what do I put on the HMRC form?",
                      "Employee record\nNI no: %s\nTax code: 1257L",
                      "Can you check the NINO %s against the payroll export?"])
            emit(t % r.f("id.uk_nino", v), r, "id.uk_nino")
        elif kind in (3, 4):
            a, g, s = V.us_ssn(rng)
            v = pick(["%s-%s-%s", "%s %s %s", "%s\u2013%s\u2013%s", "%s%s%s", "%s\u2011%s\u2011%s"]) % (a, g, s)
            r = Rec(pick(["en", "en", "mixed"]))
            t = pick(["Fill in the W-2 for the new hire, SSN %s, start date March 4.",
                      "applicant_ssn: %s\napplicant_state: TX",
                      "The tenant's social security number is %s - run the background check.",
                      "Bitte übersetze: \"Social Security No. %s\""])
            emit(t % r.f("id.us_ssn", v), r, "id.us_ssn")
        elif kind == 5:
            a, g, s = V.us_itin(rng)
            v = "%s-%s-%s" % (a, g, s)
            r = Rec("en")
            emit(pick(["ITIN %s for the 1040-NR, please double check the digits.",
                       "Our contractor only has an ITIN (%s); can we pay him?"]) % r.f("id.us_itin", v), r, "id.us_itin")
        elif kind in (6, 7):
            x = V.cn_resident_id(rng)
            form = rng.randint(0, 4)
            if form == 0:
                v = x
            elif form == 1:
                v = V.fullwidth(x)
            elif form == 2:
                v = V.group(x, [6, 8, 4], pick([" ", "\u3000", "-"]))
            elif form == 3:
                v = V.fullwidth(V.group(x, [6, 8, 4], "\u3000"))
            else:
                v = x
            r = Rec(pick(["zh", "zh", "mixed"]))
            t = pick(["请帮我核对身份证号%s的出生日期。", "姓名：%s\n身份证号码：{v}\n联系地址：上海市浦东新区" % pick(NAMES[6:9]),
                      "Please translate this form: 公民身份号码 {v}", "用户说他的证件号是{v}，能查一下吗？"])
            t = t.replace("%s", "{v}") if "{v}" not in t else t
            emit(t.format(v=r.f("id.cn_resident_id", v)), r, "id.cn_resident")
        elif kind == 8:
            x = V.cn_uscc(rng)
            v = pick([x, x, V.fullwidth(x)])
            r = Rec(pick(["zh", "mixed"]))
            emit(pick(["公司名称：杭州远帆科技有限公司\n统一社会信用代码：%s\n请帮我起草合同首页。",
                       "Invoice header (发票抬头): 纳税人识别号 %s", "供应商代码%s是否已经备案？"]) % r.f("id.cn_social_credit_code", v),
                 r, "id.cn_uscc")
        else:
            x = V.de_id_card(rng)
            r = Rec("de")
            emit(pick(["Ausweisnummer: %s (Personalausweis, gültig bis 2032)",
                       "Der Kunde hat sich mit Personalausweis %s identifiziert."]) % r.f("id.de_id_card", x), r, "id.de_id")


def secrets(n):
    for i in range(n):
        kind = i % 13
        lang = LANGS[i % 5]
        r = Rec(lang)
        if kind == 0:
            k = V.aws_access_key(rng)
            t = pick(['Why does boto3 say access denied? I set aws_access_key_id={k}, region eu-central-1.',
                      "Die Pipeline bricht ab (Key {k}).", "Clé AWS: {k}; elle marche en local.",
                      "export AWS_ACCESS_KEY_ID=\"{k}\"\nexport AWS_DEFAULT_REGION=eu-west-1",
                      "[default]\naws_access_key_id = {k}\nregion = us-east-1",
                      "这个密钥{k}，还能用吗？", "key={k}, user=ci-deployer"])
            emit(t.format(k=r.f("secret.aws_access_key", k)), r, "secret.aws")
        elif kind == 1:
            k = V.github_token(rng)
            t = pick(["git clone https://{k}@github.com/acme/infra.git fails with 403",
                      "GITHUB_TOKEN: {k}", "Mein Token {k} funktioniert nicht mehr.",
                      "headers = {{'Authorization': 'token {k}'}}"])
            emit(t.format(k=r.f("secret.github_token", k)), r, "secret.github")
        elif kind == 2:
            k = V.openai_key(rng)
            t = pick(["client = OpenAI(api_key=\"{k}\")\nWhy do I get a 429?", "OPENAI_API_KEY={k}",
                      "J'ai mis la clé {k} dans le .env, ça ne marche pas.", "用这个key：{k} 调用接口报错"])
            emit(t.format(k=r.f("secret.openai_key", k)), r, "secret.openai")
        elif kind == 3:
            k = V.anthropic_key(rng)
            emit(pick(["ANTHROPIC_API_KEY=%s", "curl -H 'x-api-key: %s' https://api.anthropic.com/v1/messages"])
                 % r.f("secret.anthropic_key", k), r, "secret.anthropic")
        elif kind == 4:
            k = V.slack_token(rng)
            t = pick(["slack_bot_token: {k}", "The bot posts nothing, token is {k}",
                      "SlackClient(token='{k}').chat_postMessage(channel='#ops', text=msg)"])
            emit(t.format(k=r.f("secret.slack_token", k)), r, "secret.slack")
        elif kind == 5:
            k = V.google_api_key(rng)
            t = pick(["https://maps.googleapis.com/maps/api/geocode/json?address=Berlin&key={k}",
                      "GOOGLE_API_KEY = \"{k}\"", "La clé {k} est restreinte au domaine ?"])
            emit(t.format(k=r.f("secret.google_api_key", k)), r, "secret.google")
        elif kind in (6, 7):
            k = V.jwt(rng)
            t = pick(["curl -H \"Authorization: Bearer {k}\" https://api.internal/v2/orders",
                      "Decode this token for me: {k}", "Cookie: session={k}; Path=/; HttpOnly",
                      "Warum ist das Token abgelaufen? {k}", "{{\"access_token\":\"{k}\",\"token_type\":\"Bearer\"}}"])
            emit(t.format(k=r.f("secret.jwt", k)), r, "secret.jwt")
        elif kind in (8, 9):
            k = V.pem_private_key(rng)
            t = pick(["Convert this to PKCS#8:\n{k}\n", "ssh refuses my key, here it is:\n\n{k}",
                      "tls:\n  key: |\n{ki}\n", "Pourquoi openssl refuse cette clé ?\n{k}"])
            ki = "\n".join("    " + ln for ln in k.split("\n"))
            if "{ki}" in t:
                # In YAML the block is indented; the key as written spans the indented lines.
                r.findings.append({"class": "secret.private_key", "value": ki[4:]})
                emit(t.format(ki=ki), r, "secret.pem_yaml")
            else:
                emit(t.format(k=r.f("secret.private_key", k)), r, "secret.pem")
        elif kind == 10:
            k = V.aws_secret_key(rng)
            a = V.aws_access_key(rng)
            emit("[prod]\naws_access_key_id = %s\naws_secret_access_key = %s\n" % (
                r.f("secret.aws_access_key", a), r.f("secret.generic", k)), r, "secret.aws_pair")
        elif kind == 11:
            k = V.generic_secret(rng)
            name = pick(["STRIPE_SECRET_KEY", "api_secret", "client_secret", "DJANGO_SECRET_KEY", "auth_token",
                         "SENDGRID_API_KEY", "webhook_secret"])
            t = pick(["{n}={k}", "{n}: \"{k}\"", "config['{n}'] = '{k}'", "\"{n}\": \"{k}\","])
            emit("Is this safe to commit?\n" + t.format(n=name, k=r.f("secret.generic", k)), r, "secret.generic")
        else:  # AWS key followed by punctuation, in prose
            k = V.aws_access_key(rng)
            emit(pick(["The leaked key was %s.", "(see %s)", "keys: %s, and another one", "«%s»", "key \"%s\";"])
                 % r.f("secret.aws_access_key", k), r, "secret.aws_punct")


PASSWORDS = ["Tr0ub4dor&3", "Sommer-2024!Blau", "Ch@t-N0ir#7", "correct-horse-battery-staple!", "P@ssw0rd?x",
             "Xk9$mQ2#vL", "h4ck-me-n0t!", "Gr€en§Tea42", "m0t-de-p@sse", "Z!ppy_2023$", "dragon/Fly-88",
             "Kaff33&Kuchen", "Blau.Wal-77!", "q8#R!t2^Lp", "月亮-Moon-2024", "Le-Chat-Botte#1", "S3cure*Pa55",
             "winter:IS:coming9", "A1b2C3d4!", "n0-w@y-h0se"]


def passwords(n):
    for i in range(n):
        pw = pick(PASSWORDS) if rng.random() < 0.5 else V.rand_str(rng, V.ALNUM + "!#$%&*-_+@", rng.randint(10, 18))
        form = i % 10
        lang = ["en", "de", "fr", "en", "en", "de", "fr", "zh", "en", "mixed"][form]
        r = Rec(lang)
        t = ["password={p}", "Passwort: {p}", "mot de passe : {p}", "DB_PASSWORD={p}",
             "{{\"user\": \"admin\", \"password\": \"{p}\"}}", "Zugangsdaten:\nBenutzer: jweber\nPasswort: {p}",
             "Identifiant : cdubois\nMot de passe : {p}", "账号：wangfang\n密码：{p}",
             "spring.datasource.password={p}", "Login für das Staging: user admin, password: {p}"][form]
        prefix = pick(["", "Can you check why login fails?\n", "Warum klappt das nicht?\n", ""])
        emit(prefix + t.format(p=r.f("secret.password_assignment", pw)), r, "password")


def emails(n):
    for i in range(n):
        e = V.email(rng)
        form = i % 9
        lang = LANGS[i % 5]
        r = Rec(lang)
        if form == 0:
            t = {"en": "Reply to {e} and tell her the order shipped.", "de": "Schreib an {e}, dass die Ware unterwegs ist.",
                 "fr": "Réponds à {e} que la commande est partie.", "zh": "请回复{e}，告诉她订单已经发货。",
                 "mixed": "Bitte CC an {e} – she asked for the invoice."}[lang]
            emit(t.format(e=r.f("pii.email", e)), r, "email.prompt")
        elif form == 1:
            sender = r.f("pii.email", e)
            to = r.f("pii.email", "support@" + pick(V.MAIL_DOMAINS[-9:]))
            emit("From: %s <%s>\nTo: %s\nSubject: Rechnung\n\n%s" % (pick(NAMES), sender, to, filler(lang)),
                 r, "email.header")
        elif form == 2:
            emit("id,name,email,plz\n%d,%s,%s,%05d" % (rng.randint(1, 9999), pick(NAMES), r.f("pii.email", e), rng.randint(1000, 99999)),
                 r, "email.csv")
        elif form == 3:
            emit("%s WARN auth: login failed for user=%s ip=%s" % (iso_time(), r.f("pii.email", e),
                                                                   r.f("pii.ip_address", V.ipv4_public(rng))), r, "email.log")
        elif form == 4:
            emit("<a href=\"mailto:%s\">Kontakt</a>" % r.f("pii.email", e), r, "email.html")
        elif form == 5:
            emit("git log says Author: %s <%s>, who is that?" % (pick(NAMES), r.f("pii.email", e)), r, "email.git")
        elif form == 6:
            emit("Mit freundlichen Grüßen\n%s\n%s | %s" % (pick(NAMES), r.f("pii.email", e), r.f("pii.phone", V.phone_de(rng))),
                 r, "email.signature")
        elif form == 7:
            emit("notify:\n  recipients: [\"%s\"]\n  on_failure: true" % r.f("pii.email", e), r, "email.yaml")
        else:
            emit("联系人邮箱：%s（工作日回复）" % r.f("pii.email", e), r, "email.zh")


def ips(n):
    for i in range(n):
        form = i % 12
        lang = LANGS[i % 5]
        r = Rec(lang)
        private = rng.random() < 0.45
        cls = "pii.ip_address.private" if private else "pii.ip_address"
        ip = V.ipv4_private(rng) if private else V.ipv4_public(rng)
        if form == 0:
            emit("The dashboard at http://%s:%d/ is down since this morning." % (r.f(cls, ip), pick([8080, 3000, 9090, 8443])),
                 r, "ip.url")
        elif form == 1:
            emit("upstream backend {\n    server %s:8080 weight=5;\n    server %s:8080 backup;\n}" % (
                r.f(cls, ip), r.f("pii.ip_address.private", V.ipv4_private(rng))), r, "ip.nginx")
        elif form == 2:
            emit("host,ip,role\nweb-01,%s,frontend\ndb-01,%s,primary" % (r.f(cls, ip), r.f("pii.ip_address.private", V.ipv4_private(rng))),
                 r, "ip.csv")
        elif form == 3:
            emit("client = redis.Redis(host='%s', port=6379)" % r.f(cls, ip), r, "ip.code")
        elif form == 4:
            emit('%s - - [02/Dec/2024:10:12:01 +0100] "GET /api/v1/orders HTTP/1.1" 500 312' % r.f(cls, ip), r, "ip.accesslog")
        elif form == 5:
            t = {"de": "Der Server „%s“ antwortet nicht mehr.", "fr": "Le serveur « %s » ne répond plus.",
                 "zh": "服务器“%s”无法访问了。", "en": "Ping to \"%s\" times out.", "mixed": "Server '%s' ist down, any idea?"}[lang]
            emit(t % r.f(cls, ip), r, "ip.quote")
        elif form == 6:
            v6 = V.ipv6_private(rng, rng.random() < 0.4) if private else V.ipv6_public(rng, rng.random() < 0.4)
            emit("ip -6 addr shows inet6 %s/64 scope global" % r.f(cls, v6), r, "ip.v6")
        elif form == 7:
            v6 = V.ipv6_public(rng, rng.random() < 0.5)
            emit("curl -g 'http://[%s]:8080/health' hangs" % r.f("pii.ip_address", v6), r, "ip.v6url")
        elif form == 8:
            emit("Host bastion\n    HostName %s\n    User deploy\n    Port 22" % r.f(cls, ip), r, "ip.sshconfig")
        elif form == 9:
            emit("%s sshd[%d]: Accepted publickey for deploy from %s port %d ssh2" % (
                iso_time(), rng.randint(100, 9999), r.f(cls, ip), rng.randint(30000, 65000)), r, "ip.syslog")
        elif form == 10:
            emit("DATABASE_URL=postgres://app@%s:5432/orders" % r.f(cls, ip), r, "ip.dsn")
        else:
            v6 = V.ipv6_private(rng, True) if private else V.ipv6_public(rng, True)
            emit("allow from %s;  # office" % r.f(cls, v6), r, "ip.v6hex")


def phones(n):
    gens = [("de", V.phone_de), ("fr", V.phone_fr), ("en", V.phone_gb), ("en", V.phone_nanp), ("zh", V.phone_cn),
            ("mixed", V.phone_intl)]
    ctx = {"de": ["Tel.", "Telefon:", "Handy", "Mobil:", "erreichbar unter", "Rückruf unter"],
           "fr": ["tél.", "Tél :", "portable :", "joignable au", "appelez le"],
           "en": ["call", "mobile:", "Phone:", "reach me at", "cell"],
           "zh": ["电话", "手机：", "联系电话：", "手机号"],
           "mixed": ["Tel.", "phone", "tél.", "电话"]}
    for i in range(n):
        lang, gen = gens[i % len(gens)]
        p = gen(rng)
        form = (i // len(gens)) % 6
        # A bare national digit run is ambiguous without a context word; where the text gives none,
        # the number is written in one of its plan's groupings (or in E.164 with +).
        while form in (1, 2, 4) and p.isdigit():
            p = gen(rng)
        r = Rec(lang)
        if form == 0:  # context word
            t = {"de": "Bitte ruf Frau Weber zurück, {c} {p}.", "fr": "Rappelle M. Moreau, {c} {p}.",
                 "en": "Please ring Mr Taylor back, {c} {p}.", "zh": "请回电给王女士，{c}{p}。",
                 "mixed": "Kontakt in Mailand: {c} {p} (ask for Giulia)."}[lang]
            emit(t.format(c=pick(ctx[lang]), p=r.f("pii.phone", p)), r, "phone.context")
        elif form == 1:  # no context word, short prompt
            t = {"de": "Frau Weber hat sich gemeldet: {p}. Schreib ihr eine kurze Antwort.",
                 "fr": "Le client a laissé {p} sur le formulaire, rédige un message.",
                 "en": "Text {p} that the parcel is ready for pick-up.",
                 "zh": "客户留了{p}，请起草一条短信。", "mixed": "Our partner in Milan: {p}, Giulia."}[lang]
            emit(t.format(p=r.f("pii.phone", p)), r, "phone.nocontext")
        elif form == 2:  # long prompt without context word
            flang = lang
            lead = {"zh": "王女士：", "de": "Frau Weber:", "fr": "Mme Roux :"}.get(lang, "Giulia:")
            emit(filler(flang, 4) + " " + lead + " " + r.f("pii.phone", p) + ". " + filler(flang, 3), r, "phone.long")
        elif form == 3:  # CSV
            emit("name;phone;city\n%s;%s;%s" % (pick(NAMES), r.f("pii.phone", p), pick(["Berlin", "Lyon", "Leeds", "Austin", "杭州"])),
                 r, "phone.csv")
        elif form == 4:  # signature
            emit("%s\n\n%s\n%s" % (filler(lang if lang != "mixed" else "en"), pick(NAMES), r.f("pii.phone", p)), r, "phone.signature")
        else:  # JSON
            emit('{"customer": "%s", "phone": "%s", "optIn": true}' % (pick(NAMES), r.f("pii.phone", p)), r, "phone.json")
    # US numbers in long prompts with no context word at all, the case the issue names
    for i in range(n // 6):
        p = V.phone_nanp(rng, pick(["{a}-{e}-{l}", "({a}) {e}-{l}", "{a}.{e}.{l}"]))
        r = Rec("en")
        emit(filler("en", 5) + " I'm at " + r.f("pii.phone", p) + " after six. " + filler("en", 4), r, "phone.long_us")
    # phones with unusual separators and full-width digits
    for i in range(n // 6):
        r = Rec(pick(["de", "zh", "fr"]))
        if r.lang == "zh":
            raw = pick(V.CN_MOBILE) + V.rand_digits(rng, 8)
            p = V.fullwidth(V.group(raw, [3, 4, 4], pick(["\u3000", " ", "", "－"])))
            emit("手机：%s，请尽快联系。" % r.f("pii.phone", p), r, "phone.fullwidth")
        elif r.lang == "de":
            pre, ln = pick(V.DE_MOBILE)
            sub = str(rng.randint(2, 9)) + V.rand_digits(rng, ln - 1)
            s = pick(["\u00a0", "\u202f", "\u2009", "\u2013", "\u2011"])
            p = "0" + pre + s + sub
            emit("Handy: %s (nur abends)" % r.f("pii.phone", p), r, "phone.de_sep")
        else:
            nat = "06" + V.rand_digits(rng, 8)
            s = pick(["\u00a0", "\u202f", "\u2009", "\u2007"])
            p = s.join(nat[k:k + 2] for k in range(0, 10, 2))
            emit("Tél. : %s" % r.f("pii.phone", p), r, "phone.fr_sep")


def markings(n):
    for i in range(n):
        lang = ["en", "de", "fr", "zh", "mixed"][i % 5]
        r = Rec(lang)
        form = (i // 5) % 5
        if lang == "zh":
            m = pick(V.MARKINGS_ZH)
            t = pick(["密级：{m}\n\n关于第三季度预算调整的说明，请帮我压缩到三百字。",
                      "【{m}】\n会议纪要：项目进度与人员安排。请整理成要点。",
                      "请总结以下文件：\n\n{m}★5年\n关于供应商评估的报告……",
                      "会议纪要正文……\n\n—— 密级：{m} ——"])
            emit(t.format(m=r.f("marker.classification", m)), r, "marker.zh")
            continue
        m = pick({"en": V.MARKINGS_EN, "de": V.MARKINGS_DE, "fr": V.MARKINGS_FR,
                  "mixed": V.MARKINGS_EN + V.MARKINGS_DE + V.MARKINGS_FR}[lang])
        body = filler("en" if lang == "mixed" else lang, 2)
        if form == 0:
            text = "%s\n\n%s" % (r.f("marker.classification", m), body)
        elif form == 1:
            text = "-- %s --\n%s\n-- %s --" % (m, body, m)
            r.f("marker.classification", m)
            r.f("marker.classification", m)
        elif form == 2:
            text = "Summarise the attached memo.\n\n[%s]\n%s" % (r.f("marker.classification", m), body)
        elif form == 3:
            text = "%s\n\nPage 3 of 7 — %s" % (body, r.f("marker.classification", m))
        else:
            text = "Subject: Q3 Planung\nClassification: %s\n\n%s" % (r.f("marker.classification", m), body)
        emit(text, r, "marker")


def separator_sweep():
    """Every separator the issue lists, inside every kind of grouped number, once or more."""
    templates = {
        "en": "Please double-check this {what}: {v}",
        "de": "Kannst du {what_de} prüfen? {v}",
        "fr": "Peux-tu vérifier ce {what_fr} : {v}",
        "zh": "请核对这个{what_zh}：{v}",
        "mixed": "Kurze Frage – is this {what} right? {v} Danke!",
    }
    kinds = [
        ("fin.credit_card", "card number", "die Kartennummer", "numéro de carte", "卡号",
         lambda sep: V.group(V.card_number(rng, pick(["visa", "mastercard", "discover"])), [4, 4, 4, 4], sep)),
        ("fin.credit_card", "Amex number", "die Amex-Nummer", "numéro Amex", "卡号",
         lambda sep: V.group(V.card_number(rng, "amex"), [4, 6, 5], sep)),
        ("fin.iban", "IBAN", "die IBAN", "IBAN", "IBAN",
         lambda sep: V.group_by(V.iban(rng, pick(["DE", "FR", "NL", "ES", "IT", "GB", "CH"])), 4, sep)),
        ("pii.phone", "phone number", "die Handynummer", "numéro de portable", "手机号",
         lambda sep: (lambda pre_len: "0" + pre_len[0] + sep + str(rng.randint(2, 9)) + V.rand_digits(rng, pre_len[1] - 1))(
             pick(V.DE_MOBILE))),
        ("pii.phone", "phone number", "die Telefonnummer", "numéro de téléphone", "电话",
         lambda sep: sep.join([pick(["06", "07"])] + [V.rand_digits(rng, 2) for _ in range(4)]).replace(
             "07" + sep + "0", "07" + sep + "3").replace("07" + sep + "1", "07" + sep + "5").replace(
             "07" + sep + "2", "07" + sep + "6").replace("07" + sep + "9", "07" + sep + "8")),
        ("pii.phone", "phone number", "die US-Nummer", "numéro américain", "美国电话",
         lambda sep: V.phone_nanp(rng, "{a}" + sep + "{e}" + sep + "{l}")),
        ("pii.phone", "mobile number", "die Handynummer", "numéro de portable", "手机号",
         lambda sep: V.group(pick(V.CN_MOBILE) + V.rand_digits(rng, 8), [3, 4, 4], sep)),
        ("id.us_ssn", "SSN", "die SSN", "SSN", "社会安全号",
         lambda sep: sep.join(V.us_ssn(rng))),
        ("id.cn_resident_id", "ID number", "die chinesische Ausweisnummer", "numéro d'identité", "身份证号",
         lambda sep: V.group(V.cn_resident_id(rng), [6, 8, 4], sep)),
        ("id.de_tax_id", "tax ID", "die Steuer-ID", "numéro fiscal allemand", "德国税号",
         lambda sep: V.group(V.de_tax_id(rng), [2, 3, 3, 3], sep)),
        ("id.fr_nir", "social security number", "die Sozialversicherungsnummer", "numéro de sécurité sociale", "社保号",
         lambda sep: V.fr_nir_format(V.fr_nir(rng), sep)),
    ]
    k = 0
    for sep_name, sep in V.SEPARATORS.items():
        for cls, what, what_de, what_fr, what_zh, make in kinds:
            if sep_name == "dot" and kinds.index((cls, what, what_de, what_fr, what_zh, make)) not in (0, 1, 4, 5):
                continue  # dots group cards and French and US phone numbers, not the others
            lang = LANGS[k % 5]
            k += 1
            r = Rec(lang)
            v = make(sep)
            full = rng.random() < 0.15 and lang == "zh"
            if full:
                v = V.fullwidth(v)
            emit(templates[lang].format(what=what, what_de=what_de, what_fr=what_fr, what_zh=what_zh, v=r.f(cls, v)),
                 r, "sweep." + sep_name)


def mixed_documents(n):
    """Tickets and forms carrying several kinds at once."""
    for i in range(n):
        lang = LANGS[i % 5]
        r = Rec(lang)
        e = V.email(rng)
        if i % 3 == 0:
            text = ("Ticket #%d — customer cannot log in\nReporter: %s\nContact: %s / %s\nLast IP: %s\n"
                    "Steps: reset password, clear cache. Browser: Firefox 128.0.3" % (
                        rng.randint(10000, 99999), pick(NAMES), r.f("pii.email", e), r.f("pii.phone", V.phone_nanp(rng)),
                        r.f("pii.ip_address", V.ipv4_public(rng))))
        elif i % 3 == 1:
            x = V.de_tax_id(rng)
            text = ("Personalbogen\nName: %s\nE-Mail: %s\nTelefon: %s\nSteuer-ID: %s\nIBAN: %s\nEintritt: 01.04.2025" % (
                pick(NAMES[:6]), r.f("pii.email", e), r.f("pii.phone", V.phone_de(rng)), r.f("id.de_tax_id", x),
                r.f("fin.iban", V.group_by(V.iban(rng, "DE"), 4, " "))))
        else:
            nir = V.fr_nir(rng)
            text = ("Fiche salarié\nNom : %s\nCourriel : %s\nTél. : %s\nN° SS : %s\nRIB : %s" % (
                pick(NAMES), r.f("pii.email", e), r.f("pii.phone", V.phone_fr(rng)), r.f("id.fr_nir", V.fr_nir_format(nir)),
                r.f("fin.iban", V.group_by(V.iban(rng, "FR"), 4, " "))))
        emit(text, r, "doc.multi")


# =============================================================== hard negatives


def hex_str(n):
    return V.rand_str(rng, "0123456789abcdef", n)


def digits_failing_luhn(n):
    """A digit run that no payment-card check could accept (hard negatives must stay negative)."""
    while True:
        d = V.rand_digits(rng, n)
        if not V.luhn_valid(d):
            return d


def uuid4():
    h = hex_str(32)
    return "%s-%s-4%s-%s%s-%s" % (h[:8], h[8:12], h[13:16], pick("89ab"), h[17:20], h[20:32])


def isbn13():
    body = pick(["978", "979"]) + V.rand_digits(rng, 9)
    s = sum(int(c) * (1 if k % 2 == 0 else 3) for k, c in enumerate(body))
    d = str((10 - s % 10) % 10)
    full = body + d
    return "%s-%s-%s-%s-%s" % (full[:3], full[3], full[4:7], full[7:12], full[12]) if rng.random() < 0.7 else full


def negatives(n):
    makers = []

    def neg(fn):
        makers.append(fn)
        return fn

    @neg
    def order_numbers():
        lang = pick(LANGS)
        t = {"en": "Order {o} (tracking {t}) arrived damaged, invoice INV-{y}-{k:06d}.",
             "de": "Bestellung {o} ist beschädigt angekommen, Sendungsnummer {t}, Rechnung RE-{y}-{k:06d}.",
             "fr": "La commande {o} est arrivée abîmée, suivi {t}, facture FA{y}{k:06d}.",
             "zh": "订单{o}到货破损，快递单号{t}，发票号INV-{y}-{k:06d}。",
             "mixed": "Bestellung {o} – tracking {t} shows delivered, aber nichts da."}[lang]
        trk = pick(["1Z%s%s" % (V.rand_str(rng, V.UPPER + V.DIGITS, 6), V.rand_digits(rng, 10)),
                    "JJD%s" % digits_failing_luhn(18), "00340434%s" % V.rand_digits(rng, 12), "SF%s" % V.rand_digits(rng, 12),
                    "LX%sDE" % V.rand_digits(rng, 9), "YT%s" % digits_failing_luhn(16)])
        return lang, t.format(o=order_id(), t=trk, y=rng.randint(2019, 2025), k=rng.randint(1, 999999))

    @neg
    def isbns():
        lang = pick(["en", "de", "fr", "mixed"])
        return lang, {"en": "Cite the book properly: ISBN %s, 3rd edition, p. %d.",
                      "de": "Bitte zitiere: ISBN %s, 3. Auflage, S. %d.",
                      "fr": "Cite l'ouvrage : ISBN %s, 3e édition, p. %d.",
                      "mixed": "Literatur: ISBN %s (see p. %d)"}[lang] % (isbn13(), rng.randint(3, 400))

    @neg
    def versions():
        v = pick(["v%d.%d.%d.%d" % (rng.randint(1, 9), rng.randint(0, 20), rng.randint(0, 9), rng.randint(0, 99)),
                  "build %d.%d.%d.%d" % (rng.randint(6, 10), rng.randint(0, 3), rng.randint(9000, 22631), rng.randint(1, 3000)),
                  "version %d.%d.%d.%d" % (rng.randint(1, 9), rng.randint(0, 9), rng.randint(0, 9), rng.randint(0, 200)),
                  "Version %d.%d.%d.%d" % (rng.randint(1, 5), rng.randint(0, 9), rng.randint(0, 9), rng.randint(0, 255)),
                  "firmware %d.%d.%d.%d" % (rng.randint(1, 4), rng.randint(0, 30), rng.randint(0, 9), rng.randint(0, 99))])
        lang = pick(["en", "de", "fr"])
        return lang, {"en": "After upgrading to %s the installer hangs at 87%%.",
                      "de": "Seit dem Update auf %s hängt der Installer bei 87 %%.",
                      "fr": "Depuis la mise à jour %s, l'installateur bloque à 87 %%."}[lang] % v

    @neg
    def hashes():
        sha = hex_str(40)
        kind = rng.randint(0, 5)
        if kind == 0:
            return "en", "git revert %s broke the build, and %s was the fix before it." % (sha, sha[:7])
        if kind == 1:
            return "en", "sha256sum: %s  warden-1.4.2.tar.gz" % hex_str(64)
        if kind == 2:
            return "en", "image: registry.local/app@sha256:%s" % hex_str(64)
        if kind == 3:
            return "de", "Commit %s (\"Fix Rundung bei Rabatten\") bitte zurücknehmen; MD5 der Datei: %s" % (sha, hex_str(32))
        if kind == 4:
            return "en", "ETag: \"%s\"\nX-Request-Id: %s" % (hex_str(32), uuid4())
        return "mixed", "Merge-Request !%d, commit %s, 包含修复。" % (rng.randint(10, 999), sha)

    @neg
    def uuids():
        return pick(["en", "fr"]), pick(["Why does GET /api/users/%s return 404?", "trace_id=%s span_id=%s" % ("%s", hex_str(16)),
                                          "Le ticket %s est toujours ouvert."]) % uuid4()

    @neg
    def timestamps():
        ts = rng.randint(1600000000, 1790000000)
        lang = pick(LANGS)
        return lang, pick(["created_at=%d updated_at=%d" % (ts, ts + rng.randint(1, 9999)),
                           "%s INFO job finished in %d ms (epoch %d)" % (iso_time(), rng.randint(10, 99999), ts),
                           "Termin am %02d.%02d.2025 um %02d:%02d Uhr, Raum %d" % (rng.randint(1, 28), rng.randint(1, 12),
                                                                                   rng.randint(8, 18), rng.randint(0, 59), rng.randint(100, 499)),
                           "Rendez-vous le %02d/%02d/2025 à %dh%02d." % (rng.randint(1, 28), rng.randint(1, 12), rng.randint(8, 18), rng.randint(0, 59)),
                           "会议定于2025年%d月%d日%d:%02d召开。" % (rng.randint(1, 12), rng.randint(1, 28), rng.randint(8, 18), rng.randint(0, 59)),
                           "timestamp_ms: %d" % (ts * 1000 + rng.randint(0, 999))])

    @neg
    def fake_jwt():
        return "en", pick(["The signature looks like %s but the parser rejects it.",
                           "data-hash=\"%s\"", "Der Wert %s steht im Cookie, was ist das?"]) % V.dotted_base64_not_jwt(rng)

    @neg
    def pem_placeholders():
        lang = pick(["en", "de", "fr"])
        intro = {"en": "Where do I put the key? The docs show:", "de": "Wo muss der Schlüssel hin? In der Doku steht:",
                 "fr": "Où faut-il mettre la clé ? La doc montre :"}[lang]
        return lang, intro + "\n" + (V.pem_placeholder(rng) if rng.random() < 0.7 else V.pem_public(rng))

    @neg
    def not_emails():
        k = rng.randint(0, 4)
        if k == 0:
            return "en", "The retina asset icon@2x.png and logo@3x.png are blurry on iPad."
        if k == 1:
            return "en", "git remote add origin git@%s:%s/%s.git" % (pick(["github.com", "gitlab.com", "git.internal"]),
                                                                       pick(["acme", "team-ops"]), pick(["infra", "web"]))
        if k == 2:
            return "de", "Bitte @%s und @%s im Kanal erwähnen." % (pick(V.FIRST_NAMES), pick(V.FIRST_NAMES))
        if k == 3:
            return "en", "npm install @types/node@%d.%d.%d and @babel/core@7.24.0" % (rng.randint(18, 22), rng.randint(0, 11), rng.randint(0, 30))
        return "fr", "Les fichiers bouton@2x.png et bouton@3x.png sont dans assets/."

    @neg
    def not_ips():
        k = rng.randint(0, 5)
        ip = V.ipv4_not_finding(rng)
        if k == 0:
            return "en", "The service binds to %s:8080 and the health check uses http://127.0.0.1:8080/healthz." % ip
        if k == 1:
            return "en", "netmask %s, broadcast 255.255.255.255, gateway in the docs is 192.0.2.1" % pick(["255.255.255.0", "255.255.0.0"])
        if k == 2:
            return "de", "In der Doku steht als Beispiel %s bzw. %s." % (ip, V.ipv6_not_finding(rng))
        if k == 3:
            return "en", "listen [::]:443 ssl;\nlisten %s:443 ssl;" % pick(["0.0.0.0", "127.0.0.1"])
        if k == 4:
            return "en", "SNMP OID 1.3.6.1.4.1.%d.1.2 returns nothing, version %d.%d.%d.%d" % (
                rng.randint(1000, 60000), rng.randint(1, 9), rng.randint(0, 9), rng.randint(0, 9), rng.randint(0, 99))
        return "zh", "示例地址%s只用于文档，本机地址是127.0.0.1，IPv6是%s。" % (ip, V.ipv6_not_finding(rng))

    @neg
    def marking_words_in_prose():
        lang = pick(["en", "de", "fr", "zh", "mixed"])
        return lang, pick({
            "en": ["Grandma's secret recipe uses brown butter; keep it confidential, okay?",
                   "Is it a secret that the confidential tier costs more? Write a playful tagline.",
                   "The top secret to good bread is time. Write a short blog intro about it.",
                   "Treat salary data as confidential and restricted to HR."],
            "de": ["Bitte die Unterlagen vertraulich behandeln und nicht weiterleiten.",
                   "Das Geheimnis guter Brezeln ist die Lauge – streng geheim ist das aber nicht.",
                   "Kannst du erklären, was eine Verschlusssache ist und wer VS-Einstufungen vergibt?"],
            "fr": ["Merci de garder cette information confidentielle entre nous.",
                   "Le secret d'une bonne pâte, c'est la patience ; rien de confidentiel là-dedans.",
                   "Explique la différence entre confidentiel et secret dans le droit français."],
            "zh": ["这道菜的秘密在于火候。", "请对客户信息保密，不要外传。", "什么是机密文件的定密流程？请简单介绍。"],
            "mixed": ["Die secret sauce unseres Produkts ist der Support – write that as a slogan.",
                      "Le mot « confidentiel » apparaît trop souvent dans nos mails, how do we fix the tone?"]}[lang])

    @neg
    def failing_checksums():
        k = rng.randint(0, 6)
        if k == 0:
            brand = pick(["visa", "mastercard", "amex"])
            n = V.card_failing_luhn(rng, brand)
            return "en", "Card %s was rejected by the form, is it mistyped?" % V.group(n, V.card_grouping(brand), " ")
        if k == 1:
            c = pick(["DE", "FR", "GB", "NL"])
            return "de", "Die IBAN %s wird als ungültig abgelehnt – Tippfehler?" % V.group_by(V.iban_failing_check(rng, c), 4, " ")
        if k == 2:
            return "fr", "Le numéro %s est refusé par le site (clé incorrecte)." % V.fr_nir_format(V.fr_nir(rng, valid=False))
        if k == 3:
            return "zh", "这个号码%s校验位不对，请检查。" % V.cn_resident_id(rng, valid=False)
        if k == 4:
            return "zh", "代码%s校验失败。" % V.cn_uscc(rng, valid=False)
        if k == 5:
            x = V.de_tax_id(rng)
            bad = x[:-1] + str((int(x[-1]) + rng.randint(1, 9)) % 10)
            return "de", "Das Formular meldet die Nummer %s als fehlerhaft." % bad
        return "en", "Use the test SSN format 000-00-0000 or 666-%02d-%04d? Neither validates." % (rng.randint(1, 99), rng.randint(1, 9999))

    @neg
    def numbers_not_phones():
        k = rng.randint(0, 7)
        if k == 0:
            return "de", "Lieferung an 10115 Berlin, Bestellwert 1.234,56 €, Kundennummer %d." % rng.randint(1000000, 9999999)
        if k == 1:
            return "en", "The form rejects 123-456-7890 and 000-000-0000 as phone numbers; which regex should we use?"
        if k == 2:
            return "fr", "Facture n° %d du %02d/%02d/2024, montant 1 234,56 €, TVA 20 %%." % (rng.randint(100000, 999999), rng.randint(1, 28), rng.randint(1, 12))
        if k == 3:
            return "zh", "本月销售额为%d元，同比增长%d%%，库存%d件。" % (rng.randint(1000000, 99999999), rng.randint(1, 40), rng.randint(100, 9999))
        if k == 4:
            return "en", "Run %d finished: %d rows, %d ms, exit code 0, pid %d." % (rng.randint(1, 9999), rng.randint(10000, 9999999), rng.randint(10, 99999), rng.randint(100, 65000))
        if k == 5:
            return "de", "Aktenzeichen %d/%02d, Az. %d C %d/24" % (rng.randint(100, 9999), rng.randint(18, 25), rng.randint(1, 99), rng.randint(1, 999))
        if k == 6:
            return "en", "Coordinates 48.137154, 11.576124 and elevation 519 m."
        return "mixed", "Artikel-Nr. %d-%d, EAN %s, Menge 12" % (rng.randint(100, 999), rng.randint(1000, 9999), digits_failing_luhn(13))

    @neg
    def password_prose():
        lang = pick(["en", "de", "fr", "zh"])
        return lang, pick({
            "en": ["How do I reset my password if I lost the recovery e-mail?", "password=${DB_PASSWORD}",
                   "Set password: <your-password> in the config template.", "The password field must not be empty.",
                   "password: ********"],
            "de": ["Wie ändere ich mein Passwort in Outlook?", "Passwort: siehe Passwortmanager", "Das Passwort muss 12 Zeichen haben."],
            "fr": ["Comment réinitialiser mon mot de passe ?", "mot de passe : (voir le coffre-fort)", "Le mot de passe doit contenir un chiffre."],
            "zh": ["忘记密码了怎么办？", "密码：请向管理员索取", "密码至少需要八位。"]}[lang])

    @neg
    def code_and_config():
        k = rng.randint(0, 4)
        if k == 0:
            return "en", ("```yaml\nreplicas: 3\nimage: nginx:1.25.3\nresources:\n  limits: {cpu: \"500m\", memory: 256Mi}\n"
                          "env:\n  - name: LOG_LEVEL\n    value: debug\n```\nWhy is the pod OOM-killed?")
        if k == 1:
            return "en", "for (int i = 0; i < 1024; ++i) {\n  buf[i] = (uint8_t)(i * 2654435761u >> 24);\n}"
        if k == 2:
            return "de", "SELECT id, created_at FROM orders WHERE total > 1000 AND created_at >= '2024-01-01' LIMIT 50;"
        if k == 3:
            return "en", "const token = process.env.API_TOKEN; // read from the vault at runtime\nif (!token) throw new Error('missing');"
        return "fr", "Voici le Dockerfile :\nFROM debian:12\nRUN apt-get update && apt-get install -y curl=7.88.1-10+deb12u5"

    @neg
    def long_prose():
        lang = pick(LANGS)
        return lang, filler(lang, rng.randint(4, 9))

    for i in range(n):
        maker = makers[i % len(makers)]
        lang, text = maker()
        emit(text, Rec(lang), "neg." + maker.__name__)


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus.jsonl")
    cards(90)
    ibans(66)
    national_ids(120)
    secrets(104)
    passwords(50)
    emails(54)
    ips(72)
    phones(120)
    markings(60)
    mixed_documents(24)
    separator_sweep()
    negatives(600)
    order = list(range(len(RECORDS)))
    rng.shuffle(order)
    with open(out, "w", encoding="utf-8", newline="\n") as fh:
        for k in order:
            rec = dict(RECORDS[k])
            del rec["_tag"]
            fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
    pos = sum(1 for r in RECORDS if r["findings"])
    print("%d texts, %d with findings, %d without" % (len(RECORDS), pos, len(RECORDS) - pos), file=sys.stderr)


if __name__ == "__main__":
    main()
