// Limits and budgets (stage 7) with the in-process store: a request reserves its worst case
// against every limit it meets, all or nothing, and settles with its usage; what does not fit is
// 429 in OpenAI's shape and reaches no upstream. Each test has a principal of its own whose label
// is the key of the rule under test (a rule keyed by a label the principal lacks does not apply).
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { after, before, beforeEach, describe, test } from 'node:test';
import { chatBody, freePort, stallResolver, startStack } from './harness.mjs';

const sha = (s) => crypto.createHash('sha256').update(s).digest('hex');
const bin = process.env.WARDEN_BIN ?? new URL('../../build/warden', import.meta.url).pathname;
// The audit records written so far (batched: committed within 100 ms; polled until `want` holds).
async function auditRecords(db, want) {
  for (let i = 0; ; i++) {
    const out = execFileSync(bin, ['audit', 'export', '--db', db, '--format', 'jsonl'], { maxBuffer: 1 << 28 }).toString();
    const records = out.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l).record);
    if (want(records) || i === 100) return records;
    await new Promise((r) => setTimeout(r, 50));
  }
}
const principals = {
  rate: '{rpm: x}', tokens: '{tok: x}', race: '{race: x}', streams: '{streams: x}',
  failing: '{fail: x}', group_p: '{groups: "a, b"}', group_q: '{groups: b}', usage: '{usage: x}',
  spend: '{spend: x}', spend2: '{spend2: x}', energy: '{energy: x}',
  multi: '{rpm: m, usage: m, tok: m}',
};
const keysExtra = Object.entries(principals).map(([id, labels]) =>
  `  - sha256: ${sha(`sk-${id}`)}\n    principal: {id: ${id}, labels: ${labels}}\n`).join('');
// Priced deployments (per million tokens, in the catalog's currency): the first of 'priced2' is
// cheaper than the second it may fail over to.
const priced = (name, ...deps) => `  - name: ${name}
    developer: Test
    origin: EU
    deployments:
${deps.map(([d, upstream, pin, pout]) => `      - {name: ${d}, provider: up, upstream_model: ${upstream}, operator: Test, jurisdiction: DE, region: eu, price: {input_per_mtok: ${pin}, output_per_mtok: ${pout}}}`).join('\n')}
`;
const models = priced('priced', ['priced-a', 'test-1', 10, 30]) +
  priced('priced2', ['priced2-a', 'test-1', 1, 3], ['priced2-b', 'test-b', 10, 30]) +
  `  - name: green
    developer: Test
    origin: EU
    deployments:
      - {name: green-a, provider: up, upstream_model: test-1, operator: Test, jurisdiction: DE, region: eu,
         hardware: h100, grid_region: DE, energy: {wh_per_mtok_in: 50, wh_per_mtok_out: 200}}
      - {name: green-b, provider: up, upstream_model: test-b, operator: Test, jurisdiction: DE, region: eu,
         hardware: l4, grid_region: SE, energy: {wh_per_mtok_in: 10, wh_per_mtok_out: 40}}
`;
// Energy rules read the deployment's hardware and figures: a principal labelled `energy` may not
// use H100s nor anything above 100 Wh per million output tokens.
const rules = `    - id: energy-no-h100
      effect: forbid
      when: [{attr: principal.labels.energy, op: exists}, {attr: deployment.hardware, op: in, values: [h100]}]
    - id: energy-frugal
      effect: forbid
      when: [{attr: principal.labels.energy, op: exists}, {attr: deployment.energy.wh_per_mtok_out, op: gt, values: [100]}]
`;
const extra = `catalog:
  currency: EUR
limits:
  default_max_tokens: 50
  rules:
    - {name: rpm, key: "label:rpm", requests_per_minute: 3}
    - {name: tokens, key: "label:tok", tokens_per_day: 1000}
    - {name: race, key: "label:race", tokens_per_day: 600}
    - {name: streams, key: "label:streams", concurrent_streams: 1}
    - {name: failing, key: "label:fail", requests_per_minute: 2}
    - {name: groups, key: "label:groups", requests_per_minute: 2}
    - {name: usage, key: "label:usage", tokens_per_minute: 100000}
    - {name: spend, key: "label:spend", spend_per_day: 0.01}
    - {name: spend2, key: "label:spend2", spend_per_month: 1}
    - {name: energy, key: "label:energy", energy_wh_per_day: 0.01}
`;

let stack;
before(async () => { stack = await startStack({ keysExtra, extra, models, rules }); });
after(async () => { await stack.stop(); });
beforeEach(() => stack.upstream.clear());

function chat(who, model = 'chat', extraBody = {}, init = {}) {
  return fetch(`${stack.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer sk-${who}` },
    body: JSON.stringify(chatBody(model, extraBody)),
    ...init,
  });
}

const bodyBytes = (extraBody, model = 'chat') => Buffer.byteLength(JSON.stringify(chatBody(model, extraBody)));

test('a request rate: the burst is served, the next is 429 with Retry-After and x-ratelimit-*', async () => {
  for (let i = 0; i < 3; i++) {
    const r = await chat('rate');
    assert.equal(r.status, 200, `request ${i}`);
    assert.equal(r.headers.get('x-ratelimit-limit-requests'), '3');
    assert.equal(r.headers.get('x-ratelimit-remaining-requests'), String(2 - i));
    await r.arrayBuffer();
  }
  const refused = await chat('rate');
  assert.equal(refused.status, 429);
  const body = await refused.json();
  assert.equal(body.error.type, 'rate_limit_error');
  assert.equal(body.error.code, 'rate_limit_exceeded');
  assert.match(body.error.message, /Rate limit 'rpm' reached: 3 requests per minute/);
  assert.ok(Number(refused.headers.get('retry-after')) >= 1);
  assert.equal(refused.headers.get('x-ratelimit-limit-requests'), '3');
  assert.equal(refused.headers.get('x-ratelimit-remaining-requests'), '0');
  assert.match(refused.headers.get('x-ratelimit-reset-requests'), /^(\d+m)?\d+s$/);
  assert.equal(stack.upstream.requests.length, 3, 'the refused request reached no upstream');
  const metrics = await (await fetch(`http://127.0.0.1:${stack.adminPort}/metrics`)).text();
  assert.match(metrics, /^warden_limit_rejections_total\{rule="rpm"\} 1$/m);
  // Other principals do not share the counter.
  assert.equal((await chat('usage')).status, 200);
});

test('a token budget reserves the worst case and settles with the usage the answer reports', async () => {
  const extraBody = { max_tokens: 100 };
  const worst = bodyBytes(extraBody) + 100;
  // The test upstream reports 20 tokens per answer: each settled request leaves 20 used.
  for (let i = 0; i < 8; i++) {
    const r = await chat('tokens', 'chat', extraBody);
    assert.equal(r.status, 200, `request ${i}`);
    assert.equal(r.headers.get('x-ratelimit-remaining-tokens'), String(1000 - 20 * i - worst));
    await r.arrayBuffer();
  }
  // A worst case that no longer fits is refused, though its actual usage might have.
  const big = await chat('tokens', 'chat', { max_completion_tokens: 900 });
  assert.equal(big.status, 429);
  assert.equal(big.headers.get('x-ratelimit-limit-tokens'), '1000');
  assert.equal(big.headers.get('x-ratelimit-remaining-tokens'), String(1000 - 8 * 20));
  assert.match((await big.json()).error.message, /'tokens' reached: 1000 tokens per day/);
  assert.equal(stack.upstream.requests.length, 8);
});

// Spend in millionths of a EUR: 10 per million input tokens is 10 per token.
const spendOf = (input, output, [pin, pout] = [10, 30]) => input * pin + output * pout;
const euros = (micro) => String(micro / 1e6);

test('a spend budget reserves the worst case at the price and settles with the usage', async () => {
  const extraBody = { max_tokens: 100 };
  const worst = spendOf(bodyBytes(extraBody, 'priced'), 100);
  const actual = spendOf(11, 9);  // the test upstream's usage
  let i = 0;
  let r0id;
  for (; actual * i + worst <= 10_000; i++) {
    const r = await chat('spend', 'priced', extraBody);
    assert.equal(r.status, 200, `request ${i}`);
    r0id ??= r.headers.get('x-request-id');
    assert.equal(r.headers.get('x-ratelimit-limit-spend'), '0.01');
    assert.equal(r.headers.get('x-ratelimit-remaining-spend'), euros(10_000 - actual * i - worst));
    await r.arrayBuffer();
  }
  const refused = await chat('spend', 'priced', extraBody);
  assert.equal(refused.status, 429);
  assert.equal(refused.headers.get('x-ratelimit-remaining-spend'), euros(10_000 - actual * i));
  assert.ok(Number(refused.headers.get('retry-after')) >= 1);
  assert.match((await refused.json()).error.message, /Rate limit 'spend' reached: 0\.01 EUR per day/);
  assert.equal(stack.upstream.requests.length, i, 'the refused request reached no upstream');
  // A model without a price costs nothing against it (and is still served).
  assert.equal((await chat('spend', 'chat', extraBody)).status, 200);

  // The audit record (v4 and later) holds the limits each request met: reserved, settled, remaining.
  const ids = [r0id, refused.headers.get('x-request-id')];
  const records = await auditRecords(stack.auditDb, (rs) => ids.every((id) => rs.some((r) => r.request_id === id)));
  const first = records.find((r) => r.request_id === ids[0]);
  assert.ok(first.v >= 4, `v${first.v}`);
  assert.deepEqual(first.limits, [{ key: 'spend|label:spend=x', remaining: 10_000 - worst, reserved: worst, rule: 'spend', settled: actual }]);
  assert.equal(first.limit_refused, undefined);
  const last = records.find((r) => r.request_id === ids[1]);
  assert.equal(last.status, 429);
  assert.equal(last.limit_refused, 'spend');
  assert.deepEqual(last.limits, [{ key: 'spend|label:spend=x', remaining: 10_000 - actual * i, reserved: worst, rule: 'spend', settled: -1 }]);
  // Without limits met, a record has none (and records of every version still verify).
  const plain = records.find((r) => r.principal_id === 'alice');
  assert.equal(plain?.limits, undefined);
  assert.equal(spawnSync(bin, ['audit', 'verify', '--db', stack.auditDb]).status, 0);

  // What the store holds, per key: `warden limits show` (through the admin listener) and metrics.
  const show = spawnSync(bin, ['limits', 'show', '--config', stack.configPath], { encoding: 'utf8' });
  assert.equal(show.status, 0, show.stderr);
  assert.match(show.stdout, new RegExp(`^spend\\|label:spend=x  EUR  limit 0\\.01  used ${euros(actual * i).replace('.', '\\.')}  reserved 0  remaining ${euros(10_000 - actual * i).replace('.', '\\.')}  reset (?:\\d+h)?(?:\\d+m)?\\d+s$`, 'm'));
  const metrics = await (await fetch(`http://127.0.0.1:${stack.adminPort}/metrics`)).text();
  assert.match(metrics, new RegExp(`^warden_limit_remaining\\{rule="spend"\\} ${euros(10_000 - actual * i).replace('.', '\\.')}$`, 'm'));
  assert.match(metrics, /^warden_limit_keys\{rule="spend"\} 1$/m);
});

test('spend: the worst case is at the highest price of the deployments that may answer; the usage at the one that did', async () => {
  const extraBody = { max_tokens: 100 };
  const bytes = bodyBytes(extraBody, 'priced2');
  const first = await chat('spend2', 'priced2', extraBody);
  assert.equal(first.status, 200);
  assert.equal(first.headers.get('x-warden-deployment'), 'priced2-a');
  assert.equal(first.headers.get('x-ratelimit-remaining-spend'), euros(1e6 - spendOf(bytes, 100)));
  await first.arrayBuffer();
  // Settled at priced2-a's price (1 and 3 per million).
  const second = await chat('spend2', 'priced2', extraBody);
  assert.equal(second.headers.get('x-ratelimit-remaining-spend'),
    euros(1e6 - spendOf(11, 9, [1, 3]) - spendOf(bytes, 100)));
  await second.arrayBuffer();
  // A stream under a spend budget: usage is asked for, as for a token limit.
  stack.upstream.clear();
  const streamed = await chat('spend2', 'priced2', { stream: true });
  assert.ok((await streamEvents(streamed)).every((e) => e === '[DONE]' || JSON.parse(e).usage === undefined));
  assert.deepEqual(stack.upstream.requests[0].body.stream_options, { include_usage: true });
});

test('energy: policy reads the deployment\'s hardware and figures; a Wh budget is reserved and settled like spend', async () => {
  const extraBody = { max_tokens: 100 };
  // green-a (h100, 200 Wh per million output tokens) is denied by both rules: green-b serves.
  const worst = spendOf(bodyBytes(extraBody, 'green'), 100, [10, 40]);
  const actual = spendOf(11, 9, [10, 40]);
  let i = 0;
  for (; actual * i + worst <= 10_000; i++) {
    const r = await chat('energy', 'green', extraBody);
    assert.equal(r.status, 200, `request ${i}`);
    assert.equal(r.headers.get('x-warden-deployment'), 'green-b');
    assert.equal(r.headers.get('x-ratelimit-limit-energy'), '0.01');
    assert.equal(r.headers.get('x-ratelimit-remaining-energy'), euros(10_000 - actual * i - worst));
    await r.arrayBuffer();
  }
  const refused = await chat('energy', 'green', extraBody);
  assert.equal(refused.status, 429);
  assert.match((await refused.json()).error.message, /Rate limit 'energy' reached: 0\.01 Wh per day/);
  // Others may use the H100s.
  const other = await chat('usage', 'green');
  assert.equal(other.headers.get('x-warden-deployment'), 'green-a');
  await other.arrayBuffer();
  // `warden explain` shows what the rules read, and why green-a was passed over.
  const ex = spawnSync(bin, ['explain', '--config', stack.configPath, '--key', 'sk-energy', '--model', 'green',
    '--text', 'hello'], { encoding: 'utf8' });
  assert.equal(ex.status, 0, ex.stderr);
  assert.match(ex.stdout, /green-a \[Test, DE, eu, hardware h100, grid DE, 50\/200 Wh per Mtok in\/out\]: DENY\n {4}rules: .*energy-no-h100/);
  assert.match(ex.stdout, /energy-frugal/);
  assert.match(ex.stdout, /green-b \[Test, DE, eu, hardware l4, grid SE, 10\/40 Wh per Mtok in\/out\]: PERMIT/);
});

test('concurrent requests never overspend a budget: all reservations are taken before any settles', async () => {
  const extraBody = { max_tokens: 1 };
  const worst = bodyBytes(extraBody) + 1;
  const results = await Promise.all(Array.from({ length: 60 }, () =>
    chat('race', 'chat', extraBody).then(async (r) => ({ status: r.status, headers: r.headers, text: await r.text() }))));
  const served = results.filter((r) => r.status === 200).length;
  const refused = results.filter((r) => r.status === 429);
  assert.equal(served + refused.length, 60, 'only 200 and 429');
  // Each served request used 20 tokens; they never total more than the budget.
  assert.ok(served * 20 <= 600, `${served} served`);
  assert.ok(served >= Math.floor(600 / worst), `${served} served, ${Math.floor(600 / worst)} fit at once`);
  assert.ok(refused.length > 0);
  for (const r of refused) assert.equal(r.headers.get('x-ratelimit-limit-tokens'), '600');
  assert.equal(stack.upstream.requests.length, served);
});

test('concurrent streams: a second stream waits for the first; a client that leaves releases its place', async () => {
  const first = new AbortController();
  const r1 = await chat('streams', 'slow', { stream: true }, { signal: first.signal });
  assert.equal(r1.status, 200);
  const reader = r1.body.getReader();
  await reader.read();  // the stream is under way
  const r2 = await chat('streams', 'chat', { stream: true });
  assert.equal(r2.status, 429);
  assert.equal(r2.headers.get('x-ratelimit-limit-streams'), '1');
  assert.equal(r2.headers.get('x-ratelimit-remaining-streams'), '0');
  await r2.arrayBuffer();
  // A request that is not streamed does not count against concurrent streams.
  const whole = await chat('streams');
  assert.equal(whole.status, 200);
  await whole.arrayBuffer();
  first.abort();
  // The gateway notices the disconnect at its next write; then the place is free.
  let status = 0;
  for (let i = 0; i < 100 && status !== 200; i++) {
    await new Promise((r) => setTimeout(r, 50));
    const r = await chat('streams', 'chat', { stream: true });
    status = r.status;
    await r.arrayBuffer();
  }
  assert.equal(status, 200);
});

test('a request that no upstream answered gives its reservation back', async () => {
  for (let i = 0; i < 3; i++) {
    const r = await chat('failing', 'refused');
    assert.equal(r.status, 502);
    await r.arrayBuffer();
  }
  for (let i = 0; i < 2; i++) {
    const r = await chat('failing');
    assert.equal(r.status, 200);
    await r.arrayBuffer();
  }
  assert.equal((await chat('failing')).status, 429);
});

test('a label with several values counts against each', async () => {
  for (let i = 0; i < 2; i++) assert.equal((await chat('group_p')).status, 200);
  // group_q shares value b, which group_p has used up.
  const r = await chat('group_q');
  assert.equal(r.status, 429);
  assert.match((await r.json()).error.message, /'groups'/);
});

async function streamEvents(r) {
  const text = await r.text();
  return text.split('\n\n').filter((e) => e.startsWith('data: ')).map((e) => e.slice(6));
}

test('a stream under a token limit: Warden asks for usage, settles with it and removes the event', async () => {
  const r = await chat('usage', 'chat', { stream: true, max_tokens: 40 });
  assert.equal(r.status, 200);
  const events = await streamEvents(r);
  assert.equal(events.at(-1), '[DONE]');
  const json = events.slice(0, -1).map((e) => JSON.parse(e));
  assert.ok(json.length > 2);
  assert.ok(json.every((e) => e.usage === undefined && e.choices.length === 1), 'no usage event');
  const sent = stack.upstream.requests[0].body;
  assert.deepEqual(sent.stream_options, { include_usage: true });
  // Settled with the reported usage (the log line carries it).
  await new Promise((r) => setTimeout(r, 50));
  const line = stack.logs.stdout.trim().split('\n').map((l) => { try { return JSON.parse(l); } catch { return {}; } })
    .filter((l) => l.request_id === r.headers.get('x-request-id')).at(-1);
  assert.equal(line.prompt_tokens, 11);
  assert.equal(line.completion_tokens, 9);
  assert.deepEqual(line.limits, ['usage']);
  // A client that asked for usage gets it, and its body is forwarded as it was.
  stack.upstream.clear();
  const asked = await chat('usage', 'chat', { stream: true, stream_options: { include_usage: true } });
  const withUsage = (await streamEvents(asked)).slice(0, -1).map((e) => JSON.parse(e));
  assert.deepEqual(withUsage.at(-1).usage, { prompt_tokens: 11, completion_tokens: 9, total_tokens: 20 });
  assert.equal(stack.upstream.requests[0].raw.split('stream_options').length, 2, 'once, as the client sent it');
  // Without a token limit nothing is added.
  stack.upstream.clear();
  const plain = await chat('rate', 'echo', { stream: true });
  await plain.arrayBuffer();
  assert.equal(stack.upstream.requests[0]?.body.stream_options, undefined);
});

test('warden check lists the limits, and reports a bad rule with its line', () => {
  const ok = spawnSync(bin, ['check', stack.configPath], { encoding: 'utf8' });
  assert.equal(ok.status, 0, ok.stderr);
  assert.match(ok.stdout, /limits:\nrpm: 3 requests per minute per label:rpm\n/);
  assert.match(ok.stdout, /streams: 1 concurrent streams per label:streams\n/);
  assert.match(ok.stdout, /spend: 0\.01 EUR per day per label:spend\n/);
  assert.match(ok.stdout, /energy: 0\.01 Wh per day per label:energy\n/);
  // Budgets count what deployments are configured to cost: one without figures is pointed out.
  assert.match(ok.stderr, /warning: deployment 'chat-main' has no price: spend budgets count nothing for it/);
  assert.match(ok.stderr, /warning: deployment 'priced-a' has no energy figures/);
  assert.doesNotMatch(ok.stderr, /deployment 'priced-a' has no price/);
  const bad = path.join(stack.dir, 'bad.yaml');
  const text = fs.readFileSync(stack.configPath, 'utf8').replace('requests_per_minute: 3}', 'requests_per_fortnight: 3}');
  fs.writeFileSync(bad, text);
  const line = text.split('\n').findIndex((l) => l.includes('requests_per_fortnight')) + 1;
  const r = spawnSync(bin, ['check', bad], { encoding: 'utf8' });
  assert.equal(r.status, 1);
  assert.match(r.stderr, new RegExp(`bad\\.yaml:${line}: unknown key 'requests_per_fortnight' in limit rule`));
});

// A chat request to gateway `s`.
const on = (s, who, model = 'chat', extraBody = {}, init = {}) => fetch(`${s.url}/v1/chat/completions`, {
  method: 'POST',
  headers: { 'content-type': 'application/json', authorization: `Bearer sk-${who}` },
  body: JSON.stringify(chatBody(model, extraBody)),
  ...init,
});
const metricsOf = async (s) => (await fetch(`http://127.0.0.1:${s.adminPort}/metrics`)).text();
const metric = (text, name) => Number(new RegExp(`^${name.replace(/[{}]/g, '\\$&')} (\\d+)$`, 'm').exec(text)?.[1]);

// The Redis store: replicas share one Redis (a private redis-server on a loopback port, so that
// it can be stopped and restarted); two gateways stand for two replicas, one naming Redis by its
// address, the other by a host name (localhost: looked up before each connection).
describe('with the Redis store', () => {
  let redis;
  let redisPort;
  let a;
  let b;
  const redisExtra = (port, host = '127.0.0.1') => `limits:
  redis: ${host}:${port}
  redis_timeout_ms: 300
  lease_seconds: 2
  rules:
    - {name: r-tokens, key: "label:tok", tokens_per_day: 1000}
    - {name: r-race, key: "label:race", tokens_per_day: 600}
    - {name: r-streams, key: "label:streams", concurrent_streams: 1}
    - {name: closed, key: "label:rpm", requests_per_minute: 1000}
    - {name: open, key: "label:usage", requests_per_minute: 1000, on_store_failure: fail_open}
    - {name: r-spend, key: "label:spend", spend_per_month: 0.01}
`;
  async function startRedis() {
    redis = spawn('redis-server', ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
      { stdio: 'ignore' });
    for (let i = 0; i < 200; i++) {
      const up = await new Promise((resolve) => {
        const s = net.connect(redisPort, '127.0.0.1', () => { s.destroy(); resolve(true); });
        s.on('error', () => resolve(false));
      });
      if (up) return;
      await new Promise((r) => setTimeout(r, 25));
    }
    throw new Error('redis-server did not start');
  }
  async function stopRedis() {
    const exited = new Promise((r) => redis.on('exit', r));
    redis.kill('SIGKILL');
    await exited;
  }
  before(async () => {
    redisPort = await freePort();
    await startRedis();
    a = await startStack({ keysExtra, extra: redisExtra(redisPort), models });
    b = await startStack({ keysExtra, extra: redisExtra(redisPort, 'localhost'), models });
  });
  after(async () => {
    await a.stop();
    await b.stop();
    await stopRedis();
  });
  test('200 concurrent requests on two replicas never overspend the budget they share', async () => {
    const extraBody = { max_tokens: 1 };
    const worst = bodyBytes(extraBody) + 1;
    const results = await Promise.all(Array.from({ length: 200 }, (_, i) =>
      on(i % 2 ? a : b, 'race', 'chat', extraBody).then(async (r) => { await r.arrayBuffer(); return r.status; })));
    const served = results.filter((s) => s === 200).length;
    assert.equal(served + results.filter((s) => s === 429).length, 200, 'only 200 and 429');
    assert.ok(served * 20 <= 600, `${served} served`);
    assert.ok(served >= Math.floor(600 / worst), `${served} served`);
    assert.equal(a.upstream.requests.length + b.upstream.requests.length, served);
  });

  test('a token budget spent on one replica refuses on the other', async () => {
    const extraBody = { max_tokens: 100 };
    const worst = bodyBytes(extraBody) + 100;
    let i = 0;
    for (; i < 100; i++) {
      const r = await on(a, 'tokens', 'chat', extraBody);
      await r.arrayBuffer();
      if (r.status === 429) break;
      assert.equal(r.status, 200);
    }
    assert.equal(i, Math.floor((1000 - worst) / 20) + 1, 'settled at 20 tokens each until the worst case no longer fits');
    const other = await on(b, 'tokens', 'chat', extraBody);
    assert.equal(other.status, 429);
    assert.equal(other.headers.get('x-ratelimit-remaining-tokens'), String(1000 - 20 * i));
  });

  test('a monthly spend budget spent on one replica refuses on the other', async () => {
    const extraBody = { max_tokens: 100 };
    const worst = spendOf(bodyBytes(extraBody, 'priced'), 100);
    const actual = spendOf(11, 9);
    let i = 0;
    for (; i < 100; i++) {
      const r = await on(a, 'spend', 'priced', extraBody);
      await r.arrayBuffer();
      if (r.status === 429) break;
      assert.equal(r.status, 200);
      assert.equal(r.headers.get('x-ratelimit-remaining-spend'), euros(10_000 - actual * i - worst));
    }
    assert.equal(i, Math.floor((10_000 - worst) / actual) + 1);
    const other = await on(b, 'spend', 'priced', extraBody);
    assert.equal(other.status, 429);
    assert.equal(other.headers.get('x-ratelimit-remaining-spend'), euros(10_000 - actual * i));
    // `warden limits show` reads Redis itself.
    const show = spawnSync(bin, ['limits', 'show', '--config', b.configPath], { encoding: 'utf8' });
    assert.equal(show.status, 0, show.stderr);
    assert.match(show.stdout, new RegExp(`^r-spend\\|label:spend=x  USD  limit 0\\.01  used ${euros(actual * i).replace('.', '\\.')}  reserved 0  remaining`, 'm'));
    // The month's window: reset at the start of the next calendar month (UTC).
    const now = new Date();
    const next = Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 1);
    const reset = other.headers.get('x-ratelimit-reset-spend');
    const [, h, m, sec] = /^(\d+)h(\d+)m(\d+)s$/.exec(reset) ?? [];
    const seconds = Number(h) * 3600 + Number(m) * 60 + Number(sec);
    assert.ok(Math.abs(seconds - (next - Date.now()) / 1000) < 120, `reset ${reset}`);
  });

  test('a stream that outlasts its lease keeps its reservation: renewed, it still refuses others', async () => {
    const r1 = await on(a, 'streams', 'slow', { stream: true });
    assert.equal(r1.status, 200);
    const reader = r1.body.getReader();
    await reader.read();
    // Two and a half leases (2 s): without renewal the place would have been given back.
    for (const until = Date.now() + 5000; Date.now() < until;) await reader.read();
    for (const s of [b, a]) {
      const other = await on(s, 'streams', 'chat', { stream: true });
      assert.equal(other.status, 429, 'the stream still holds its place');
      assert.equal(other.headers.get('x-ratelimit-remaining-streams'), '0');
      await other.arrayBuffer();
    }
    const metrics = await (await fetch(`http://127.0.0.1:${a.adminPort}/metrics`)).text();
    assert.match(metrics, /^warden_limit_leases_renewed_total [1-9]\d*$/m);
    assert.match(metrics, /^warden_limit_leases_lost_total 0$/m);
    await reader.cancel();
    let status = 0;
    for (let i = 0; i < 100 && status !== 200; i++) {
      const r = await on(b, 'streams', 'chat', { stream: true });
      status = r.status;
      await r.arrayBuffer();
      if (status !== 200) await new Promise((res) => setTimeout(res, 50));
    }
    assert.equal(status, 200, 'released when its client left');
  });

  test('one round trip reserves all of a request\'s limits, one settles them: two commands a request', async () => {
    const warm = await on(a, 'multi', 'chat', { max_tokens: 100 });  // the connection is made and the scripts loaded
    await warm.arrayBuffer();
    // Every command a client sends, as MONITOR shows it (the scripts' own calls are marked lua).
    const monitor = spawn('redis-cli', ['-p', String(redisPort), 'MONITOR']);
    let seen = '';
    monitor.stdout.on('data', (d) => { seen += d; });
    const see = async (text) => { for (let i = 0; i < 200 && !seen.includes(text); i++) await new Promise((r) => setTimeout(r, 25)); };
    await see('OK');
    const n = 10;
    for (let i = 0; i < n; i++) {
      const r = await on(a, 'multi', 'chat', { max_tokens: 100 });  // three rules: two request rates and a token budget
      assert.equal(r.status, 200);
      await r.arrayBuffer();
    }
    spawnSync('redis-cli', ['-p', String(redisPort), 'ECHO', 'end-of-test']);
    await see('end-of-test');
    monitor.kill();
    const sent = {};
    for (const l of seen.split('\n')) {
      const m = /^\d+\.\d+ \[\d+ [\d.:]+\] "([^"]+)"/.exec(l);
      if (m && m[1].toLowerCase() !== 'echo') sent[m[1].toLowerCase()] = (sent[m[1].toLowerCase()] ?? 0) + 1;
    }
    // Besides, a worker's first request loads the three scripts on its new connection.
    assert.ok((sent.script ?? 0) % 3 === 0 && (sent.script ?? 0) <= 6, `${sent.script} SCRIPT LOAD`);
    delete sent.script;
    assert.deepEqual(sent, { evalsha: 2 * n });
    const metrics = await (await fetch(`http://127.0.0.1:${a.adminPort}/metrics`)).text();
    const value = (name) => Number(new RegExp(`^${name} (\\d+)$`, 'm').exec(metrics)?.[1]);
    assert.ok(value('warden_limit_store_commands_total\\{op="reserve"\\}') >= n + 1);
    assert.ok(value('warden_limit_store_commands_total\\{op="settle"\\}') >= n + 1);
    assert.ok(value('warden_limit_store_round_trip_seconds_count') >= 2 * (n + 1));
    assert.ok(value('warden_limit_store_connects_total') >= 1);
  });

  test('a Redis that forgot the scripts (SCRIPT FLUSH) gets them again: no request fails', async () => {
    const flush = spawnSync('redis-cli', ['-p', String(redisPort), 'SCRIPT', 'FLUSH'], { encoding: 'utf8' });
    assert.equal(flush.stdout.trim(), 'OK');
    for (const s of [a, b]) {
      const r = await on(s, 'rate');
      assert.equal(r.status, 200);
      await r.arrayBuffer();
    }
  });

  test('connections Redis closes while idle (CLIENT KILL) are made again by the next requests: none refused', async () => {
    const connects = async (s) => Number(/^warden_limit_store_connects_total (\d+)$/m.exec(
      await (await fetch(`http://127.0.0.1:${s.adminPort}/metrics`)).text())?.[1]);
    const before = await connects(a) + await connects(b);
    const kill = spawnSync('redis-cli', ['-p', String(redisPort), 'CLIENT', 'KILL', 'TYPE', 'normal'], { encoding: 'utf8' });
    assert.match(kill.stdout.trim(), /^[1-9]\d*$/, 'the gateways\' connections were closed');
    for (let i = 0; i < 8; i++) {
      const r = await on(i % 2 ? a : b, 'rate');
      await r.arrayBuffer();
      assert.equal(r.status, 200, `request ${i} after the connections were closed`);
    }
    assert.ok(await connects(a) + await connects(b) > before, 'connected again');
  });

  test('a replica killed while holding a stream: its reservation ends with its lease', async () => {
    const r1 = await on(a, 'streams', 'slow', { stream: true });
    assert.equal(r1.status, 200);
    await r1.body.getReader().read();
    const held = await on(b, 'streams', 'chat', { stream: true });
    assert.equal(held.status, 429, 'the stream on the other replica counts');
    await held.arrayBuffer();
    a.proc.kill('SIGKILL');
    await a.stop();
    const inFlight = () => /^r-streams\|label:streams=x  streams  limit 1  in flight (\d+)/m.exec(
      spawnSync(bin, ['limits', 'show', '--config', b.configPath], { encoding: 'utf8' }).stdout)?.[1];
    const still = await on(b, 'streams', 'chat', { stream: true });
    assert.equal(still.status, 429, 'refused until the lease ends');
    await still.arrayBuffer();
    assert.equal(inFlight(), '1');
    // `warden limits show` counts a lease that ended as given back, before any request meets the
    // key again (the scripts give it back only then).
    let shown;
    for (let i = 0; i < 200 && (shown = inFlight()) !== '0'; i++) await new Promise((res) => setTimeout(res, 100));
    assert.equal(shown, '0', 'the ended lease is not shown as held');
    const r = await on(b, 'streams', 'chat', { stream: true });
    assert.equal(r.status, 200);
    await r.arrayBuffer();
    a = await startStack({ keysExtra, extra: redisExtra(redisPort), models });
  });

  test('Redis stopped: fail_closed answers 503, fail_open forwards; restarted: limits hold again', async () => {
    await stopRedis();
    const closed = await on(b, 'rate');
    assert.equal(closed.status, 503);
    assert.equal((await closed.json()).error.code, 'limit_store_unavailable');
    const open = await on(b, 'usage');
    assert.equal(open.status, 200, 'fail_open is the operator\'s explicit choice');
    await open.arrayBuffer();
    // Its audit record tells that the rule failed open (nothing reserved, nothing settled).
    const openId = open.headers.get('x-request-id');
    const records = await auditRecords(b.auditDb, (rs) => rs.some((r) => r.request_id === openId));
    assert.deepEqual(records.find((r) => r.request_id === openId)?.limits,
      [{ fail_open: true, key: 'open|label:usage=x', rule: 'open' }]);
    const metrics = await (await fetch(`http://127.0.0.1:${b.adminPort}/metrics`)).text();
    assert.match(metrics, /^warden_limit_store_failures_total\{outcome="fail_open"\} 1$/m);
    assert.match(metrics, /^warden_limit_store_failures_total\{outcome="fail_closed"\} 1$/m);
    await startRedis();
    let status = 0;
    for (let i = 0; i < 100 && status !== 200; i++) {
      const r = await on(b, 'rate');
      status = r.status;
      await r.arrayBuffer();
      if (status !== 200) await new Promise((res) => setTimeout(res, 100));
    }
    assert.equal(status, 200, 'reconnected');
    // The counters after recovery: the budget on the restarted (empty) Redis holds on both.
    const extraBody = { max_tokens: 100 };
    let served = 0;
    for (let i = 0; i < 60; i++) {
      const r = await on(i % 2 ? a : b, 'tokens', 'chat', extraBody);
      await r.arrayBuffer();
      if (r.status === 200) served++;
      else { assert.equal(r.status, 429); break; }
    }
    assert.equal(served, Math.floor((1000 - (bodyBytes(extraBody) + 100)) / 20) + 1);
  });
});

// The store named by a host name is looked up off the worker's thread (Asio's resolver), so a
// DNS that does not answer delays only the requests that need the store, each no longer than
// redis_timeout_ms. A getaddrinfo preloaded into the gateway (tests/tools/stall_resolver.c)
// holds the name until the test lets it go, then answers that it is unknown; one worker, so that
// every request below meets the same lookup.
describe('a Redis store whose host name does not resolve', () => {
  let g;
  let dir;
  let gate;
  before(async () => {
    const stall = stallResolver('no-such-host.invalid');
    ({ dir, gate } = stall);
    g = await startStack({
      keysExtra, models, server: { workers: 1 },
      env: stall.env,
      extra: `limits:
  redis: no-such-host.invalid:6379
  redis_timeout_ms: 200
  rules:
    - {name: closed, key: "label:rpm", requests_per_minute: 1000}
    - {name: open, key: "label:usage", requests_per_minute: 1000, on_store_failure: fail_open}
`,
    });
  });
  after(async () => {
    fs.writeFileSync(gate, '');  // a held lookup would hold the worker's shutdown
    await g.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('while the lookup hangs the worker serves the others; fail_closed answers 503, fail_open forwards', async () => {
    const closed = on(g, 'rate');
    for (let i = 0; i < 400 && !fs.existsSync(`${gate}.entered`); i++) await new Promise((r) => setTimeout(r, 25));
    assert.ok(fs.existsSync(`${gate}.entered`), 'the request looks the name up');
    // The lookup is held until the gate opens, below: these are answered meanwhile.
    const free = await on(g, 'tokens');  // no rule of this gateway limits it
    assert.equal(free.status, 200);
    await free.arrayBuffer();
    const open = await on(g, 'usage');
    assert.equal(open.status, 200, 'fail_open forwards without limits');
    await open.arrayBuffer();
    const refused = await closed;
    assert.equal(refused.status, 503);
    assert.equal((await refused.json()).error.code, 'limit_store_unavailable');
    assert.ok(!fs.existsSync(gate));
    let text = await metricsOf(g);
    assert.equal(metric(text, 'warden_limit_store_errors_total{reason="timeout"}'), 2, 'both waited for the lookup in vain');
    assert.equal(metric(text, 'warden_limit_store_errors_total{reason="resolve"}'), 0);
    assert.equal(metric(text, 'warden_limit_store_failures_total{outcome="fail_closed"}'), 1);
    assert.equal(metric(text, 'warden_limit_store_failures_total{outcome="fail_open"}'), 1);

    // The name is unknown: a failed connect, counted; the requests after it are refused as well.
    fs.writeFileSync(gate, '');
    for (let i = 0; i < 400 && metric(text, 'warden_limit_store_errors_total{reason="resolve"}') === 0; i++) {
      await new Promise((r) => setTimeout(r, 25));
      text = await metricsOf(g);
    }
    assert.equal(metric(text, 'warden_limit_store_errors_total{reason="resolve"}'), 1);
    const again = await on(g, 'rate');
    assert.equal(again.status, 503);
    assert.equal((await again.json()).error.code, 'limit_store_unavailable');
    text = await metricsOf(g);
    assert.ok(metric(text, 'warden_limit_store_errors_total{reason="resolve"}') >= 1);
    assert.equal(metric(text, 'warden_limit_store_connects_total'), 0, 'hiredis never got the name');
  });
});
