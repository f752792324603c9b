// Identity and device posture: TLS on the client listener, tokens from identity providers,
// client certificates (mTLS and from a fronting proxy), signed posture tokens, and the policy
// conditions on them. Certificates are made here by the openssl CLI, keys and tokens by
// node:crypto; the "identity provider" is a JWKS endpoint on 127.0.0.1. Every refusal is
// asserted to reach no upstream.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import OpenAI from 'openai';
import { KEY, chatBody, configYaml, freePort, startStack } from './harness.mjs';

const bin = process.env.WARDEN_BIN ?? new URL('../../build/warden', import.meta.url).pathname;
const pki = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-pki-'));
const file = (name) => path.join(pki, name);
const openssl = (...args) => execFileSync('openssl', args, { stdio: ['ignore', 'pipe', 'pipe'], cwd: pki });

// ---- certificates ----

// The server's CA (self-signed) and the server certificates it signs.
function serverCert(name) {
  fs.writeFileSync(file(`${name}.ext`), 'subjectAltName=DNS:localhost\n');
  openssl('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', `/CN=${name}`,
    '-keyout', `${name}.key`, '-out', `${name}.csr`);
  openssl('x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial',
    '-days', '2', '-extfile', `${name}.ext`, '-out', `${name}.crt`);
}
// The client CA is an `openssl ca` with a database, so that it can back-date and revoke.
function clientCa() {
  fs.mkdirSync(file('newcerts'));
  fs.writeFileSync(file('index.txt'), '');
  fs.writeFileSync(file('serial'), '1000\n');
  fs.writeFileSync(file('crlnumber'), '1000\n');
  fs.writeFileSync(file('ca.cnf'), `[ca]
default_ca = c
[c]
dir = ${pki}
database = $dir/index.txt
new_certs_dir = $dir/newcerts
certificate = $dir/clientca.crt
private_key = $dir/clientca.key
serial = $dir/serial
crlnumber = $dir/crlnumber
default_md = sha256
default_days = 2
default_crl_days = 2
policy = p
copy_extensions = copy
unique_subject = no
[p]
commonName = supplied
organizationName = optional
organizationalUnitName = optional
`);
  openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '2',
    '-subj', '/CN=Device CA', '-keyout', 'clientca.key', '-out', 'clientca.crt');
}
function clientCert(name, { san, dates, subj = `/CN=${name}` } = {}) {
  const args = ['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', subj,
    '-keyout', `${name}.key`, '-out', `${name}.csr`];
  if (san) args.push('-addext', `subjectAltName=${san}`);
  openssl(...args);
  openssl('ca', '-batch', '-config', 'ca.cnf', '-in', `${name}.csr`, '-out', `${name}.crt`,
    ...(dates ? ['-startdate', dates[0], '-enddate', dates[1]] : []));
  return { cert: fs.readFileSync(file(`${name}.crt`)), key: fs.readFileSync(file(`${name}.key`)) };
}
const writeCrl = () => openssl('ca', '-config', 'ca.cnf', '-gencrl', '-out', 'crl.pem');

// ---- tokens ----

const b64u = (b) => Buffer.from(b).toString('base64url');
const jwkOf = (publicKey, kid, alg) => ({ ...publicKey.export({ format: 'jwk' }), kid, alg, use: 'sig' });
const KEYS = {
  RS256: crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }),
  PS256: crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }),
  ES256: crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }),
  EdDSA: crypto.generateKeyPairSync('ed25519'),
};
const postureKey = crypto.generateKeyPairSync('ed25519');
const rotated = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
function sign(alg, privateKey, input) {
  if (alg === 'RS256') return crypto.sign('sha256', input, privateKey);
  if (alg === 'PS256') return crypto.sign('sha256', input, { key: privateKey, padding: crypto.constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 });
  if (alg === 'ES256') return crypto.sign('sha256', input, { key: privateKey, dsaEncoding: 'ieee-p1363' });
  return crypto.sign(null, input, privateKey);
}
const now = () => Math.floor(Date.now() / 1000);
function jws(alg, key, kid, claims, header = {}) {
  const h = b64u(JSON.stringify({ alg, typ: 'JWT', kid, ...header }));
  const p = b64u(JSON.stringify(claims));
  return `${h}.${p}.${b64u(sign(alg, key, Buffer.from(`${h}.${p}`)))}`;
}
// A caller's token; `claims` and `header` override the defaults.
function token({ alg = 'ES256', key = KEYS[alg].privateKey, kid = `k-${alg}`, iss = 'https://idp.example', claims = {}, header = {} } = {}) {
  return jws(alg, key, kid, { iss, aud: 'warden', sub: `user-${alg}`, exp: now() + 600, groups: ['staff', 'eng'], tid: 'tenant-1', ...claims }, header);
}
const posture = (claims) => jws('EdDSA', postureKey.privateKey, 'mdm-1', {
  iat: now(), managed: true, compliant: true, os: 'macOS', os_version: '15.1', disk_encrypted: true, patch_age_days: 3, ...claims,
});

// ---- the stack ----

const served = { keys: [], fetches: 0, postureFetches: 0 };
let jwksServer, jwksPort, downPort, tlsPort, stack, ca;
const SPIFFE = 'spiffe://example.org/device/laptop-7';
let dev, plainCn, kiosk, expired, revoked, strangerCa;
const postureFetches = () => served.postureFetches;

before(async () => {
  openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '2',
    '-subj', '/CN=Server CA', '-keyout', 'ca.key', '-out', 'ca.crt');
  ca = fs.readFileSync(file('ca.crt'));
  serverCert('server');
  serverCert('server2');
  fs.copyFileSync(file('server.crt'), file('live.crt'));
  fs.copyFileSync(file('server.key'), file('live.key'));
  clientCa();
  dev = clientCert('laptop-7', { san: `URI:${SPIFFE}` });
  plainCn = clientCert('desktop-3');
  kiosk = clientCert('kiosk-1', { subj: '/CN=kiosk-1/O=Example Corp/OU=Kiosks, Lobby' });
  expired = clientCert('old-1', { dates: ['20200101000000Z', '20200102000000Z'] });
  revoked = clientCert('stolen-1');
  openssl('ca', '-config', 'ca.cnf', '-revoke', 'stolen-1.crt');
  writeCrl();
  // A certificate from a CA the gateway does not trust for clients (the server CA).
  openssl('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', '/CN=stranger',
    '-keyout', 'stranger.key', '-out', 'stranger.csr');
  openssl('x509', '-req', '-in', 'stranger.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '2', '-out', 'stranger.crt');
  strangerCa = { cert: fs.readFileSync(file('stranger.crt')), key: fs.readFileSync(file('stranger.key')) };

  jwksServer = http.createServer((req, res) => {
    if (req.url === '/oidc/.well-known/openid-configuration') {
      res.writeHead(200, { 'content-type': 'application/json' });
      return res.end(JSON.stringify({ issuer: `http://127.0.0.1:${jwksPort}/oidc`, jwks_uri: `http://127.0.0.1:${jwksPort}/jwks` }));
    }
    if (req.url === '/posture-jwks') {
      served.postureFetches++;
      res.writeHead(200, { 'content-type': 'application/json' });
      return res.end(JSON.stringify({ keys: [jwkOf(postureKey.publicKey, 'mdm-1', 'EdDSA')] }));
    }
    if (req.url === '/jwks') {
      served.fetches++;
      res.writeHead(200, { 'content-type': 'application/json' });
      return res.end(JSON.stringify({ keys: served.keys }));
    }
    res.writeHead(404).end();
  });
  await new Promise((r) => jwksServer.listen(0, '127.0.0.1', r));
  jwksPort = jwksServer.address().port;
  served.keys = [jwkOf(KEYS.ES256.publicKey, 'r1', 'ES256')];
  downPort = await freePort();
  tlsPort = await freePort();
  fs.writeFileSync(file('jwks.json'), JSON.stringify({
    keys: [
      ...Object.entries(KEYS).map(([alg, k]) => jwkOf(k.publicKey, `k-${alg}`, alg)),
      { kty: 'oct', kid: 'k-HS256', k: b64u('a shared secret that must not be used') },
    ],
  }));

  stack = await startStack({
    listen: ({ port }) => `  listeners:
    - {listen: "127.0.0.1:${port}"}
    - listen: "127.0.0.1:${tlsPort}"
      tls: {cert_file: "${file('live.crt')}", key_file: "${file('live.key')}", client_ca_file: "${file('clientca.crt')}", crl_file: "${file('crl.pem')}"}`,
    rules: `    - id: unmanaged-devices-only-in-house
      effect: forbid
      when: [{attr: model.name, op: in, values: [echo]}, {attr: device.managed, op: not_in, values: ["true"]}]
    - id: eng-group-only-for-embed
      effect: forbid
      when: [{attr: model.name, op: in, values: [embed]}, {attr: principal.groups, op: none, values: [eng]}]
    - id: kiosk-fleet-no-chat
      effect: forbid
      when: [{attr: model.name, op: in, values: [chat]}, {attr: device.labels.fleet, op: in, values: [kiosk]}]
    - id: lobby-unit-no-chat
      effect: forbid
      when: [{attr: model.name, op: in, values: [chat]}, {attr: device.labels.unit, op: in, values: ["Kiosks, Lobby"]}]
`,
    extra: () => `identity:
  device:
    posture: {jwks_uri: "http://127.0.0.1:${jwksPort}/posture-jwks", max_age_s: 300, labels: {fleet: fleet}}
    certificate_labels: {unit: OU, org: O}
    forwarded_cert_from: [127.0.0.2]
  jwt:
    issuers:
      - issuer: https://idp.example
        audiences: [warden]
        jwks_file: "${file('jwks.json')}"
        clock_skew_s: 30
        claims: {id: sub, groups: [groups, roles], device_id: deviceid, labels: {tenant: tid}}
      - issuer: http://127.0.0.1:${jwksPort}/rotating
        audiences: [warden]
        jwks_uri: http://127.0.0.1:${jwksPort}/jwks
        min_refresh_interval_s: 1
      - issuer: http://127.0.0.1:${jwksPort}/limited
        audiences: [warden]
        jwks_uri: http://127.0.0.1:${jwksPort}/jwks
        min_refresh_interval_s: 3600
      - issuer: http://127.0.0.1:${jwksPort}/oidc
        audiences: [warden]
        discovery: true
      - issuer: http://127.0.0.1:${downPort}/down
        audiences: [warden]
        jwks_uri: http://127.0.0.1:${downPort}/jwks
        fetch_timeout_ms: 500
`,
  });
});

after(async () => {
  await stack?.stop();
  jwksServer?.close();
  fs.rmSync(pki, { recursive: true, force: true });
});

// One HTTPS request; resolves with status, parsed body and the server certificate's fingerprint.
function httpsRequest(pathname, { method = 'POST', body, headers = {}, ...tlsOptions } = {}) {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const req = https.request({
      host: '127.0.0.1', servername: 'localhost', port: tlsPort, path: pathname, method, ca, agent: false,
      headers: { 'content-type': 'application/json', ...headers }, ...tlsOptions,
    }, (res) => {
      let data = '';
      res.on('data', (d) => { data += d; });
      res.on('end', () => resolve({
        status: res.statusCode, text: data, json: (() => { try { return JSON.parse(data); } catch { return null; } })(),
        fingerprint: res.socket.getPeerCertificate().fingerprint256, protocol: res.socket.getProtocol?.(),
        reused: res.socket.isSessionReused?.(),
      }));
    });
    req.on('error', reject);
    if (payload !== undefined) req.write(payload);
    req.end();
  });
}
// A chat request over plain HTTP (loopback), from `localAddress` when given.
function plain(body, headers = {}, localAddress) {
  return new Promise((resolve, reject) => {
    const payload = JSON.stringify(body);
    const req = http.request({ host: '127.0.0.1', port: stack.port, path: '/v1/chat/completions', method: 'POST', localAddress,
      headers: { 'content-type': 'application/json', authorization: `Bearer ${KEY}`, ...headers } }, (res) => {
      let data = '';
      res.on('data', (d) => { data += d; });
      res.on('end', () => resolve({ status: res.statusCode, text: data, json: JSON.parse(data) }));
    });
    req.on('error', reject);
    req.end(payload);
  });
}
const chatWith = (bearer, model = 'chat', headers = {}) => fetch(`${stack.url}/v1/chat/completions`, {
  method: 'POST',
  headers: { 'content-type': 'application/json', authorization: `Bearer ${bearer}`, ...headers },
  body: JSON.stringify(chatBody(model)),
});
const auth = { authorization: `Bearer ${KEY}` };
const fingerprint = (name) => new crypto.X509Certificate(fs.readFileSync(file(`${name}.crt`))).fingerprint256;
// Waits for a request log line that satisfies `pred` (the line is written after the answer).
async function logged(pred) {
  for (let i = 0; i < 400; i++) {
    const lines = stack.logs.stdout.trim().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
    const hit = lines.find(pred);
    if (hit) return hit;
    await new Promise((r) => setTimeout(r, 25));
  }
  assert.fail('no such request log line');
}
async function refused(send, status, why) {
  const before = stack.upstream.requests.length;
  const r = await send();
  assert.equal(r.status, status, r.text);
  if (why) assert.match(r.json.error.message, why);
  assert.equal(stack.upstream.requests.length, before, `${why} reached an upstream`);
  return r;
}

// ---- TLS on the listener ----

test('an API key over TLS reaches the model; TLS 1.2 and 1.3 are both served', async () => {
  for (const maxVersion of ['TLSv1.2', 'TLSv1.3']) {
    const before = stack.upstream.requests.length;
    const r = await httpsRequest('/v1/chat/completions', { body: chatBody(), headers: auth, maxVersion });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.protocol, maxVersion);
    assert.equal(stack.upstream.requests.length, before + 1);
  }
});

test('TLS 1.1 and plain HTTP on the TLS port are refused before anything is read', async () => {
  const before = stack.upstream.requests.length;
  await assert.rejects(httpsRequest('/v1/chat/completions', {
    body: chatBody(), headers: auth, minVersion: 'TLSv1', maxVersion: 'TLSv1.1',
  }));
  const reply = await new Promise((resolve) => {
    const s = net.connect(tlsPort, '127.0.0.1');
    let data = '';
    s.on('data', (d) => { data += d.toString('latin1'); });
    s.on('close', () => resolve(data));
    s.on('error', () => resolve(data));
    s.write(`GET /v1/models HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${KEY}\r\n\r\n`);
  });
  assert.doesNotMatch(reply, /^HTTP\/1\.1 200/);
  assert.equal(stack.upstream.requests.length, before);
  const metrics = await (await fetch(`http://127.0.0.1:${stack.adminPort}/metrics`)).text();
  assert.match(metrics, /warden_tls_handshake_failures_total [1-9]/);
});

test('a missing credential over TLS is a 401 that reaches no upstream', async () => {
  await refused(() => httpsRequest('/v1/chat/completions', { body: chatBody() }), 401, /Missing API key/);
});

test('warden check refuses plain HTTP off loopback, a key that does not match, and a bad file', () => {
  const params = { port: 1, adminPort: 2, upstreamPort: 3, deadPort: 4 };
  const check = (listen) => {
    const p = file('check.yaml');
    fs.writeFileSync(p, configYaml({ ...params, listen }));
    return spawnSync(bin, ['check', p], { encoding: 'utf8' });
  };
  const tlsLine = (crt, key, more = '') => `  listeners:\n    - {listen: "0.0.0.0:8443", tls: {cert_file: "${file(crt)}", key_file: "${file(key)}"${more}}}`;
  let r = check('  listen: 0.0.0.0:8080');
  assert.equal(r.status, 1);
  assert.match(r.stdout + r.stderr, /check\.yaml:\d+: plain HTTP \('listen'\) only on a loopback address/);
  r = check('  listeners:\n    - {listen: "10.1.2.3:8080"}');
  assert.match(r.stdout + r.stderr, /a listener without 'tls' must be on a loopback address/);
  r = check(tlsLine('server.crt', 'server2.key'));
  assert.match(r.stdout + r.stderr, /key_file '.*server2\.key' does not match cert_file/);
  r = check(tlsLine('nope.crt', 'server.key'));
  assert.match(r.stdout + r.stderr, /cert_file '.*nope\.crt' cannot be used/);
  r = check(tlsLine('server.crt', 'server.key', ', client_certs: required'));
  assert.match(r.stdout + r.stderr, /'client_certs' needs 'client_ca_file'/);
  r = check(tlsLine('server.crt', 'server.key'));
  assert.equal(r.status, 0, r.stdout + r.stderr);
});

// ---- tokens ----

test('a token signed with each accepted algorithm authenticates; its claims name the principal', async () => {
  for (const alg of Object.keys(KEYS)) {
    const t = token({ alg });
    const r = await chatWith(t);
    assert.equal(r.status, 200, `${alg}: ${await r.text()}`);
    await logged((l) => l.principal === `user-${alg}` && l.status === 200);
    // A repeated token is served from the worker's cache, and gives the same answer.
    assert.equal((await chatWith(t)).status, 200);
  }
  assert.equal((await chatWith(KEY)).status, 200, 'API keys keep working beside tokens');
});

test('principal.groups from the token decide: a caller outside the group is refused (403)', async () => {
  assert.equal((await fetch(`${stack.url}/v1/embeddings`, { method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token()}` },
    body: JSON.stringify({ model: 'embed', input: 'hi' }) })).status, 200);
  const before = stack.upstream.requests.length;
  const r = await fetch(`${stack.url}/v1/embeddings`, { method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token({ claims: { groups: ['sales'] } })}` },
    body: JSON.stringify({ model: 'embed', input: 'hi' }) });
  assert.equal(r.status, 403);
  assert.match((await r.json()).error.message, /eng-group-only-for-embed/);
  assert.equal(stack.upstream.requests.length, before);
});

test('tokens that must not pass get 401 naming the check, and reach no upstream', async () => {
  const good = token();
  const [h, p, sig] = good.split('.');
  const forged = JSON.parse(Buffer.from(p, 'base64url'));
  forged.sub = 'admin';
  const hh = b64u(JSON.stringify({ alg: 'HS256', kid: 'k-HS256' }));
  const pp = b64u(JSON.stringify({ iss: 'https://idp.example', aud: 'warden', sub: 'x', exp: now() + 600 }));
  const hs = `${hh}.${pp}.${b64u(crypto.createHmac('sha256', 'a shared secret that must not be used').update(`${hh}.${pp}`).digest())}`;
  const cases = [
    [`${h}.${b64u(JSON.stringify(forged))}.${sig}`, /signature does not verify/],
    [`${b64u(JSON.stringify({ alg: 'none', kid: 'k-ES256' }))}.${p}.`, /algorithm not accepted/],
    [hs, /algorithm not accepted/],
    [token({ claims: { exp: now() - 120 } }), /Expired token/],
    [token({ claims: { aud: 'another-service' } }), /wrong audience/],
    [token({ claims: { nbf: now() + 3600 } }), /not valid yet/],
    [token({ iss: 'https://unknown.example' }), /unknown issuer/],
    [token({ kid: 'k-RS256' }), /does not sign with its algorithm/],
    [token({ alg: 'ES256', key: rotated.privateKey }), /signature does not verify/],
    [token({ claims: { exp: undefined } }), /no 'exp' claim/],
    [token({ header: { crit: ['b64'] } }), /critical header/],
  ];
  for (const [t, why] of cases) {
    const before = stack.upstream.requests.length;
    const r = await chatWith(t);
    const body = await r.text();
    assert.equal(r.status, 401, `${why}: ${body}`);
    assert.match(JSON.parse(body).error.message, why);
    assert.equal(stack.upstream.requests.length, before, `${why} reached an upstream`);
    const s = t.split('.')[2];
    if (s.length > 20) {
      assert.ok(!body.includes(s) && !stack.logs.stdout.includes(s) && !stack.logs.stderr.includes(s),
        'the token appears in no answer and no log');
    }
  }
});

test('keys from a jwks_uri: fetched when needed, again for a new kid, rate-limited, fail closed', async () => {
  const rotating = `http://127.0.0.1:${jwksPort}/rotating`;
  const es = (kid, key = KEYS.ES256.privateKey, iss = rotating) => token({ alg: 'ES256', key, kid, iss });
  const before = served.fetches;
  assert.equal((await chatWith(es('r1'))).status, 200);
  assert.equal(served.fetches, before + 1, 'the first token fetched the keys');
  assert.equal((await chatWith(es('r1'))).status, 200);
  assert.equal(served.fetches, before + 1, 'held keys serve the next one');

  // The issuer rotates: a token with the new kid makes the gateway fetch again (once the
  // minimum interval of 1 s since the last attempt has passed).
  served.keys = [jwkOf(KEYS.ES256.publicKey, 'r1', 'ES256'), jwkOf(rotated.publicKey, 'r2', 'ES256')];
  await new Promise((r) => setTimeout(r, 1100));
  assert.equal((await chatWith(es('r2', rotated.privateKey))).status, 200);
  assert.equal(served.fetches, before + 2);

  // Another issuer on a long minimum interval: an unknown kid does not make it fetch again.
  const limited = `http://127.0.0.1:${jwksPort}/limited`;
  assert.equal((await chatWith(es('r1', KEYS.ES256.privateKey, limited))).status, 200);
  const fetched = served.fetches;
  for (let i = 0; i < 3; i++) {
    const r = await chatWith(es(`unknown-${i}`, KEYS.ES256.privateKey, limited));
    assert.equal(r.status, 401);
    assert.match((await r.json()).error.message, /no key of the issuer has its 'kid'/);
  }
  assert.equal(served.fetches, fetched, 'unknown kids are rate-limited');

  // OIDC discovery finds the same key set.
  assert.equal((await chatWith(es('r1', KEYS.ES256.privateKey, `http://127.0.0.1:${jwksPort}/oidc`))).status, 200);

  // An issuer whose keys cannot be had: closed.
  const before2 = stack.upstream.requests.length;
  const r = await chatWith(es('r1', KEYS.ES256.privateKey, `http://127.0.0.1:${downPort}/down`));
  assert.equal(r.status, 401);
  assert.match((await r.json()).error.message, /keys cannot be had/);
  assert.equal(stack.upstream.requests.length, before2);
  assert.match(stack.logs.stderr, /keys could not be fetched/);
});

test('warden check reports issuers that cannot work', () => {
  const p = file('issuers.yaml');
  const base = configYaml({ port: 1, adminPort: 2, upstreamPort: 3, deadPort: 4 });
  const cases = [
    ['{issuer: "https://a", jwks_file: "/nonexistent/jwks.json", audiences: [w]}', /jwks_file '\/nonexistent\/jwks\.json' cannot be read/],
    ['{issuer: "https://a", jwks_uri: "http://idp.example/jwks", audiences: [w]}', /'jwks_uri' must be https:\/\//],
    ['{issuer: "https://a", jwks_uri: "https://idp.example/jwks"}', /needs 'audiences'/],
    ['{issuer: "https://a", audiences: [w]}', /exactly one of 'jwks_file', 'jwks_uri' or 'discovery: true'/],
    ['{issuer: "https://a", discovery: true, audiences: [w], algorithms: [HS256]}', /algorithm 'HS256' is not accepted/],
  ];
  for (const [issuer, why] of cases) {
    fs.writeFileSync(p, `${base}identity:\n  jwt:\n    issuers:\n      - ${issuer}\n`);
    const r = spawnSync(bin, ['check', p], { encoding: 'utf8' });
    assert.equal(r.status, 1, issuer);
    assert.match(r.stdout + r.stderr, why);
  }
});

// ---- devices ----

test('mTLS: the certificate names the device; its SPIFFE ID, else its subject', async () => {
  let r = await httpsRequest('/v1/chat/completions', { body: chatBody(), headers: auth, ...dev });
  assert.equal(r.status, 200, r.text);
  r = await httpsRequest('/v1/chat/completions', { body: chatBody(), headers: auth, ...plainCn });
  assert.equal(r.status, 200, r.text);
  // Without posture the device is not known to be managed: the in-house-only rule refuses.
  r = await refused(() => httpsRequest('/v1/chat/completions', { body: chatBody('echo'), headers: auth, ...dev }), 403,
    /unmanaged-devices-only-in-house \(the device meets device.managed not_in \[true\]\)/);
});

test('expired, revoked and foreign client certificates fail the handshake', async () => {
  for (const c of [expired, revoked, strangerCa]) {
    const before = stack.upstream.requests.length;
    await assert.rejects(httpsRequest('/v1/chat/completions', { body: chatBody(), headers: auth, ...c }));
    assert.equal(stack.upstream.requests.length, before);
  }
});

test('posture bound to the client certificate makes the device managed', async () => {
  const r = await httpsRequest('/v1/chat/completions', {
    body: chatBody('echo'), headers: { ...auth, 'x-device-posture': posture({ device_id: SPIFFE }) }, ...dev });
  assert.equal(r.status, 200, r.text);
});

test('posture bound to the device in the caller\'s token makes it managed', async () => {
  const t = token({ claims: { deviceid: 'mac-42' } });
  assert.equal((await chatWith(t, 'echo', { 'x-device-posture': posture({ device_id: 'mac-42' }) })).status, 200);
});

test('posture with nothing to bind it to is not believed; too old is absent; another device is 401', async () => {
  // An API key names no device: the posture could be anyone's (device.bound false).
  await refused(() => plain(chatBody('echo'), { 'x-device-posture': posture({ device_id: 'mac-42' }) }), 403,
    /unmanaged-devices-only-in-house/);
  // Older than max_age_s (300): as if there were none.
  await refused(() => httpsRequest('/v1/chat/completions', {
    body: chatBody('echo'), headers: { ...auth, 'x-device-posture': posture({ device_id: SPIFFE, iat: now() - 3600 }) }, ...dev }),
  403, /unmanaged-devices-only-in-house/);
  // For another device than the certificate's, or than the token's.
  await refused(() => httpsRequest('/v1/chat/completions', {
    body: chatBody(), headers: { ...auth, 'x-device-posture': posture({ device_id: 'mac-42' }) }, ...dev }),
  401, /for another device/);
  const t = token({ claims: { deviceid: 'mac-42' } });
  const r = await chatWith(t, 'chat', { 'x-device-posture': posture({ device_id: 'mac-43' }) });
  assert.equal(r.status, 401);
  assert.match((await r.json()).error.message, /for another device/);
  // Signed with another key.
  const forged = jws('EdDSA', KEYS.EdDSA.privateKey, 'mdm-1', { iat: now(), device_id: SPIFFE, managed: true });
  await refused(() => httpsRequest('/v1/chat/completions', {
    body: chatBody(), headers: { ...auth, 'x-device-posture': forged }, ...dev }), 401, /device posture token: the signature/);
  assert.ok(!stack.logs.stdout.includes(forged.split('.')[2]), 'no posture token in the log');
});

const HASH = 'a'.repeat(16) + 'B'.repeat(16) + '0123456789abcdef'.repeat(2);
test('X-Forwarded-Client-Cert only from a configured proxy address', async () => {
  const xfcc = { 'x-forwarded-client-cert': `By=spiffe://gw;Hash=${HASH};Subject="CN=proxy-dev";URI=${SPIFFE}` };
  await refused(() => plain(chatBody(), xfcc), 401, /accepted only from a configured proxy/);
  const r = await plain(chatBody('echo'), { ...xfcc, 'x-device-posture': posture({ device_id: SPIFFE }) }, '127.0.0.2');
  assert.equal(r.status, 200, r.text);
});

test('X-Forwarded-Client-Cert: only its last element counts; its Hash names a certificate without URI or CN', async () => {
  const header = (v) => ({ 'x-forwarded-client-cert': v });
  // The element of a proxy further out names the managed laptop; the nearest proxy's element
  // names a certificate by its hash alone, so posture for the laptop is for another device.
  const chain = `By=spiffe://edge;URI=${SPIFFE},By=spiffe://gw;Hash=${HASH};Subject="O=Example Corp"`;
  await refused(() => plain(chatBody('echo'), { ...header(chain), 'x-device-posture': posture({ device_id: SPIFFE }) }, '127.0.0.2'),
    401, /for another device/);
  const hashed = `sha256:${HASH.toLowerCase()}`;
  const r = await plain(chatBody('echo'), { ...header(chain), 'x-device-posture': posture({ device_id: hashed }) }, '127.0.0.2');
  assert.equal(r.status, 200, r.text);
  await refused(() => plain(chatBody(), header('By=spiffe://gw;Hash=abc;Subject="O=Example Corp"'), '127.0.0.2'),
    401, /its Hash is not a SHA-256 in hex/);
  await refused(() => plain(chatBody(), header('By=spiffe://gw;Subject="O=Example Corp"'), '127.0.0.2'),
    401, /names no device \(URI, CN or Hash\)/);
});

test('device labels from the certificate\'s subject and a bound posture token, named in the 403', async () => {
  // mTLS: OU (with an escaped comma) becomes device.labels.unit.
  let r = await refused(() => httpsRequest('/v1/chat/completions', { body: chatBody(), headers: auth, ...kiosk }), 403,
    /lobby-unit-no-chat \(the device meets device\.labels\.unit in \[Kiosks, Lobby\]\)/);
  // The same subject from a fronting proxy.
  r = await refused(() => plain(chatBody(), { 'x-forwarded-client-cert': `Hash=${HASH};Subject="CN=kiosk-2,OU=Kiosks\\, Lobby,O=Example Corp"` }, '127.0.0.2'),
    403, /lobby-unit-no-chat/);
  // A posture claim, believed from a token bound to the certificate's device.
  r = await refused(() => httpsRequest('/v1/chat/completions', {
    body: chatBody(), headers: { ...auth, 'x-device-posture': posture({ device_id: SPIFFE, fleet: 'kiosk' }) }, ...dev }),
  403, /kiosk-fleet-no-chat \(the device meets device\.labels\.fleet in \[kiosk\]\)/);
  // Not from one with nothing to bind it to.
  r = await plain(chatBody(), { 'x-device-posture': posture({ device_id: 'mac-42', fleet: 'kiosk' }) });
  assert.equal(r.status, 200, r.text);
  // The posture keys came from their jwks_uri (fetched once, then held).
  assert.ok(postureFetches() >= 1);
  assert.ok(postureFetches() <= 2, `posture keys fetched ${postureFetches()} times`);
});

test('a resumed mTLS session names the same device: its certificate is kept with the session', async () => {
  const agent = new https.Agent({ keepAlive: false, maxCachedSessions: 10 });
  const first = await refused(() => httpsRequest('/v1/chat/completions', { body: chatBody(), headers: auth, agent, ...kiosk }),
    403, /lobby-unit-no-chat/);
  assert.equal(first.reused, false);
  const again = await refused(() => httpsRequest('/v1/chat/completions', { body: chatBody(), headers: auth, agent, ...kiosk }),
    403, /lobby-unit-no-chat/);
  assert.equal(again.reused, true);
  const other = await httpsRequest('/v1/chat/completions', { body: chatBody(), headers: auth, agent, ...dev });
  assert.equal(other.status, 200, other.text);
});

test('warden explain --device decides with the described device and names its conditions', () => {
  const explain = (model, device) => spawnSync(bin, ['explain', '--config', stack.configPath, '--key', KEY, '--model', model,
    '--text', 'hello', ...(device ? ['--device', device] : [])], { encoding: 'utf8' });
  let r = explain('echo', '{id: laptop-7, managed: false}');
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /device: laptop-7/);
  assert.match(r.stdout, /DENY[\s\S]*reason: forbidden by rule unmanaged-devices-only-in-house \(the device meets device\.managed not_in \[true\]\)/);
  r = explain('echo', '{id: laptop-7, managed: true}');
  assert.match(r.stdout, /PERMIT/);
  assert.doesNotMatch(r.stdout, /DENY/);
  // Posture not bound: managed is not believed.
  r = explain('echo', '{id: laptop-7, managed: true, bound: false}');
  assert.match(r.stdout, /posture not bound[\s\S]*DENY/);
  r = explain('chat', '{labels: {fleet: kiosk}}');
  assert.match(r.stdout, /reason: forbidden by rule kiosk-fleet-no-chat \(the device meets device\.labels\.fleet in \[kiosk\]\)/);
  r = explain('chat', '{labels: [not, a, map]}');
  assert.equal(r.status, 1);
  assert.match(r.stderr, /--device/);
});

test('the official openai client over HTTPS with a client certificate and a token', async () => {
  const agent = new https.Agent({ ca, servername: 'localhost', ...dev });
  const client = new OpenAI({ apiKey: token({ alg: 'EdDSA' }), baseURL: `https://localhost:${tlsPort}/v1`, maxRetries: 0,
    httpAgent: agent, defaultHeaders: { 'x-device-posture': posture({ device_id: SPIFFE }) } });
  const res = await client.chat.completions.create(chatBody('echo'));
  assert.equal(res.choices[0].message.content.length > 0, true);
  await logged((l) => l.principal === 'user-EdDSA' && l.model === 'echo' && l.status === 200);
});

// ---- reloads (last: they change the served files) ----

test('SIGHUP serves a new certificate to new connections, and a new CRL to resumed sessions', async () => {
  const agent = new https.Agent({ keepAlive: false, maxCachedSessions: 10 });
  const get = () => httpsRequest('/v1/models', { method: 'GET', headers: auth, agent, ...plainCn });
  let r = await get();
  assert.equal(r.fingerprint, fingerprint('server'));
  r = await get();
  assert.equal(r.status, 200);
  fs.copyFileSync(file('server2.crt'), file('live.crt'));
  fs.copyFileSync(file('server2.key'), file('live.key'));
  openssl('ca', '-config', 'ca.cnf', '-revoke', 'desktop-3.crt');
  writeCrl();
  const reloads = stack.logs.stderr.split('configuration reloaded').length;
  stack.proc.kill('SIGHUP');
  for (let i = 0; i < 400 && stack.logs.stderr.split('configuration reloaded').length === reloads; i++) {
    await new Promise((res) => setTimeout(res, 25));
  }
  // The client offers its cached session; the revoked certificate is refused all the same.
  await assert.rejects(get());
  r = await httpsRequest('/v1/models', { method: 'GET', headers: auth });
  assert.equal(r.status, 200);
  assert.equal(r.fingerprint, fingerprint('server2'));
});

test('a reload with an unreadable key is rejected and the old certificate keeps serving', async () => {
  const current = (await httpsRequest('/v1/models', { method: 'GET', headers: auth })).fingerprint;
  fs.writeFileSync(file('live.key'), 'not a key\n');
  const failures = stack.logs.stderr.split('reload rejected').length;
  stack.proc.kill('SIGHUP');
  for (let i = 0; i < 400 && stack.logs.stderr.split('reload rejected').length === failures; i++) {
    await new Promise((res) => setTimeout(res, 25));
  }
  assert.match(stack.logs.stderr, /reload rejected: .*key_file '.*live\.key' cannot be used/);
  const r = await httpsRequest('/v1/models', { method: 'GET', headers: auth });
  assert.equal(r.status, 200);
  assert.equal(r.fingerprint, current);
});
