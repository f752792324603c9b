// An upstream named by a host name whose DNS does not answer: the lookup is bounded by the
// provider's connect_ms like a connect, so the request fails over to the next deployment (an
// address, which needs no lookup) instead of waiting for the DNS. A getaddrinfo preloaded into
// the gateway (tests/tools/stall_resolver.c) holds the name until the test lets it go.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { KEY, chatBody, stallResolver, startStack } from './harness.mjs';

const host = 'stalled-upstream.invalid';
let stack;
let dir;
let gate;
before(async () => {
  const stall = stallResolver(host);
  ({ dir, gate } = stall);
  stack = await startStack({
    server: { workers: 1 },
    env: stall.env,
    providers: ({ upstreamPort }) =>
      `  - {name: slowdns, base_url: "http://${host}:${upstreamPort}/v1", retries: 0, timeouts: {connect_ms: 300}}\n`,
    models: `  - name: dns-then-ok
    developer: Test
    origin: EU
    kinds: [chat]
    deployments:
      - {name: dns-a, provider: slowdns, upstream_model: test-1, operator: Test, jurisdiction: DE, region: eu}
      - {name: dns-b, provider: up, upstream_model: test-b, operator: Test, jurisdiction: DE, region: eu}
`,
  });
});
after(async () => {
  fs.writeFileSync(gate, '');  // a held lookup would hold the worker's shutdown
  await stack.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

const chat = () => fetch(`${stack.url}/v1/chat/completions`, {
  method: 'POST',
  headers: { 'content-type': 'application/json', authorization: `Bearer ${KEY}` },
  body: JSON.stringify(chatBody('dns-then-ok')),
});

// The answer, or 'held' when it did not come while the lookup was held: the gate is then opened
// (so that the request can end) — a hang guard, not a time the test measures.
async function whileHeld(pending) {
  let guard;
  const held = new Promise((r) => { guard = setTimeout(() => r('held'), 30_000); });
  const first = await Promise.race([pending, held]);
  clearTimeout(guard);
  if (first === 'held') fs.writeFileSync(gate, '');
  return first;
}

test('a DNS that does not answer for an upstream: the request fails over within connect_ms, twice', async () => {
  const pending = chat();
  for (let i = 0; i < 400 && !fs.existsSync(`${gate}.entered`); i++) await new Promise((r) => setTimeout(r, 25));
  assert.ok(fs.existsSync(`${gate}.entered`), 'the gateway looks the name up');
  const r = await whileHeld(pending);
  assert.notEqual(r, 'held', 'answered while the lookup still hangs');
  assert.equal(r.status, 200);
  await r.arrayBuffer();
  assert.deepEqual(stack.upstream.requests.map((q) => q.body.model), ['test-b'], 'served by the next deployment');
  // The resolver's thread is still held by the first lookup: the next one waits behind it, and is
  // bounded the same way.
  const again = await whileHeld(chat());
  assert.notEqual(again, 'held', 'the second request too');
  assert.equal(again.status, 200);
  await again.arrayBuffer();
  assert.ok(!fs.existsSync(gate), 'all while the lookup was held');
  const metrics = await (await fetch(`http://127.0.0.1:${stack.adminPort}/metrics`)).text();
  assert.match(metrics, /^warden_upstream_errors_total\{provider="slowdns",reason="[a-z_]+"\} 2$/m);
});

test('warden check refuses a port beyond 65535 in a base_url', async () => {
  const { spawnSync } = await import('node:child_process');
  const bin = process.env.WARDEN_BIN ?? new URL('../../build/warden', import.meta.url).pathname;
  const bad = path.join(dir, 'bad.yaml');
  fs.writeFileSync(bad, fs.readFileSync(stack.configPath, 'utf8').replace(`${host}:`, `${host}:99999#`));
  const r = spawnSync(bin, ['check', bad], { encoding: 'utf8' });
  assert.equal(r.status, 1);
  assert.match(r.stderr, /'base_url' has an invalid port/);
});
