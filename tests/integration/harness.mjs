// Starts the real warden binary in front of the test upstream, on ephemeral 127.0.0.1 ports.
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { startUpstream } from '../upstream/fake_openai.mjs';

export const KEY = 'sk-test-alice';
// The key the `anthropic` provider sends upstream (x-api-key); every warden this process starts
// (serve, check, replay) reads it from the environment.
export const UPSTREAM_KEY = 'sk-upstream-test';
process.env.WARDEN_TEST_UPSTREAM_KEY = UPSTREAM_KEY;
const sha = (s) => crypto.createHash('sha256').update(s).digest('hex');

export async function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => resolve(p)); });
  });
}

// `listen`: YAML for the client listeners in place of the one plain `listen` line (TLS tests);
// `extra`: top-level sections appended (a string, or in startStack a function of {port, dir});
// `rules`: policy rules (YAML list items) before the others; `models`: more models (YAML list
// items) after the others; `providers`: more providers (YAML list items) after the others.
export function configYaml({ port, adminPort, upstreamPort, deadPort, server = {}, audit = 'batched',
  auditPostgres = '', auditInstance = 'it', auditExtra = '', keysExtra = '', listen = '', extra = '', rules = '',
  models = '', providers = '' }) {
  const srv = {
    workers: 2, header_timeout_ms: 500, body_timeout_ms: 1000, idle_timeout_ms: 5000,
    max_body_bytes: 65536, max_header_bytes: 4096, shutdown_grace_ms: 3000, ...server,
  };
  const dep = (name, provider, upstream) =>
    `      - {name: ${name}, provider: ${provider}, upstream_model: ${upstream}, operator: Test, jurisdiction: DE, region: eu}`;
  const model = (name, kinds, ...deps) =>
    `  - name: ${name}\n    developer: Test\n    origin: EU\n    kinds: [${kinds}]\n    deployments:\n${deps.join('\n')}`;
  return `server:
${listen || `  listen: 127.0.0.1:${port}`}
${Object.entries(srv).map(([k, v]) => `  ${k}: ${v}`).join('\n')}
admin:
  listen: 127.0.0.1:${adminPort}
log:
  requests: true
audit:
  durability: ${audit}
  instance: ${auditInstance}${auditPostgres ? `\n  postgres: "${auditPostgres}"` : ''}${auditExtra ? `\n${auditExtra}` : ''}
inspect:
  hold_back_bytes: 64
  actions: {secret: block, pii.email: pseudonymise, pii.phone: mask, fin: mask, custom.project: block, pii.ip_address: allow}
  custom:
    - {name: project, words: [Bluebird]}
policy:
  rules:
${rules}    - {id: allow-all, effect: permit}
    - {id: no-ssn-in-answers, effect: output, action: end, classes: [id.us_ssn]}
    - {id: mask-tax-ids-in-answers, effect: output, action: mask, classes: [id.de_tax_id]}
    - id: end-cards-on-fo-out-b
      effect: output
      action: end
      classes: [fin.credit_card]
      when: [{attr: deployment.name, op: in, values: [fo-out-b, claude-end-a, resp-end-a]}]
    - id: mask-ips-for-strict-ip
      effect: transform
      action: mask
      classes: [pii.ip_address]
      when: [{attr: model.name, op: in, values: [strict-ip]}]
    - id: server-tools-for-resp-tools
      effect: permit
      when: [{attr: model.name, op: in, values: [resp-tools]}, {attr: data.classes, op: any, values: [uninspectable.server_tools]}]
    - id: token-ids-for-tokens-ok
      effect: permit
      when: [{attr: model.name, op: in, values: [tokens-ok]}, {attr: data.classes, op: any, values: [uninspectable.tokens]}]
providers:
  - {name: up, base_url: "http://127.0.0.1:${upstreamPort}/v1", retries: 2, backoff_ms: 10}
  - name: up-short
    base_url: http://127.0.0.1:${upstreamPort}/v1
    retries: 0
    timeouts: {first_byte_ms: 300, idle_ms: 300}
  - {name: anth, kind: anthropic, base_url: "http://127.0.0.1:${upstreamPort}/v1", api_key_env: WARDEN_TEST_UPSTREAM_KEY, retries: 0}
  - {name: dead, base_url: "http://127.0.0.1:${deadPort}/v1", retries: 1, backoff_ms: 10, timeouts: {connect_ms: 500}}
${providers}models:
${model('chat', 'chat, completion', dep('chat-main', 'up', 'test-1'))}
${model('embed', 'embedding', dep('embed-main', 'up', 'test-embed'))}
${model('retry503', 'chat', dep('retry503-a', 'up', 'flaky-503-2'))}
${model('failover429', 'chat', dep('f429-a', 'up', 'status-429'), dep('f429-b', 'up', 'test-b'))}
${model('always429', 'chat', dep('a429', 'up', 'status-429'))}
${model('refused', 'chat', dep('refused-a', 'dead', 'test-1'))}
${model('refused-then-ok', 'chat', dep('rto-a', 'dead', 'test-1'), dep('rto-b', 'up', 'test-b'))}
${model('stall', 'chat', dep('stall-a', 'up-short', 'stall'))}
${model('stall-long', 'chat', dep('stall-long-a', 'up', 'stall'))}
${model('reset', 'chat', dep('reset-a', 'up', 'reset-mid-stream'))}
${model('badsse', 'chat', dep('badsse-a', 'up', 'bad-sse'))}
${model('slow', 'chat', dep('slow-a', 'up', 'slow-stream'))}
${model('status400', 'chat', dep('s400', 'up', 'status-400'))}
${model('status500', 'chat', dep('s500', 'up', 'status-500'))}
${model('status401', 'chat', dep('s401', 'up', 'status-401'))}
${model('echo', 'chat, completion', dep('echo-a', 'up', 'echo'))}
${model('echo-cut', 'chat', dep('echo-cut-a', 'up', 'echo-then-cut'))}
${model('leak', 'chat', dep('leak-a', 'up', 'leak'))}
${model('raw-te-gzip', 'chat', dep('raw-te-gzip-a', 'up-short', 'raw-te-gzip'))}
${model('raw-te-gzip-chunked', 'chat', dep('raw-te-gzip-chunked-a', 'up-short', 'raw-te-gzip-chunked'))}
${model('raw-obs-fold', 'chat', dep('raw-obs-fold-a', 'up-short', 'raw-obs-fold'))}
${model('fields', 'chat', dep('fields-a', 'up', 'fields'))}
${model('error-echo', 'chat', dep('error-echo-a', 'up', 'error-echo'))}
${model('error-text', 'chat', dep('error-text-a', 'up', 'error-text'))}
${model('fo-out', 'chat', dep('fo-out-a', 'up', 'status-503'), dep('fo-out-b', 'up', 'leak'))}
${model('strict-ip', 'chat', dep('strict-ip-a', 'up', 'echo'))}
${model('tokens-ok', 'completion, embedding', dep('tokens-ok-a', 'up', 'test-tokens'))}
${model('claude', 'messages', dep('claude-a', 'anth', 'test-claude'))}
${model('claude-echo', 'messages', dep('claude-echo-a', 'anth', 'echo'))}
${model('claude-leak', 'messages', dep('claude-leak-a', 'anth', 'leak'))}
${model('claude-fields', 'messages', dep('claude-fields-a', 'anth', 'fields'))}
${model('claude-400', 'messages', dep('claude-400-a', 'anth', 'status-400'))}
${model('claude-end', 'messages', dep('claude-end-a', 'anth', 'leak'))}
${model('resp-end', 'responses', dep('resp-end-a', 'up', 'leak'))}
${model('chat-only', 'chat, messages', dep('chat-only-a', 'up', 'test-1'))}
${model('claude-wide', 'messages, responses', dep('claude-wide-a', 'anth', 'test-claude'))}
${model('resp', 'responses, chat', dep('resp-a', 'up', 'test-resp'))}
${model('resp-echo', 'responses', dep('resp-echo-a', 'up', 'echo'))}
${model('resp-leak', 'responses', dep('resp-leak-a', 'up', 'leak'))}
${model('resp-fields', 'responses', dep('resp-fields-a', 'up', 'fields'))}
${model('resp-invented', 'responses', dep('resp-invented-a', 'up', 'invented'))}
${model('resp-400', 'responses', dep('resp-400-a', 'up', 'status-400'))}
${model('resp-tools', 'responses', dep('resp-tools-a', 'up', 'test-resp'))}
${model('resp-bound', 'responses', dep('resp-bound-a', 'up', 'bound-a'), dep('resp-bound-b', 'up', 'bound-b'))}
${model('resp-bound-fields', 'responses', dep('resp-bound-fields-a', 'up', 'fields'))}
${model('claude-think', 'messages', dep('claude-think-a', 'anth', 'think'), dep('claude-think-b', 'anth', 'think'))}
  - name: gpt-tokens
    developer: Test
    origin: EU
    kinds: [completion, embedding]
    tokenizer: o200k_base
    deployments:
${dep('gpt-tokens-a', 'up', 'test-gpt')}
${models}keys:
  - sha256: ${sha(KEY)}
    principal: {id: alice, kind: person, team: research, clearance: internal}
${keysExtra}${extra}`;
}

// A getaddrinfo preloaded into a gateway started with `env` (tests/tools/stall_resolver.c): it
// holds `host` until the file `gate` exists, then answers that the name is unknown; `gate`.entered
// appears once a lookup is held. `dir` is the test's own directory.
export function stallResolver(host) {
  const lib = process.env.STALL_RESOLVER_LIB ?? new URL('../../build/tests/libstall_resolver.so', import.meta.url).pathname;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-dns-'));
  const gate = path.join(dir, 'gate');
  return { dir, gate, env: { LD_PRELOAD: lib, WARDEN_STALL_HOST: host, WARDEN_STALL_GATE: gate } };
}

export async function startStack(opts = {}) {
  const upstream = await startUpstream();
  const [port, adminPort, deadPort] = [await freePort(), await freePort(), await freePort()];
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-it-'));
  const configPath = path.join(dir, 'warden.yaml');
  const params = { port, adminPort, upstreamPort: upstream.port, deadPort, server: opts.server, audit: opts.audit ?? 'batched',
    auditPostgres: opts.auditPostgres ?? '', auditInstance: opts.auditInstance ?? 'it', auditExtra: opts.auditExtra ?? '',
    keysExtra: opts.keysExtra ?? '', extra: opts.extra ?? '', models: opts.models ?? '',
    providers: typeof opts.providers === 'function' ? opts.providers({ upstreamPort: upstream.port }) : opts.providers ?? '' };
  // Listeners may name the stack's port; `extra` may be a function of it too (identity).
  if (opts.listen) params.listen = opts.listen({ port, dir });
  if (typeof opts.extra === 'function') params.extra = opts.extra({ port, dir });
  if (opts.rules) params.rules = opts.rules;
  fs.writeFileSync(configPath, configYaml(params));
  const bin = process.env.WARDEN_BIN ?? new URL('../../build/warden', import.meta.url).pathname;
  const proc = spawn(bin, ['serve', '--config', configPath],
    { stdio: ['ignore', 'pipe', 'pipe'], env: opts.env ? { ...process.env, ...opts.env } : process.env });
  const logs = { stdout: '', stderr: '' };
  proc.stdout.on('data', (d) => { logs.stdout += d; });
  proc.stderr.on('data', (d) => { logs.stderr += d; });
  proc.on('error', (e) => { logs.stderr += String(e); });
  const exited = new Promise((r) => proc.on('exit', (code, signal) => r({ code, signal })));
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      const r = await fetch(`http://127.0.0.1:${adminPort}/readyz`);
      if (r.ok) break;
    } catch { /* not yet */ }
    if (Date.now() > deadline || proc.exitCode !== null) {
      proc.kill('SIGKILL');
      await upstream.close();
      throw new Error(`warden did not start: ${logs.stderr}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    port, adminPort, upstream, proc, logs, configPath, params, exited,
    url: `http://127.0.0.1:${port}`,
    dir,
    auditDb: path.join(dir, 'warden-audit.db'),
    async stop() {
      if (proc.exitCode === null) proc.kill('SIGTERM');
      await exited;
      await upstream.close();
      if (!opts.keepDir) fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

// Sends raw bytes and returns what came back (until the server closes or `ms` passes).
export function rawRequest(port, chunks, { ms = 3000, gapMs = 0 } = {}) {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    let data = '';
    const started = Date.now();
    const done = () => {
      clearTimeout(timer);
      s.destroy();
      const m = /^HTTP\/1\.1 (\d{3})/.exec(data);
      const sep = data.indexOf('\r\n\r\n');
      resolve({ status: m ? Number(m[1]) : 0, head: data.slice(0, sep), body: data.slice(sep + 4), raw: data, elapsed: Date.now() - started });
    };
    const timer = setTimeout(done, ms);
    s.on('data', (d) => { data += d.toString('latin1'); });
    s.on('close', done);
    s.on('error', () => {});
    s.on('connect', async () => {
      for (const c of [].concat(chunks)) {
        if (s.destroyed) return;
        s.write(c);
        if (gapMs) await new Promise((r) => setTimeout(r, gapMs));
      }
    });
  });
}

export function post(path, body, { headers = {}, key = KEY } = {}) {
  const payload = typeof body === 'string' ? body : JSON.stringify(body);
  const h = { 'Content-Type': 'application/json', Authorization: `Bearer ${key}`, ...headers };
  return `POST ${path} HTTP/1.1\r\nHost: x\r\n${Object.entries(h).map(([k, v]) => `${k}: ${v}\r\n`).join('')}Content-Length: ${Buffer.byteLength(payload)}\r\nConnection: close\r\n\r\n${payload}`;
}

export const chatBody = (model = 'chat', extra = {}) => ({
  model, messages: [{ role: 'user', content: 'Say hello.' }], ...extra,
});
