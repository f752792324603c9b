#!/usr/bin/env python3
"""Writes tests/data/benign/benign.jsonl.gz, the fixed benign corpus: several MB of prose, code,
logs and configuration files in English, German, French and Chinese with no sensitive value in
them (no e-mail address, no phone number, no personal or financial identifier, no key or token,
no address that maps a network, no classification marking).

Everything is generated from templates and word lists, so nothing personal can slip in from a
source file. What ordinary text is full of stays in, because that is what a detector must leave
alone: dates, times, amounts, percentages, order and ticket numbers, version strings, git commit
ids and other digests, UUIDs, loopback and documentation addresses, `example.org` URLs, port
numbers, environment variable references and the words "secret" or "confidential" in sentences.
Digit runs are kept at eight digits or fewer outside hex digests, so no run can be a card, an
account or a national number by accident.

One JSON object per line: {"id": "...", "kind": "prose|code|log|config", "lang": ..., "text": ...}
(the input format of `warden scan --jsonl`). Deterministic: gzip without a timestamp, fixed seed.
Run: python3 generate.py [OUT]   (default: benign.jsonl.gz beside this script)
"""

import gzip
import io
import json
import os
import random
import string
import sys

SEED = 4242
TARGET_BYTES = 4_600_000
rng = random.Random(SEED)


def pick(seq):
    return rng.choice(seq)


def num(lo, hi):
    return rng.randint(lo, hi)


def hexs(n):
    return "".join(rng.choice("0123456789abcdef") for _ in range(n))


def uuid4():
    h = hexs(32)
    return "%s-%s-4%s-%s%s-%s" % (h[:8], h[8:12], h[13:16], pick("89ab"), h[17:20], h[20:32])


def date_iso():
    return "20%02d-%02d-%02d" % (num(19, 26), num(1, 12), num(1, 28))


def time_hm():
    return "%02d:%02d" % (num(0, 23), num(0, 59))


def ts():
    return "%sT%s:%02d.%03dZ" % (date_iso(), time_hm(), num(0, 59), num(0, 999))


def version():
    return "%d.%d.%d" % (num(0, 12), num(0, 40), num(0, 30))


def money(lang):
    whole, cents = num(1, 99999), num(0, 99)
    if lang == "de":
        return "%s,%02d €" % (format(whole, ",").replace(",", "."), cents)
    if lang == "fr":
        return "%s,%02d €" % (format(whole, ",").replace(",", "\u202f"), cents)
    if lang == "zh":
        return "%d.%02d元" % (whole, cents)
    return "$%s.%02d" % (format(whole, ","), cents)


# ----------------------------------------------------------------- prose

EN = {
    "subj": ["The team", "Our support desk", "The new release", "The finance department", "The warehouse",
             "This quarter's survey", "The design review", "The pilot project", "The migration", "Marketing",
             "The workshop", "The city council", "The research group", "The onboarding guide", "The bakery"],
    "verb": ["improved", "postponed", "simplified", "documented", "reviewed", "reduced", "expanded", "tested",
             "replaced", "summarised", "measured", "published", "renamed", "rebuilt", "approved"],
    "obj": ["the delivery schedule", "the checkout flow", "the monthly report", "the training material",
            "the cache layer", "the holiday rota", "the product catalogue", "the search results page",
            "the invoice template", "the spare parts list", "the reading list", "the energy budget",
            "the translation memory", "the recipe collection", "the opening hours"],
    "tail": ["after the feedback round", "ahead of the trade fair", "for the spring campaign",
             "because the old process was too slow", "without changing the budget", "in two short sprints",
             "with help from the volunteers", "before the auditors arrived", "as planned in January",
             "while keeping the old version available"],
    "extra": ["Nobody expected the change to be this popular.", "The next review is planned for {date}.",
              "About {pct}% of the participants answered the questionnaire.",
              "The total came to {money}, slightly under the estimate.",
              "Version {ver} fixes the layout bug reported in ticket #{ticket}.",
              "The meeting starts at {time} in room {room}.",
              "Everyone agreed that the secret of a good handover is a short checklist.",
              "Please keep the draft confidential until the board has read it.",
              "See https://docs.example.org/guides/{slug} for the full walkthrough.",
              "Order {order} was shipped on {date} and should arrive within {days} days.",
              "The recipe needs {g} g of flour, {ml} ml of milk and a pinch of salt.",
              "Attendance rose from {a} to {b} visitors compared with last year."],
}
DE = {
    "subj": ["Das Team", "Unser Kundendienst", "Die neue Version", "Die Buchhaltung", "Das Lager",
             "Die Umfrage dieses Quartals", "Die Designbesprechung", "Das Pilotprojekt", "Die Umstellung",
             "Der Vertrieb", "Die Werkstatt", "Der Gemeinderat", "Die Forschungsgruppe", "Die Bäckerei"],
    "verb": ["hat verbessert", "hat verschoben", "hat vereinfacht", "hat dokumentiert", "hat geprüft",
             "hat reduziert", "hat erweitert", "hat getestet", "hat ersetzt", "hat zusammengefasst"],
    "obj": ["den Lieferplan", "den Bestellvorgang", "den Monatsbericht", "die Schulungsunterlagen",
            "den Urlaubsplan", "den Produktkatalog", "die Suchergebnisseite", "die Rechnungsvorlage",
            "die Ersatzteilliste", "das Energiebudget", "die Öffnungszeiten", "die Rezeptsammlung"],
    "tail": ["nach der Feedbackrunde", "vor der Messe", "für die Frühjahrskampagne",
             "weil der alte Ablauf zu langsam war", "ohne das Budget zu ändern", "in zwei kurzen Sprints",
             "mit Hilfe der Ehrenamtlichen", "wie im Januar geplant"],
    "extra": ["Die nächste Überprüfung ist für den {date_de} geplant.",
              "Etwa {pct} % der Teilnehmenden haben den Fragebogen beantwortet.",
              "Die Summe betrug {money}, etwas unter der Schätzung.",
              "Version {ver} behebt den Darstellungsfehler aus Ticket #{ticket}.",
              "Die Besprechung beginnt um {time} Uhr in Raum {room}.",
              "Bitte behandeln Sie den Entwurf vertraulich, bis der Vorstand ihn gelesen hat.",
              "Das Geheimnis einer guten Übergabe ist eine kurze Checkliste.",
              "Bestellung {order} wurde am {date_de} verschickt.",
              "Für den Teig braucht man {g} g Mehl und {ml} ml Milch.",
              "Die Besucherzahl stieg von {a} auf {b}."],
}
FR = {
    "subj": ["L'équipe", "Notre service client", "La nouvelle version", "La comptabilité", "L'entrepôt",
             "L'enquête de ce trimestre", "La revue de conception", "Le projet pilote", "La migration",
             "Le service commercial", "L'atelier", "Le conseil municipal", "Le laboratoire", "La boulangerie"],
    "verb": ["a amélioré", "a reporté", "a simplifié", "a documenté", "a relu", "a réduit", "a élargi",
             "a testé", "a remplacé", "a résumé"],
    "obj": ["le calendrier de livraison", "le parcours de commande", "le rapport mensuel",
            "les supports de formation", "le planning des congés", "le catalogue", "la page de résultats",
            "le modèle de facture", "la liste des pièces détachées", "les horaires d'ouverture"],
    "tail": ["après le tour de retours", "avant le salon", "pour la campagne de printemps",
             "car l'ancien processus était trop lent", "sans changer le budget", "en deux courts sprints",
             "avec l'aide des bénévoles", "comme prévu en janvier"],
    "extra": ["La prochaine revue est prévue le {date_fr}.",
              "Environ {pct} % des participants ont répondu au questionnaire.",
              "Le total s'élève à {money}, un peu moins que prévu.",
              "La version {ver} corrige le bogue d'affichage du ticket n° {ticket}.",
              "La réunion commence à {time_fr} en salle {room}.",
              "Merci de garder ce brouillon confidentiel jusqu'à la lecture par le conseil.",
              "Le secret d'une bonne passation, c'est une courte liste de contrôle.",
              "La commande {order} est partie le {date_fr}.",
              "Il faut {g} g de farine et {ml} ml de lait pour la pâte.",
              "La fréquentation est passée de {a} à {b} visiteurs."],
}
ZH = {
    "subj": ["团队", "客服部门", "新版本", "财务部", "仓库", "本季度调查", "设计评审", "试点项目", "迁移工作",
             "市场部", "车间", "研究小组", "面包店", "图书馆"],
    "verb": ["改进了", "推迟了", "简化了", "整理了", "审核了", "减少了", "扩展了", "测试了", "替换了", "总结了"],
    "obj": ["配送计划", "下单流程", "月度报告", "培训材料", "值班表", "产品目录", "搜索结果页", "发票模板",
            "备件清单", "营业时间", "食谱合集", "能耗预算"],
    "tail": ["在收集反馈之后", "在展会之前", "为了春季活动", "因为旧流程太慢", "没有增加预算", "用了两个短迭代",
             "在志愿者的帮助下", "按照一月份的计划"],
    "extra": ["下一次评审定于{date_zh}。", "大约{pct}%的参与者填写了问卷。", "总金额为{money}，略低于预算。",
              "{ver}版本修复了工单{ticket}中报告的显示问题。", "会议在{time}于{room}会议室开始。",
              "在董事会审阅之前，请对草稿保密。", "做好交接的秘诀是一份简短的清单。",
              "订单{order}已于{date_zh}发出。", "面团需要{g}克面粉和{ml}毫升牛奶。", "访客人数从{a}增加到{b}。"],
}
PROSE = {"en": EN, "de": DE, "fr": FR, "zh": ZH}
SLUGS = ["install", "getting-started", "faq", "release-notes", "upgrade", "backup", "style-guide"]


def fill(template, lang):
    y, m, d = num(2019, 2026), num(1, 12), num(1, 28)
    return template.format(
        date="%d-%02d-%02d" % (y, m, d), date_de="%02d.%02d.%d" % (d, m, y), date_fr="%02d/%02d/%d" % (d, m, y),
        date_zh="%d年%d月%d日" % (y, m, d), pct=num(3, 97), money=money(lang), ver=version(),
        ticket=num(100, 99999), time=time_hm(), time_fr="%dh%02d" % (num(8, 19), num(0, 59)), room=num(1, 499),
        slug=pick(SLUGS), order="%s%d" % (pick(["", "A-", "BO-", "#"]), num(10000, 9999999)), days=num(2, 14),
        g=num(100, 900), ml=num(50, 700), a=num(100, 9000), b=num(100, 9000))


def sentence(lang):
    w = PROSE[lang]
    if rng.random() < 0.35:
        return fill(pick(w["extra"]), lang)
    if lang == "zh":
        return "%s%s%s%s。" % (pick(w["subj"]), pick(w["tail"]), pick(w["verb"]), pick(w["obj"]))
    if lang == "de":
        verb = pick(w["verb"]).split()
        return "%s %s %s %s %s." % (pick(w["subj"]), verb[0], pick(w["obj"]), pick(w["tail"]), verb[1])
    return "%s %s %s %s." % (pick(w["subj"]), pick(w["verb"]), pick(w["obj"]), pick(w["tail"]))


def prose(lang):
    paras = []
    for _ in range(num(1, 5)):
        sents = [sentence(lang) for _ in range(num(2, 7))]
        paras.append(("" if lang == "zh" else " ").join(sents))
    if rng.random() < 0.3:
        heading = {"en": "Notes for the %s meeting", "de": "Notizen zur Besprechung am %s",
                   "fr": "Notes de la réunion du %s", "zh": "%s会议纪要"}[lang] % date_iso()
        paras.insert(0, heading)
    if rng.random() < 0.3:
        paras.append(pick({"en": ["Summarise this in three bullet points.", "Translate this into German.",
                                  "Make the tone friendlier."],
                           "de": ["Fasse das in drei Stichpunkten zusammen.", "Übersetze das ins Englische."],
                           "fr": ["Résume ceci en trois points.", "Traduis ceci en anglais."],
                           "zh": ["请用三点总结。", "请翻译成英文。"]}[lang]))
    return "\n\n".join(paras)


# ----------------------------------------------------------------- code

IDENTS = ["order", "invoice", "customer_count", "item", "batch", "report", "cache", "queue", "buffer", "result",
          "config", "session_id", "retry", "timeout", "payload", "record", "entry", "offset", "limit", "user_name"]
FUNCS = ["load_orders", "parse_header", "render_page", "compute_total", "flush_cache", "retry_later",
         "validate_input", "merge_reports", "normalise_text", "split_batches", "read_config", "send_digest"]


def code_python():
    f, a, b = pick(FUNCS), pick(IDENTS), pick(IDENTS)
    return f'''import logging
from dataclasses import dataclass

log = logging.getLogger(__name__)
MAX_{a.upper()} = {num(2, 4096)}


@dataclass
class {f.title().replace("_", "")}:
    {a}: int = {num(0, 100)}
    {b}: str = "{pick(["draft", "open", "closed", "pending"])}"


def {f}(items, limit={num(1, 500)}):
    """Return at most `limit` items, oldest first (see ticket #{num(100, 9999)})."""
    out = []
    for i, item in enumerate(sorted(items, key=lambda x: x.created_at)):
        if i >= limit:
            break
        out.append(item)
    log.debug("%s: kept %d of %d", "{f}", len(out), len(items))
    return out
'''


def code_cpp():
    f, a = pick(FUNCS), pick(IDENTS)
    return f'''#include <cstdint>
#include <string_view>
#include <vector>

namespace app {{

// Keeps the last {num(8, 512)} samples; older ones are dropped (ring buffer, no allocation).
class {f.title().replace("_", "")} {{
 public:
  explicit {f.title().replace("_", "")}(std::size_t capacity) : slots_(capacity) {{}}

  void push(std::uint32_t {a}) {{
    slots_[head_] = {a} ^ 0x{hexs(8)}u;
    head_ = (head_ + 1) % slots_.size();
  }}

  [[nodiscard]] std::uint64_t sum() const {{
    std::uint64_t s = 0;
    for (auto v : slots_) s += v;
    return s;
  }}

 private:
  std::vector<std::uint32_t> slots_;
  std::size_t head_ = 0;
}};

}}  // namespace app
'''


def code_js():
    f, a = pick(FUNCS), pick(IDENTS)
    camel = f.split("_")[0] + "".join(p.title() for p in f.split("_")[1:])
    return f'''export async function {camel}(client, {{ page = 1, perPage = {num(10, 100)} }} = {{}}) {{
  const res = await client.get(`/api/v{num(1, 3)}/{a}s?page=${{page}}&per_page=${{perPage}}`);
  if (res.status !== 200) {{
    throw new Error(`unexpected status ${{res.status}} for page ${{page}}`);
  }}
  // The API returns at most {num(100, 1000)} rows per page.
  return res.data.items.map((x) => ({{ id: x.id, {a}: x.{a} ?? null, updatedAt: new Date(x.updated_at) }}));
}}
'''


def code_sql():
    a = pick(IDENTS)
    return f'''-- Monthly totals for the dashboard (runs at {time_hm()} UTC)
SELECT date_trunc('month', created_at) AS month,
       count(*)                        AS {a}s,
       sum(amount_cents) / 100.0       AS total
FROM   orders
WHERE  created_at >= DATE '{date_iso()}'
  AND  status IN ('paid', 'shipped')
GROUP  BY 1
ORDER  BY 1 DESC
LIMIT  {num(6, 36)};
'''


def code_shell():
    return f'''#!/bin/sh
set -eu
# Rotate the build artefacts older than {num(2, 30)} days.
find "${{BUILD_DIR:-./build}}" -name '*.tar.gz' -mtime +{num(2, 30)} -print -delete
git log --oneline -n {num(3, 20)} | tee changes.txt
echo "done at $(date -u +%Y-%m-%dT%H:%M:%SZ), commit $(git rev-parse --short HEAD)"
'''


def code_go():
    f = pick(FUNCS)
    camel = "".join(p.title() for p in f.split("_"))
    return f'''package worker

import (
	"context"
	"time"
)

// {camel} waits at most {num(1, 60)} seconds for the queue to drain.
func {camel}(ctx context.Context, q <-chan int) (int, error) {{
	ctx, cancel := context.WithTimeout(ctx, {num(1, 60)}*time.Second)
	defer cancel()
	n := 0
	for {{
		select {{
		case <-ctx.Done():
			return n, ctx.Err()
		case _, ok := <-q:
			if !ok {{
				return n, nil
			}}
			n++
		}}
	}}
}}
'''


def code_with_prompt(lang):
    body = pick([code_python, code_cpp, code_js, code_sql, code_shell, code_go])()
    ask = {"en": ["Why does this not compile?", "Can you add tests for this?", "Refactor this for readability:",
                  "Explain what this does:"],
           "de": ["Warum kompiliert das nicht?", "Kannst du dafür Tests schreiben?", "Erkläre mir diesen Code:"],
           "fr": ["Pourquoi ce code ne compile pas ?", "Peux-tu ajouter des tests ?", "Explique ce code :"],
           "zh": ["这段代码为什么编译不通过？", "请帮我加上单元测试。", "解释一下这段代码："]}[lang]
    return pick(ask) + "\n\n```\n" + body + "```"


# ----------------------------------------------------------------- logs

SERVICES = ["api", "worker", "scheduler", "billing", "search", "gateway", "renderer", "mailer-queue"]
PATHS = ["/api/v1/orders", "/api/v1/items/%d", "/healthz", "/metrics", "/static/app.%s.js", "/login",
         "/api/v2/reports?page=%d", "/favicon.ico"]


def log_block(lang):
    lines = []
    svc = pick(SERVICES)
    for _ in range(num(5, 40)):
        kind = rng.random()
        t = ts()
        if kind < 0.3:
            p = pick(PATHS)
            if "%d" in p:
                p = p % num(1, 99999)
            elif "%s" in p:
                p = p % hexs(8)
            lines.append('127.0.0.1 - - [%02d/%s/2025:%s:%02d +0000] "%s %s HTTP/1.1" %d %d' % (
                num(1, 28), pick(["Jan", "Feb", "Mar", "Apr", "May", "Jun"]), time_hm(), num(0, 59),
                pick(["GET", "POST", "PUT"]), p, pick([200, 200, 200, 201, 204, 304, 404, 500]), num(0, 99999)))
        elif kind < 0.55:
            lines.append("%s %s %s request_id=%s status=%d duration_ms=%d" % (
                t, pick(["INFO", "INFO", "DEBUG", "WARN"]), svc, uuid4(), pick([200, 201, 400, 404, 503]), num(1, 9000)))
        elif kind < 0.7:
            lines.append("%s INFO deploy: %s-%s-%s rolled out, image tag %s, commit %s" % (
                t, svc, hexs(9), hexs(5), version(), hexs(40)))
        elif kind < 0.8:
            lines.append("%s WARN %s: retrying job %d (attempt %d/%d) after %d ms" % (
                t, svc, num(1000, 999999), num(1, 5), 5, num(100, 30000)))
        elif kind < 0.88:
            lines.append("%s INFO listening on 127.0.0.1:%d and [::1]:%d" % (t, num(1024, 65000), num(1024, 65000)))
        elif kind < 0.94:
            lines.append("%s ERROR %s: timeout after %ds waiting for lock %s" % (t, svc, num(1, 120), uuid4()))
        else:
            lines.append("%s INFO gc: heap %d MB -> %d MB, pause %.1f ms" % (t, num(100, 4000), num(50, 3000),
                                                                             rng.random() * 40))
    intro = {"en": "What is going wrong here?", "de": "Was läuft hier schief?",
             "fr": "Qu'est-ce qui ne va pas ici ?", "zh": "这里出了什么问题？"}[lang]
    return intro + "\n" + "\n".join(lines)


# ----------------------------------------------------------------- configuration files


def config_yaml():
    app = pick(SERVICES)
    return f'''apiVersion: apps/v1
kind: Deployment
metadata:
  name: {app}
  labels: {{app: {app}, tier: backend}}
spec:
  replicas: {num(1, 12)}
  template:
    spec:
      containers:
        - name: {app}
          image: registry.example.org/{app}:{version()}
          ports: [{{containerPort: {num(3000, 9999)}}}]
          env:
            - name: LOG_LEVEL
              value: {pick(["info", "debug", "warn"])}
            - name: DATABASE_PASSWORD
              valueFrom: {{secretKeyRef: {{name: {app}-db, key: password}}}}
          resources:
            limits: {{cpu: "{num(1, 4)}", memory: {num(128, 4096)}Mi}}
'''


def config_ini():
    return f'''[server]
host = 127.0.0.1
port = {num(1024, 65000)}
workers = {num(1, 32)}

[cache]
ttl_seconds = {num(10, 86400)}
max_entries = {num(100, 999999)}

[paths]
data = /var/lib/{pick(SERVICES)}
logs = /var/log/{pick(SERVICES)}
'''


def config_toml():
    return f'''[package]
name = "{pick(FUNCS).replace("_", "-")}"
version = "{version()}"
edition = "2021"

[dependencies]
serde = {{ version = "1.0.{num(100, 200)}", features = ["derive"] }}
tokio = {{ version = "1.{num(20, 40)}", features = ["rt-multi-thread", "macros"] }}
'''


def config_json():
    return json.dumps({
        "name": pick(FUNCS).replace("_", "-"), "version": version(), "private": True,
        "scripts": {"build": "tsc -p .", "test": "node --test", "lint": "eslint src"},
        "dependencies": {"express": "^4.%d.%d" % (num(10, 19), num(0, 9)), "zod": "^3.%d.0" % num(10, 23)},
        "engines": {"node": ">=%d" % num(16, 22)},
    }, indent=2)


def config_nginx():
    return f'''server {{
    listen 127.0.0.1:{num(8000, 8999)};
    server_name www.example.org;
    root /srv/www/{pick(SERVICES)};
    client_max_body_size {num(1, 64)}m;
    location /api/ {{
        proxy_pass http://127.0.0.1:{num(3000, 3999)};
        proxy_read_timeout {num(5, 300)}s;
    }}
}}
'''


def config_env():
    return f'''# copy to .env and fill in from the vault
APP_ENV={pick(["development", "staging", "production"])}
APP_URL=https://app.example.org
DB_HOST=localhost
DB_PORT=5432
DB_USER=${{DB_USER}}
DB_PASSWORD=${{DB_PASSWORD}}
CACHE_TTL={num(10, 3600)}
FEATURE_NEW_CHECKOUT={pick(["true", "false"])}
'''


def config_with_prompt(lang):
    body = pick([config_yaml, config_ini, config_toml, config_json, config_nginx, config_env])()
    ask = {"en": ["Is this configuration sane?", "Why does the service not start with this config?"],
           "de": ["Ist diese Konfiguration sinnvoll?", "Warum startet der Dienst mit dieser Konfiguration nicht?"],
           "fr": ["Cette configuration est-elle correcte ?", "Pourquoi le service ne démarre pas ?"],
           "zh": ["这个配置有问题吗？", "为什么用这个配置服务起不来？"]}[lang]
    return pick(ask) + "\n\n" + body


# ----------------------------------------------------------------- assembly

KINDS = [("prose", prose, 40), ("code", code_with_prompt, 22), ("log", log_block, 20), ("config", config_with_prompt, 18)]


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "benign.jsonl.gz")
    weights = [w for _, _, w in KINDS]
    raw = io.BytesIO()
    total, n = 0, 0
    while total < TARGET_BYTES:
        name, fn, _ = rng.choices(KINDS, weights=weights)[0]
        lang = pick(["en", "en", "de", "fr", "zh"])
        text = fn(lang)
        line = json.dumps({"id": "b%05d" % n, "kind": name, "lang": lang, "text": text}, ensure_ascii=False) + "\n"
        raw.write(line.encode("utf-8"))
        total += len(text.encode("utf-8"))
        n += 1
    with open(out, "wb") as fh:
        with gzip.GzipFile(filename="", mode="wb", fileobj=fh, mtime=0, compresslevel=9) as gz:
            gz.write(raw.getvalue())
    print("%d texts, %d bytes of text" % (n, total), file=sys.stderr)


if __name__ == "__main__":
    main()
