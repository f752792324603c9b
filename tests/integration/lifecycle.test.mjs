// Reload (SIGHUP and file change) and graceful shutdown (SIGTERM).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { test } from 'node:test';
import { KEY, chatBody, configYaml, startStack } from './harness.mjs';

const chat = (stack, model) => fetch(`${stack.url}/v1/chat/completions`, {
  method: 'POST',
  headers: { 'content-type': 'application/json', authorization: `Bearer ${KEY}` },
  body: JSON.stringify(chatBody(model)),
});

async function waitFor(cond, ms = 10000) {  // an upper bound for a loaded machine, not a target
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 50));
  }
  return true;
}

test('SIGHUP publishes a valid configuration and rejects an invalid one', async () => {
  const stack = await startStack();
  try {
    assert.equal((await chat(stack, 'chat-renamed')).status, 404);
    const renamed = configYaml(stack.params).replace('  - name: chat\n', '  - name: chat-renamed\n');
    fs.writeFileSync(stack.configPath, renamed);
    stack.proc.kill('SIGHUP');
    assert.ok(await waitFor(async () => (await chat(stack, 'chat-renamed')).status === 200),
      'the new model serves within a second or so');
    assert.equal((await chat(stack, 'chat')).status, 404);

    // An invalid file is rejected with file:line, and the last good snapshot keeps serving.
    fs.writeFileSync(stack.configPath, renamed.replace('providers:', 'providerz:'));
    stack.proc.kill('SIGHUP');
    assert.ok(await waitFor(() => stack.logs.stderr.includes('reload rejected')));
    assert.match(stack.logs.stderr, /warden\.yaml:\d+: unknown key 'providerz'/);
    assert.equal((await chat(stack, 'chat-renamed')).status, 200);
    const metrics = await (await fetch(`http://127.0.0.1:${stack.adminPort}/metrics`)).text();
    assert.match(metrics, /warden_config_reload_failures_total [1-9]/);
  } finally {
    await stack.stop();
  }
});

test('a changed file is picked up without a signal', async () => {
  const stack = await startStack();
  try {
    const renamed = configYaml(stack.params).replace('  - name: chat\n', '  - name: chat-file\n');
    fs.writeFileSync(stack.configPath, renamed);
    assert.ok(await waitFor(async () => (await chat(stack, 'chat-file')).status === 200, 2000));
  } finally {
    await stack.stop();
  }
});

test('a file written slowly is reloaded once, whole, never part-way', async () => {
  const stack = await startStack();
  try {
    const renamed = Buffer.from(configYaml(stack.params).replace('  - name: chat\n', '  - name: chat-slow\n'));
    // An editor writing in place: truncated, then a piece every 20 ms (polls are 250 ms apart,
    // so every poll during the write reads a different, partial file).
    const fd = fs.openSync(stack.configPath, 'w');
    for (let at = 0; at < renamed.length; at += 256) {
      fs.writeSync(fd, renamed.subarray(at, at + 256));
      await new Promise((r) => setTimeout(r, 20));
    }
    fs.closeSync(fd);
    assert.ok(await waitFor(async () => (await chat(stack, 'chat-slow')).status === 200, 3000));
    const metrics = await (await fetch(`http://127.0.0.1:${stack.adminPort}/metrics`)).text();
    assert.match(metrics, /warden_config_reloads_total 1\n/);
    assert.match(metrics, /warden_config_reload_failures_total 0\n/, stack.logs.stderr);
  } finally {
    await stack.stop();
  }
});

test('a strict record still queued when the grace period ends is committed, and the process exits cleanly', async () => {
  // Freed memory is overwritten (glibc), so that a callback posted to a worker already
  // destroyed would not go unnoticed.
  const saved = [process.env.MALLOC_PERTURB_, process.env.GLIBC_TUNABLES];
  process.env.MALLOC_PERTURB_ = '165';
  process.env.GLIBC_TUNABLES = 'glibc.malloc.tcache_count=0';
  const stack = await startStack({ audit: 'strict', server: { shutdown_grace_ms: 300 } });
  for (const [k, v] of [['MALLOC_PERTURB_', saved[0]], ['GLIBC_TUNABLES', saved[1]]]) {
    if (v === undefined) delete process.env[k]; else process.env[k] = v;
  }
  const sql = (q) => execFileSync('sqlite3', ['-cmd', '.timeout 5000', stack.auditDb, q]);
  try {
    assert.equal((await chat(stack, 'chat')).status, 200);
    sql('ALTER TABLE audit RENAME TO audit_gone');  // the store fails: the next record waits
    const inflight = chat(stack, 'chat').catch(() => null);
    await new Promise((r) => setTimeout(r, 300));
    stack.proc.kill('SIGTERM');
    // The grace period ends with the request still waiting for its commit; the workers stop.
    await new Promise((r) => setTimeout(r, 1000));
    sql('ALTER TABLE audit_gone RENAME TO audit');  // the writer commits it on its way out
    const { code, signal } = await stack.exited;
    await inflight;
    assert.equal(signal, null, stack.logs.stderr);
    assert.equal(code, 0, stack.logs.stderr);
    assert.match(stack.logs.stderr, /"stopped"/);
  } finally {
    await stack.stop();
  }
});

test('SIGTERM stops accepting, finishes in-flight requests, then exits', async () => {
  const stack = await startStack();
  // 'stall' times out upstream after 300 ms: it is in flight when SIGTERM arrives.
  const inflight = chat(stack, 'stall');
  await new Promise((r) => setTimeout(r, 100));
  stack.proc.kill('SIGTERM');
  const res = await inflight;
  assert.equal(res.status, 504, 'the in-flight request got its answer');
  const { code } = await stack.exited;
  assert.equal(code, 0);
  await assert.rejects(fetch(`${stack.url}/v1/models`, { headers: { authorization: `Bearer ${KEY}` } }));
  await stack.stop();
});
