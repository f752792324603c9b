// Anthropic Messages and OpenAI Responses through Warden, with the official SDKs as clients and a
// test upstream that speaks both wire formats (SSE with their event types included): the same
// guarantees as chat — every field of the request and of the answer inspected, streamed answers
// through the hold-back window, pseudonyms restored, errors in each API's own shape.
import assert from 'node:assert/strict';
import { after, before, beforeEach, test } from 'node:test';
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { KEY, UPSTREAM_KEY, post, rawRequest, startStack } from './harness.mjs';
import { PLANTED } from '../upstream/fake_apis.mjs';

let stack;
let claude;
let openai;
before(async () => {
  stack = await startStack();
  claude = new Anthropic({ apiKey: KEY, baseURL: stack.url, maxRetries: 0 });
  openai = new OpenAI({ apiKey: KEY, baseURL: `${stack.url}/v1`, maxRetries: 0 });
});
after(async () => { await stack.stop(); });
beforeEach(() => stack.upstream.clear());

const EMAIL = 'jane.doe@acme-corp.com';
const CARD = '5555 5555 5555 4444';
const upstreamRaw = () => stack.upstream.requests.map((r) => r.raw).join('\n');
// Every form a value could take in the upstream's bytes: as sent, JSON-escaped, \u-escaped.
const forms = (v) => [v, JSON.stringify(v).slice(1, -1), [...v].map((c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`).join('')];
function assertAbsent(text, values, where) {
  for (const v of values) for (const f of forms(v)) assert.ok(!text.includes(f), `${where} holds ${f}`);
}
const send = (path, body, headers) => rawRequest(stack.port, post(path, body, { headers }));

// ---- Anthropic Messages ---------------------------------------------------------------------

test('messages: an answer through the SDK; the provider key and anthropic-version go upstream, the client key does not', async () => {
  const msg = await claude.messages.create({ model: 'claude', max_tokens: 64, messages: [{ role: 'user', content: 'Say hello.' }] });
  assert.equal(msg.content[0].text, 'Hello from the test upstream. Warden relayed this answer.');
  assert.equal(msg.usage.output_tokens, 7);
  assert.equal(stack.upstream.requests.length, 1);
  const sent = stack.upstream.requests[0];
  assert.equal(sent.url, '/v1/messages');
  assert.equal(sent.body.model, 'test-claude');
  assert.equal(sent.headers['x-api-key'], UPSTREAM_KEY);
  assert.match(sent.headers['anthropic-version'], /^\d{4}-\d{2}-\d{2}$/);
  assert.equal(sent.headers.authorization, undefined);
});

test('messages: anthropic-version is the client\'s when it is a plain token, else refused; the default without one', async () => {
  const ask = { model: 'claude', max_tokens: 8, messages: [{ role: 'user', content: 'hi' }] };
  assert.equal((await send('/v1/messages', ask, { 'anthropic-version': '2024-01-01' })).status, 200);
  assert.equal((await send('/v1/messages', ask)).status, 200);
  const bad = await send('/v1/messages', ask, { 'anthropic-version': '2023-06-01, x' });
  assert.equal(bad.status, 400);
  assert.equal(JSON.parse(bad.body).error.type, 'invalid_request_error');
  assert.deepEqual(stack.upstream.requests.map((r) => r.headers['anthropic-version']), ['2024-01-01', '2023-06-01']);
});

test('messages: a streamed answer arrives with its event types, text deltas in order', async () => {
  const stream = claude.messages.stream({ model: 'claude', max_tokens: 64, messages: [{ role: 'user', content: 'Say hello.' }] });
  const types = new Set();
  stream.on('streamEvent', (e) => types.add(e.type));
  const msg = await stream.finalMessage();
  assert.equal(msg.content[0].text, 'Hello from the test upstream. Warden relayed this answer.');
  assert.equal(msg.usage.output_tokens, 7);
  for (const t of ['message_start', 'content_block_start', 'content_block_delta', 'content_block_stop', 'message_delta', 'message_stop'])
    assert.ok(types.has(t), `no ${t}`);
});

test('messages: count_tokens is inspected like a request and forwarded to the anthropic deployment', async () => {
  const r = await claude.messages.countTokens({ model: 'claude', messages: [{ role: 'user', content: `mail ${EMAIL}` }] });
  assert.equal(r.input_tokens, 42);
  assert.equal(stack.upstream.requests[0].url, '/v1/messages/count_tokens');
  assertAbsent(upstreamRaw(), [EMAIL], 'count_tokens body');
});

test('messages: errors come in Anthropic\'s shape, as the SDK\'s typed exceptions', async () => {
  await assert.rejects(claude.messages.create({ model: 'nope', max_tokens: 8, messages: [{ role: 'user', content: 'hi' }] }),
    (e) => e instanceof Anthropic.NotFoundError && e.error.type === 'error' && e.error.error.type === 'not_found_error');
  await assert.rejects(claude.messages.create({ model: 'chat-only', max_tokens: 8, messages: [{ role: 'user', content: 'hi' }] }),
    (e) => e instanceof Anthropic.NotFoundError && /no deployment that serves messages/.test(e.error.error.message));
  await assert.rejects(claude.messages.create({ model: 'claude', messages: [{ role: 'user', content: 'hi' }] }),
    (e) => e instanceof Anthropic.BadRequestError && e.error.error.type === 'invalid_request_error' && /max_tokens/.test(e.error.error.message));
  const bad = new Anthropic({ apiKey: 'sk-wrong', baseURL: stack.url, maxRetries: 0 });
  await assert.rejects(bad.messages.create({ model: 'claude', max_tokens: 8, messages: [{ role: 'user', content: 'hi' }] }),
    (e) => e instanceof Anthropic.AuthenticationError && e.error.error.type === 'authentication_error');
  await assert.rejects(claude.messages.create({ model: 'claude', max_tokens: 8, messages: [{ role: 'user', content: 'key AKIAZ3MQW7XH2LBNQR4T' }] }),
    (e) => e instanceof Anthropic.PermissionDeniedError && e.error.error.type === 'permission_error');
  // The upstream's own error passes through as it came.
  await assert.rejects(claude.messages.create({ model: 'claude-400', max_tokens: 8, messages: [{ role: 'user', content: 'hi' }] }),
    (e) => e instanceof Anthropic.BadRequestError && /test upstream answers 400/.test(e.error.error.message));
  assert.equal(stack.upstream.requests.length, 1);
});

test('messages: an identifier in each field kind of a request never reaches the upstream', async () => {
  const bodies = [
    { system: `Reply to ${EMAIL}, card ${CARD}.` },
    { system: [{ type: 'text', text: `Reply to ${EMAIL}, card ${CARD}.` }] },
    { messages: [{ role: 'user', content: [{ type: 'text', text: `mail ${EMAIL} card ${CARD}` }] }] },
    { messages: [
      { role: 'user', content: 'look it up' },
      { role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_01', name: 'lookup', input: { who: EMAIL, card: CARD } }] },
      { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_01', content: `found ${EMAIL} ${CARD}` }] }] },
    { messages: [
      { role: 'user', content: 'look it up' },
      { role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_01', name: 'lookup', input: {} }] },
      { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_01', content: [{ type: 'text', text: `found ${EMAIL} ${CARD}` }] }] }] },
    { tools: [{ name: 'send', description: `send to ${EMAIL}`, input_schema: { type: 'object', properties: { to: { type: 'string', default: CARD } } } }] },
    { metadata: { user_id: EMAIL }, stop_sequences: [CARD] },
  ];
  for (const extra of bodies) {
    const body = { model: 'claude', max_tokens: 16, messages: [{ role: 'user', content: 'hi' }], ...extra };
    const msg = await claude.messages.create(body);
    assert.equal(msg.type, 'message', JSON.stringify(extra));
  }
  assert.equal(stack.upstream.requests.length, bodies.length);
  assertAbsent(upstreamRaw(), [EMAIL, CARD], 'an upstream request');
});

test('messages: pseudonyms are restored in the answer, whole and in text_delta events', async () => {
  const ask = { model: 'claude-echo', max_tokens: 64, messages: [{ role: 'user', content: `Write to ${EMAIL} today.` }] };
  const whole = await claude.messages.create(ask);
  assert.equal(whole.content[0].text, `Write to ${EMAIL} today.`);
  let streamed = '';
  const stream = claude.messages.stream(ask);
  stream.on('text', (t) => { streamed += t; });
  await stream.finalMessage();
  assert.equal(streamed, `Write to ${EMAIL} today.`);
  assertAbsent(upstreamRaw(), [EMAIL], 'an upstream request');
});

test('messages: a value split across deltas is masked in the stream', async () => {
  let text = '';
  const stream = claude.messages.stream({ model: 'claude-leak', max_tokens: 64, messages: [{ role: 'user', content: 'hi' }] });
  stream.on('text', (t) => { text += t; });
  await stream.finalMessage();
  assert.equal(text, 'Your card [CREDIT_CARD] is on file.');
});

test('messages: an answer that must end ends with an error event in Anthropic\'s shape, whole or streamed', async () => {
  const ask = { model: 'claude-end', max_tokens: 64, messages: [{ role: 'user', content: 'hi' }] };
  await assert.rejects(claude.messages.create(ask),
    (e) => e instanceof Anthropic.PermissionDeniedError && e.error.error.type === 'permission_error');
  let text = '';
  const stream = claude.messages.stream(ask);
  stream.on('text', (t) => { text += t; });
  await assert.rejects(stream.finalMessage(),
    (e) => e instanceof Anthropic.APIError && e.error.error.type === 'permission_error' && /stream ended/.test(e.error.error.message));
  assert.ok(!text.includes('4111'), text);
});

test('messages: every text-bearing field of an answer is inspected: thinking, text, tool input; whole and streamed', async () => {
  const ask = { model: 'claude-fields', max_tokens: 64, messages: [{ role: 'user', content: 'hi' }] };
  const check = (msg, how) => {
    const [thinking, text, tool] = msg.content;
    assert.equal(thinking.thinking, 'card [CREDIT_CARD]', how);
    assert.equal(text.text, 'write to [EMAIL]', how);
    assert.deepEqual(tool.input, { to: '[EMAIL]', card: '[CREDIT_CARD]' }, how);
    assertAbsent(JSON.stringify(msg), [PLANTED.email, PLANTED.card], how);
  };
  check(await claude.messages.create(ask), 'whole');
  check(await claude.messages.stream(ask).finalMessage(), 'streamed');
});

test('images and files, by value, address or id, cannot be read: refused unless a rule permits them; their text is still scanned', async () => {
  const png = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==';
  const cases = [
    ['/v1/messages', [{ type: 'image', source: { type: 'base64', media_type: 'image/png', data: png } }], /uninspectable\.image/],
    ['/v1/messages', [{ type: 'image', source: { type: 'url', url: 'https://example.com/a.png' } }], /uninspectable\.file/],
    ['/v1/messages', [{ type: 'document', source: { type: 'url', url: 'https://example.com/a.pdf' } }], /uninspectable\.file/],
    ['/v1/messages', [{ type: 'document', source: { type: 'file', file_id: 'file_011CNha8iCJcU1wXNR6q4V8w' } }], /uninspectable\.file/],
    ['/v1/responses', [{ type: 'input_image', image_url: 'https://example.com/a.png' }], /uninspectable\.image/],
    ['/v1/responses', [{ type: 'input_file', file_url: 'https://example.com/a.pdf' }], /uninspectable\.file/],
  ];
  for (const [path, content, cls] of cases) {
    const body = path === '/v1/messages'
      ? { model: 'claude', max_tokens: 8, messages: [{ role: 'user', content: [...content, { type: 'text', text: 'what is this?' }] }] }
      : { model: 'resp', input: [{ role: 'user', content: [...content, { type: 'input_text', text: 'what is this?' }] }] };
    const res = await send(path, body);
    assert.equal(res.status, 403, `${JSON.stringify(content)}: ${res.body}`);
    assert.match(res.body, cls);
  }
  // A document given as text is text: read, and passed.
  const text = await send('/v1/messages', { model: 'claude', max_tokens: 8, messages: [{ role: 'user', content: [
    { type: 'document', source: { type: 'text', media_type: 'text/plain', data: `Contact ${EMAIL}.` } }] }] });
  assert.equal(text.status, 200, text.body);
  assertAbsent(upstreamRaw(), [EMAIL], 'a text document');
  // An address is scanned as text too: a secret in it is blocked whatever the class.
  const key = await send('/v1/responses', { model: 'resp', input: [{ role: 'user', content: [
    { type: 'input_file', file_url: 'https://example.com/a.pdf?key=AKIAZ3MQW7XH2LBNQR4T' }] }] });
  assert.equal(key.status, 403);
  assert.match(key.body, /secret/);
  assert.equal(stack.upstream.requests.length, 1);
});

test('messages: signed thinking and redacted thinking cannot be read: refused unless a rule permits them', async () => {
  for (const block of [
    { type: 'thinking', thinking: 'Let me think.', signature: 'EqQBCgIYAhIM1gbcDa9GJwZA2b3h' },
    { type: 'redacted_thinking', data: 'EmwKAhgBEgy3va3pzix/LafPsn4aDFIT' },
  ]) {
    const res = await send('/v1/messages', { model: 'claude', max_tokens: 8, messages: [
      { role: 'user', content: 'hi' }, { role: 'assistant', content: [block, { type: 'text', text: 'ok' }] },
      { role: 'user', content: 'go on' }] }, { 'anthropic-version': '2023-06-01' });
    assert.equal(res.status, 403, res.body);
    assert.match(res.body, /uninspectable\.signed/);
    assert.equal(JSON.parse(res.body).type, 'error');
  }
  assert.equal(stack.upstream.requests.length, 0);
});

// ---- OpenAI Responses -----------------------------------------------------------------------

test('responses: an answer through the SDK, input as a string', async () => {
  const r = await openai.responses.create({ model: 'resp', input: 'Say hello.', instructions: 'Be brief.' });
  assert.equal(r.output_text, 'Hello from the test upstream. Warden relayed this answer.');
  assert.equal(r.usage.output_tokens, 7);
  const sent = stack.upstream.requests[0];
  assert.equal(sent.url, '/v1/responses');
  assert.equal(sent.body.model, 'test-resp');
  assert.equal(sent.body.instructions, 'Be brief.');
});

test('responses: a streamed answer arrives as its semantic events', async () => {
  const stream = await openai.responses.create({ model: 'resp', input: 'Say hello.', stream: true });
  let text = '';
  const types = new Set();
  let usage = null;
  for await (const e of stream) {
    types.add(e.type);
    if (e.type === 'response.output_text.delta') text += e.delta;
    if (e.type === 'response.completed') usage = e.response.usage;
  }
  assert.equal(text, 'Hello from the test upstream. Warden relayed this answer.');
  assert.equal(usage.output_tokens, 7);
  for (const t of ['response.created', 'response.output_item.added', 'response.output_text.done', 'response.output_item.done'])
    assert.ok(types.has(t), `no ${t}`);
});

test('responses: errors in OpenAI\'s shape; no deployment of the route\'s kind is 404', async () => {
  await assert.rejects(openai.responses.create({ model: 'claude-wide', input: 'hi' }),
    (e) => e instanceof OpenAI.NotFoundError && /no deployment that serves responses/.test(e.message));
  await assert.rejects(openai.responses.create({ model: 'resp', input: 7 }),
    (e) => e instanceof OpenAI.BadRequestError && /'input'/.test(e.message));
  await assert.rejects(openai.responses.create({ model: 'resp-400', input: 'hi' }),
    (e) => e instanceof OpenAI.BadRequestError && /test upstream answers 400/.test(e.message));
});

test('responses: an identifier in each field kind of a request never reaches the upstream', async () => {
  const bodies = [
    { input: `mail ${EMAIL} card ${CARD}` },
    { input: 'hi', instructions: `Reply to ${EMAIL}, card ${CARD}.` },
    { input: [{ role: 'user', content: [{ type: 'input_text', text: `mail ${EMAIL} card ${CARD}` }] }] },
    { input: [{ type: 'message', role: 'user', content: `mail ${EMAIL}` },
      { type: 'function_call', call_id: 'call_1', name: 'lookup', arguments: JSON.stringify({ who: EMAIL, card: CARD }) },
      { type: 'function_call_output', call_id: 'call_1', output: `found ${EMAIL} ${CARD}` }] },
    { input: 'hi', tools: [{ type: 'function', name: 'send', description: `send to ${EMAIL}`, parameters: { type: 'object', properties: { to: { type: 'string', default: CARD } } } }] },
    { input: 'hi', metadata: { owner: EMAIL } },
  ];
  for (const extra of bodies) {
    const r = await openai.responses.create({ model: 'resp', ...extra });
    assert.equal(r.object, 'response', JSON.stringify(extra));
  }
  assert.equal(stack.upstream.requests.length, bodies.length);
  assertAbsent(upstreamRaw(), [EMAIL, CARD], 'an upstream request');
});

test('responses: pseudonyms are restored, whole and in response.output_text.delta events', async () => {
  const ask = { model: 'resp-echo', input: `Write to ${EMAIL} today.` };
  const whole = await openai.responses.create(ask);
  assert.equal(whole.output_text, `Write to ${EMAIL} today.`);
  let streamed = '';
  let done = '';
  for await (const e of await openai.responses.create({ ...ask, stream: true })) {
    if (e.type === 'response.output_text.delta') streamed += e.delta;
    if (e.type === 'response.output_text.done') done = e.text;
  }
  assert.equal(streamed, `Write to ${EMAIL} today.`);
  assert.equal(done, `Write to ${EMAIL} today.`);
  assertAbsent(upstreamRaw(), [EMAIL], 'an upstream request');
});

test('responses: every text-bearing field of an answer is inspected, whole and streamed; split values masked', async () => {
  const whole = await openai.responses.create({ model: 'resp-fields', input: 'hi' });
  assertAbsent(JSON.stringify(whole), [PLANTED.email, PLANTED.card], 'the whole answer');
  assert.equal(whole.output_text, 'write to [EMAIL]');
  const deltas = {};
  let all = '';
  for await (const e of await openai.responses.create({ model: 'resp-fields', input: 'hi', stream: true })) {
    all += JSON.stringify(e);
    if (e.type.endsWith('.delta')) deltas[e.type] = (deltas[e.type] ?? '') + e.delta;
  }
  assertAbsent(all, [PLANTED.email, PLANTED.card], 'the stream');
  assert.equal(deltas['response.output_text.delta'], 'write to [EMAIL]');
  assert.equal(deltas['response.reasoning_summary_text.delta'], 'card [CREDIT_CARD]');
  assert.deepEqual(JSON.parse(deltas['response.function_call_arguments.delta']), { to: '[EMAIL]' });
  let text = '';
  for await (const e of await openai.responses.create({ model: 'resp-leak', input: 'hi', stream: true })) {
    if (e.type === 'response.output_text.delta') text += e.delta;
  }
  assert.equal(text, 'Your card [CREDIT_CARD] is on file.');
});

test('responses: an answer that must end ends with an error the SDK raises, whole or streamed', async () => {
  await assert.rejects(openai.responses.create({ model: 'resp-end', input: 'hi' }),
    (e) => e instanceof OpenAI.PermissionDeniedError);
  let text = '';
  await assert.rejects((async () => {
    for await (const e of await openai.responses.create({ model: 'resp-end', input: 'hi', stream: true })) {
      if (e.type === 'response.output_text.delta') text += e.delta;
    }
  })(), (e) => e instanceof OpenAI.APIError && /stream ended/.test(e.message));
  assert.ok(!text.includes('4111'), text);
});

test('responses: an event type no API defines is inspected whole, not relayed unread', async () => {
  const res = await send('/v1/responses', { model: 'resp-invented', input: 'hi', stream: true });
  assert.equal(res.status, 200);
  assert.match(res.raw, /event: response\.telepathy\.delta/);
  assert.match(res.raw, /think of \[EMAIL\]/);
  assert.ok(!res.raw.includes(PLANTED.email));
});

test('responses: encrypted reasoning cannot be read: refused unless a rule permits it', async () => {
  const res = await send('/v1/responses', { model: 'resp', input: [
    { type: 'reasoning', id: 'rs_1', summary: [], encrypted_content: 'gAAAAABoZ2VuY3J5cHRlZA==' },
    { role: 'user', content: 'go on' }] });
  assert.equal(res.status, 403, res.body);
  assert.match(res.body, /uninspectable\.signed/);
  assert.equal(stack.upstream.requests.length, 0);
});

// ---- Tools the provider runs ----------------------------------------------------------------

test('tools the provider runs (web search, code execution, MCP) are refused unless a rule permits them; client tools pass', async () => {
  const refused = [
    ['/v1/responses', { model: 'resp', input: 'hi', tools: [{ type: 'web_search' }] }],
    ['/v1/responses', { model: 'resp', input: 'hi', tools: [{ type: 'mcp', server_label: 'docs', server_url: 'https://mcp.example.com/sse' }] }],
    ['/v1/responses', { model: 'resp', input: 'hi', tools: [{ type: 'telepathy_2030' }] }],
    ['/v1/messages', { model: 'claude', max_tokens: 8, messages: [{ role: 'user', content: 'hi' }], tools: [{ type: 'web_search_20250305', name: 'web_search' }] }],
    ['/v1/messages', { model: 'claude', max_tokens: 8, messages: [{ role: 'user', content: 'hi' }],
      mcp_servers: [{ type: 'url', url: 'https://mcp.example.com/sse', name: 'docs' }] }],
    ['/v1/chat/completions', { model: 'chat', messages: [{ role: 'user', content: 'hi' }], web_search_options: {} }],
  ];
  for (const [path, body] of refused) {
    const res = await send(path, body);
    assert.equal(res.status, 403, `${path} ${JSON.stringify(body.tools ?? body)}: ${res.body}`);
    assert.match(res.body, /uninspectable\.server_tools/);
  }
  assert.equal(stack.upstream.requests.length, 0);
  const passed = [
    ['/v1/responses', { model: 'resp', input: 'hi', tools: [{ type: 'function', name: 'f', parameters: {} }] }],
    ['/v1/messages', { model: 'claude', max_tokens: 8, messages: [{ role: 'user', content: 'hi' }],
      tools: [{ name: 'f', input_schema: { type: 'object' } }, { type: 'bash_20250124', name: 'bash' }] }],
    // A rule that names the class permits them.
    ['/v1/responses', { model: 'resp-tools', input: 'hi', tools: [{ type: 'web_search' }] }],
  ];
  for (const [path, body] of passed) {
    const res = await send(path, body);
    assert.equal(res.status, 200, `${path}: ${res.body}`);
  }
});

test('usage is accounted for both APIs, whole and streamed (the request log)', async () => {
  const logged = () => stack.logs.stdout.trim().split('\n').map((l) => JSON.parse(l))
    .filter((l) => l.route === 'messages' || l.route === 'responses');
  const before = logged().length;
  await claude.messages.create({ model: 'claude', max_tokens: 8, messages: [{ role: 'user', content: 'hi' }] });
  await claude.messages.stream({ model: 'claude', max_tokens: 8, messages: [{ role: 'user', content: 'hi' }] }).finalMessage();
  await openai.responses.create({ model: 'resp', input: 'hi' });
  for await (const e of await openai.responses.create({ model: 'resp', input: 'hi', stream: true })) void e;
  // A log line is written after its answer: wait for the four (10 s is a bound, not a target).
  for (let i = 0; i < 200 && logged().length < before + 4; i++) await new Promise((r) => setTimeout(r, 50));
  assert.deepEqual(logged().slice(before).map((l) => [l.route, l.stream, l.prompt_tokens, l.completion_tokens]), [
    ['messages', false, 12, 7], ['messages', true, 12, 7], ['responses', false, 12, 7], ['responses', true, 12, 7]]);
});
