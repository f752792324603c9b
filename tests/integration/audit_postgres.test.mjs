// The PostgreSQL audit store: a real server started by scripts/test-services (make test).
// Chains verify; tampering is found; the server going away fails closed and recovers.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { test } from 'node:test';
import os from 'node:os';
import path from 'node:path';
import { KEY, startStack } from './harness.mjs';
import { leafHash, signatureHolds, startWitness, verifyInclusion } from './witness.mjs';

const bin = process.env.WARDEN_BIN ?? new URL('../../build/warden', import.meta.url).pathname;
const conninfo = process.env.WARDEN_TEST_POSTGRES ??
  'host=127.0.0.1 port=5432 dbname=warden_test user=warden password=warden';
const psql = (sql) => execFileSync('psql', [conninfo, '-qtAc', sql]).toString().trim();
const pgVersion = fs.readdirSync('/usr/lib/postgresql').sort((a, b) => a - b).at(-1);
const asRoot = (args) => execFileSync(process.getuid() === 0 ? args[0] : 'sudo', process.getuid() === 0 ? args.slice(1) : args);
const chat = (stack) => fetch(`${stack.url}/v1/chat/completions`, {
  method: 'POST',
  headers: { 'content-type': 'application/json', authorization: `Bearer ${KEY}` },
  body: JSON.stringify({ model: 'chat', messages: [{ role: 'user', content: 'hello' }] }),
});

test('two instances write their own chains into one database; tampering is found', async () => {
  psql('DROP TABLE IF EXISTS audit, audit_tree, audit_checkpoint, audit_cosignature, audit_anchor, audit_attrs');
  const a = await startStack({ audit: 'strict', auditPostgres: conninfo, auditInstance: 'gw-a' });
  const b = await startStack({ audit: 'batched', auditPostgres: conninfo, auditInstance: 'gw-b' });
  try {
    for (let i = 0; i < 20; i++) {
      assert.equal((await chat(a)).status, 200);
      assert.equal((await chat(b)).status, 200);
    }
  } finally {
    await a.stop();
    await b.stop();
  }
  const ok = spawnSync(bin, ['audit', 'verify', '--db', `postgres:${conninfo}`]);
  const out = ok.stdout.toString();
  assert.equal(ok.status, 0, out + ok.stderr.toString());
  assert.match(out, /chain gw-a: 20 records, whole/);
  assert.match(out, /chain gw-b: 20 records, whole/);
  psql(`UPDATE audit SET record = replace(record, '"status":200', '"status":500') WHERE chain = 'gw-b' AND seq = 7`);
  const bad = spawnSync(bin, ['audit', 'verify', '--db', `postgres:${conninfo}`]);
  assert.equal(bad.status, 1);
  assert.match(bad.stdout.toString(), /chain gw-b: first bad record at seq 7: content does not match/);
});

test('PostgreSQL stopped: strict mode answers 503, then recovers when it returns', async () => {
  psql('DROP TABLE IF EXISTS audit, audit_tree, audit_checkpoint, audit_cosignature, audit_anchor, audit_attrs');
  const stack = await startStack({ audit: 'strict', auditPostgres: conninfo, auditInstance: 'gw-c' });
  try {
    assert.equal((await chat(stack)).status, 200);
    asRoot(['pg_ctlcluster', pgVersion, 'main', 'stop', '-m', 'fast']);
    let saw503 = false;
    for (let i = 0; i < 20 && !saw503; i++) {
      const r = await chat(stack);
      if (r.status === 503) saw503 = (await r.json()).error.code === 'audit_unavailable';
    }
    assert.ok(saw503, 'fails closed while the store is down');
    asRoot(['pg_ctlcluster', pgVersion, 'main', 'start', '-o', '-c listen_addresses=127.0.0.1']);
    let ok = false;
    for (let i = 0; i < 200 && !ok; i++) {
      ok = (await chat(stack)).status === 200;
      if (!ok) await new Promise((r) => setTimeout(r, 50));
    }
    assert.ok(ok, 'recovers');
  } finally {
    try { asRoot(['pg_ctlcluster', pgVersion, 'main', 'start', '-o', '-c listen_addresses=127.0.0.1']); } catch { /* running */ }
    await stack.stop();
  }
  const verify = spawnSync(bin, ['audit', 'verify', '--db', `postgres:${conninfo}`]);
  assert.equal(verify.status, 0, verify.stdout.toString());
});

test('PostgreSQL: signed checkpoints and a witness catch a cut and a change; proofs verify; one writer per chain', async () => {
  psql('DROP TABLE IF EXISTS audit, audit_tree, audit_checkpoint, audit_cosignature, audit_anchor, audit_attrs');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-pg-key-'));
  const key = path.join(dir, 'k');
  execFileSync(bin, ['audit', 'keygen', '--out', key]);
  const pem = fs.readFileSync(`${key}.pub`, 'utf8');
  const witnessFile = path.join(dir, 'witness.jsonl');
  const witness = await startWitness({ publicKey: pem, file: witnessFile });
  const auditExtra = `  checkpoints:\n    key_file: ${key}\n    every_records: 4\n    witnesses: [${witness.url}]`;
  const stack = await startStack({ audit: 'strict', auditPostgres: conninfo, auditInstance: 'gw-p', auditExtra });
  let id;
  try {
    for (let i = 0; i < 10; i++) {
      const r = await chat(stack);
      assert.equal(r.status, 200);
      if (i === 2) id = r.headers.get('x-request-id');
    }
    // A second gateway for the same chain in the same database is refused at start.
    await assert.rejects(startStack({ auditPostgres: conninfo, auditInstance: 'gw-p' }),
      /another process is writing audit chain 'gw-p'/);
  } finally {
    await stack.stop();
  }
  await witness.close();
  const db = `postgres:${conninfo}`;
  const verify = () => spawnSync(bin, ['audit', 'verify', '--db', db, '--pubkey', `${key}.pub`, '--checkpoint', witnessFile]);
  const ok = verify();
  assert.equal(ok.status, 0, ok.stdout.toString() + ok.stderr.toString());
  assert.match(ok.stdout.toString(), /chain gw-p: 10 records, whole; 9 checkpoints match, newest at seq 10/);
  // The witness's countersignatures are kept in the database; its public key checks them, and
  // their removal is seen.
  const witnessKey = path.join(dir, 'witness.pub');
  fs.writeFileSync(witnessKey, witness.publicKey);
  const witnessed = spawnSync(bin, ['audit', 'verify', '--db', db, '--pubkey', `${key}.pub`, '--witness-key', witnessKey]);
  assert.equal(witnessed.status, 0, witnessed.stdout.toString() + witnessed.stderr.toString());
  assert.match(witnessed.stdout.toString(), /chain gw-p: 10 records, whole; 6 checkpoints match, newest at seq 10; countersigned by witness [0-9a-f]{16} up to seq 10/);
  assert.equal(psql("SELECT count(*) FROM audit_cosignature WHERE chain = 'gw-p'"), String(witness.stats.accepted));
  psql("DELETE FROM audit_cosignature WHERE chain = 'gw-p'");
  const dropped = spawnSync(bin, ['audit', 'verify', '--db', db, '--pubkey', `${key}.pub`, '--witness-key', witnessKey]);
  assert.equal(dropped.status, 1, dropped.stdout.toString());
  assert.match(dropped.stdout.toString(), /FAIL chain gw-p: no checkpoint countersigned by witness/);
  const proof = JSON.parse(execFileSync(bin, ['audit', 'prove', '--db', db, '--request-id', id]).toString());
  assert.equal(proof.seq, 3);
  assert.ok(signatureHolds(proof.checkpoint, pem));
  assert.ok(verifyInclusion(proof.leaf_index, proof.tree_size, leafHash(proof.record), proof.path,
    JSON.parse(proof.checkpoint.checkpoint).root));
  // The newest records and their checkpoints deleted: the witness's copy tells.
  psql("DELETE FROM audit WHERE chain = 'gw-p' AND seq > 8; DELETE FROM audit_checkpoint WHERE chain = 'gw-p' AND seq > 8");
  const cut = verify();
  assert.equal(cut.status, 1);
  assert.match(cut.stdout.toString(), /chain gw-p: truncated: the store ends at seq 8/);
  psql(`UPDATE audit SET record = replace(record, '"status":200', '"status":500') WHERE chain = 'gw-p' AND seq = 2`);
  const rewritten = verify();
  assert.equal(rewritten.status, 1);
  assert.match(rewritten.stdout.toString(), /chain gw-p: first bad record at seq 2: content does not match/);
  fs.rmSync(dir, { recursive: true, force: true });
});
