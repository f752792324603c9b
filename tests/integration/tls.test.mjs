// HTTPS upstreams: certificate and host-name verification on by default, SNI, a private CA.
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { startUpstream } from '../upstream/fake_openai.mjs';
import { KEY, freePort } from './harness.mjs';
import crypto from 'node:crypto';

const bin = process.env.WARDEN_BIN ?? new URL('../../build/warden', import.meta.url).pathname;
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-tls-'));
let good, wrongName, proc, port, logs = '';

function cert(name, san) {
  const key = path.join(dir, `${name}.key`);
  const crt = path.join(dir, `${name}.crt`);
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', `/CN=${name}`,
    '-addext', `subjectAltName=${san}`, '-keyout', key, '-out', crt], { stdio: 'ignore' });
  return { key: fs.readFileSync(key), cert: fs.readFileSync(crt), crtPath: crt };
}

before(async () => {
  const c1 = cert('localhost', 'DNS:localhost');
  const c2 = cert('elsewhere.example', 'DNS:elsewhere.example');
  good = await startUpstream({ tls: { key: c1.key, cert: c1.cert } });
  wrongName = await startUpstream({ tls: { key: c2.key, cert: c2.cert } });
  port = await freePort();
  const model = (name, provider) => `  - {name: ${name}, developer: T, origin: EU, deployments: [{name: ${name}-d, provider: ${provider}, upstream_model: t, operator: T, jurisdiction: DE, region: r}]}`;
  const config = path.join(dir, 'warden.yaml');
  fs.writeFileSync(config, `server: {listen: "127.0.0.1:${port}", workers: 1}
admin: {enabled: false}
audit: {enabled: false}
policy: {rules: [{id: all, effect: permit}]}
providers:
  - {name: trusted, base_url: "https://localhost:${good.port}/v1", retries: 0, tls: {ca_file: "${c1.crtPath}"}}
  - {name: untrusted-ca, base_url: "https://localhost:${good.port}/v1", retries: 0}
  - {name: wrong-name, base_url: "https://localhost:${wrongName.port}/v1", retries: 0, tls: {ca_file: "${c2.crtPath}"}}
models:
${model('ok', 'trusted')}
${model('unknown-ca', 'untrusted-ca')}
${model('bad-name', 'wrong-name')}
keys:
  - {sha256: ${crypto.createHash('sha256').update(KEY).digest('hex')}, principal: {id: t}}
`);
  proc = spawn(bin, ['serve', '--config', config], { stdio: ['ignore', 'ignore', 'pipe'] });
  proc.stderr.on('data', (d) => { logs += d; });
  for (let i = 0; i < 200; i++) {
    try { await fetch(`http://127.0.0.1:${port}/v1/models`); break; } catch { await new Promise((r) => setTimeout(r, 25)); }
  }
});

after(async () => {
  proc.kill('SIGTERM');
  await good.close();
  await wrongName.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

const chat = (model) => fetch(`http://127.0.0.1:${port}/v1/chat/completions`, {
  method: 'POST',
  headers: { 'content-type': 'application/json', authorization: `Bearer ${KEY}` },
  body: JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }] }),
});

test('a certificate from the configured CA, for the right host name, is accepted', async () => {
  const r = await chat('ok');
  assert.equal(r.status, 200, logs);
  assert.equal(good.requests.at(-1).headers.host, `localhost:${good.port}`);
});

test('an unknown CA is refused (502), and so is a certificate for another host name', async () => {
  const before = good.requests.length;
  assert.equal((await chat('unknown-ca')).status, 502);
  assert.equal(good.requests.length, before, 'nothing was sent over the unverified connection');
  assert.equal((await chat('bad-name')).status, 502);
  assert.equal(wrongName.requests.length, 0);
});
