// The audit trail end to end: strict durability survives kill -9, a failing store fails closed
// and recovers, and replay reports what a candidate policy would change.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import net from 'node:net';
import { KEY, chatBody, configYaml, post, rawRequest, startStack } from './harness.mjs';

const bin = process.env.WARDEN_BIN ?? new URL('../../build/warden', import.meta.url).pathname;
const chat = (stack, model, content = 'hello') => fetch(`${stack.url}/v1/chat/completions`, {
  method: 'POST',
  headers: { 'content-type': 'application/json', authorization: `Bearer ${KEY}` },
  body: JSON.stringify({ model, messages: [{ role: 'user', content }] }),
});

function records(db) {
  const out = execFileSync(bin, ['audit', 'export', '--db', db, '--format', 'jsonl'], { maxBuffer: 1 << 28 }).toString();
  return out.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l).record);
}

test('strict: after kill -9 under load, the chain verifies and every completed response has its record', async () => {
  const stack = await startStack({ audit: 'strict', keepDir: true });
  const completed = [];
  let stop = false;
  const clients = Array.from({ length: 8 }, async () => {
    while (!stop) {
      try {
        const r = await chat(stack, 'chat');
        const body = await r.text();
        if (r.status === 200 && body.includes('Warden relayed')) completed.push(r.headers.get('x-request-id'));
      } catch { /* the server died mid-request: not completed */ }
    }
  });
  // Killed once 60 answers are in and more are on their way (a count, not a time: slow machines
  // take longer to get there; the bound only ends a run where nothing completes).
  for (let waited = 0; completed.length < 60 && waited < 60_000; waited += 20) {
    await new Promise((r) => setTimeout(r, 20));
  }
  stack.proc.kill('SIGKILL');
  stop = true;
  await Promise.all(clients);
  await stack.exited;
  try {
    const verify = spawnSync(bin, ['audit', 'verify', '--db', stack.auditDb]);
    assert.equal(verify.status, 0, verify.stdout.toString() + verify.stderr.toString());
    // The documented encoding lets an independent script verify the same chain.
    const script = new URL('../../scripts/verify-audit-chain.py', import.meta.url).pathname;
    const py = spawnSync('python3', [script, stack.auditDb]);
    assert.equal(py.status, 0, py.stdout.toString());
    assert.match(py.stdout.toString(), /chain it: \d+ records, whole/);
    const ids = new Set(records(stack.auditDb).map((r) => r.request_id));
    const missing = completed.filter((id) => !ids.has(id));
    assert.ok(completed.length >= 60, `${completed.length} completed`);
    assert.deepEqual(missing, []);
  } finally {
    await stack.upstream.close();
    fs.rmSync(stack.dir, { recursive: true, force: true });
  }
});

test('a failing audit store: strict mode answers 503, holds its records, and recovers', async () => {
  const stack = await startStack({ audit: 'strict' });
  const sql = (q) => execFileSync('sqlite3', ['-cmd', '.timeout 5000', stack.auditDb, q]);
  try {
    assert.equal((await chat(stack, 'chat')).status, 200);
    // The store breaks under the running gateway: its table is gone.
    sql('ALTER TABLE audit RENAME TO audit_gone');
    const during = [];
    for (let i = 0; i < 5; i++) {
      const r = await chat(stack, 'chat');
      during.push([r.status, (await r.json()).error?.code]);
    }
    assert.ok(during.every(([s, c]) => s === 503 && c === 'audit_unavailable'), JSON.stringify(during));
    const metrics = await (await fetch(`http://127.0.0.1:${stack.adminPort}/metrics`)).text();
    assert.match(metrics, /warden_audit_failures_total [1-9]/);
    sql('ALTER TABLE audit_gone RENAME TO audit');
    let ok = false;
    for (let i = 0; i < 100 && !ok; i++) {
      ok = (await chat(stack, 'chat')).status === 200;
      if (!ok) await new Promise((r) => setTimeout(r, 50));
    }
    assert.ok(ok, 'recovers');
    const verify = spawnSync(bin, ['audit', 'verify', '--db', stack.auditDb]);
    assert.equal(verify.status, 0, verify.stdout.toString());
  } finally {
    await stack.stop();
  }
});

test('replay: a candidate policy that forbids a model reports permit -> deny and fails the gate', async () => {
  const stack = await startStack({ keepDir: true });
  for (let i = 0; i < 10; i++) assert.equal((await chat(stack, 'chat')).status, 200);
  assert.equal((await chat(stack, 'echo', 'x')).status, 200);
  await stack.stop();  // SIGTERM: batched records are committed on the way out
  const candidate = path.join(stack.dir, 'candidate.yaml');
  fs.writeFileSync(candidate, configYaml(stack.params).replace('    - {id: allow-all, effect: permit}\n',
    '    - {id: allow-all, effect: permit}\n    - {id: chat-banned, effect: forbid, when: [{attr: model.name, op: in, values: [chat]}]}\n'));
  const r = spawnSync(bin, ['replay', '--db', stack.auditDb, '--policy', candidate, '--fail-on', 'deny']);
  const out = r.stdout.toString();
  assert.equal(r.status, 1, out + r.stderr.toString());
  assert.match(out, /permit -> deny:\s+10\b/);
  assert.match(out, /chat-banned: 10/);
  assert.match(out, /unchanged:\s+1\b/);
  const same = spawnSync(bin, ['replay', '--db', stack.auditDb, '--policy', stack.configPath, '--fail-on', 'deny']);
  assert.equal(same.status, 0, same.stdout.toString());
  const csv = execFileSync(bin, ['audit', 'export', '--db', stack.auditDb, '--format', 'csv', '--model', 'echo']).toString();
  assert.equal(csv.trim().split('\n').length, 2);  // header + one record
  fs.rmSync(stack.dir, { recursive: true, force: true });
});

test('refusals at the door are recorded, counted per address, reason and second rather than one record each', async () => {
  const stack = await startStack({ keepDir: true, server: { max_connections_per_address: 3 } });
  const send = async (request, expected) => {
    const r = await rawRequest(stack.port, request);
    assert.equal(r.status, expected, r.raw.slice(0, 200));
  };
  const held = [];
  try {
    for (let i = 0; i < 40; i++) await send(post('/v1/chat/completions', chatBody(), { key: `sk-wrong-${i}` }), 401);
    for (let i = 0; i < 10; i++) await send(post('/v1/chat/completions', chatBody(), { headers: { Authorization: '' } }), 401);
    await send(`GET /v1/models HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(5000)}\r\n\r\n`, 431);
    await send('POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n folded\r\nContent-Length: 2\r\n\r\n{}', 400);
    await send(post('/v1/chat/completions', { ...chatBody(), pad: 'x'.repeat(70_000) }), 413);
    // Three connections held, each accepted for sure (it answered); the fourth is closed at accept.
    for (let i = 0; i < 3; i++) {
      const s = net.connect(stack.port, '127.0.0.1');
      s.on('error', () => {});
      await new Promise((r) => s.once('data', r).write(post('/v1/chat/completions', chatBody()).replace('Connection: close\r\n', '')));
      held.push(s);
    }
    await send(post('/v1/chat/completions', chatBody()), 0);
  } finally {
    for (const s of held) s.destroy();
    await stack.stop();
  }
  const recs = records(stack.auditDb);
  const door = recs.filter((r) => r.decision === 'refused');
  const total = (error, status) => door.filter((r) => r.error === error && r.status === status)
    .reduce((n, r) => n + r.count, 0);
  assert.equal(total('invalid_api_key', 401), 50);
  assert.equal(total('headers_too_large', 431), 1);
  assert.equal(total('bad_http', 400), 1);
  assert.equal(total('payload_too_large', 413), 1);
  assert.equal(total('connections_per_address', 0), 1);
  for (const r of door) {
    assert.equal(r.remote_address, '127.0.0.1');
    assert.ok(r.v >= 5, `v${r.v}`);
    assert.equal(r.principal_id, '');
  }
  // One record per address, reason and status for each second, not one per refusal.
  const byKey = new Map();
  for (const r of door) byKey.set(`${r.error}/${r.status}`, [...(byKey.get(`${r.error}/${r.status}`) ?? []), r.ts_ms]);
  for (const [key, times] of byKey) {
    times.sort((a, b) => a - b);
    for (let i = 1; i < times.length; i++) assert.ok(times[i] - times[i - 1] >= 1000, `${key}: ${times}`);
  }
  // The requests that got in have their own records; no refused request has one of its own.
  assert.equal(recs.filter((r) => r.decision !== 'refused' && r.status === 200).length, 3);
  assert.equal(recs.filter((r) => r.decision !== 'refused' && r.status >= 400).length, 0);
  const verify = spawnSync(bin, ['audit', 'verify', '--db', stack.auditDb]);
  assert.equal(verify.status, 0, verify.stdout.toString());
  const script = new URL('../../scripts/verify-audit-chain.py', import.meta.url).pathname;
  assert.equal(spawnSync('python3', [script, stack.auditDb]).status, 0);
  fs.rmSync(stack.dir, { recursive: true, force: true });
});
