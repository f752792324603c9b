// Limits on a Redis primary that Redis Sentinel watches: the gateway asks the sentinel for the
// primary, and after a failover (SENTINEL FAILOVER: the replica is promoted, the old primary
// demoted and its clients closed) it asks again and goes on counting where the old primary
// left off. Real servers on loopback ports: a primary, its replica and one sentinel.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { chatBody, freePort, startStack } from './harness.mjs';

const sha = (s) => crypto.createHash('sha256').update(s).digest('hex');
const bin = process.env.WARDEN_BIN ?? new URL('../../build/warden', import.meta.url).pathname;
const keysExtra = `  - sha256: ${sha('sk-tok')}\n    principal: {id: tok, labels: {tok: x}}\n`;
const cli = (port, ...args) => spawnSync('redis-cli', ['-p', String(port), ...args], { encoding: 'utf8' }).stdout.trim();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
async function until(what, f) {
  for (let i = 0; i < 300; i++) {
    if (await f()) return;
    await sleep(50);
  }
  throw new Error(`timed out waiting: ${what}`);
}
const listening = (port) => new Promise((resolve) => {
  const s = net.connect(port, '127.0.0.1', () => { s.destroy(); resolve(true); });
  s.on('error', () => resolve(false));
});

const procs = [];
let dir;
let ports;
let stack;
function server(args) {
  const p = spawn('redis-server', args, { stdio: 'ignore' });
  procs.push(p);
  return p;
}

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-sentinel-'));
  ports = { primary: await freePort(), replica: await freePort(), sentinel: await freePort() };
  const common = ['--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir];
  server(['--port', String(ports.primary), ...common]);
  server(['--port', String(ports.replica), ...common, '--replicaof', '127.0.0.1', String(ports.primary)]);
  // The sentinel rewrites its configuration file: one of its own in the test's directory.
  const conf = path.join(dir, 'sentinel.conf');
  fs.writeFileSync(conf, `port ${ports.sentinel}
bind 127.0.0.1
dir ${dir}
sentinel monitor warden 127.0.0.1 ${ports.primary} 1
sentinel down-after-milliseconds warden 2000
sentinel failover-timeout warden 10000
`);
  await until('primary and replica', async () => await listening(ports.primary) && await listening(ports.replica));
  await until('replica in sync', () => /master_link_status:up/.test(cli(ports.replica, 'INFO', 'replication')));
  server([conf, '--sentinel']);
  await until('sentinel sees the replica', () => {
    const lines = cli(ports.sentinel, 'SENTINEL', 'REPLICAS', 'warden').split('\n');
    return lines[lines.indexOf('flags') + 1] === 'slave';
  });
  // The sentinel by a host name: looked up off the worker, as `redis` is.
  stack = await startStack({
    keysExtra,
    extra: `limits:
  redis_sentinel: {master: warden, sentinels: ["localhost:${ports.sentinel}"]}
  redis_timeout_ms: 2000
  rules:
    - {name: s-tokens, key: "label:tok", tokens_per_day: 2000}
`,
  });
});
after(async () => {
  await stack?.stop();
  for (const p of procs) p.kill('SIGKILL');
  fs.rmSync(dir, { recursive: true, force: true });
});

const chat = () => fetch(`${stack.url}/v1/chat/completions`, {
  method: 'POST',
  headers: { 'content-type': 'application/json', authorization: 'Bearer sk-tok' },
  body: JSON.stringify(chatBody('chat', { max_tokens: 100 })),
});
const worst = Buffer.byteLength(JSON.stringify(chatBody('chat', { max_tokens: 100 }))) + 100;

test('the primary named by the sentinel holds the limits; after a failover the new one goes on counting', async () => {
  // Served on the primary the sentinel names: each settles at the 20 tokens the upstream reports.
  for (let i = 1; i <= 3; i++) {
    const r = await chat();
    await r.arrayBuffer();
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('x-ratelimit-remaining-tokens'), String(2000 - 20 * (i - 1) - worst));
  }
  // Replication is asynchronous and a manual failover does not wait for it: what the replica
  // has not received is lost (WAIT would only count this client's own writes, none).
  const offset = (port, field) => Number(new RegExp(`${field}:(\\d+)`).exec(cli(port, 'INFO', 'replication'))?.[1]);
  await until('the replica has the counts', () =>
    offset(ports.replica, 'slave_repl_offset') >= offset(ports.primary, 'master_repl_offset'));
  assert.equal(cli(ports.sentinel, 'SENTINEL', 'FAILOVER', 'warden'), 'OK');
  await until('the replica promoted', () =>
    cli(ports.sentinel, 'SENTINEL', 'GET-MASTER-ADDR-BY-NAME', 'warden').endsWith(String(ports.replica)));
  await until('the old primary demoted', () => cli(ports.primary, 'ROLE').startsWith('slave'));
  // During the switch a request may find no primary: refused (fail_closed, 503), never unlimited.
  let served = 3;
  let r;
  for (let i = 0; i < 200; i++) {
    r = await chat();
    await r.arrayBuffer();
    if (r.status !== 503) break;
    await sleep(50);
  }
  assert.equal(r.status, 200, 'served again once the new primary is known');
  assert.equal(r.headers.get('x-ratelimit-remaining-tokens'), String(2000 - 20 * served - worst),
    'the new primary counts on from the old one');
  served++;
  for (;;) {
    r = await chat();
    await r.arrayBuffer();
    if (r.status !== 200) break;
    served++;
  }
  // A refusal for any other reason says what the store saw.
  const storeMetrics = async () => (await (await fetch(`http://127.0.0.1:${stack.adminPort}/metrics`)).text())
    .split('\n').filter((l) => l.startsWith('warden_limit_store')).join('\n');
  assert.equal(r.status, 429, r.status === 429 ? '' : await storeMetrics());
  assert.equal(served, Math.floor((2000 - worst) / 20) + 1, 'the budget held across the failover');
  // The counts are on the new primary; the old one, now its replica, follows.
  assert.match(cli(ports.replica, 'ROLE'), /^master/);
  // `warden limits show` asks the sentinel too.
  const show = spawnSync(bin, ['limits', 'show', '--config', stack.configPath], { encoding: 'utf8' });
  assert.equal(show.status, 0, show.stderr);
  assert.match(show.stdout, new RegExp(`^s-tokens\\|label:tok=x  tokens  limit 2000  used ${20 * served}  reserved 0`, 'm'));
});

test('warden check: redis and redis_sentinel exclude each other; sentinels are host:port', () => {
  const conf = path.join(dir, 'bad.yaml');
  const good = fs.readFileSync(stack.configPath, 'utf8');
  fs.writeFileSync(conf, good.replace('redis_sentinel:', 'redis: 127.0.0.1:1\n  redis_sentinel:').replace(`localhost:${ports.sentinel}`, 'nowhere'));
  const r = spawnSync(bin, ['check', conf], { encoding: 'utf8' });
  assert.equal(r.status, 1);
  assert.match(r.stderr, /'redis' and 'redis_sentinel' exclude each other/);
  assert.match(r.stderr, /a sentinel must be host:port/);
});
