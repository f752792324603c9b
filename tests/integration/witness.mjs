// A checkpoint witness, as an auditor would run one (docs/AUDIT.md): it accepts a gateway's signed
// checkpoint only when the signature holds (node's crypto, not Warden's code) and an RFC 6962
// consistency proof shows the new tree extends the last one it accepted; it countersigns and
// keeps its own copy, one checkpoint per line, in `file`.
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';

const sha = (...parts) => crypto.createHash('sha256').update(Buffer.concat(parts)).digest();
export const leafHash = (record) => sha(Buffer.from([0]), Buffer.from(record));
const nodeHash = (l, r) => sha(Buffer.from([1]), l, r);

// The fingerprint Warden puts in checkpoints: SHA-256 of the 32-byte raw Ed25519 public key.
export function fingerprint(publicKey) {
  const key = typeof publicKey === 'string' ? crypto.createPublicKey(publicKey) : publicKey;
  const der = key.export({ format: 'der', type: 'spki' });
  return crypto.createHash('sha256').update(der.subarray(der.length - 32)).digest('hex');
}

// RFC 9162 §2.1.3.2, written from the RFC's text.
export function verifyInclusion(index, size, leaf, path, root) {
  if (index >= size) return false;
  let fn = BigInt(index), sn = BigInt(size - 1), r = leaf;
  for (const hex of path) {
    const p = Buffer.from(hex, 'hex');
    if (sn === 0n) return false;
    if ((fn & 1n) === 1n || fn === sn) {
      r = nodeHash(p, r);
      if ((fn & 1n) === 0n) while ((fn & 1n) === 0n && fn !== 0n) { fn >>= 1n; sn >>= 1n; }
    } else {
      r = nodeHash(r, p);
    }
    fn >>= 1n; sn >>= 1n;
  }
  return sn === 0n && r.equals(Buffer.from(root, 'hex'));
}

// RFC 9162 §2.1.4.2.
export function verifyConsistency(first, second, firstRoot, secondRoot, proof) {
  const oldRoot = Buffer.from(firstRoot, 'hex'), newRoot = Buffer.from(secondRoot, 'hex');
  if (first === second) return proof.length === 0 && oldRoot.equals(newRoot);
  if (first <= 0 || first > second || proof.length === 0) return false;
  const path = proof.map((h) => Buffer.from(h, 'hex'));
  if ((first & (first - 1)) === 0) path.unshift(oldRoot);
  let fn = BigInt(first - 1), sn = BigInt(second - 1);
  while ((fn & 1n) === 1n) { fn >>= 1n; sn >>= 1n; }
  let fr = path[0], sr = path[0];
  for (const c of path.slice(1)) {
    if (sn === 0n) return false;
    if ((fn & 1n) === 1n || fn === sn) {
      fr = nodeHash(c, fr); sr = nodeHash(c, sr);
      if ((fn & 1n) === 0n) while ((fn & 1n) === 0n && fn !== 0n) { fn >>= 1n; sn >>= 1n; }
    } else {
      sr = nodeHash(sr, c);
    }
    fn >>= 1n; sn >>= 1n;
  }
  return fr.equals(oldRoot) && sr.equals(newRoot) && sn === 0n;
}

// Whether `line` (a one-line checkpoint) carries a valid signature by `publicKey`.
export function signatureHolds(checkpoint, publicKey) {
  const fp = fingerprint(publicKey);
  const sig = checkpoint.signatures.find((s) => s.key === fp);
  return !!sig && crypto.verify(null, Buffer.from(checkpoint.checkpoint), publicKey, Buffer.from(sig.sig, 'base64'));
}

export async function startWitness({ publicKey, file }) {
  const own = crypto.generateKeyPairSync('ed25519');
  const latest = new Map();  // chain -> {seq, root}
  const stats = { accepted: 0, refused: 0 };
  const answer = (res, status, body) => {
    if (status !== 200) stats.refused++;
    res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  };
  const server = http.createServer((req, res) => {
    let data = '';
    req.on('data', (d) => { data += d; });
    req.on('end', () => {
      let msg, body;
      try {
        msg = JSON.parse(data);
        body = JSON.parse(msg.checkpoint.checkpoint);
      } catch { return answer(res, 400, { error: 'malformed' }); }
      if (!signatureHolds(msg.checkpoint, publicKey)) return answer(res, 403, { error: 'bad signature' });
      const prev = latest.get(body.chain);
      if (prev) {
        if (msg.from !== prev.seq || body.seq < prev.seq) return answer(res, 409, { seq: prev.seq });
        if (!verifyConsistency(prev.seq, body.seq, prev.root, body.root, msg.proof))
          return answer(res, 422, { error: 'not consistent with the checkpoint this witness holds', seq: prev.seq });
      }
      latest.set(body.chain, { seq: body.seq, root: body.root });
      fs.appendFileSync(file, JSON.stringify(msg.checkpoint) + '\n');
      stats.accepted++;
      const cosignature = crypto.sign(null, Buffer.from(msg.checkpoint.checkpoint), own.privateKey).toString('base64');
      return answer(res, 200, { cosignature: { key: fingerprint(own.publicKey), sig: cosignature } });
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${server.address().port}/checkpoint`,
    // What an auditor is given to check the countersignatures the gateway stored.
    publicKey: own.publicKey.export({ type: 'spki', format: 'pem' }),
    stats,
    latest,
    close: () => new Promise((r) => server.close(r)),
  };
}
