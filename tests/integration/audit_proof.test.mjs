// An audit trail an outsider can verify: signed checkpoints kept by a witness catch what the hash
// chain alone cannot (cut newest records, rewrite and recompute, even re-sign with the gateway's
// own key); proofs for one record and between checkpoints verify with node's crypto; archives
// keep the proof; and no answered request goes without its record.
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { KEY, startStack } from './harness.mjs';
import { fingerprint, leafHash, signatureHolds, startWitness, verifyConsistency, verifyInclusion } from './witness.mjs';

const bin = process.env.WARDEN_BIN ?? new URL('../../build/warden', import.meta.url).pathname;
const script = new URL('../../scripts/verify-audit-chain.py', import.meta.url).pathname;
const tamper = new URL('../tools/audit_tamper.py', import.meta.url).pathname;
const chat = (stack, model = 'chat', extra = {}) => fetch(`${stack.url}/v1/chat/completions`, {
  method: 'POST',
  headers: { 'content-type': 'application/json', authorization: `Bearer ${KEY}`, ...(extra.headers ?? {}) },
  body: JSON.stringify({ model, messages: [{ role: 'user', content: 'hello' }], ...(extra.body ?? {}) }),
  signal: extra.signal,
});
const run = (args) => {
  const r = spawnSync(bin, args);
  return { code: r.status, out: r.stdout.toString() + r.stderr.toString() };
};
const records = (db) => execFileSync(bin, ['audit', 'export', '--db', db]).toString().trim().split('\n')
  .filter(Boolean).map((l) => JSON.parse(l).record);

function keyDir() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-key-'));
  const key = path.join(dir, 'checkpoint.key');
  const r = run(['audit', 'keygen', '--out', key]);
  assert.equal(r.code, 0, r.out);
  return { dir, key, pub: `${key}.pub`, pem: fs.readFileSync(`${key}.pub`, 'utf8') };
}

// What GET /audit/checkpoint serves (the newest checkpoint, its countersignatures, and older
// countersigned copies), once it holds a countersignature of checkpoint `seq` by `witness` (the
// gateway keeps a witness's answer after the witness has it): those countersignatures, each
// checked as an outsider would, with node's crypto and the witness's public key alone.
async function servedCosignatures(stack, witness, seq) {
  const key = fingerprint(witness.publicKey);
  for (let i = 0; i < 200; i++) {
    const served = await (await fetch(`http://127.0.0.1:${stack.adminPort}/audit/checkpoint`)).json();
    const found = [served, ...(served.countersigned ?? [])]
      .filter((c) => JSON.parse(c.checkpoint).seq === seq)
      .flatMap((c) => (c.cosignatures ?? []).filter((w) => w.key === key).map((w) => ({ ...w, body: c.checkpoint, served })));
    if (found.length) {
      for (const w of found)
        assert.ok(crypto.verify(null, Buffer.from(w.body), witness.publicKey, Buffer.from(w.sig, 'base64')), 'the countersignature holds');
      return found;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return [];
}

const checkpointsYaml = (key, { every = 5, seconds = 3600, witness } = {}) =>
  `  checkpoints:\n    key_file: ${key}\n    every_records: ${every}\n    every_seconds: ${seconds}\n` +
  (witness ? `    witnesses: [${witness}]\n    witness_timeout_ms: 2000\n` : '');

test('signed checkpoints: every tampering is detected given the public key and the witness copy', async () => {
  const k = keyDir();
  const witnessFile = path.join(k.dir, 'witness.jsonl');
  const witness = await startWitness({ publicKey: k.pem, file: witnessFile });
  const stack = await startStack({ audit: 'strict', keepDir: true, auditExtra: checkpointsYaml(k.key, { witness: witness.url }) });
  const ids = [];
  try {
    for (let i = 0; i < 23; i++) {
      const r = await chat(stack);
      assert.equal(r.status, 200);
      ids.push(r.headers.get('x-request-id'));
      await r.text();
      // The witness client sends only the newest pending checkpoint: wait for each to be
      // accepted before the next can replace it, so the witness holds every one.
      if ((i + 1) % 5 === 0) {
        for (let t = 0; t < 300 && witness.stats.accepted < (i + 1) / 5; t++) await new Promise((res) => setTimeout(res, 50));
        assert.equal(witness.stats.accepted, (i + 1) / 5, `checkpoint ${i + 1} accepted by the witness`);
      }
    }
    // The admin listener serves the newest checkpoint; its signature holds under node's crypto.
    const served = await fetch(`http://127.0.0.1:${stack.adminPort}/audit/checkpoint`);
    assert.equal(served.status, 200);
    const cp = await served.json();
    assert.ok(signatureHolds(cp, k.pem));
    assert.equal(JSON.parse(cp.checkpoint).seq % 5, 0);
  } finally {
    await stack.stop();  // a last checkpoint at shutdown, sent to the witness too
  }
  await witness.close();
  const held = fs.readFileSync(witnessFile, 'utf8').trim().split('\n').map((l) => JSON.parse(JSON.parse(l).checkpoint));
  assert.deepEqual(held.map((c) => c.seq), [5, 10, 15, 20, 23]);
  assert.equal(witness.stats.refused, 0);
  assert.match(stack.logs.stdout, /\{"audit_checkpoint":\{"checkpoint":/);

  const db = stack.auditDb;
  const witnessKey = path.join(k.dir, 'witness.pub');
  fs.writeFileSync(witnessKey, witness.publicKey);
  const verify = (file, extra = []) => run(['audit', 'verify', '--db', file, '--pubkey', k.pub, ...extra]);
  const python = (file, extra = []) => {
    const r = spawnSync('python3', [script, file, '--pubkey', k.pub, ...extra]);
    return { code: r.status, out: r.stdout.toString() + r.stderr.toString() };
  };
  const whole = verify(db, ['--checkpoint', witnessFile]);
  assert.equal(whole.code, 0, whole.out);
  // The store's 5 checkpoints, the witness's 5 countersigned copies the gateway kept, and the
  // witness's own 5.
  assert.match(whole.out, /ok {3}chain it: 23 records, whole; 15 checkpoints match, newest at seq 23/);
  assert.match(whole.out, /5 countersigned checkpoints in the store, countersignatures not checked: give --witness-key/);
  const py = python(db, ['--checkpoint', witnessFile]);
  assert.equal(py.code, 0, py.out);
  // The countersignatures the witness answered are in the store: given the witness's public key,
  // verify checks them without the witness's own copy.
  const witnessed = verify(db, ['--witness-key', witnessKey]);
  assert.equal(witnessed.code, 0, witnessed.out);
  assert.match(witnessed.out, /chain it: 23 records, whole; 10 checkpoints match, newest at seq 23; countersigned by witness [0-9a-f]{16} up to seq 23/);
  assert.doesNotMatch(witnessed.out, /caught only by/);
  const pyWitnessed = python(db, ['--witness-key', witnessKey]);
  assert.equal(pyWitnessed.code, 0, pyWitnessed.out);
  assert.match(pyWitnessed.out, /chain it: countersigned by witness [0-9a-f]{16} up to seq 23/);
  // A witness key that never countersigned: its countersignatures are missing.
  const stranger = keyDir();
  const unknown = verify(db, ['--witness-key', stranger.pub]);
  assert.equal(unknown.code, 1, unknown.out);
  assert.match(unknown.out, /FAIL chain it: no checkpoint countersigned by witness [0-9a-f]{16}/);
  assert.equal(python(db, ['--witness-key', stranger.pub]).code, 1);
  fs.rmSync(stranger.dir, { recursive: true, force: true });
  // --since starts at a signed checkpoint, never at an unsigned row's link; without a key it
  // reads from the first record.
  const since = String(held[2].ts_ms + 1);
  const window = verify(db, ['--since', since]);
  assert.equal(window.code, 0, window.out);
  assert.match(window.out, /verified from the signed checkpoint at seq 15 \(store\) \(--since\)/);
  assert.match(window.out, /chain it: 8 records, whole/);
  const unsigned = run(['audit', 'verify', '--db', db, '--since', since]);
  assert.match(unsigned.out, /--since needs --pubkey .* verified from the first record/);
  assert.match(unsigned.out, /chain it: 23 records, whole/);

  // An inclusion proof for one request, checked with node's crypto against the signed root.
  const proof = run(['audit', 'prove', '--db', db, '--request-id', ids[6]]);
  assert.equal(proof.code, 0, proof.out);
  const p = JSON.parse(proof.out);
  assert.equal(p.seq, 7);
  // The record is stored compact: the candidates' and the principal's attributes once, referred
  // to by hash; the proof carries those sets, each matching its reference.
  const stored = JSON.parse(p.record);
  assert.equal(stored.principal_id, undefined);
  for (const ref of [stored.candidates_ref, stored.principal_ref]) {
    assert.ok(p.attrs[ref], ref);
    assert.equal(crypto.createHash('sha256').update(p.attrs[ref]).digest('hex'), ref);
  }
  assert.equal(JSON.parse(p.attrs[stored.principal_ref]).principal_id, 'alice');
  assert.ok(signatureHolds(p.checkpoint, k.pem));
  const root = JSON.parse(p.checkpoint.checkpoint).root;
  assert.ok(verifyInclusion(p.leaf_index, p.tree_size, leafHash(p.record), p.path, root));
  assert.ok(!verifyInclusion(p.leaf_index, p.tree_size, leafHash(p.record.replace('200', '500')), p.path, root));
  // A consistency proof between the witness's checkpoint 10 and the store's newest.
  const first = path.join(k.dir, 'cp10.json');
  fs.writeFileSync(first, fs.readFileSync(witnessFile, 'utf8').split('\n')[1] + '\n');
  const consistent = (file) => {
    const r = run(['audit', 'prove', '--db', file, '--from', first, '--to', '23']);
    if (r.code === 2) return { r, ok: false };
    const c = JSON.parse(r.out.split('\n')[0]);
    const [a, b] = [JSON.parse(c.from.checkpoint), JSON.parse(c.to.checkpoint)];
    return { r, ok: verifyConsistency(a.seq, b.seq, a.root, b.root, c.proof) };
  };
  const good = consistent(db);
  assert.equal(good.r.code, 0, good.r.out);
  assert.ok(good.ok);

  const cases = [
    ['modify', ['modify', '7'], /seq 7: content does not match its hash/],
    ['delete in the middle', ['delete', '7'], /seq 7: missing \(deleted\)/],
    ['reorder', ['reorder', '7'], /seq 7: does not link/],
    ['delete the newest', ['truncate', '18'], /truncated: the store ends at seq 18/],
    ['delete all', ['delete-all'], /chain it: truncated: the store ends at seq 0/],
    ['modify an attribute set', ['attrs'], /seq 1: attribute set [0-9a-f]{16} does not match its hash \(modified\)/],
    ['rewrite + recompute the chain', ['rewrite', '7'], /checkpoint at seq 10 \(store\) does not match the records \(rewritten\)/],
    ['rewrite + recompute + re-sign', ['rewrite', '7', k.key], /checkpoint at seq 10 \(store, countersigned by witness [0-9a-f]{16}\) does not match the records \(rewritten\)/],
    ['rewrite + re-sign the countersigned copies too', ['rewrite', '7', k.key, 'resign'], /checkpoint at seq 10 \(.*witness.jsonl\) does not match the records \(rewritten\)/],
    ['rewrite + re-sign + drop the countersignatures', ['rewrite', '7', k.key, 'drop'], /checkpoint at seq 10 \(.*witness.jsonl\) does not match the records \(rewritten\)/],
  ];
  for (const [name, args, expected] of cases) {
    const copy = path.join(k.dir, `tampered-${args[0]}-${args.length}.db`);
    fs.copyFileSync(db, copy);
    execFileSync('python3', [tamper, copy, ...args]);
    const r = verify(copy, ['--checkpoint', witnessFile]);
    assert.equal(r.code, 1, `${name}: ${r.out}`);
    assert.match(r.out, expected, name);
    const pyr = spawnSync('python3', [script, copy, '--pubkey', k.pub, '--checkpoint', witnessFile]);
    assert.equal(pyr.status, 1, `${name} (python): ${pyr.stdout}`);
    if (name === 'rewrite + recompute + re-sign') {
      // The countersigned copies the gateway kept hold the bodies the witness signed: the
      // re-signed checkpoints do not hide the rewrite from them, with or without the witness key.
      const stored = verify(copy, ['--witness-key', witnessKey]);
      assert.equal(stored.code, 1, stored.out);
      assert.match(stored.out, expected);
      assert.equal(verify(copy).code, 1);
      assert.equal(python(copy, ['--witness-key', witnessKey]).code, 1);
      const bad = consistent(copy);
      assert.equal(bad.r.code, 1, bad.r.out);
      assert.ok(!bad.ok, 'the consistency proof fails after a rewrite');
    }
    if (name === 'rewrite + re-sign the countersigned copies too') {
      // The store alone, re-signed with the gateway's own key, looks whole; the witness's
      // countersignature cannot be re-made with that key, so its public key tells.
      const alone = verify(copy);
      assert.equal(alone.code, 0, alone.out);
      assert.match(alone.out, /countersignatures not checked: give --witness-key/);
      assert.match(alone.out, /caught only by a witness's countersignature \(--witness-key KEY\) or its copy/);
      const stored = verify(copy, ['--witness-key', witnessKey]);
      assert.equal(stored.code, 1, stored.out);
      assert.match(stored.out, /checkpoint at seq 10 \(store, countersigned by witness [0-9a-f]{16}\): bad countersignature by witness/);
      const pyr = python(copy, ['--witness-key', witnessKey]);
      assert.equal(pyr.code, 1, pyr.out);
      assert.match(pyr.out, /bad countersignature by witness/);
    }
    if (name === 'rewrite + re-sign + drop the countersignatures') {
      const stored = verify(copy, ['--witness-key', witnessKey]);
      assert.equal(stored.code, 1, stored.out);
      assert.match(stored.out, /FAIL chain it: no checkpoint countersigned by witness [0-9a-f]{16} \(its countersignatures were removed/);
      assert.equal(python(copy, ['--witness-key', witnessKey]).code, 1);
    }
  }
  fs.rmSync(stack.dir, { recursive: true, force: true });
  fs.rmSync(k.dir, { recursive: true, force: true });
});

test('records after the newest checkpoint are the uncovered window: verify names it, and cutting them goes unseen', async () => {
  const k = keyDir();
  const stack = await startStack({ audit: 'strict', keepDir: true, auditExtra: checkpointsYaml(k.key, { every: 5 }) });
  for (let i = 0; i < 7; i++) assert.equal((await chat(stack)).status, 200);
  stack.proc.kill('SIGKILL');  // no checkpoint at shutdown
  await stack.exited;
  await stack.upstream.close();
  const r = run(['audit', 'verify', '--db', stack.auditDb, '--pubkey', k.pub]);
  assert.equal(r.code, 0, r.out);
  assert.match(r.out, /records 6\.\.7 \(2, ts_ms \d+\.\.\d+\) are after the newest checkpoint: not covered/);
  execFileSync('python3', [tamper, stack.auditDb, 'truncate', '5']);
  const cut = run(['audit', 'verify', '--db', stack.auditDb, '--pubkey', k.pub]);
  assert.equal(cut.code, 0, cut.out);
  assert.match(cut.out, /chain it: 5 records, whole/);
  fs.rmSync(stack.dir, { recursive: true, force: true });
  fs.rmSync(k.dir, { recursive: true, force: true });
});

test('a reload applies new checkpoint settings: the interval, and a new key the old one countersigns once', async () => {
  const [k1, k2, k3] = [keyDir(), keyDir(), keyDir()];
  const stack = await startStack({ audit: 'strict', keepDir: true, auditExtra: checkpointsYaml(k1.key, { every: 2 }) });
  const logged = () => stack.logs.stdout.split('\n').filter((l) => l.startsWith('{"audit_checkpoint"'))
    .map((l) => JSON.parse(JSON.parse(l).audit_checkpoint.checkpoint));
  const until = async (cond, what) => {
    for (let i = 0; i < 400 && !cond(); i++) await new Promise((r) => setTimeout(r, 25));
    assert.ok(cond(), what);
  };
  const count = (text) => stack.logs.stderr.split(text).length - 1;
  const reload = async (yaml, expect) => {
    const before = count(expect);
    fs.writeFileSync(stack.configPath, yaml);
    stack.proc.kill('SIGHUP');
    await until(() => count(expect) > before, expect);
  };
  for (let i = 0; i < 3; i++) assert.equal((await chat(stack)).status, 200);
  await until(() => logged().length === 1, 'a checkpoint at 2');
  const yaml = fs.readFileSync(stack.configPath, 'utf8');
  // A key others can read is refused: the reload is rejected and the old settings stay.
  fs.chmodSync(k3.key, 0o644);
  await reload(yaml.replace(`key_file: ${k1.key}`, `key_file: ${k3.key}`), 'reload rejected');
  assert.match(stack.logs.stderr, /reload rejected: .*must be private to its owner/);
  await reload(yaml.replace(`key_file: ${k1.key}`, `key_file: ${k2.key}`).replace('every_records: 2', 'every_records: 3'),
    'audit checkpoint settings reloaded');
  for (let i = 0; i < 2; i++) assert.equal((await chat(stack)).status, 200);
  await until(() => logged().length === 2, 'a checkpoint at 5');
  await stack.stop();
  // Every 3 from the last one (2): at 5, not at 4; the first under the new key is signed by both.
  const cps = logged();
  assert.deepEqual(cps.map((c) => c.seq), [2, 5]);
  assert.equal(cps[1].rotated_from, cps[0].key);
  assert.notEqual(cps[1].key, cps[0].key);
  const ok = run(['audit', 'verify', '--db', stack.auditDb, '--pubkey', k1.pub, '--pubkey', k2.pub]);
  assert.equal(ok.code, 0, ok.out);
  const py = spawnSync('python3', [script, stack.auditDb, '--pubkey', k1.pub, '--pubkey', k2.pub]);
  assert.equal(py.status, 0, py.stdout.toString() + py.stderr.toString());
  for (const d of [stack.dir, k1.dir, k2.dir, k3.dir]) fs.rmSync(d, { recursive: true, force: true });
});

test('GET /audit/checkpoint serves the witnesses\' countersignatures: of the newest checkpoint, else the newest each witness signed', async () => {
  const k = keyDir();
  const witnessFile = path.join(k.dir, 'witness.jsonl');
  const witness = await startWitness({ publicKey: k.pem, file: witnessFile });
  const yaml = checkpointsYaml(k.key, { every: 5, witness: witness.url });
  const stack = await startStack({ audit: 'strict', keepDir: true, auditExtra: yaml });
  const admin = () => fetch(`http://127.0.0.1:${stack.adminPort}/audit/checkpoint`).then((r) => r.json());
  const servedFile = path.join(k.dir, 'served.json');
  try {
    for (let i = 0; i < 10; i++) assert.equal((await chat(stack)).status, 200);
    // Countersigned: the newest checkpoint carries the witness's countersignature, which holds
    // under the witness's public key alone.
    const [newest] = await servedCosignatures(stack, witness, 10);
    assert.ok(newest, 'the countersignature of checkpoint 10 is served');
    assert.equal(JSON.parse(newest.served.checkpoint).seq, 10);
    assert.ok(signatureHolds(newest.served, k.pem));
    assert.equal(newest.served.countersigned, undefined);
    assert.equal(newest.witness, witness.url);
    // The witness goes away: the next checkpoint is not countersigned; the newest one the witness
    // signed is served with it, its body beside its countersignature.
    await witness.close();
    for (let i = 0; i < 5; i++) assert.equal((await chat(stack)).status, 200);
    let served;
    for (let i = 0; i < 200 && JSON.parse((served = await admin()).checkpoint).seq !== 15; i++)
      await new Promise((r) => setTimeout(r, 25));
    assert.equal(JSON.parse(served.checkpoint).seq, 15);
    assert.equal(served.cosignatures, undefined);
    assert.equal(served.countersigned.length, 1);
    const [older] = await servedCosignatures(stack, witness, 10);
    assert.ok(older, 'the countersignature of checkpoint 10 is served with checkpoint 15');
    assert.ok(signatureHolds(served.countersigned[0], k.pem));
    fs.writeFileSync(servedFile, JSON.stringify(served) + '\n');
  } finally {
    await stack.stop();
  }
  // What was served is what verify reads: the countersignature it carries counts.
  const witnessKey = path.join(k.dir, 'witness.pub');
  fs.writeFileSync(witnessKey, witness.publicKey);
  const fromServed = run(['audit', 'verify', '--db', stack.auditDb, '--pubkey', k.pub, '--checkpoint', servedFile,
    '--witness-key', witnessKey]);
  assert.equal(fromServed.code, 0, fromServed.out);
  assert.match(fromServed.out, /countersigned by witness [0-9a-f]{16} up to seq 10/);
  const py = spawnSync('python3', [script, stack.auditDb, '--pubkey', k.pub, '--checkpoint', servedFile, '--witness-key', witnessKey]);
  assert.equal(py.status, 0, py.stdout.toString() + py.stderr.toString());
  // A gateway started again on the store serves the countersignatures kept there.
  const again = await startStack({ keepDir: true, auditExtra: `  path: ${stack.auditDb}\n${checkpointsYaml(k.key, { every: 5 })}` });
  try {
    const [kept] = await servedCosignatures(again, witness, 10);
    assert.ok(kept, 'the countersignature kept in the store is served after a restart');
  } finally {
    await again.stop();
  }
  for (const d of [stack.dir, again.dir, k.dir]) fs.rmSync(d, { recursive: true, force: true });
});

test('archive while the gateway writes: the archive verifies alone, the store from its cut, proofs go on', async () => {
  const k = keyDir();
  const witnessFile = path.join(k.dir, 'witness.jsonl');
  const witness = await startWitness({ publicKey: k.pem, file: witnessFile });
  const yaml = checkpointsYaml(k.key, { every: 5, witness: witness.url });
  const stack = await startStack({ keepDir: true, auditExtra: yaml });
  const archive = path.join(k.dir, 'archive.jsonl.gz');
  const witnessHas = (seq) => fs.existsSync(witnessFile) && fs.readFileSync(witnessFile, 'utf8').includes(`\\"seq\\":${seq},`);
  let archived;
  try {
    for (let i = 0; i < 30; i++) assert.equal((await chat(stack)).status, 200);
    for (let i = 0; i < 200 && !witnessHas(30); i++) await new Promise((r) => setTimeout(r, 50));
    assert.ok(witnessHas(30), 'the witness holds checkpoint 30');
    // The witness answered before the gateway kept its countersignature: the cut carries it once
    // the admin listener serves it.
    const cosigned = await servedCosignatures(stack, witness, 30);
    assert.equal(cosigned.length, 1, 'the countersignature of checkpoint 30 is kept');
    // Archive up to the witness's checkpoint 30 (witnesses must have seen the cut: proofs for them
    // start there), while requests keep coming.
    const ts30 = fs.readFileSync(witnessFile, 'utf8').trim().split('\n').map((l) => JSON.parse(JSON.parse(l).checkpoint))
      .find((c) => c.seq === 30).ts_ms;
    let stop = false;
    const traffic = (async () => { while (!stop) assert.equal((await chat(stack)).status, 200); })();
    archived = await new Promise((resolve) => {
      const p = spawn(bin, ['audit', 'archive', '--db', stack.auditDb, '--before', String(ts30 + 1),
        '--out', archive, '--pubkey', k.pub]);
      let out = '';
      p.stdout.on('data', (d) => { out += d; });
      p.stderr.on('data', (d) => { out += d; });
      p.on('exit', (code) => resolve({ code, out }));
    });
    stop = true;
    await traffic;
  } finally {
    await stack.stop();
  }
  assert.equal(archived.code, 0, archived.out);
  const m = archived.out.match(/records 1\.\.(\d+) \((\d+)\) to .*: (\d+) bytes, ([\d.]+) bytes per record/);
  assert.ok(m, archived.out);
  const cut = Number(m[1]);
  assert.equal(cut, 30, archived.out);
  const alone = run(['audit', 'verify', '--archive', archive, '--pubkey', k.pub]);
  assert.equal(alone.code, 0, alone.out);
  assert.match(alone.out, new RegExp(`${cut} records up to seq ${cut}`));
  assert.match(alone.out, /1 countersignatures in the archive not checked: give --witness-key/);
  // A gateway started again on the same store continues the same tree; the witness, holding a
  // checkpoint from the first run, answers 409 with its seq and then gets a proof from there.
  const refusedBefore = witness.stats.refused;
  const again = await startStack({ keepDir: true, auditExtra: `  path: ${stack.auditDb}\n${yaml}` });
  let id;
  try {
    const r = await chat(again);
    assert.equal(r.status, 200);
    id = r.headers.get('x-request-id');
  } finally {
    await again.stop();
  }
  await witness.close();
  assert.equal(witness.stats.refused, refusedBefore + 1, 'one 409, then accepted');
  const v = run(['audit', 'verify', '--db', stack.auditDb, '--pubkey', k.pub, '--checkpoint', witnessFile]);
  assert.equal(v.code, 0, v.out);
  assert.match(v.out, new RegExp(`records 1\\.\\.${cut} archived; verified from the signed checkpoint at the cut`));
  const proof = run(['audit', 'prove', '--db', stack.auditDb, '--request-id', id]);
  assert.equal(proof.code, 0, proof.out);
  const p = JSON.parse(proof.out);
  assert.ok(verifyInclusion(p.leaf_index, p.tree_size, leafHash(p.record), p.path, JSON.parse(p.checkpoint.checkpoint).root));
  const last = fs.readFileSync(witnessFile, 'utf8').trim().split('\n').at(-1);
  assert.equal(JSON.parse(JSON.parse(last).checkpoint).seq, p.tree_size);
  // The cut's countersignature is checked as in a store: it holds; a rewrite inside the archive
  // re-signed with the gateway's own key does not match it; one re-made with another key fails;
  // an archive without one fails and says so.
  const witnessKey = path.join(k.dir, 'witness.pub');
  fs.writeFileSync(witnessKey, witness.publicKey);
  const verifyArchive = (file, extra = []) => run(['audit', 'verify', '--archive', file, '--pubkey', k.pub, ...extra]);
  // The independent verifier reads archives too.
  const pyArchive = (file, extra = []) => {
    const r = spawnSync('python3', [script, '--archive', file, '--pubkey', k.pub, ...extra]);
    return { code: r.status, out: r.stdout.toString() + r.stderr.toString() };
  };
  const witnessed = verifyArchive(archive, ['--witness-key', witnessKey]);
  assert.equal(witnessed.code, 0, witnessed.out);
  assert.match(witnessed.out, new RegExp(`matching the signed checkpoint at the cut; countersigned by witness [0-9a-f]{16} up to seq ${cut}`));
  const pyWitnessed = pyArchive(archive, ['--witness-key', witnessKey]);
  assert.equal(pyWitnessed.code, 0, pyWitnessed.out);
  assert.match(pyWitnessed.out, new RegExp(`countersigned by witness [0-9a-f]{16} up to seq ${cut}`));
  const stranger = keyDir();
  const unknown = verifyArchive(archive, ['--witness-key', stranger.pub]);
  assert.equal(unknown.code, 1, unknown.out);
  assert.match(unknown.out, /FAIL archive .*: no checkpoint countersigned by witness [0-9a-f]{16} \(its countersignatures were removed/);
  assert.equal(pyArchive(archive, ['--witness-key', stranger.pub]).code, 1);
  const archiveCases = [
    ['keep', /FAIL archive .*: chain it: checkpoint at seq 30 \(archive cut\): bad countersignature by witness [0-9a-f]{16}/],
    ['forge', /FAIL archive .*: chain it: checkpoint at seq 30 \(archive cut\): bad countersignature by witness [0-9a-f]{16}/],
    ['drop', /FAIL archive .*: no checkpoint countersigned by witness [0-9a-f]{16} \(its countersignatures were removed/],
  ];
  for (const [cosignatures, expected] of archiveCases) {
    const copy = path.join(k.dir, `tampered-${cosignatures}.jsonl.gz`);
    fs.copyFileSync(archive, copy);
    execFileSync('python3', [tamper, copy, 'archive-rewrite', '12', k.key, cosignatures]);
    // Re-signed with the gateway's key: its signatures and records hold.
    const signed = verifyArchive(copy);
    assert.equal(signed.code, 0, `${cosignatures}: ${signed.out}`);
    const r = verifyArchive(copy, ['--witness-key', witnessKey]);
    assert.equal(r.code, 1, `${cosignatures}: ${r.out}`);
    assert.match(r.out, expected, cosignatures);
    const py = [pyArchive(copy), pyArchive(copy, ['--witness-key', witnessKey])];
    assert.deepEqual(py.map((x) => x.code), [0, 1], `${cosignatures} (python): ${py[0].out} ${py[1].out}`);
    assert.match(py[1].out, cosignatures === 'drop' ? /no checkpoint countersigned by witness/ : /bad countersignature by witness/);
  }
  // Re-signed with a key that is not the gateway's, the archive fails on its own.
  const unsigned = path.join(k.dir, 'tampered-unsigned.jsonl.gz');
  fs.copyFileSync(archive, unsigned);
  execFileSync('python3', [tamper, unsigned, 'archive-rewrite', '12', stranger.key, 'keep']);
  const foreign = verifyArchive(unsigned, ['--witness-key', witnessKey]);
  assert.equal(foreign.code, 1, foreign.out);
  assert.match(foreign.out, /FAIL archive .*: checkpoint at seq 30: bad signature by key [0-9a-f]{16}/);
  const pyForeign = pyArchive(unsigned);
  assert.equal(pyForeign.code, 1, pyForeign.out);
  assert.match(pyForeign.out, /checkpoint at seq 30 \(archive cut\): bad signature/);
  fs.rmSync(stranger.dir, { recursive: true, force: true });
  fs.rmSync(stack.dir, { recursive: true, force: true });
  fs.rmSync(again.dir, { recursive: true, force: true });
  fs.rmSync(k.dir, { recursive: true, force: true });
});

test('a second gateway writing the same audit store is refused at start, with a clear message', async () => {
  const stack = await startStack();
  try {
    const second = spawnSync(bin, ['serve', '--config', stack.configPath], { timeout: 10_000 });
    assert.equal(second.status, 2, second.stderr.toString());
    assert.match(second.stderr.toString(), /another process is writing the audit store .*warden-audit\.db/);
    assert.equal((await chat(stack)).status, 200);  // the first one is untouched
  } finally {
    await stack.stop();
  }
});

test('audit verify on a path with no store fails and creates nothing; a readable signing key is refused', async () => {
  const missing = path.join(os.tmpdir(), `warden-no-store-${process.pid}.db`);
  const r = run(['audit', 'verify', '--db', missing]);
  assert.equal(r.code, 2, r.out);
  assert.match(r.out, /no audit store at/);
  assert.ok(!fs.existsSync(missing));
  const py = spawnSync('python3', [script, missing]);
  assert.equal(py.status, 2);
  const k = keyDir();
  fs.chmodSync(k.key, 0o644);
  await assert.rejects(startStack({ auditExtra: checkpointsYaml(k.key) }), /must be private to its owner \(mode 0644/);
  fs.rmSync(k.dir, { recursive: true, force: true });
});

test('batched, queue full: a request is refused (503) rather than answered with its record dropped', async () => {
  const stack = await startStack({ keepDir: true, auditExtra: '  max_buffer: 2' });
  const answered = [];
  const statuses = new Set();
  try {
    await Promise.all(Array.from({ length: 40 }, async (_, i) => {
      const id = `full-${i}`;
      const r = await chat(stack, 'chat', { headers: { 'x-request-id': id } });
      await r.text();
      statuses.add(r.status);
      if (r.status === 200) answered.push(id);
    }));
  } finally {
    await stack.stop();
  }
  assert.ok([...statuses].every((s) => s === 200 || s === 503), [...statuses].join());
  assert.ok(answered.length > 0);
  const ids = new Set(records(stack.auditDb).map((r) => r.request_id));
  assert.deepEqual(answered.filter((id) => !ids.has(id)), []);
  fs.rmSync(stack.dir, { recursive: true, force: true });
});

test('strict: a client that resets mid-stream still leaves a record', async () => {
  const stack = await startStack({ audit: 'strict', keepDir: true });
  try {
    const ac = new AbortController();
    const r = await chat(stack, 'slow', { headers: { 'x-request-id': 'reset-mid-stream-1' }, body: { stream: true }, signal: ac.signal });
    assert.equal(r.status, 200);
    const reader = r.body.getReader();
    await reader.read();
    ac.abort();
    await reader.read().catch(() => {});
    assert.equal((await chat(stack)).status, 200);  // a later request: the gateway goes on
  } finally {
    await stack.stop();
  }
  const rec = records(stack.auditDb).find((x) => x.request_id === 'reset-mid-stream-1');
  assert.ok(rec, 'the reset request has a record');
  assert.equal(rec.status, 200);  // what the client got: the head of a 200 stream
  fs.rmSync(stack.dir, { recursive: true, force: true });
});

test('strict: a commit that times out answers 503, and the record says 503', async () => {
  const stack = await startStack({ audit: 'strict', keepDir: true });
  try {
    assert.equal((await chat(stack)).status, 200);
    // Another process holds the store's write lock until the request is answered (the commit
    // wait is 5 s).
    const holder = spawn('python3', ['-c', `import sqlite3, sys
c = sqlite3.connect(sys.argv[1], isolation_level=None)
c.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
sys.stdin.readline()
c.execute("COMMIT")`, stack.auditDb], { stdio: ['pipe', 'pipe', 'inherit'] });
    const released = new Promise((r) => holder.on('exit', r));
    await new Promise((r) => holder.stdout.once('data', r));
    const r = await chat(stack, 'chat', { headers: { 'x-request-id': 'commit-timeout-1' } });
    holder.stdin.end('\n');
    assert.equal(r.status, 503);
    assert.equal((await r.json()).error.code, 'audit_unavailable');
    await released;
  } finally {
    await stack.stop();
  }
  const rec = records(stack.auditDb).find((x) => x.request_id === 'commit-timeout-1');
  assert.ok(rec, 'the timed-out request has a record');
  assert.equal(rec.status, 503);
  assert.equal(rec.error, 'audit_unavailable');
  fs.rmSync(stack.dir, { recursive: true, force: true });
});

test('a request cut at the end of the shutdown grace is recorded', async () => {
  const stack = await startStack({ keepDir: true, server: { shutdown_grace_ms: 300 } });
  const pending = chat(stack, 'stall-long', { headers: { 'x-request-id': 'cut-at-shutdown-1' } }).then((r) => r.status, () => 'closed');
  await new Promise((r) => setTimeout(r, 300));
  await stack.stop();
  await pending;
  const rec = records(stack.auditDb).find((x) => x.request_id === 'cut-at-shutdown-1');
  assert.ok(rec, 'the cut request has a record');
  assert.equal(rec.status, 499);
  fs.rmSync(stack.dir, { recursive: true, force: true });
});
