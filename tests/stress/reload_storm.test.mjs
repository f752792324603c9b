// A reload storm under load: many concurrent clients send chat requests (whole and streamed, with
// an e-mail address to pseudonymise) through Warden to an HTTPS provider (the test upstream with
// a certificate from a private CA made with the openssl CLI), while the configuration is
// rewritten every 100 ms — alternating between two versions whose deployment, hold-back window,
// custom detectors and provider settings differ — and reloaded each time (file watch and
// SIGHUP). Every request must succeed with the client's own text back; both versions must have
// served requests; no reload may be rejected; Warden must stop cleanly. Run under a sanitizer
// build (`make test-asan`), where any report fails the run (scripts/sanitized).
//   RELOAD_STORM_SECONDS (default 60), RELOAD_STORM_CLIENTS (default 32)
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { startUpstream } from '../upstream/fake_openai.mjs';
import { KEY, freePort } from '../integration/harness.mjs';

const seconds = Number(process.env.RELOAD_STORM_SECONDS ?? 60);
const clients = Number(process.env.RELOAD_STORM_CLIENTS ?? 32);
const bin = process.env.WARDEN_BIN ?? new URL('../../build/warden', import.meta.url).pathname;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// A CA and a certificate it signed for localhost, with the openssl CLI.
function makeCa(dir) {
  const f = (n) => path.join(dir, n);
  const run = (...args) => execFileSync('openssl', args, { stdio: 'ignore' });
  run('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=Warden Test CA',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign',
    '-keyout', f('ca.key'), '-out', f('ca.crt'));
  run('req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=localhost', '-keyout', f('server.key'),
    '-out', f('server.csr'));
  fs.writeFileSync(f('ext.cnf'), 'subjectAltName=DNS:localhost\nextendedKeyUsage=serverAuth\n');
  run('x509', '-req', '-in', f('server.csr'), '-CA', f('ca.crt'), '-CAkey', f('ca.key'),
    '-CAcreateserial', '-days', '2', '-extfile', f('ext.cnf'), '-out', f('server.crt'));
  return { ca: f('ca.crt'), key: fs.readFileSync(f('server.key')), cert: fs.readFileSync(f('server.crt')) };
}

function config({ port, adminPort, upstreamPort, ca, dir }, version) {
  const b = version === 'b';
  return `server:
  listen: 127.0.0.1:${port}
  workers: 2
  header_timeout_ms: 20000
  body_timeout_ms: 20000
  idle_timeout_ms: 20000
admin:
  listen: 127.0.0.1:${adminPort}
log:
  requests: false
audit:
  path: ${path.join(dir, 'audit.db')}
  instance: storm
inspect:
  hold_back_bytes: ${b ? 128 : 64}
  actions: {pii.email: pseudonymise, custom.project: mask}
  custom:
    - {name: project, words: [${b ? 'Bluebird, Nachtfalke' : 'Bluebird'}]}
policy:
  rules:
    - {id: allow-${version}, effect: permit}
providers:
  - name: tls-up
    base_url: https://localhost:${upstreamPort}/v1
    retries: ${b ? 1 : 0}
    max_idle_connections: ${b ? 4 : 64}
    tls: {ca_file: "${ca}"}
    timeouts: {connect_ms: ${b ? 9000 : 10000}}
models:
  - name: chat
    developer: Test
    origin: EU
    deployments:
      - {name: storm-${version}, provider: tls-up, upstream_model: echo, operator: Test, jurisdiction: DE, region: eu}
keys:
  - sha256: ${crypto.createHash('sha256').update(KEY).digest('hex')}
    principal: {id: storm, kind: service}
`;
}

test(`reload storm: ${clients} clients, configuration rewritten every 100 ms for ${seconds} s, HTTPS provider`, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-storm-'));
  const tls = makeCa(dir);
  const upstream = await startUpstream({ tls: { key: tls.key, cert: tls.cert } });
  const params = { port: await freePort(), adminPort: await freePort(), upstreamPort: upstream.port, ca: tls.ca, dir };
  const configPath = path.join(dir, 'warden.yaml');
  fs.writeFileSync(configPath, config(params, 'a'));
  const proc = spawn(bin, ['serve', '--config', configPath], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  proc.stderr.on('data', (d) => { stderr += d; });
  const exited = new Promise((r) => proc.on('exit', (code, signal) => r({ code, signal })));
  const base = `http://127.0.0.1:${params.port}`;
  for (let i = 0; ; i++) {
    try { if ((await fetch(`http://127.0.0.1:${params.adminPort}/readyz`)).ok) break; } catch { /* not yet */ }
    assert.ok(i < 600 && proc.exitCode === null, `warden did not start: ${stderr}`);
    await sleep(50);
  }

  const deadline = Date.now() + seconds * 1000;
  let rewrites = 0;
  const rewriter = (async () => {
    while (Date.now() < deadline) {
      await sleep(100);
      const next = path.join(dir, 'warden.yaml.next');
      fs.writeFileSync(next, config(params, ++rewrites % 2 ? 'b' : 'a'));
      fs.renameSync(next, configPath);  // whole files only: a reader never sees half of one
      proc.kill('SIGHUP');
    }
  })();

  const served = new Map();  // deployment → requests it served
  const failures = [];
  let requests = 0;
  const client = async (c) => {
    for (let i = 0; Date.now() < deadline; i++) {
      const stream = i % 2 === 1;
      const text = `Client ${c} request ${i}: write to storm-${c}-${i}@example.com about Bluebird.`;
      requests++;
      try {
        const r = await fetch(`${base}/v1/chat/completions`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${KEY}` },
          body: JSON.stringify({ model: 'chat', stream, messages: [{ role: 'user', content: text }] }),
        });
        const body = await r.text();
        const deployment = r.headers.get('x-warden-deployment');
        served.set(deployment, (served.get(deployment) ?? 0) + 1);
        if (r.status !== 200) throw new Error(`status ${r.status}: ${body.slice(0, 300)}`);
        let got = '';
        if (stream) {
          assert.ok(body.endsWith('data: [DONE]\n\n'), 'the stream ends with [DONE]');
          for (const line of body.split('\n')) {
            if (!line.startsWith('data: ') || line === 'data: [DONE]') continue;
            const e = JSON.parse(line.slice(6));
            if (e.error) throw new Error(`error event: ${line}`);
            got += e.choices?.[0]?.delta?.content ?? '';
          }
        } else {
          got = JSON.parse(body).choices[0].message.content;
        }
        // The custom word is masked in what was sent and so in the echo; the address went up as
        // a pseudonym and came back restored.
        const expected = text.replace('Bluebird', '[PROJECT]');
        if (got !== expected) throw new Error(`answer ${JSON.stringify(got)}, expected ${JSON.stringify(expected)}`);
      } catch (e) {
        failures.push(`client ${c} request ${i} (${stream ? 'stream' : 'whole'}): ${e.message}`);
      }
    }
  };
  await Promise.all([rewriter, ...Array.from({ length: clients }, (_, c) => client(c))]);

  const metrics = await (await fetch(`http://127.0.0.1:${params.adminPort}/metrics`)).text();
  const counter = (name) => Number(new RegExp(`^${name} (\\d+)$`, 'm').exec(metrics)?.[1]);
  proc.kill('SIGTERM');
  const exit = await exited;
  await upstream.close();
  const leaked = upstream.requests.filter((r) => r.raw.includes('@example.com')).length;
  fs.rmSync(dir, { recursive: true, force: true });

  assert.deepEqual(failures.slice(0, 10), [], `${failures.length} of ${requests} requests failed`);
  assert.ok(requests > clients, `requests sent: ${requests}`);
  assert.equal(leaked, 0, 'no e-mail address reached the upstream');
  assert.ok((served.get('storm-a') ?? 0) > 0 && (served.get('storm-b') ?? 0) > 0,
    `both configuration versions served requests: ${JSON.stringify([...served])}`);
  assert.ok(counter('warden_config_reloads_total') > 0, 'reloads were published');
  assert.equal(counter('warden_config_reload_failures_total'), 0, `no reload was rejected: ${stderr.slice(-2000)}`);
  assert.deepEqual(exit, { code: 0, signal: null }, `warden stopped cleanly: ${stderr.slice(-2000)}`);
  console.log(`reload storm: ${requests} requests, ${rewrites} rewrites, ` +
    `${counter('warden_config_reloads_total')} reloads, served by ${JSON.stringify([...served])}`);
});
