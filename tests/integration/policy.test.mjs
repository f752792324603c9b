// Policy in the request path: routing on the data that would cross, denials, the model list,
// and hot reload under concurrent load.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, before, beforeEach, test } from 'node:test';
import { KEY, configYaml, startStack } from './harness.mjs';

// Two deployments of one model: the preferred one abroad, the fallback in-house (same test
// upstream, told apart by the upstream model id).
const policy = (extraForbid = '') => `policy:
  rules:
    - {id: staff, effect: permit, when: [{attr: principal.kind, op: in, values: [person]}]}
    - id: personal-data-stays-home
      effect: forbid
      when:
        - {attr: data.classes, op: any, values: [pii.phone, fin]}
        - {attr: deployment.jurisdiction, op: not_in, values: [DE]}
${extraForbid}`;

function yaml(params, extraForbid) {
  let y = configYaml(params).replace(/policy:\n  rules:\n    - \{id: allow-all, effect: permit\}\n/, policy(extraForbid));
  y = y.replace('models:\n', `models:
  - name: routed
    developer: DeepSeek
    origin: CN
    deployments:
      - {name: routed-abroad, provider: up, upstream_model: abroad-1, operator: Far, jurisdiction: CN, region: x}
      - {name: routed-home, provider: up, upstream_model: home-1, operator: Us, jurisdiction: DE, region: y}
`);
  return y;
}

let stack;
before(async () => {
  stack = await startStack();
  fs.writeFileSync(stack.configPath, yaml(stack.params, ''));
  stack.proc.kill('SIGHUP');
  for (let i = 0; i < 100; i++) {
    const r = await chat('routed', 'hi');
    if (r.status === 200) break;
    await new Promise((res) => setTimeout(res, 20));
  }
});
after(async () => { await stack.stop(); });
beforeEach(() => stack.upstream.clear());

// SIGHUP, then wait until the gateway says it published a snapshot (an order, not a time).
async function reload() {
  const count = () => (stack.logs.stderr.match(/configuration reloaded/g) ?? []).length;
  const before = count();
  stack.proc.kill('SIGHUP');
  for (let i = 0; i < 400 && count() === before; i++) await new Promise((r) => setTimeout(r, 25));
}

function chat(model, content) {
  return fetch(`${stack.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${KEY}` },
    body: JSON.stringify({ model, messages: [{ role: 'user', content }] }),
  });
}

test('the same model goes abroad without personal data and stays home with it', async () => {
  const plain = await chat('routed', 'Summarise the quarterly report.');
  assert.equal(plain.status, 200);
  assert.equal(plain.headers.get('x-warden-deployment'), 'routed-abroad');
  const personal = await chat('routed', 'Call the customer on +49 30 12345678 tomorrow.');
  assert.equal(personal.status, 200);
  assert.equal(personal.headers.get('x-warden-deployment'), 'routed-home');
  assert.deepEqual(stack.upstream.requests.map((r) => r.body.model), ['abroad-1', 'home-1']);
});

test('a request denied for every deployment is 403 with the reason and reaches no upstream', async () => {
  fs.writeFileSync(stack.configPath, yaml(stack.params, `    - id: no-finance-anywhere
      effect: forbid
      when: [{attr: data.classes, op: any, values: [fin.iban]}]
`));
  await reload();
  const r = await chat('routed', 'Pay DE89 3704 0044 0532 0130 00 today.');
  assert.equal(r.status, 403);
  const body = await r.json();
  assert.equal(body.error.code, 'forbidden');
  assert.match(body.error.message, /routed-abroad: forbidden by rules? .*no-finance-anywhere/);
  assert.match(body.error.message, new RegExp(r.headers.get('x-request-id')));
  assert.ok(!body.error.message.includes('DE89'));
  assert.equal(stack.upstream.requests.length, 0);
});

test('the model list shows only models the caller could use', async () => {
  fs.writeFileSync(stack.configPath, yaml(stack.params, `    - id: no-echo
      effect: forbid
      when: [{attr: model.name, op: in, values: [echo]}]
`));
  await reload();
  const list = await (await fetch(`${stack.url}/v1/models`, { headers: { authorization: `Bearer ${KEY}` } })).json();
  const ids = list.data.map((m) => m.id);
  assert.ok(ids.includes('routed') && ids.includes('chat'));
  assert.ok(!ids.includes('echo'));
});

test('a policy change takes effect as soon as the reload is published, and no request fails meanwhile', async () => {
  fs.writeFileSync(stack.configPath, yaml(stack.params, ''));
  await reload();
  let stop = false;
  const failures = [];
  let count = 0;
  const workers = Array.from({ length: 8 }, async () => {
    while (!stop) {
      const r = await chat('chat', 'hello');
      count++;
      if (r.status !== 200 && r.status !== 403) failures.push(r.status);
      await r.arrayBuffer();
    }
  });
  const until = async (n) => {
    for (let i = 0; i < 3000 && count < n; i++) await new Promise((r) => setTimeout(r, 10));
  };
  await until(20);  // the load is running
  // New policy: 'chat' is forbidden.
  fs.writeFileSync(stack.configPath, yaml(stack.params, `    - id: chat-off
      effect: forbid
      when: [{attr: model.name, op: in, values: [chat]}]
`));
  const before = count;
  await reload();  // returns once the gateway says it published the new snapshot
  // Every request sent from now on meets the new policy (order and states, not times: contract §7).
  const after = await chat('chat', 'probe');
  await after.arrayBuffer();
  const during = count - before;
  await until(count + 20);  // and the load goes on across the swap
  stop = true;
  await Promise.all(workers);
  assert.equal(after.status, 403);
  assert.deepEqual(failures, []);
  assert.ok(count - before >= 20, `${count - before} requests across the swap (${during} before it was published)`);
});
