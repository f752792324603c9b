// The official OpenAI SDK as a real client of Warden.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import OpenAI from 'openai';
import { KEY, startStack } from './harness.mjs';

let stack;
let client;
before(async () => {
  stack = await startStack();
  client = new OpenAI({ apiKey: KEY, baseURL: `${stack.url}/v1`, maxRetries: 0 });
});
after(async () => { await stack.stop(); });

test('chat completion, model rewritten, fields passed through', async () => {
  stack.upstream.clear();
  const res = await client.chat.completions.create({
    model: 'chat',
    messages: [{ role: 'user', content: 'Say hello.' }],
    response_format: { type: 'text' },
    reasoning_effort: 'low',
  });
  assert.match(res.choices[0].message.content, /Warden relayed/);
  assert.equal(res.usage.total_tokens, 20);
  assert.equal(stack.upstream.requests.length, 1);
  const sent = stack.upstream.requests[0];
  assert.equal(sent.url, '/v1/chat/completions');
  assert.equal(sent.body.model, 'test-1');
  assert.deepEqual(sent.body.response_format, { type: 'text' });
  assert.equal(sent.body.reasoning_effort, 'low');
  assert.equal(sent.headers.authorization, undefined, 'the client key never goes upstream');
});

test('streamed chat arrives event by event with usage', async () => {
  const stream = await client.chat.completions.create({
    model: 'chat',
    messages: [{ role: 'user', content: 'Say hello.' }],
    stream: true,
    stream_options: { include_usage: true },
  });
  let text = '';
  let chunks = 0;
  let usage = null;
  for await (const chunk of stream) {
    chunks++;
    text += chunk.choices[0]?.delta?.content ?? '';
    if (chunk.usage) usage = chunk.usage;
  }
  assert.equal(text, 'Hello from the test upstream. Warden relayed this answer.');
  assert.ok(chunks >= 10, `got ${chunks} chunks`);
  assert.equal(usage.completion_tokens, 9);
});

test('completions and embeddings', async () => {
  const c = await client.completions.create({ model: 'chat', prompt: 'Once upon' });
  assert.match(c.choices[0].text, /Hello/);
  const e = await client.embeddings.create({ model: 'embed', input: ['a', 'b'] });
  assert.equal(e.data.length, 2);
  assert.equal(stack.upstream.requests.at(-1).body.model, 'test-embed');
});

test('models list', async () => {
  const ids = [];
  for await (const m of client.models.list()) ids.push(m.id);
  assert.ok(ids.includes('chat') && ids.includes('embed'));
});

test('errors surface as the SDK typed exceptions', async () => {
  const bad = new OpenAI({ apiKey: 'sk-wrong', baseURL: `${stack.url}/v1`, maxRetries: 0 });
  await assert.rejects(bad.chat.completions.create({ model: 'chat', messages: [{ role: 'user', content: 'x' }] }),
    (e) => e instanceof OpenAI.AuthenticationError && e.status === 401 && e.code === 'invalid_api_key');
  await assert.rejects(client.chat.completions.create({ model: 'nope', messages: [{ role: 'user', content: 'x' }] }),
    (e) => e instanceof OpenAI.NotFoundError && e.code === 'model_not_found');
  await assert.rejects(client.chat.completions.create({ model: 'always429', messages: [{ role: 'user', content: 'x' }] }),
    (e) => e instanceof OpenAI.RateLimitError && e.status === 429);
  await assert.rejects(client.chat.completions.create({ model: 'status400', messages: [{ role: 'user', content: 'x' }] }),
    (e) => e instanceof OpenAI.BadRequestError);
});

test('request ids: kept from the client, generated otherwise, sent upstream', async () => {
  stack.upstream.clear();
  const r1 = await fetch(`${stack.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${KEY}`, 'x-request-id': 'client-id-42' },
    body: JSON.stringify({ model: 'chat', messages: [{ role: 'user', content: 'x' }] }),
  });
  assert.equal(r1.headers.get('x-request-id'), 'client-id-42');
  assert.equal(stack.upstream.requests[0].headers['x-request-id'], 'client-id-42');
  const r2 = await fetch(`${stack.url}/v1/nothing`, { headers: { authorization: `Bearer ${KEY}` } });
  assert.equal(r2.status, 404);
  assert.match(r2.headers.get('x-request-id'), /^req_[0-9a-f]{20}$/);
  const body = await r2.json();
  assert.equal(body.error.request_id, r2.headers.get('x-request-id'));
});

test('api-key header works like a bearer token', async () => {
  const r = await fetch(`${stack.url}/v1/models`, { headers: { 'api-key': KEY } });
  assert.equal(r.status, 200);
});

test('metrics and the request log name routes, statuses and models, never keys or prompts', async () => {
  const text = await (await fetch(`http://127.0.0.1:${stack.adminPort}/metrics`)).text();
  assert.match(text, /warden_requests_total\{route="chat",status="200",model="chat"\} \d+/);
  assert.match(text, /warden_request_duration_seconds_bucket\{route="chat",le="\+Inf"\} \d+/);
  assert.match(text, /warden_upstream_errors_total\{provider="up",reason="429"\} \d+/);
  assert.match(text, /warden_requests_in_flight 0/);
  assert.ok(!stack.logs.stdout.includes(KEY));
  assert.ok(!stack.logs.stdout.includes('Say hello'));
  const line = stack.logs.stdout.split('\n').find((l) => l.includes('client-id-42'));
  const rec = JSON.parse(line);
  assert.equal(rec.principal, 'alice');
  assert.equal(rec.deployment, 'chat-main');
  assert.equal(rec.status, 200);
  assert.equal(rec.prompt_tokens, 11);
});
