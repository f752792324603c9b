"""Synthetic sensitive values built with the real check algorithms.

Every function takes a random.Random so the corpus is reproducible from its seed. Nothing here is
a real person's identifier: the values are random draws that satisfy the published format and
checksum rules (Luhn with real IIN ranges, ISO 13616 mod 97, ISO 7064 MOD 11,10, INSEE key,
GB 11643, GB 32100 ...), which is what makes them indistinguishable from real ones to a detector.
"""

import base64
import json
import string
import zlib

DIGITS = string.digits
UPPER = string.ascii_uppercase
ALNUM = string.ascii_letters + string.digits
BASE62 = string.digits + string.ascii_uppercase + string.ascii_lowercase
B64URL = string.ascii_letters + string.digits + "-_"

# Separators people put inside numbers; the key names the writing habit in the corpus notes.
SEPARATORS = {
    "space": " ",
    "nbsp": "\u00a0",
    "narrow_nbsp": "\u202f",
    "thin": "\u2009",
    "figure": "\u2007",
    "ideographic": "\u3000",
    "hyphen": "-",
    "u2010": "\u2010",
    "u2011": "\u2011",
    "en_dash": "\u2013",
    "em_dash": "\u2014",
    "dot": ".",
}
UNUSUAL_SEPARATORS = [k for k in SEPARATORS if k not in ("space", "hyphen")]


def rand_digits(rng, n):
    return "".join(rng.choice(DIGITS) for _ in range(n))


def rand_str(rng, alphabet, n):
    return "".join(rng.choice(alphabet) for _ in range(n))


def fullwidth(s):
    """Full-width forms of ASCII digits and letters (U+FF10.., U+FF21.., U+FF41..)."""
    out = []
    for c in s:
        if "0" <= c <= "9" or "A" <= c <= "Z" or "a" <= c <= "z":
            out.append(chr(ord(c) + 0xFEE0))
        else:
            out.append(c)
    return "".join(out)


def group(s, sizes, sep):
    assert sum(sizes) == len(s), (s, sizes)
    parts, i = [], 0
    for n in sizes:
        parts.append(s[i : i + n])
        i += n
    return sep.join(parts)


def group_by(s, n, sep):
    return sep.join(s[i : i + n] for i in range(0, len(s), n))


# ---------------------------------------------------------------- payment cards (ISO/IEC 7812)


def luhn_check_digit(body):
    total = 0
    for i, c in enumerate(reversed(body)):
        d = int(c)
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return str((10 - total % 10) % 10)


def luhn_valid(number):
    return luhn_check_digit(number[:-1]) == number[-1]


# brand -> (IIN prefix choices, length, grouping)
CARD_BRANDS = {
    "visa": (["4"], 16, [4, 4, 4, 4]),
    "visa19": (["4"], 19, [4, 4, 4, 4, 3]),
    "mastercard": (["51", "52", "53", "54", "55", "2221", "2300", "2500", "2720"], 16, [4, 4, 4, 4]),
    "amex": (["34", "37"], 15, [4, 6, 5]),
    "discover": (["6011", "644", "645", "649", "65"], 16, [4, 4, 4, 4]),
    "jcb": (["3528", "3530", "3545", "3566", "3589"], 16, [4, 4, 4, 4]),
    "diners": (["36", "300", "305", "38"], 14, [4, 6, 4]),
    "unionpay19": (["622126", "622925", "6240", "6250", "6282"], 19, [4, 4, 4, 4, 3]),
    "maestro19": (["6759", "676770", "5018", "5020"], 19, [4, 4, 4, 4, 3]),
}


def card_number(rng, brand):
    prefixes, length, _ = CARD_BRANDS[brand]
    prefix = rng.choice(prefixes)
    body = prefix + rand_digits(rng, length - len(prefix) - 1)
    return body + luhn_check_digit(body)


def card_failing_luhn(rng, brand):
    n = card_number(rng, brand)
    wrong = str((int(n[-1]) + rng.randint(1, 9)) % 10)
    return n[:-1] + wrong


def card_grouping(brand):
    return CARD_BRANDS[brand][2]


# ---------------------------------------------------------------- IBAN (ISO 13616, mod 97)

# country -> BBAN layout: list of (kind, length); n = digits, a = upper letters, c = alnum upper
IBAN_LAYOUTS = {
    "DE": [("n", 8), ("n", 10)],  # 22
    "FR": [("n", 5), ("n", 5), ("n", 11), ("n", 2)],  # 27
    "GB": [("a", 4), ("n", 6), ("n", 8)],  # 22
    "NL": [("a", 4), ("n", 10)],  # 18
    "ES": [("n", 4), ("n", 4), ("n", 2), ("n", 10)],  # 24
    "IT": [("a", 1), ("n", 5), ("n", 5), ("c", 12)],  # 27
    "CH": [("n", 5), ("c", 12)],  # 21
    "AT": [("n", 5), ("n", 11)],  # 20
    "BE": [("n", 12)],  # 16
    "LU": [("n", 3), ("c", 13)],  # 20
    "PL": [("n", 8), ("n", 16)],  # 28
}
IBAN_LENGTHS = {"DE": 22, "FR": 27, "GB": 22, "NL": 18, "ES": 24, "IT": 27, "CH": 21, "AT": 20,
                "BE": 16, "LU": 20, "PL": 28}
GB_BANKS = ["NWBK", "BARC", "LOYD", "HBUK", "MIDL", "RBOS"]
NL_BANKS = ["ABNA", "INGB", "RABO", "TRIO", "SNSB"]


def _iban_numeric(s):
    return "".join(str(int(c, 36)) for c in s)


def iban_check_digits(country, bban):
    n = int(_iban_numeric(bban + country + "00"))
    return "%02d" % (98 - n % 97)


def iban_valid(iban):
    s = iban[4:] + iban[:4]
    return int(_iban_numeric(s)) % 97 == 1


def _fr_rib_key(bank, branch, account):
    return "%02d" % (97 - (89 * int(bank) + 15 * int(branch) + 3 * int(account)) % 97)


def _es_check_digits(bank, branch, account):
    w = [1, 2, 4, 8, 5, 10, 9, 7, 3, 6]

    def d(s):
        r = 11 - sum(int(c) * w[i] for i, c in enumerate(s)) % 11
        return {10: 1, 11: 0}.get(r, r)

    return "%d%d" % (d("00" + bank + branch), d(account))


def iban(rng, country):
    layout = IBAN_LAYOUTS[country]
    parts = []
    for kind, n in layout:
        if kind == "n":
            parts.append(rand_digits(rng, n))
        elif kind == "a":
            parts.append(rand_str(rng, UPPER, n))
        else:
            parts.append(rand_str(rng, DIGITS + UPPER, n) if rng.random() < 0.3 else rand_digits(rng, n))
    if country == "GB":
        parts[0] = rng.choice(GB_BANKS)
    if country == "NL":
        parts[0] = rng.choice(NL_BANKS)
    if country == "FR":  # the RIB key is part of the BBAN
        parts[3] = _fr_rib_key(parts[0], parts[1], parts[2])
    if country == "ES":  # so are the Spanish control digits
        parts[2] = _es_check_digits(parts[0], parts[1], parts[3])
    bban = "".join(parts)
    out = country + iban_check_digits(country, bban) + bban
    assert len(out) == IBAN_LENGTHS[country] and iban_valid(out)
    return out


def iban_failing_check(rng, country):
    good = iban(rng, country)
    cd = int(good[2:4])
    bad = "%02d" % ((cd + rng.randint(1, 80)) % 97 + 2)
    if bad == good[2:4]:
        bad = "%02d" % (cd + 1 if cd < 98 else 2)
    out = good[:2] + bad + good[4:]
    assert not iban_valid(out)
    return out


BICS = ["DEUTDEFF", "COBADEFF", "DRESDEFF", "BNPAFRPP", "SOGEFRPP", "CRLYFRPP", "BARCGB22",
        "NWBKGB2L", "ABNANL2A", "INGBNL2A", "BSCHESMM", "UNCRITMM", "UBSWCHZH", "BKCHCNBJ",
        "ICBKCNBJ", "GENODEF1", "BYLADEMM", "HYVEDEMM"]


def bic(rng):
    b = rng.choice(BICS)
    r = rng.random()
    if r < 0.4:
        return b + "XXX"
    if r < 0.6:
        return b + rng.choice(["100", "500", "M1K", "380"])
    return b


# ---------------------------------------------------------------- national identifiers


def de_tax_id(rng):
    """Steuerliche Identifikationsnummer: 11 digits, first not 0; among the first ten exactly one
    digit appears twice (or three times, never three in a row) and the rest at most once; check
    digit by ISO 7064 MOD 11,10."""
    while True:
        digits = list(DIGITS)
        rng.shuffle(digits)
        twice = rng.random() < 0.7
        if twice:
            chosen = digits[:9]
            dup = rng.choice(chosen)
            body = chosen + [dup]
        else:
            chosen = digits[:8]
            dup = rng.choice(chosen)
            body = chosen + [dup, dup]
        rng.shuffle(body)
        s = "".join(body)
        if s[0] == "0":
            continue
        if any(s[i] == s[i + 1] == s[i + 2] for i in range(8)):
            continue
        return s + de_tax_check(s)


def de_tax_check(s10):
    product = 10
    for c in s10:
        total = (int(c) + product) % 10
        if total == 0:
            total = 10
        product = (total * 2) % 11
    check = 11 - product
    return "0" if check == 10 else str(check)


DE_ID_ALPHABET = "CFGHJKLMNPRTVWXYZ0123456789"


def de_id_card(rng):
    """Personalausweis document number: authority code + serial (9 chars, letters without vowels
    and look-alikes) and a check digit with weights 7-3-1 (ICAO 9303)."""
    body = rng.choice("LMNPRTVWXYZ") + rand_str(rng, DE_ID_ALPHABET, 8)

    def val(c):
        return int(c) if c.isdigit() else ord(c) - 55

    check = sum(val(c) * (7, 3, 1)[i % 3] for i, c in enumerate(body)) % 10
    return body + str(check)


FR_DEPTS = ["75", "69", "13", "33", "59", "31", "67", "44", "06", "35", "2A", "2B", "92", "93", "94"]


def fr_nir(rng, valid=True):
    """NIR (numéro de sécurité sociale): sex, year, month, department, commune, order, key =
    97 - (number mod 97), Corsica 2A/2B counted as 19/18."""
    sex = rng.choice("12")
    year = "%02d" % rng.randint(40, 99) if rng.random() < 0.7 else "%02d" % rng.randint(0, 5)
    month = "%02d" % rng.randint(1, 12)
    dept = rng.choice(FR_DEPTS)
    commune = "%03d" % rng.randint(1, 400)
    order = "%03d" % rng.randint(1, 999)
    body = sex + year + month + dept + commune + order
    numeric = body.replace("2A", "19").replace("2B", "18")
    key = 97 - int(numeric) % 97
    if not valid:
        key = (key + rng.randint(1, 50)) % 97 + 1
        if key == 97 - int(numeric) % 97:
            key = key % 97 + 1
    return body + "%02d" % key


def fr_nir_format(nir, sep=" "):
    return group(nir, [1, 2, 2, 2, 3, 3, 2], sep)


def uk_nino(rng):
    first = [c for c in UPPER if c not in "DFIQUV"]
    second = [c for c in UPPER if c not in "DFIOQUV"]
    while True:
        prefix = rng.choice(first) + rng.choice(second)
        if prefix not in ("BG", "GB", "NK", "KN", "TN", "NT", "ZZ"):
            break
    return prefix + rand_digits(rng, 6) + rng.choice("ABCD")


def us_ssn(rng):
    while True:
        area = rng.randint(1, 899)
        if area != 666:
            break
    return "%03d" % area, "%02d" % rng.randint(1, 99), "%04d" % rng.randint(1, 9999)


def us_itin(rng):
    group_digits = rng.choice(list(range(50, 66)) + list(range(70, 89)) + [90, 91, 92] + list(range(94, 100)))
    return "9%02d" % rng.randint(0, 99), "%02d" % group_digits, "%04d" % rng.randint(1, 9999)


CN_AREAS = ["110101", "110105", "110108", "310104", "310115", "440305", "440106", "330106",
            "510107", "420111", "320102", "370102", "210102", "610113", "500103", "120101"]


def cn_id_check(body17):
    weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    return "10X98765432"[sum(int(c) * w for c, w in zip(body17, weights)) % 11]


def cn_resident_id(rng, valid=True):
    """GB 11643: area code, birth date, sequence (odd for men), ISO 7064 MOD 11-2 check."""
    area = rng.choice(CN_AREAS)
    year = rng.randint(1950, 2004)
    month = rng.randint(1, 12)
    day = rng.randint(1, 28)
    body = "%s%04d%02d%02d%03d" % (area, year, month, day, rng.randint(1, 999))
    check = cn_id_check(body)
    if not valid:
        check = rng.choice([c for c in "0123456789X" if c != check])
    return body + check


USCC_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
USCC_WEIGHTS = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28]


def cn_uscc(rng, valid=True):
    """GB 32100 unified social credit code: department, category, 6-digit area, 9-character
    organisation code (GB 11714, own check), check character mod 31."""
    dept_cat = rng.choice(["91", "92", "93", "11", "12", "51", "52", "Y1"])
    area = rng.choice(CN_AREAS)
    org = rand_digits(rng, 8)
    w = [3, 7, 9, 10, 5, 8, 4, 2]
    c9 = 11 - sum(int(c) * wi for c, wi in zip(org, w)) % 11
    org += {10: "X", 11: "0"}.get(c9, str(c9) if c9 < 10 else "")
    body = dept_cat + area + org
    total = sum(USCC_CHARS.index(c) * wi for c, wi in zip(body, USCC_WEIGHTS))
    check = USCC_CHARS[(31 - total % 31) % 31]
    if not valid:
        check = rng.choice([c for c in USCC_CHARS[:10] if c != check])
    return body + check


# ---------------------------------------------------------------- secrets

BASE32 = UPPER + "234567"


def aws_access_key(rng):
    return rng.choice(["AKIA", "AKIA", "AKIA", "ASIA"]) + rand_str(rng, BASE32, 16)


def aws_secret_key(rng):
    return rand_str(rng, ALNUM + "+/", 40)


def _base62_crc(s):
    n = zlib.crc32(s.encode())
    out = ""
    while n:
        n, r = divmod(n, 62)
        out = BASE62[r] + out
    return out.rjust(6, "0")


def github_token(rng):
    if rng.random() < 0.2:
        return "github_pat_" + rand_str(rng, ALNUM, 22) + "_" + rand_str(rng, ALNUM, 59)
    prefix = rng.choice(["ghp", "ghp", "ghp", "gho", "ghu", "ghs", "ghr"])
    body = rand_str(rng, ALNUM, 30)
    return prefix + "_" + body + _base62_crc(body)


def openai_key(rng):
    r = rng.random()
    if r < 0.35:
        return "sk-" + rand_str(rng, ALNUM, 20) + "T3BlbkFJ" + rand_str(rng, ALNUM, 20)
    kind = "proj" if r < 0.85 else "svcacct"
    return "sk-" + kind + "-" + rand_str(rng, B64URL, 74) + "T3BlbkFJ" + rand_str(rng, B64URL, 74)


def anthropic_key(rng):
    return "sk-ant-api03-" + rand_str(rng, B64URL, 93) + "AA"


def slack_token(rng):
    kind = rng.choice(["xoxb", "xoxb", "xoxp", "xapp"])
    if kind == "xoxb":
        return "xoxb-%s-%s-%s" % (rand_digits(rng, 12), rand_digits(rng, 13), rand_str(rng, ALNUM, 24))
    if kind == "xoxp":
        return "xoxp-%s-%s-%s-%s" % (rand_digits(rng, 12), rand_digits(rng, 12), rand_digits(rng, 13),
                                     rand_str(rng, "0123456789abcdef", 32))
    return "xapp-1-A%s-%s-%s" % (rand_str(rng, UPPER + DIGITS, 10), rand_digits(rng, 13),
                                 rand_str(rng, "0123456789abcdef", 64))


def google_api_key(rng):
    return "AIza" + rand_str(rng, B64URL, 35)


def _b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


FIRST_NAMES = ["anna", "jonas", "lea", "lukas", "marie", "paul", "emma", "louis", "chloe", "hugo",
               "olivia", "james", "sophia", "liam", "wei", "fang", "jing", "hao", "mei", "tom",
               "ines", "malte", "camille", "theo", "ava", "noah", "yuki", "zoe", "finn", "clara"]
LAST_NAMES = ["schneider", "weber", "fischer", "wagner", "becker", "dubois", "lefebvre", "moreau",
              "laurent", "garcia", "smith", "johnson", "brown", "taylor", "wang", "li", "zhang",
              "liu", "chen", "kowalski", "rossi", "jansen", "novak", "bauer", "roux", "hoffmann"]


def jwt(rng):
    header = {"alg": rng.choice(["HS256", "RS256", "ES256"]), "typ": "JWT"}
    if rng.random() < 0.4:
        header["kid"] = rand_str(rng, ALNUM, 8)
    payload = {"sub": rand_str(rng, DIGITS, 8), "name": rng.choice(FIRST_NAMES).title(),
               "iat": 1700000000 + rng.randint(0, 30000000)}
    if rng.random() < 0.5:
        payload["exp"] = payload["iat"] + 3600
    if rng.random() < 0.5:
        payload["scope"] = rng.choice(["read:orders", "openid profile", "admin"])
    sig_len = 32 if header["alg"] == "HS256" else (64 if header["alg"] == "ES256" else 256)
    sig = bytes(rng.randrange(256) for _ in range(sig_len))
    return ".".join([_b64url(json.dumps(header, separators=(",", ":")).encode()),
                     _b64url(json.dumps(payload, separators=(",", ":")).encode()), _b64url(sig)])


def dotted_base64_not_jwt(rng):
    """Three base64url segments joined by dots whose first segment is not a JSON header."""
    parts = []
    for n in (rng.randint(10, 22), rng.randint(16, 40), rng.randint(20, 43)):
        parts.append(_b64url(bytes(rng.randrange(256) for _ in range(n))))
    if parts[0].startswith("ey"):
        parts[0] = "Q" + parts[0][1:]
    return ".".join(parts)


PEM_KINDS = [("RSA PRIVATE KEY", "MIIE", 1190), ("PRIVATE KEY", "MIIE", 1210),
             ("EC PRIVATE KEY", "MHcC", 121), ("OPENSSH PRIVATE KEY", "b3BlbnNzaC1rZXktdjEAAAAA", 400),
             ("ENCRYPTED PRIVATE KEY", "MIIF", 1300), ("DSA PRIVATE KEY", "MIIBuw", 440)]


def pem_private_key(rng, newline="\n"):
    label, lead, nbytes = rng.choice(PEM_KINDS)
    body = lead + base64.b64encode(bytes(rng.randrange(256) for _ in range(nbytes))).decode()
    body = body[: (len(body) // 4) * 4]
    width = 70 if label == "OPENSSH PRIVATE KEY" else 64
    lines = [body[i : i + width] for i in range(0, len(body), width)]
    return newline.join(["-----BEGIN %s-----" % label] + lines + ["-----END %s-----" % label])


def pem_placeholder(rng):
    label = rng.choice(["RSA PRIVATE KEY", "PRIVATE KEY", "EC PRIVATE KEY", "OPENSSH PRIVATE KEY"])
    body = rng.choice(["...", "<key>", "<your private key here>", "[...]", "…", "MIIE...",
                       "<paste key here>", "(redacted)"])
    return "-----BEGIN %s-----\n%s\n-----END %s-----" % (label, body, label)


def pem_public(rng):
    label = rng.choice(["PUBLIC KEY", "CERTIFICATE", "CERTIFICATE REQUEST"])
    body = "MII" + base64.b64encode(bytes(rng.randrange(256) for _ in range(300))).decode()
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return "\n".join(["-----BEGIN %s-----" % label] + lines + ["-----END %s-----" % label])


def generic_secret(rng):
    return rand_str(rng, ALNUM, rng.choice([24, 32, 40]))


# ---------------------------------------------------------------- e-mail

MAIL_DOMAINS = ["gmail.com", "outlook.de", "web.de", "gmx.net", "orange.fr", "free.fr", "laposte.net",
                "yahoo.co.uk", "btinternet.com", "qq.com", "163.com", "126.com", "foxmail.com",
                "muller-logistik.de", "atelier-roux.fr", "harbourline.co.uk", "brightpath.io",
                "mail.nordwerk.de", "corp.lumen-bank.eu", "hanfeng-tech.cn", "student.uni-koeln.de"]


def email(rng):
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    style = rng.randint(0, 6)
    local = [first + "." + last, first[0] + last, last + "." + first, first + "_" + last + str(rng.randint(1, 99)),
             first + "+" + rng.choice(["news", "shop", "ai"]), last + str(rng.randint(1970, 2005)),
             first + "-" + last][style]
    if rng.random() < 0.15:
        local = local.title() if "." in local else local
    return local + "@" + rng.choice(MAIL_DOMAINS)


# ---------------------------------------------------------------- IP addresses


def ipv4_public(rng):
    while True:
        a = rng.choice([5, 31, 37, 46, 62, 78, 80, 82, 85, 91, 93, 104, 109, 134, 141, 151, 176, 178,
                        185, 188, 193, 194, 195, 212, 213, 217, 23, 34, 52, 54, 66, 74, 98, 142, 216,
                        36, 39, 58, 59, 60, 61, 101, 106, 111, 113, 114, 116, 119, 120, 121, 123, 124,
                        125, 180, 183, 202, 210, 211, 218, 219, 220, 221, 222])
        b, c, d = rng.randint(0, 255), rng.randint(0, 255), rng.randint(1, 254)
        return "%d.%d.%d.%d" % (a, b, c, d)


def ipv4_private(rng):
    r = rng.random()
    if r < 0.4:
        return "10.%d.%d.%d" % (rng.randint(0, 255), rng.randint(0, 255), rng.randint(1, 254))
    if r < 0.7:
        return "192.168.%d.%d" % (rng.randint(0, 255), rng.randint(1, 254))
    return "172.%d.%d.%d" % (rng.randint(16, 31), rng.randint(0, 255), rng.randint(1, 254))


def ipv4_not_finding(rng):
    return rng.choice(["127.0.0.1", "0.0.0.0", "255.255.255.0", "255.255.255.255", "255.255.0.0",
                       "255.255.255.192", "255.0.0.0", "127.0.1.1",
                       "192.0.2.%d" % rng.randint(1, 254), "198.51.100.%d" % rng.randint(1, 254),
                       "203.0.113.%d" % rng.randint(1, 254)])


def _h(rng, hex_letters_only=False):
    alphabet = "abcdef" if hex_letters_only else "0123456789abcdef"
    n = rng.randint(1, 4)
    s = rand_str(rng, alphabet, n)
    return s.lstrip("0") or "0"


def ipv6_public(rng, hex_only=False):
    first = rng.choice(["2a00", "2a01", "2a02", "2001:4860", "2600", "2604", "2a03", "240e", "2408",
                        "2c0f", "2406", "2003"])
    if hex_only:
        first = rng.choice(["2a0e", "2a0a", "2a0b"])  # hex letters only after the first group
    groups = first.split(":")
    n_total = 8
    while len(groups) < n_total:
        groups.append(_h(rng, hex_only))
    if rng.random() < 0.6:  # compress a run of zeros
        start = rng.randint(2, 5)
        length = rng.randint(2, 8 - start)
        return ":".join(groups[:start]) + "::" + ":".join(groups[start + length:])
    return ":".join(groups)


def ipv6_private(rng, hex_only=False):
    """Unique local addresses, fc00::/7 (RFC 4193)."""
    first = "fd" + rand_str(rng, "abcdef" if hex_only else "0123456789abcdef", 2)
    groups = [first] + [_h(rng, hex_only) for _ in range(3)]
    if rng.random() < 0.5:
        return ":".join(groups) + "::" + _h(rng, hex_only)
    return ":".join(groups + [_h(rng, hex_only) for _ in range(4)])


def ipv6_not_finding(rng):
    return rng.choice(["::1", "::", "2001:db8::%x" % rng.randint(1, 0xFFFF),
                       "2001:db8:%x::%x" % (rng.randint(1, 0xFFFF), rng.randint(1, 0xFF)),
                       "0:0:0:0:0:0:0:1", "::ffff:127.0.0.1"])


# ---------------------------------------------------------------- phone numbers
# Each generator returns (text as written, has-context-needed?) where the text is the value.

DE_MOBILE = [("151", 8), ("152", 8), ("157", 8), ("159", 8), ("160", 7), ("162", 7), ("163", 7),
             ("170", 7), ("171", 7), ("175", 7), ("176", 8), ("179", 8)]
DE_AREAS = [("30", 8), ("40", 7), ("89", 8), ("69", 7), ("221", 7), ("211", 7), ("711", 7),
            ("341", 7), ("351", 7), ("511", 7), ("911", 7), ("228", 6), ("6221", 6)]


def _sub(rng, n):
    return str(rng.randint(2, 9)) + rand_digits(rng, n - 1)


def phone_de(rng):
    if rng.random() < 0.55:
        pre, n = rng.choice(DE_MOBILE)
        sub = _sub(rng, n)
        fmt = rng.choice(["0{p} {s}", "0{p}/{s}", "0{p}-{s}", "0{p}{s}", "+49 {p} {s}", "+49{p}{s}",
                          "0049 {p} {s}", "+49 (0){p} {s}", "0{p} {s3} {s4}", "+49 {p} {s3} {s4}"])
    else:
        pre, n = rng.choice(DE_AREAS)
        sub = _sub(rng, n)
        fmt = rng.choice(["0{p} {s}", "(0{p}) {s}", "0{p}-{s}", "0{p}/{s}", "+49 {p} {s}",
                          "+49 (0){p} {s}", "0049 {p} {s}", "0{p} {s3} {s4}", "+49-{p}-{s}"])
    return fmt.format(p=pre, s=sub, s3=sub[:3], s4=sub[3:])


FR_PREFIXES = ["6", "7", "1", "2", "3", "4", "5", "9"]


def phone_fr(rng):
    first = rng.choice(FR_PREFIXES)
    rest = rand_digits(rng, 8)
    if first == "7":
        rest = str(rng.randint(3, 8)) + rest[1:]
    nat = "0" + first + rest
    fmt = rng.choice(["sp", "sp", "hy", "dot", "compact", "intl", "intl0", "00"])
    pairs = [nat[i : i + 2] for i in range(0, 10, 2)]
    if fmt == "sp":
        return " ".join(pairs)
    if fmt == "hy":
        return "-".join(pairs)
    if fmt == "dot":
        return ".".join(pairs)
    if fmt == "compact":
        return nat
    tail = " ".join([nat[1]] + [nat[i : i + 2] for i in range(2, 10, 2)])
    if fmt == "intl":
        return "+33 " + tail
    if fmt == "intl0":
        return "+33 (0)" + tail
    return "0033 " + tail


def phone_gb(rng):
    if rng.random() < 0.6:
        nat = "07" + str(rng.randint(4, 9)) + rand_digits(rng, 8)
        fmt = rng.choice(["{a} {b}", "{a}{b}", "+44 {a1} {b}", "+44 (0){a1} {b}", "+44{a1}{b}",
                          "{a} {b1} {b2}"])
        a, b = nat[:5], nat[5:]
    else:
        area = rng.choice(["20", "161", "131", "117", "121", "113", "141", "1865", "1223"])
        n = 10 - len(area)
        if area == "20":
            sub = rng.choice("378") + rand_digits(rng, 7)
        else:
            sub = str(rng.randint(2, 9)) + rand_digits(rng, n - 1)
            if sub.startswith("496"):
                sub = "2" + sub[1:]
        a, b = "0" + area, sub
        if area == "20":
            b = sub[:4] + " " + sub[4:]
        fmt = rng.choice(["{a} {b}", "({a}) {b}", "+44 {a1} {b}", "+44 (0){a1} {b}"])
    return fmt.format(a=a, b=b, a1=a[1:], b1=b[:3], b2=b[3:])


NANP_AREAS = ["212", "917", "646", "718", "512", "415", "303", "617", "312", "206", "404", "713",
              "305", "702", "612", "416", "514", "604", "403", "613"]


def phone_nanp(rng, fmt=None):
    area = rng.choice(NANP_AREAS)
    while True:
        exch = str(rng.randint(2, 9)) + rand_digits(rng, 2)
        if exch[1:] != "11" and exch != "555":
            break
    line = rand_digits(rng, 4)
    fmt = fmt or rng.choice(["{a}-{e}-{l}", "{a}.{e}.{l}", "({a}) {e}-{l}", "{a} {e} {l}",
                             "+1 {a} {e} {l}", "+1-{a}-{e}-{l}", "+1 ({a}) {e}-{l}", "1-{a}-{e}-{l}",
                             "({a}){e}-{l}", "{a}{e}{l}"])
    return fmt.format(a=area, e=exch, l=line)


def nanp_tollfree(rng):
    return rng.choice(["1-800-", "1-888-", "(877) ", "800-"]) + "%d%02d-%04d" % (
        rng.randint(2, 9), rng.randint(0, 99), rng.randint(0, 9999))


CN_MOBILE = ["130", "131", "135", "136", "138", "139", "150", "151", "158", "166", "177", "180",
             "186", "187", "189", "191", "199"]


def phone_cn(rng):
    if rng.random() < 0.7:
        n = rng.choice(CN_MOBILE) + rand_digits(rng, 8)
        fmt = rng.choice(["{a} {b} {c}", "{a}{b}{c}", "{a}-{b}-{c}", "+86 {a} {b} {c}", "+86{a}{b}{c}",
                          "+86-{a}-{b}-{c}", "0086 {a} {b} {c}", "{a}{b}{c}"])
        return fmt.format(a=n[:3], b=n[3:7], c=n[7:])
    area, n = rng.choice([("10", 8), ("21", 8), ("20", 8), ("755", 8), ("571", 8), ("28", 8), ("25", 8),
                          ("27", 8), ("512", 8), ("731", 7)])
    sub = str(rng.randint(2, 8)) + rand_digits(rng, n - 1)
    fmt = rng.choice(["0{a}-{s}", "(0{a}) {s}", "0{a} {s1} {s2}", "+86 {a} {s}", "0{a}-{s}"])
    return fmt.format(a=area, s=sub, s1=sub[:4], s2=sub[4:])


def phone_intl(rng):
    cc, fmt_fn = rng.choice([
        ("39", lambda: "3%d%d %s %s" % (rng.randint(2, 9), rng.randint(0, 9), rand_digits(rng, 3), rand_digits(rng, 4))),
        ("34", lambda: "6%02d %s %s" % (rng.randint(0, 99), rand_digits(rng, 3), rand_digits(rng, 3))),
        ("31", lambda: "6 %s %s" % (rand_digits(rng, 4), rand_digits(rng, 4))),
        ("41", lambda: "7%d %s %s %s" % (rng.choice([6, 7, 8, 9]), rand_digits(rng, 3), rand_digits(rng, 2), rand_digits(rng, 2))),
        ("43", lambda: "664 %s" % rand_digits(rng, 7)),
        ("32", lambda: "47%d %s %s %s" % (rng.randint(0, 9), rand_digits(rng, 2), rand_digits(rng, 2), rand_digits(rng, 2))),
        ("48", lambda: "5%s %s %s" % (rand_digits(rng, 2), rand_digits(rng, 3), rand_digits(rng, 3))),
        ("81", lambda: "90-%s-%s" % (rand_digits(rng, 4), rand_digits(rng, 4))),
        ("91", lambda: "98%s %s" % (rand_digits(rng, 3), rand_digits(rng, 5))),
        ("55", lambda: "11 9%s-%s" % (rand_digits(rng, 4), rand_digits(rng, 4))),
        ("61", lambda: "4%s %s %s" % (rand_digits(rng, 2), rand_digits(rng, 3), rand_digits(rng, 3))),
        ("353", lambda: "8%d %s %s" % (rng.choice([3, 5, 6, 7]), rand_digits(rng, 3), rand_digits(rng, 4))),
        ("852", lambda: "%d%s %s" % (rng.choice([5, 6, 9]), rand_digits(rng, 3), rand_digits(rng, 4))),
        ("971", lambda: "50 %s %s" % (rand_digits(rng, 3), rand_digits(rng, 4))),
    ])
    prefix = "+" if rng.random() < 0.8 else "00"
    return prefix + cc + " " + fmt_fn()


# ---------------------------------------------------------------- classification markings

MARKINGS_EN = ["STRICTLY CONFIDENTIAL", "CONFIDENTIAL", "TOP SECRET//NOFORN", "SECRET//NOFORN",
               "TOP SECRET//SCI", "SECRET//REL TO USA, FVEY", "CONFIDENTIAL//NOFORN", "TOP SECRET",
               "OFFICIAL-SENSITIVE", "COMPANY CONFIDENTIAL", "NATO SECRET"]
MARKINGS_DE = ["VS – NUR FÜR DEN DIENSTGEBRAUCH", "VS-NUR FÜR DEN DIENSTGEBRAUCH", "VS-VERTRAULICH",
               "STRENG VERTRAULICH", "VERTRAULICH", "GEHEIM", "STRENG GEHEIM", "VS-NfD"]
MARKINGS_FR = ["CONFIDENTIEL", "DIFFUSION RESTREINTE", "SECRET", "TRÈS SECRET", "STRICTEMENT CONFIDENTIEL",
               "CONFIDENTIEL DÉFENSE"]
MARKINGS_ZH = ["机密", "绝密", "秘密"]
