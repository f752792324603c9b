// The audit trail end to end: strict durability survives kill -9, a failing store fails closed
// and recovers, and replay reports what a candidate policy would change.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { KEY, configYaml, startStack } from './harness.mjs';

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
