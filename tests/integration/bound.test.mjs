// What a deployment made and the client sends back — Responses ids and signed or encrypted model
// output — goes back only to that deployment (contract §3). Warden hands out its own ids and
// signed values, bound to the deployment by an HMAC, and keeps no table: a conversation stays on
// its deployment (or is refused, never moved), forged or foreign ids reach no upstream, and
// GET / DELETE / cancel of a stored response go where it was made, the answer inspected.
// The official SDKs as clients; the test upstream refuses signed content and ids it did not make,
// as the providers do.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { after, before, beforeEach, test } from 'node:test';
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { KEY, rawRequest, startStack } from './harness.mjs';
import { PLANTED } from '../upstream/fake_apis.mjs';

const BOB = 'sk-test-bob-bound';
const sha = (s) => crypto.createHash('sha256').update(s).digest('hex');

let stack;
let claude;
let openai;
let bobai;
before(async () => {
  stack = await startStack({
    // The first deployment of each pair serves no streams, the second no requests with tools:
    // which deployment answered tells whether a conversation stayed where it began.
    rules: `    - id: first-not-for-streams
      effect: forbid
      when: [{attr: deployment.name, op: in, values: [resp-bound-a, claude-think-a]}, {attr: request.stream, op: in, values: ["true"]}]
    - id: second-not-with-tools
      effect: forbid
      when: [{attr: deployment.name, op: in, values: [resp-bound-b, claude-think-b]}, {attr: request.has_tools, op: in, values: ["true"]}]
    - id: resp-keeps-nothing
      effect: forbid
      when: [{attr: model.name, op: in, values: [resp]}, {attr: request.store, op: in, values: ["true"]}]
    - id: our-mcp-server-only
      effect: permit
      when: [{attr: model.name, op: in, values: [resp, claude]}, {attr: request.mcp_hosts, op: in, values: [mcp.docs.example]},
        {attr: data.classes, op: any, values: [uninspectable.server_tools]}]
`,
    keysExtra: `  - sha256: ${sha(BOB)}\n    principal: {id: bob, kind: person, team: research, clearance: internal}\n`,
  });
  claude = new Anthropic({ apiKey: KEY, baseURL: stack.url, maxRetries: 0 });
  openai = new OpenAI({ apiKey: KEY, baseURL: `${stack.url}/v1`, maxRetries: 0 });
  bobai = new OpenAI({ apiKey: BOB, baseURL: `${stack.url}/v1`, maxRetries: 0 });
});
after(async () => { await stack.stop(); });
beforeEach(() => stack.upstream.clear());

const ups = () => stack.upstream.requests;
function request(method, path, body, key = KEY) {
  const payload = body === undefined ? '' : JSON.stringify(body);
  const head = `${method} ${path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${key}\r\nConnection: close\r\n` +
    (payload ? `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(payload)}\r\n` : 'Content-Length: 0\r\n');
  return rawRequest(stack.port, [`${head}\r\n${payload}`]);
}
// The final response of a streamed create.
async function streamed(params) {
  let done = null;
  for await (const e of await openai.responses.create({ ...params, stream: true })) {
    if (e.type === 'response.completed') done = e.response;
  }
  return done;
}
// The same id for another deployment: its name re-encoded, the MAC kept.
const moved = (id, to) => {
  const [prefix, , mac, ...rest] = id.split('.');
  return [prefix, Buffer.from(to).toString('base64url'), mac, ...rest].join('.');
};

// ---- Responses ids ---------------------------------------------------------------------------

test('responses: ids are Warden\'s, bound to the deployment; previous_response_id keeps the conversation there', async () => {
  const first = await streamed({ model: 'resp-bound', input: 'Hello.' });  // only -b serves streams
  assert.match(first.id, /^resp_w1\./);
  assert.equal(ups()[0].body.model, 'bound-b');

  const { data, response } = await openai.responses
    .create({ model: 'resp-bound', input: 'Go on.', previous_response_id: first.id }).withResponse();
  assert.equal(response.headers.get('x-warden-deployment'), 'resp-bound-b');  // not -a, the first
  assert.match(data.id, /^resp_w1\./);
  assert.equal(data.previous_response_id, first.id);  // echoed as the client knows it
  const sent = ups()[1];
  assert.equal(sent.body.model, 'bound-b');
  assert.match(sent.body.previous_response_id, /^resp_[0-9a-f]{24}$/);  // the upstream's own
  assert.ok(!sent.raw.includes('resp_w1.'));

  // A rule that now denies that deployment for this request: refused, not moved to -a.
  await assert.rejects(openai.responses.create({ model: 'resp-bound', input: 'Again.', previous_response_id: data.id,
    tools: [{ type: 'function', name: 'f', parameters: {} }] }),
  (e) => e instanceof OpenAI.PermissionDeniedError && /second-not-with-tools/.test(e.message));
  assert.equal(ups().length, 2);
});

test('responses: a forged, altered, moved or another caller\'s id is a 400 and reaches no upstream', async () => {
  const made = await openai.responses.create({ model: 'resp-bound', input: 'Hello.' });
  stack.upstream.clear();
  const upstreamStyle = `resp_${'0'.repeat(23)}1`;
  const altered = made.id.slice(0, -1) + (made.id.endsWith('0') ? '1' : '0');
  for (const [who, client, id] of [['upstream-style', openai, upstreamStyle], ['altered', openai, altered],
    ['moved', openai, moved(made.id, 'resp-bound-b')], ['another caller\'s', bobai, made.id], ['empty', openai, '']]) {
    await assert.rejects(client.responses.create({ model: 'resp-bound', input: 'Go on.', previous_response_id: id }),
      (e) => e instanceof OpenAI.BadRequestError && /previous_response_id/.test(e.message), who);
  }
  assert.equal(ups().length, 0);
});

test('responses: encrypted reasoning goes back to the deployment that made it, untouched; nowhere else', async () => {
  const first = await streamed({ model: 'resp-bound', input: 'Hello.', include: ['reasoning.encrypted_content'], store: false });
  const reasoning = first.output.find((i) => i.type === 'reasoning');
  assert.match(reasoning.encrypted_content, /^wsig1\./);
  const made = ups()[0];
  assert.equal(made.body.model, 'bound-b');

  // Sent back without previous_response_id: it alone keeps the request on -b.
  const { data, response } = await openai.responses.create({ model: 'resp-bound', store: false,
    input: [...first.output, { role: 'user', content: 'Go on.' }] }).withResponse();
  assert.equal(data.status, 'completed');
  assert.equal(response.headers.get('x-warden-deployment'), 'resp-bound-b');
  const sent = ups()[1].body.input[0];
  assert.match(sent.encrypted_content, /^gAAAA\d+\/enc\+C{8}==$/);  // the upstream's own, which it accepted

  // Altered: 400. Bound to -b but sent with an id of -a: two deployments, 403. Neither forwarded.
  const altered = { ...reasoning, encrypted_content: reasoning.encrypted_content.replace(/.$/, 'x') };
  await assert.rejects(openai.responses.create({ model: 'resp-bound', input: [altered, { role: 'user', content: 'hi' }] }),
    (e) => e instanceof OpenAI.BadRequestError && /altered/.test(e.message));
  const onA = await openai.responses.create({ model: 'resp-bound', input: 'Hello.' });
  await assert.rejects(openai.responses.create({ model: 'resp-bound', previous_response_id: onA.id,
    input: [reasoning, { role: 'user', content: 'hi' }] }),
  (e) => e instanceof OpenAI.PermissionDeniedError && /two deployments/.test(e.message));
  // To another model (another deployment): 403, not forwarded.
  await assert.rejects(openai.responses.create({ model: 'resp', input: [reasoning, { role: 'user', content: 'hi' }] }),
    (e) => e instanceof OpenAI.PermissionDeniedError && /bound to deployment 'resp-bound-b'/.test(e.message));
  assert.equal(ups().length, 3);  // first, the one sent back, onA
});

// ---- Stored responses --------------------------------------------------------------------------

test('responses: GET, GET with stream=true, cancel and DELETE go to the deployment that made the response; its answer is inspected', async () => {
  const made = await openai.responses.create({ model: 'resp-bound-fields', input: 'hi' });
  stack.upstream.clear();
  const { data: got, response } = await openai.responses.retrieve(made.id).withResponse();
  assert.equal(response.headers.get('x-warden-deployment'), 'resp-bound-fields-a');
  assert.equal(got.id, made.id);
  const text = (r) => r.output.find((i) => i.type === 'message').content[0].text;
  assert.equal(text(got), 'write to [EMAIL]');
  const upstreamId = ups()[0].url.split('/').pop();
  assert.match(upstreamId, /^resp_[0-9a-f]{24}$/);
  assert.deepEqual(ups().map((r) => [r.method, r.url]), [['GET', `/v1/responses/${upstreamId}`]]);
  assert.equal(ups()[0].headers['content-length'] ?? '0', '0');

  let all = '';
  let done = null;
  for await (const e of await openai.responses.retrieve(made.id, { stream: true })) {
    all += JSON.stringify(e);
    if (e.type === 'response.completed') done = e.response;
  }
  assert.equal(done.id, made.id);
  for (const v of [PLANTED.email, PLANTED.card]) assert.ok(!all.includes(v), all);

  const cancelled = await request('POST', `/v1/responses/${made.id}/cancel`, { note: PLANTED.email });
  assert.equal(cancelled.status, 200, cancelled.body);
  const c = JSON.parse(cancelled.body);
  assert.equal(c.status, 'cancelled');
  assert.equal(c.id, made.id);
  assert.ok(!cancelled.body.includes(PLANTED.email));
  assert.equal(ups().at(-1).raw, '');  // the client's body is not forwarded

  const deleted = await request('DELETE', `/v1/responses/${made.id}`);
  assert.equal(deleted.status, 200, deleted.body);
  assert.deepEqual(JSON.parse(deleted.body), { id: made.id, object: 'response', deleted: true });
  await openai.responses.del(made.id).catch(() => {});
  await assert.rejects(openai.responses.retrieve(made.id), (e) => e instanceof OpenAI.NotFoundError);
  assert.deepEqual(ups().map((r) => r.method), ['GET', 'GET', 'POST', 'DELETE', 'DELETE', 'GET']);
});

test('responses: stored-response routes refuse forged ids, another caller\'s ids, unknown query parameters and denied deployments, before any upstream', async () => {
  const made = await openai.responses.create({ model: 'resp-bound', input: 'Hello.' });  // on -a
  stack.upstream.clear();
  await assert.rejects(bobai.responses.retrieve(made.id), (e) => e instanceof OpenAI.BadRequestError);
  await assert.rejects(openai.responses.retrieve('resp_1'), (e) => e instanceof OpenAI.BadRequestError);
  await assert.rejects(openai.responses.retrieve(moved(made.id, 'resp-bound-b')), (e) => e instanceof OpenAI.BadRequestError);
  const query = await request('GET', `/v1/responses/${made.id}?user=${encodeURIComponent(PLANTED.email)}`);
  assert.equal(query.status, 400, query.body);
  assert.equal(JSON.parse(query.body).error.type, 'invalid_request_error');
  // -a serves no streams: GET with stream=true is denied for this caller now (403), not moved.
  await assert.rejects(openai.responses.retrieve(made.id, { stream: true }),
    (e) => e instanceof OpenAI.PermissionDeniedError && /first-not-for-streams/.test(e.message));
  assert.equal((await request('PUT', `/v1/responses/${made.id}`, {})).status, 405);
  assert.equal((await request('GET', `/v1/responses/${made.id}/cancel`)).status, 405);
  assert.equal((await request('POST', `/v1/responses/${made.id}`, {})).status, 404);
  assert.equal(ups().length, 0);
});

// ---- Anthropic extended thinking ---------------------------------------------------------------

test('messages: multi-turn extended thinking through the SDK stays on the deployment that signed the thinking', async () => {
  const ask = { model: 'claude-think', max_tokens: 2048, thinking: { type: 'enabled', budget_tokens: 1024 } };
  const question = { role: 'user', content: 'What is 2 + 2?' };
  const first = await claude.messages.stream({ ...ask, messages: [question] }).finalMessage();  // -b: streams
  const [thinking, redacted] = first.content;
  assert.equal(thinking.type, 'thinking');
  assert.match(thinking.signature, /^wsig1\./);
  assert.equal(redacted.type, 'redacted_thinking');
  assert.match(redacted.data, /^wsig1\./);
  const signedUpstream = ups()[0];
  assert.equal(signedUpstream.body.model, 'think');

  const history = [question, { role: 'assistant', content: first.content }, { role: 'user', content: 'And 3 + 3?' }];
  const { data: second, response } = await claude.messages.create({ ...ask, messages: history }).withResponse();
  assert.equal(response.headers.get('x-warden-deployment'), 'claude-think-b');
  assert.equal(second.content.at(-1).text, 'Thought about it.');
  const back = ups()[1].body.messages[1].content;
  assert.match(back[0].signature, /^sig\/\d+\+A{8}=$/);  // the upstream's own signature, accepted
  assert.match(back[1].data, /^redacted\+\d+\/B{8}==$/);
  assert.ok(!ups()[1].raw.includes('wsig1.'));

  // Streamed, the second turn too.
  const third = await claude.messages.stream({ ...ask, messages: [...history, { role: 'assistant', content: second.content },
    { role: 'user', content: 'Thanks.' }] }).finalMessage();
  assert.equal(third.content.at(-1).text, 'Thought about it.');
  assert.equal(ups().length, 3);

  // Where -b is denied (tools), the request is refused, not sent to -a; to another model, refused;
  // an altered signature is refused: none reaches an upstream.
  const tools = [{ name: 'f', input_schema: { type: 'object' } }];
  await assert.rejects(claude.messages.create({ ...ask, messages: history, tools }),
    (e) => e instanceof Anthropic.PermissionDeniedError && /second-not-with-tools/.test(e.error.error.message));
  await assert.rejects(claude.messages.create({ ...ask, model: 'claude', messages: history }),
    (e) => e instanceof Anthropic.PermissionDeniedError && /bound to deployment 'claude-think-b'/.test(e.error.error.message));
  const altered = [question, { role: 'assistant', content: [{ ...thinking, signature: `${thinking.signature}A` }, redacted] }, history[2]];
  await assert.rejects(claude.messages.create({ ...ask, messages: altered }),
    (e) => e instanceof Anthropic.BadRequestError && e.error.type === 'error');
  assert.equal(ups().length, 3);
});

test('messages: anthropic-beta is forwarded when it is a plain list of feature names, else refused before any upstream', async () => {
  const ask = { model: 'claude', max_tokens: 8, messages: [{ role: 'user', content: 'hi' }] };
  const beta = 'interleaved-thinking-2025-05-14, context-1m-2025-08-07';
  await claude.messages.create(ask, { headers: { 'anthropic-beta': beta } });
  assert.equal(ups()[0].headers['anthropic-beta'], beta);
  await claude.messages.create(ask);
  assert.equal(ups()[1].headers['anthropic-beta'], undefined);
  await assert.rejects(claude.messages.create(ask, { headers: { 'anthropic-beta': `x; user=${PLANTED.email}` } }),
    (e) => e instanceof Anthropic.BadRequestError && /anthropic-beta/.test(e.error.error.message));
  assert.equal(ups().length, 2);
});

test('request.store and request.server_tools / request.mcp_hosts are policy attributes', async () => {
  // store is true when absent on the Responses API.
  await assert.rejects(openai.responses.create({ model: 'resp', input: 'hi' }),
    (e) => e instanceof OpenAI.PermissionDeniedError && /resp-keeps-nothing/.test(e.message));
  assert.equal((await openai.responses.create({ model: 'resp', input: 'hi', store: false })).status, 'completed');
  const mcp = (url) => ({ model: 'resp', input: 'hi', store: false, tools: [{ type: 'mcp', server_label: 'docs', server_url: url }] });
  assert.equal((await openai.responses.create(mcp('https://MCP.docs.example:8443/sse'))).status, 'completed');
  await assert.rejects(openai.responses.create(mcp('https://mcp.evil.example/sse')),
    (e) => e instanceof OpenAI.PermissionDeniedError && /uninspectable\.server_tools/.test(e.message));
  const msg = await claude.messages.create({ model: 'claude', max_tokens: 8, messages: [{ role: 'user', content: 'hi' }],
    mcp_servers: [{ type: 'url', url: 'https://mcp.docs.example/sse', name: 'docs' }] });
  assert.equal(msg.type, 'message');
  await assert.rejects(claude.messages.create({ model: 'claude', max_tokens: 8, messages: [{ role: 'user', content: 'hi' }],
    mcp_servers: [{ type: 'url', url: 'https://user@mcp.evil.example/sse', name: 'x' }] }),
  (e) => e instanceof Anthropic.PermissionDeniedError);
  assert.equal(ups().length, 3);
});
