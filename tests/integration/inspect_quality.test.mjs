// Detection quality: the labelled corpus (tests/data/inspect/corpus.jsonl) and false positives
// per MB on benign text that ships with Debian (licenses, man pages, C++ headers).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { test } from 'node:test';

const bin = process.env.WARDEN_BIN ?? new URL('../../build/warden', import.meta.url).pathname;
const corpus = new URL('../data/inspect/corpus.jsonl', import.meta.url).pathname;

function group(classes, names) {
  const g = { tp: 0, fp: 0, fn: 0 };
  for (const n of names) for (const k of ['tp', 'fp', 'fn']) g[k] += classes[n]?.[k] ?? 0;
  return { ...g, precision: g.tp / (g.tp + g.fp || 1), recall: g.tp / (g.tp + g.fn || 1) };
}

test('corpus: at least 600 items, 35% hard negatives, five languages', () => {
  const items = fs.readFileSync(corpus, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  assert.ok(items.length >= 600, `${items.length} items`);
  const negatives = items.filter((i) => i.findings.length === 0).length;
  assert.ok(negatives / items.length >= 0.35, `${negatives} hard negatives`);
  for (const lang of ['en', 'de', 'fr', 'zh', 'mixed']) assert.ok(items.some((i) => i.lang === lang), lang);
});

test('corpus: precision and recall targets', () => {
  const r = JSON.parse(execFileSync(bin, ['scan', '--eval', corpus, '--format', 'json']).toString());
  const validated = group(r.classes, ['id.us_ssn', 'id.us_itin', 'id.de_tax_id', 'id.de_id_card', 'id.fr_nir',
    'id.cn_resident_id', 'id.cn_social_credit_code', 'id.uk_nino', 'fin.credit_card', 'fin.iban']);
  assert.ok(validated.precision >= 0.99 && validated.recall >= 0.98, JSON.stringify(validated));
  const secrets = group(r.classes, ['secret.aws_access_key', 'secret.github_token', 'secret.openai_key',
    'secret.anthropic_key', 'secret.slack_token', 'secret.google_api_key', 'secret.private_key', 'secret.jwt']);
  assert.ok(secrets.precision >= 0.98 && secrets.recall >= 0.95, JSON.stringify(secrets));
  assert.ok(r.overall.precision >= 0.97 && r.overall.recall >= 0.95, JSON.stringify(r.overall));
});

test('benign Debian text: at most 1 false positive per MB', () => {
  const parts = [];
  const add = (file, gz = false) => {
    try { parts.push(gz ? zlib.gunzipSync(fs.readFileSync(file)) : fs.readFileSync(file)); } catch { /* skip */ }
  };
  const list = (dir) => { try { return fs.readdirSync(dir); } catch { return []; } };
  for (const f of list('/usr/share/common-licenses')) add(path.join('/usr/share/common-licenses', f));
  // Minimal images may ship without man pages: then licenses and headers are the benign text.
  for (const f of list('/usr/share/man/man1').filter((f) => f.endsWith('.gz')).sort().slice(0, 400)) {
    add(path.join('/usr/share/man/man1', f), true);
  }
  const cxx = '/usr/include/c++/12';
  for (const f of fs.readdirSync(cxx)) if (fs.statSync(path.join(cxx, f)).isFile()) add(path.join(cxx, f));
  for (const f of fs.readdirSync(path.join(cxx, 'bits'))) add(path.join(cxx, 'bits', f));
  const text = Buffer.concat(parts);
  const file = path.join(os.tmpdir(), `warden-benign-${process.pid}.txt`);
  fs.writeFileSync(file, text);
  const out = execFileSync(bin, ['scan', '--format', 'json', file], { maxBuffer: 64 << 20 }).toString();
  fs.rmSync(file);
  const findings = out.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l));
  const mb = text.length / 1e6;
  // Addresses in these texts are real (authors' e-mail, example networks, private ones among
  // them): counted apart.
  const ip = (f) => f.class === 'pii.ip_address' || f.class === 'pii.ip_address.private';
  const fp = findings.filter((f) => f.class !== 'pii.email' && !ip(f));
  const ips = findings.filter(ip);
  console.log(`benign: ${mb.toFixed(1)} MB, ${fp.length} findings outside e-mail/IP, ${ips.length} IP addresses`);
  assert.ok(mb > 1, 'enough benign text');
  assert.ok(fp.length / mb <= 1, `${fp.length} false positives in ${mb.toFixed(1)} MB`);
  assert.ok(ips.length / mb <= 3, `${ips.length} IP findings in ${mb.toFixed(1)} MB`);
});
