#!/usr/bin/env python3
"""Generates the labelled inspection corpus (corpus.jsonl) with the real checksum algorithms.

Each line: {"text": ..., "lang": ..., "findings": [{"class": ..., "value": ...}]}. Positives carry
valid identifiers; hard negatives carry look-alikes that must not be reported (wrong checksums,
impossible dates, documentation examples, placeholders, ordinary prose). Deterministic (seeded).
Run: python3 generate.py > corpus.jsonl
"""
import base64
import ipaddress
import json
import random
import string

R = random.Random(20261129)
B62 = string.ascii_letters + string.digits


def rnd(chars, n):
    return "".join(R.choice(chars) for _ in range(n))


def luhn_digit(body):
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return str((10 - total % 10) % 10)


def card(valid=True):
    prefix, length = R.choice([("4", 16), ("51", 16), ("55", 16), ("2221", 16), ("34", 15),
                               ("37", 15), ("6011", 16), ("3530", 16), ("62", 16), ("4", 19)])
    body = prefix + rnd(string.digits, length - len(prefix) - 1)
    check = luhn_digit(body)
    if not valid:
        check = str((int(check) + R.randint(1, 9)) % 10)
    num = body + check
    style = R.choice(["plain", "space", "dash"])
    if style == "plain" or length != 16:
        return num
    sep = " " if style == "space" else "-"
    return sep.join(num[i:i + 4] for i in range(0, 16, 4))


def iban(country=None, valid=True, grouped=None):
    country = country or R.choice(["DE", "FR", "GB", "NL", "ES", "IT"])
    bban = {
        "DE": lambda: rnd(string.digits, 18),
        "FR": lambda: rnd(string.digits, 10) + rnd(string.digits + "ABCDEFGHJ", 11) + rnd(string.digits, 2),
        "GB": lambda: rnd(string.ascii_uppercase, 4) + rnd(string.digits, 14),
        "NL": lambda: rnd(string.ascii_uppercase, 4) + rnd(string.digits, 10),
        "ES": lambda: rnd(string.digits, 20),
        "IT": lambda: rnd(string.ascii_uppercase, 1) + rnd(string.digits, 10) + rnd(string.digits, 12),
    }[country]()
    conv = "".join(str(int(c, 36)) for c in bban + country + "00")
    check = 98 - int(conv) % 97
    if not valid:
        check = (check + R.randint(1, 50)) % 97 + 2
    s = f"{country}{check:02d}{bban}"
    if grouped is None:
        grouped = R.random() < 0.6
    return " ".join(s[i:i + 4] for i in range(0, len(s), 4)) if grouped else s


def ssn():
    area = R.choice([R.randint(1, 665), R.randint(667, 899)])
    return f"{area:03d}-{R.randint(1, 99):02d}-{R.randint(1, 9999):04d}"


def itin():
    return f"9{R.randint(0, 99):02d}-{R.choice([R.randint(70, 88), R.randint(90, 92), R.randint(94, 99)]):02d}-{R.randint(0, 9999):04d}"


def de_tax_id(valid=True):
    while True:
        digits = R.sample(range(10), 9)
        if digits[0] == 0:
            continue
        dup = R.choice(digits[1:])
        ten = digits + [dup]
        R.shuffle(ten)
        if ten[0] == 0:
            continue
        product = 10
        for d in ten:
            s = (d + product) % 10
            if s == 0:
                s = 10
            product = (2 * s) % 11
        check = 11 - product
        if check == 10:
            check = 0
        if not valid:
            check = (check + R.randint(1, 9)) % 10
        v = "".join(map(str, ten)) + str(check)
        return v if R.random() < 0.7 else f"{v[:2]} {v[2:5]} {v[5:8]} {v[8:]}"


def icao(s):
    w = [7, 3, 1]
    return str(sum((int(c) if c.isdigit() else ord(c) - 55) * w[i % 3] for i, c in enumerate(s)) % 10)


def de_id_card(valid=True):
    letters = "CFGHJKLMNPRTVWXYZ"
    while True:
        s = R.choice(letters) + rnd(letters + string.digits * 2, 8)
        if 2 <= sum(c.isdigit() for c in s) < 9:
            break
    check = icao(s)
    if not valid:
        check = str((int(check) + 3) % 10)
    return s + check


def fr_nir(valid=True):
    sex = R.choice("12")
    yy = f"{R.randint(0, 99):02d}"
    mm = f"{R.randint(1, 12):02d}"
    dept = R.choice(["75", "69", "13", "2A", "2B", "33", "59"])
    commune = f"{R.randint(1, 999):03d}"
    order = f"{R.randint(1, 999):03d}"
    num = sex + yy + mm + dept + commune + order
    n = int(num.replace("2A", "19").replace("2B", "18"))
    key = 97 - n % 97
    if not valid:
        key = (key + R.randint(1, 40)) % 97 + 1
    v = f"{num}{key:02d}"
    return v if R.random() < 0.5 else f"{v[0]} {v[1:3]} {v[3:5]} {v[5:7]} {v[7:10]} {v[10:13]} {v[13:]}"


def cn_id(valid=True, bad_date=False):
    area = R.choice(["110101", "310104", "440305", "510107", "330106", "420102"])
    y = R.randint(1950, 2005)
    m = R.randint(1, 12)
    d = R.randint(1, 28)
    if bad_date:
        m, d = R.choice([(2, 30), (13, 1), (4, 31), (0, 12)])
    body = f"{area}{y:04d}{m:02d}{d:02d}{R.randint(0, 999):03d}"
    w = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    check = "10X98765432"[sum(int(c) * w[i] for i, c in enumerate(body)) % 11]
    if not valid:
        check = R.choice([c for c in "0123456789X" if c != check])
    return body + check


USCC = "0123456789ABCDEFGHJKLMNPQRTUWXY"


def uscc(valid=True, with_letters=True):
    while True:
        org = rnd(USCC if with_letters else string.digits, 9)
        body = R.choice("159") + R.choice("123") + R.choice(["110000", "310115", "440300", "350100"]) + org
        w = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28]
        check = USCC[(31 - sum(USCC.index(c) * w[i] for i, c in enumerate(body)) % 31) % 31]
        if not valid:
            check = R.choice([c for c in USCC if c != check])
        code = body + check
        has_letter = any(not c.isdigit() for c in code)
        if has_letter == with_letters:
            return code


def nino():
    first = R.choice("ABCEGHJKLMNOPRSTWXYZ")
    second = R.choice("ABCEGHJKLMNPRSTWXYZ")
    if first + second in ("BG", "GB", "KN", "NK", "NT", "TN", "ZZ"):
        return nino()
    d = rnd(string.digits, 6)
    suf = R.choice("ABCD")
    return f"{first}{second} {d[:2]} {d[2:4]} {d[4:]} {suf}" if R.random() < 0.5 else f"{first}{second}{d}{suf}"


def email():
    first = R.choice(["anna", "jens", "marie", "li.wei", "j.smith", "claire.dubois", "k_meyer", "wang.fang"])
    dom = R.choice(["acme-corp.com", "mail.example.de", "beispiel-gmbh.de", "societe.fr", "qq.com",
                    "163.com", "uni-hamburg.de", "contoso.co.uk"])
    return f"{first}{R.randint(1, 99)}@{dom}"


def phone_intl():
    return R.choice([f"+49 30 {R.randint(1000000, 99999999)}", f"+49 (0)89 {R.randint(100000, 9999999)}",
                     f"+33 6 {R.randint(10, 99)} {R.randint(10, 99)} {R.randint(10, 99)} {R.randint(10, 99)}",
                     f"+1 415 555 {R.randint(1000, 9999)}", f"+86 138 {R.randint(1000, 9999)} {R.randint(1000, 9999)}",
                     f"+44 20 7946 {R.randint(1000, 9999)}"])


def ipv4():
    return R.choice([f"10.{R.randint(0, 255)}.{R.randint(0, 255)}.{R.randint(1, 254)}",
                     f"192.168.{R.randint(0, 255)}.{R.randint(1, 254)}",
                     f"172.{R.randint(16, 31)}.{R.randint(0, 255)}.{R.randint(1, 254)}",
                     f"{R.randint(11, 223)}.{R.randint(0, 255)}.{R.randint(0, 255)}.{R.randint(1, 254)}"])


def ipv6():
    return R.choice([f"2001:db8:{R.randint(0, 65535):x}::{R.randint(1, 65535):x}",
                     f"fe80::{R.randint(0, 65535):x}:{R.randint(0, 65535):x}:{R.randint(0, 65535):x}:{R.randint(0, 65535):x}",
                     f"2a00:1450:4001:{R.randint(0, 999):x}::200e"])


def ip_class(addr):
    """What an address reveals: a private network (10/8, 172.16/12, 192.168/16, 100.64/10,
    169.254/16, fc00::/7, fe80::/10) is pii.ip_address.private; documentation, loopback and other
    reserved ranges are no finding (None); the rest is pii.ip_address."""
    ip = ipaddress.ip_address(addr)
    if ip.version == 6 and ip in ipaddress.ip_network("2001:db8::/32"):
        return None
    if ip.version == 4 and any(ip in ipaddress.ip_network(n) for n in
                               ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "127.0.0.0/8", "0.0.0.0/8")):
        return None
    private = (["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "169.254.0.0/16"]
               if ip.version == 4 else ["fc00::/7", "fe80::/10"])
    if any(ip in ipaddress.ip_network(n) for n in private):
        return "pii.ip_address.private"
    return "pii.ip_address"


def aws_key():
    return R.choice(["AKIA", "ASIA"]) + rnd("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16)


def gh_token():
    return R.choice(["ghp_", "gho_", "ghs_"]) + rnd(B62, 36)


def openai_key():
    return R.choice(["sk-proj-" + rnd(B62 + "_-", 64), "sk-" + rnd(B62, 20) + "T3BlbkFJ" + rnd(B62, 20)])


def anthropic_key():
    return "sk-ant-api03-" + rnd(B62 + "_-", 93) + "AA"


def slack_token():
    return f"xoxb-{R.randint(10**11, 10**12 - 1)}-{R.randint(10**12, 10**13 - 1)}-{rnd(B62, 24)}"


def google_key():
    return "AIza" + rnd(B62 + "_-", 35)


def b64url(obj):
    return base64.urlsafe_b64encode(json.dumps(obj, separators=(",", ":")).encode()).decode().rstrip("=")


def jwt():
    return b64url({"alg": R.choice(["HS256", "RS256"]), "typ": "JWT"}) + "." + \
        b64url({"sub": str(R.randint(1000, 99999)), "name": "Jane Roe", "iat": 1716239022}) + "." + rnd(B62 + "_-", 43)


def pem():
    kind = R.choice(["RSA ", "", "OPENSSH ", "EC "])
    body = "\n".join(rnd(string.ascii_letters + string.digits + "+/", 64) for _ in range(R.randint(3, 6)))
    return f"-----BEGIN {kind}PRIVATE KEY-----\n{body}\n-----END {kind}PRIVATE KEY-----"


def password():
    return rnd(string.ascii_letters, 4) + rnd(string.digits, 3) + R.choice("!#%&*+") + rnd(string.ascii_letters + string.digits, 4)


def generic_secret():
    return rnd(B62, 32)


items = []


def add(lang, text, findings):
    for cls, value in findings:
        assert value in text, (value, text)
    items.append({"text": text, "lang": lang, "findings": [{"class": c, "value": v} for c, v in findings]})


# ---------------------------------------------------------------- positives
for _ in range(14):
    e, p = email(), phone_intl()
    add("en", f"Draft a short email to {e} confirming the meeting; my number is {p}.", [("pii.email", e), ("pii.phone", p)])
    e = email()
    add("de", f"Schreib bitte eine freundliche Absage an {e}, die Stelle ist schon vergeben.", [("pii.email", e)])
    p = phone_intl()
    add("fr", f"Rédige une lettre de relance. Le client est joignable au {p} en semaine.", [("pii.phone", p)])
    e = email()
    add("zh", f"请帮我给{e}写一封邮件，说明合同已经寄出。", [("pii.email", e)])
for _ in range(8):
    n = f"(415) 555-{R.randint(1000, 9999)}"
    add("en", f"Call me on my cell {n} after 5pm.", [("pii.phone", n)])
    n = f"0{R.randint(30, 89)} {R.randint(100000, 9999999)}"
    add("de", f"Ich bin unter Telefon {n} erreichbar.", [("pii.phone", n)])
    n = f"06 {R.randint(10, 99)} {R.randint(10, 99)} {R.randint(10, 99)} {R.randint(10, 99)}"
    add("fr", f"Mon portable : {n}, merci de rappeler.", [("pii.phone", n)])
    n = f"1{R.choice('3589')}{R.randint(100000000, 999999999)}"
    add("zh", f"我的手机号码是{n}，有问题随时联系。", [("pii.phone", n)])
for _ in range(12):
    ip, ip6 = ipv4(), ipv6()
    add("en", f"Summarise this log:\n2024-05-02T10:11:12Z sshd[811]: Failed password for root from {ip} port 52144\n"
        f"2024-05-02T10:11:15Z kernel: eth0 link up, addr {ip6}",
        [(ip_class(a), a) for a in (ip, ip6) if ip_class(a)])
for _ in range(16):
    s = ssn()
    add("en", f"Fill in the W-4 for the new hire, SSN {s}, start date next Monday.", [("id.us_ssn", s)])
    t = itin()
    add("en", f"The contractor's ITIN is {t}; please add it to the 1099 form.", [("id.us_itin", t)])
for _ in range(16):
    t = de_tax_id()
    add("de", f"Bitte trage meine Steuer-Identifikationsnummer {t} in das Formular ein.", [("id.de_tax_id", t)])
    c = de_id_card()
    add("de", f"Die Ausweisnummer lautet {c}, gültig bis 2031.", [("id.de_id_card", c)])
for _ in range(16):
    n = fr_nir()
    add("fr", f"Traduis cette attestation : numéro de sécurité sociale {n}, affilié depuis 2015.", [("id.fr_nir", n)])
for _ in range(18):
    i = cn_id()
    add("zh", f"请核对一下身份证号{i}对应的出生日期。", [("id.cn_resident_id", i)])
    u = uscc(with_letters=R.random() < 0.8)
    add("zh", f"公司统一社会信用代码：{u}，请写进合同首页。", [("id.cn_social_credit_code", u)])
for _ in range(14):
    n = nino()
    add("en", f"Update the payroll record: National Insurance number {n}, tax code 1257L.", [("id.uk_nino", n)])
for _ in range(22):
    c = card()
    add("en", f"Why was my payment declined? I used card {c}, expiry 09/27.", [("fin.credit_card", c)])
    c = card()
    add("de", f"Bitte buche die Reise mit der Kreditkarte {c} ab.", [("fin.credit_card", c)])
for _ in range(18):
    i = iban()
    add("de", f"Überweise die Miete bitte auf IBAN {i} bis zum Monatsende.", [("fin.iban", i)])
    i = iban("FR")
    add("fr", f"Merci d'effectuer le virement sur le compte {i}.", [("fin.iban", i)])
for bic in ["DEUTDEFF", "COBADEFFXXX", "BNPAFRPP", "SOGEFRPPXXX", "BKCHCNBJ", "HSBCGB2L", "INGDDEFFXXX", "ABOCCNBJ"]:
    add("en", f"Our bank details: SWIFT/BIC {bic}, account held in Frankfurt.", [("fin.swift_bic", bic)])
    add("de", f"BIC: {bic} – bitte im Überweisungsträger angeben.", [("fin.swift_bic", bic)])
for _ in range(12):
    k = aws_key()
    add("en", f"Fix this config, the deploy fails:\n[default]\naws_access_key_id = {k}\nregion = eu-central-1", [("secret.aws_access_key", k)])
    g = gh_token()
    add("en", f"git remote set-url origin https://{g}@github.com/acme/app.git — why does push still fail?", [("secret.github_token", g)])
    o = openai_key()
    add("en", f"My script says 401: OPENAI_API_KEY={o} python run.py", [("secret.openai_key", o)])
    a = anthropic_key()
    add("de", f"Warum funktioniert der Aufruf nicht? x-api-key: {a}", [("secret.anthropic_key", a)])
    s = slack_token()
    add("en", f"The bot token {s} stopped working after the workspace migration.", [("secret.slack_token", s)])
    gk = google_key()
    add("fr", f"Pourquoi la carte ne s'affiche pas ? <script src=\"https://maps.googleapis.com/maps/api/js?key={gk}\"></script>", [("secret.google_api_key", gk)])
for _ in range(10):
    p = pem()
    add("en", f"Convert this key to PKCS#8 please:\n{p}\nThanks!", [("secret.private_key", p)])
    j = jwt()
    add("en", f"Decode this token and tell me when it expires: Authorization: Bearer {j}", [("secret.jwt", j)])
for _ in range(12):
    pw = password()
    add("en", f"Review this docker-compose snippet:\n  environment:\n    - POSTGRES_PASSWORD={pw}\n    - POSTGRES_USER=app", [("secret.password_assignment", pw)])
    pw = password()
    add("de", f"Mein WLAN-Passwort: {pw} – wie ändere ich es am Router?", [("secret.password_assignment", pw)])
    pw = password()
    add("en", f'Why does this JSON fail? {{"user": "svc", "pwd": "{pw}"}}', [("secret.password_assignment", pw)])
    pw = password()
    add("zh", f"数据库配置：用户名 admin，密码：{pw}", [("secret.password_assignment", pw)])
    g = generic_secret()
    add("en", f"settings.py has STRIPE_SECRET = '{g}' — is that safe to commit?", [("secret.generic", g)])
for m in ["CONFIDENTIAL", "TOP SECRET", "STRENG GEHEIM", "VS-NUR FÜR DEN DIENSTGEBRAUCH", "DIFFUSION RESTREINTE",
          "SECRET DÉFENSE", "VS-NfD"]:
    for tmpl in ["{m}\n\nMemo to the board: Q3 restructuring plan, draft 2.",
                 "Classification: {m}\nSummarise the attached briefing in three sentences.",
                 "[{m}] Bitte fasse das folgende Protokoll zusammen."]:
        add("mixed", tmpl.format(m=m), [("marker.classification", m)])
for m in ["绝密", "机密"]:
    add("zh", f"{m}★5年\n关于项目进度的内部通报，请翻译成英文。", [("marker.classification", m)])
    add("zh", f"【{m}】请总结以下会议纪要。", [("marker.classification", m)])
# mixed-language, several findings
for _ in range(20):
    e, c, i = email(), card(), cn_id()
    add("mixed", f"Translate to English: 客户{e}用信用卡{c}付款，身份证{i}。", [("pii.email", e), ("fin.credit_card", c), ("id.cn_resident_id", i)])
    ib, t = iban("DE"), de_tax_id()
    add("mixed", f"Please translate: Kontoinhaber Max Müller, IBAN {ib}, Steuer-ID {t}.", [("fin.iban", ib), ("id.de_tax_id", t)])
# full-width digits and NBSP
FW = str.maketrans("0123456789", "０１２３４５６７８９")
for _ in range(8):
    i = cn_id()
    w = i.translate(FW)
    add("zh", f"身份证号码：{w}（全角）", [("id.cn_resident_id", w)])
    c = card()
    c2 = c.replace(" ", "\u00a0")
    add("fr", f"Paiement refusé pour la carte {c2} hier soir.", [("fin.credit_card", c2)])

positives = len(items)

# ---------------------------------------------------------------- hard negatives
for _ in range(24):
    add("en", f"Why was my payment declined? I used card {card(valid=False)}, expiry 09/27.", [])
    add("de", f"Überweise die Miete bitte auf IBAN {iban(valid=False)} bis Monatsende.", [])
for _ in range(16):
    add("zh", f"这个编号{cn_id(valid=False)}好像不对，请检查。", [])
    add("zh", f"出生日期不存在的号码{cn_id(bad_date=True)}应当被拒绝。", [])
    add("zh", f"这个代码{uscc(valid=False)}校验失败了吗？", [])
for _ in range(14):
    add("de", f"Die Nummer {de_tax_id(valid=False)} wurde vom Finanzamt abgelehnt.", [])
    add("fr", f"Le numéro {fr_nir(valid=False)} est-il valide ?", [])
    add("de", f"Ausweis-Seriennummer {de_id_card(valid=False)} – Prüfziffer falsch?", [])
for _ in range(20):
    u = f"{rnd('0123456789abcdef', 8)}-{rnd('0123456789abcdef', 4)}-4{rnd('0123456789abcdef', 3)}-a{rnd('0123456789abcdef', 3)}-{rnd('0123456789abcdef', 12)}"
    add("en", f"The request {u} failed with a timeout; what does trace id mean?", [])
    add("en", f"Cherry-pick commit {rnd('0123456789abcdef', 40)} onto the release branch.", [])
for isbn in ["978-3-16-148410-0", "9780306406157", "978-2-07-036822-8", "9787020002207", "978-0-13-468599-1"]:
    add("mixed", f"Bitte zitiere das Buch korrekt, ISBN {isbn}.", [])
for trk in ["1Z999AA10123456784", "9400111899223197428490", "JD014600006281034719", "00340434161094042557", "LX123456789CN"]:
    add("en", f"Where is my parcel? Tracking number {trk}.", [])
for v in ["v1.2.3.4", "10.0.19045.2965", "Version 6.1.7601.17514", "Chrome 124.0.6367.91", "libfoo 2.31.0.1-1"]:
    add("en", f"After upgrading to {v} the app crashes on start.", [])
for _ in range(10):
    amount = f"{R.randint(1, 999)},{R.randint(100, 999)},{R.randint(100, 999)}.{R.randint(10, 99)}"
    add("en", f"Revenue was ${amount} in FY2023, up 12% on 2022-12-31 figures.", [])
    add("de", f"Der Umsatz lag bei {R.randint(1, 999)}.{R.randint(100, 999)}.{R.randint(100, 999)},{R.randint(10, 99)} € zum 31.12.2023.", [])
    add("fr", f"Facture n° {R.randint(10**9, 10**10 - 1)} du 15/03/2024, montant {R.randint(100, 9999)},00 €.", [])
    add("zh", f"订单号{R.randint(10**15, 10**16 - 1)}已发货，金额{R.randint(100, 9999)}元。", [])
for s in ["AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"]:
    add("en", f"The AWS docs use aws_access_key_id = {s} as an example; is that format right?", [])
for ph in ["password=${DB_PASSWORD}", "password: changeme", "Passwort: <hier eintragen>", "api_key: \"<YOUR_API_KEY>\"",
           "OPENAI_API_KEY=sk-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "password = os.environ['DB_PASS']",
           "\"pwd\": \"{{ vault_pwd }}\"", "token: ${GITHUB_TOKEN}", "secret = \"your-secret-here\"",
           "mot de passe : ********", "password: string  # required", "PASSWORD=$(cat /run/secrets/db)"]:
    add("mixed", f"Is this config OK?\n{ph}\nport: 5432", [])
for prose in ["Please keep this confidential between us.", "The report is confidential and should not be shared.",
              "Das ist kein Geheimnis, erzähl es ruhig weiter.", "Der Vertrag enthält eine Geheimhaltungsklausel.",
              "C'est une information confidentielle, merci de ne pas la diffuser.", "这个秘密我只告诉你一个人。",
              "我们需要保护公司的机密信息不被泄露。", "Top secret recipe: add more butter.", "The secret to good bread is time.",
              "Treat customer records as confidential data under GDPR."]:
    add("mixed", prose, [])
for t in ["Meeting at 12:30:45 in room 4.", "Use std::vector and std::map::find here.", "Call foo::bar() then a::b.",
          "The ratio is 3.14159265358979 approximately.", "Order 4111-2222-3333 shipped.", "Build 2024.05.02.1234 is green.",
          "Port range 49152-65535 is ephemeral.", "Coordinates 52.520008, 13.404954 (Berlin).",
          "Phone-like serial 0301234567 without context.", "Invoice ref DE-2024-000123."]:
    add("en", t, [])
for _ in range(30):
    add("en", f"Summarise: {R.choice(['The team shipped', 'We discussed', 'Customers asked for', 'Die Abteilung plant', 'Le service prévoit'])} "
        f"{R.randint(2, 40)} improvements in sprint {R.randint(1, 60)}, ticket #{R.randint(1000, 99999)}, build {R.randint(100, 9999)}.", [])

for ident in ["token = _S_token_subexpr_begin;", "api_key = settings.DEFAULT_API_KEY_NAME",
              "secret: read_from_vault_path", "access_key => config.awsAccessKeyIdentifier",
              "client_secret = os.environ.get('CLIENT_SECRET')"]:
    add("en", f"Review this code:\n    {ident}\n", [])
for _ in range(8):
    add("de", f"Bestellnummer {R.randint(10**11, 10**12 - 1)}, Lieferung am {R.randint(1, 28)}.{R.randint(1, 12)}.2025.", [])
negatives = len(items) - positives
R.shuffle(items)
for it in items:
    print(json.dumps(it, ensure_ascii=False))
import sys
print(f"{len(items)} items, {positives} with findings, {negatives} hard negatives ({negatives / len(items):.0%})", file=sys.stderr)
