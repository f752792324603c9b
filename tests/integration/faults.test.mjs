// Upstream faults: refusals, resets, stalls, error statuses (retry, then failover), malformed
// SSE, and a client that goes away mid-stream.
import assert from 'node:assert/strict';
import { after, before, beforeEach, test } from 'node:test';
import { KEY, chatBody, startStack } from './harness.mjs';

let stack;
before(async () => { stack = await startStack(); });
after(async () => { await stack.stop(); });
beforeEach(() => stack.upstream.clear());

async function chat(model, extra = {}, init = {}) {
  return fetch(`${stack.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${KEY}` },
    body: JSON.stringify(chatBody(model, extra)),
    ...init,
  });
}

const upstreamModels = () => stack.upstream.requests.map((r) => r.body.model);

test('a refused upstream is 502 after its retries', async () => {
  const r = await chat('refused');
  assert.equal(r.status, 502);
  assert.equal((await r.json()).error.code, 'upstream_unavailable');
});

test('a refused deployment fails over to the next one', async () => {
  const r = await chat('refused-then-ok');
  assert.equal(r.status, 200);
  assert.equal(r.headers.get('x-warden-deployment'), 'rto-b');
  assert.deepEqual(upstreamModels(), ['test-b']);
});

test('503 is retried on the same deployment', async () => {
  const r = await chat('retry503');
  assert.equal(r.status, 200);
  assert.deepEqual(upstreamModels(), ['flaky-503-2', 'flaky-503-2', 'flaky-503-2']);
});

test('429 is retried, then the next deployment is used', async () => {
  const r = await chat('failover429');
  assert.equal(r.status, 200);
  assert.equal(r.headers.get('x-warden-deployment'), 'f429-b');
  assert.deepEqual(upstreamModels(), ['status-429', 'status-429', 'status-429', 'test-b']);
});

test('an upstream stalling past the first-byte timeout is 504', async () => {
  const t0 = Date.now();
  const r = await chat('stall');
  assert.equal(r.status, 504);
  assert.equal((await r.json()).error.code, 'upstream_timeout');
  assert.ok(Date.now() - t0 < 3000);
});

test('upstream 500 and 401 become 502; 400 passes through', async () => {
  assert.equal((await chat('status500')).status, 502);
  const r401 = await chat('status401');
  assert.equal(r401.status, 502, 'a provider credential problem is not the client\'s 401');
  const r400 = await chat('status400');
  assert.equal(r400.status, 400);
  assert.match((await r400.json()).error.message, /test upstream answers 400/);
});

async function readStream(r) {
  const text = await r.text();
  return text.split('\n\n').filter(Boolean).map((e) => e.replace(/^data: /, ''));
}

test('a reset mid-stream ends the stream with an error event', async () => {
  const r = await chat('reset', { stream: true });
  assert.equal(r.status, 200);
  const events = await readStream(r);
  assert.ok(events.some((e) => e.includes('partial')), 'events before the reset are relayed');
  const last = JSON.parse(events.at(-1));
  assert.equal(last.error.code, 'upstream_unavailable');
});

test('malformed SSE from the upstream is not relayed', async () => {
  const r = await chat('badsse', { stream: true });
  const events = await readStream(r);
  assert.ok(!events.some((e) => e.includes('this is not json')));
  assert.match(JSON.parse(events.at(-1)).error.message, /malformed event/);
});

test('a client that disconnects mid-stream closes the upstream request', async () => {
  const ac = new AbortController();
  const r = await chat('slow', { stream: true }, { signal: ac.signal });
  const reader = r.body.getReader();
  await reader.read();
  ac.abort();
  const deadline = Date.now() + 3000;
  while (stack.upstream.closedEarly() === 0 && Date.now() < deadline) await new Promise((res) => setTimeout(res, 50));
  assert.equal(stack.upstream.closedEarly(), 1);
});

test('a client that disconnects while waiting for a whole answer cancels the upstream request', async () => {
  const ac = new AbortController();
  const pending = chat('stall-long', {}, { signal: ac.signal }).catch(() => 'aborted');
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(stack.upstream.requests.length, 1, 'the request reached the upstream');
  ac.abort();
  assert.equal(await pending, 'aborted');
  const deadline = Date.now() + 2000;
  while (stack.upstream.closedEarly() === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  assert.equal(stack.upstream.closedEarly(), 1, 'the upstream connection was closed at once, not after a timeout');
  assert.equal((await chat('chat')).status, 200, 'the gateway serves on');
});

test('metrics count retries, failovers and upstream errors', async () => {
  const text = await (await fetch(`http://127.0.0.1:${stack.adminPort}/metrics`)).text();
  assert.match(text, /warden_upstream_retries_total\{provider="up"\} [1-9]/);
  assert.match(text, /warden_failovers_total\{model="f429-b"\} 1|warden_failovers_total\{model="rto-b"\} 1/);
  assert.match(text, /warden_upstream_errors_total\{provider="dead",reason="connect"\} [1-9]/);
});
