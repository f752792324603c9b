// Leaks on the Anthropic Messages (/v1/messages, count_tokens) and OpenAI Responses
// (/v1/responses) routes, written from the two APIs' wire formats: a sensitive value (e-mail
// address, card number, IBAN, AWS key, private key block) hidden in any field kind of a request
// must not reach the upstream in clear, and one an upstream puts in any field of an answer (whole,
// streamed and split across events at every position, error bodies, headers, encodings) must not
// reach the client in clear. A refusal in the route's error shape counts as not leaking. The
// upstream here is scripted per test, so an answer can carry any body the APIs allow.
// Leaks still open are recorded as todo tests (LEAKS below).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { after, before, beforeEach, test } from 'node:test';
import { KEY, freePort } from './harness.mjs';

// ---- Values and how a leak is recognised ------------------------------------------------------

const V = {
  email: 'jane.doe@acme-corp.com',
  card: '5555 5555 5555 4444',
  iban: 'DE89 3704 0044 0532 0130 00',
  aws: 'AKIAZ3MQW7XH2LBNQR4T',
  pkey: '-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA0Z3VS5JJcds3xfn/ygWyF8PbnGy0AHB7MhgwMbRvI0MBZhpF\n-----END RSA PRIVATE KEY-----',
};
// What identifies each value once escapes, separators and case are gone.
const MARKS = {
  email: 'jane.doe@acme-corp.com', card: '5555555555554444', iban: 'DE89370400440532013000',
  aws: 'AKIAZ3MQW7XH2LBNQR4T', pkey: 'MIIEowIBAAKCAQEA0Z3VS5JJcds3xfn',
};
const ALL = `mail ${V.email} card ${V.card} iban ${V.iban}`;
const CARD_NUMBER = 5555555555554444;  // below 2^53: exact as a JSON number

// Every JSON escape level undone (a JSON text inside a string inside a string …).
function unescapeAll(s) {
  for (let i = 0; i < 6; i++) {
    const next = s.replace(/\\(u[0-9a-fA-F]{4}|.)/gs, (_, e) => (e.length === 5 && e[0] === 'u'
      ? String.fromCharCode(parseInt(e.slice(1), 16)) : ({ n: '\n', t: '\t', r: '\r', b: '\b', f: '\f' }[e] ?? e)));
    if (next === s) break;
    s = next;
  }
  return s;
}
// Numbers anywhere in a JSON text (and in JSON texts inside its strings), as the value they denote.
function numbersIn(text, depth = 0) {
  const out = [];
  const walk = (v) => {
    if (typeof v === 'number') out.push(String(v));
    else if (typeof v === 'string') { if (depth < 3 && /^\s*[[{]/.test(v)) out.push(...numbersIn(v, depth + 1)); }
    else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) { out.push(k); walk(x); }
  };
  try { walk(JSON.parse(text)); } catch { /* not one JSON text */ }
  return out;
}
function found(text) {
  const t = unescapeAll(text);
  const flat = t.replace(/[\s\-.]/g, '');
  const nums = numbersIn(text).join(' ');
  const hits = new Set();
  if (t.toLowerCase().includes(MARKS.email)) hits.add('email');
  if (flat.includes(MARKS.card) || nums.includes(MARKS.card)) hits.add('card');
  if (flat.toUpperCase().includes(MARKS.iban)) hits.add('iban');
  if (t.includes(MARKS.aws)) hits.add('aws');
  if (flat.includes(MARKS.pkey)) hits.add('pkey');
  return [...hits].sort();
}

// ---- A scripted upstream ----------------------------------------------------------------------

function startUpstream() {
  const requests = [];
  const state = { script: null };
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      let body = null;
      try { body = JSON.parse(raw); } catch { /* kept raw */ }
      requests.push({ method: req.method, url: req.url, headers: req.headers, raw, body });
      reply(res, (state.script ?? normalAnswer)(req, body ?? {}));
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({
    port: server.address().port, requests, state,
    close: () => new Promise((r) => { server.closeAllConnections(); server.close(() => r()); }),
  })));
}

const sseEvent = (e) => (typeof e === 'string' ? e : `event: ${e[0]}\ndata: ${JSON.stringify({ type: e[0], ...e[1] })}\n\n`);
function reply(res, a) {
  const headers = { ...(a.headers ?? {}) };
  let payload;
  if (a.events) {
    headers['content-type'] ??= 'text/event-stream';
    payload = a.events.map(sseEvent).join('');
  } else if (a.text !== undefined) {
    headers['content-type'] ??= 'application/json';
    payload = a.text;
  } else {
    headers['content-type'] ??= 'application/json';
    payload = JSON.stringify(a.json);
  }
  let bytes = Buffer.from(payload, 'utf8');
  if (a.gzip) { bytes = zlib.gzipSync(bytes); headers['content-encoding'] = 'gzip'; }
  headers['content-length'] = bytes.length;
  res.writeHead(a.status ?? 200, headers);
  res.end(bytes);
}

const msgWhole = (content, extra = {}) => ({ id: 'msg_01', type: 'message', role: 'assistant', model: 'm', content,
  stop_reason: 'end_turn', stop_sequence: null, usage: { input_tokens: 3, output_tokens: 3 }, ...extra });
const respWhole = (output, extra = {}) => ({ id: 'resp_01', object: 'response', created_at: 1, status: 'completed', model: 'r',
  output, usage: { input_tokens: 3, output_tokens: 3, total_tokens: 6 }, ...extra });
const textMsg = (text, extra = {}) => ({ type: 'message', id: 'msg_1', status: 'completed', role: 'assistant',
  content: [{ type: 'output_text', text, annotations: [], ...extra }] });

// A Messages stream: each block is its start block and its deltas.
function messageEvents(blocks, { after: tail = [], stop = {} } = {}) {
  const ev = [['message_start', { message: msgWhole([], { stop_reason: null }) }]];
  blocks.forEach((b, index) => {
    ev.push(['content_block_start', { index, content_block: b.start }]);
    for (const delta of b.deltas) ev.push(['content_block_delta', { index, delta }]);
    ev.push(['content_block_stop', { index }]);
  });
  ev.push(...tail);
  ev.push(['message_delta', { delta: { stop_reason: 'end_turn', stop_sequence: null, ...stop }, usage: { output_tokens: 3 } }]);
  ev.push(['message_stop', {}]);
  return ev;
}
// A Responses stream: `items` are lists of events already numbered by output index.
function responseEvents(perItem, final = []) {
  let n = 0;
  const ev = [['response.created', { response: respWhole([], { status: 'in_progress', usage: null }) }]];
  for (const list of perItem) for (const [type, data] of list) ev.push([type, data]);
  ev.push(['response.completed', { response: respWhole(final) }]);
  return ev.map((e) => (typeof e === 'string' ? e : [e[0], { sequence_number: n++, ...e[1] }]));
}
function normalAnswer(req, body) {
  if (req.url.endsWith('/count_tokens') || req.url.endsWith('/input_tokens')) return { json: { input_tokens: 5, object: 'response.input_tokens' } };
  if (req.url.includes('/messages')) {
    if (body.stream) return { events: messageEvents([{ start: { type: 'text', text: '' }, deltas: [{ type: 'text_delta', text: 'ok' }] }]) };
    return { json: msgWhole([{ type: 'text', text: 'ok' }]) };
  }
  if (body.stream) return { events: responseEvents([]) };
  return { json: respWhole([textMsg('ok')]) };
}

// ---- The gateway ------------------------------------------------------------------------------

let up;
let gw;
let url;
const logs = { stdout: '', stderr: '' };

function config(port, adminPort) {
  const dep = (name, provider, model) =>
    `      - {name: ${name}, provider: ${provider}, upstream_model: ${model}, operator: Test, jurisdiction: DE, region: eu}`;
  const model = (name, kind, d) => `  - name: ${name}\n    developer: Test\n    origin: EU\n    kinds: [${kind}]\n    deployments:\n${d}`;
  return `server:
  listen: 127.0.0.1:${port}
  workers: 2
  max_body_bytes: 1048576
  header_timeout_ms: 2000
  body_timeout_ms: 5000
admin:
  listen: 127.0.0.1:${adminPort}
log:
  requests: true
audit:
  durability: batched
  instance: leak
inspect:
  hold_back_bytes: 64
  actions: {secret: block, pii.email: pseudonymise, fin: mask}
policy:
  rules:
    - {id: allow-all, effect: permit}
    - id: end-cards
      effect: output
      action: end
      classes: [fin.credit_card]
      when: [{attr: deployment.name, op: in, values: [cl-end-a, rs-end-a]}]
providers:
  - {name: anth, kind: anthropic, base_url: "http://127.0.0.1:${up.port}/v1", api_key_env: WARDEN_TEST_UPSTREAM_KEY, retries: 0}
  - {name: oai, base_url: "http://127.0.0.1:${up.port}/v1", retries: 0}
models:
${model('cl', 'messages', dep('cl-a', 'anth', 'm'))}
${model('cl-end', 'messages', dep('cl-end-a', 'anth', 'm'))}
${model('rs', 'responses', dep('rs-a', 'oai', 'r'))}
${model('rs-end', 'responses', dep('rs-end-a', 'oai', 'r'))}
keys:
  - sha256: ${crypto.createHash('sha256').update(KEY).digest('hex')}
    principal: {id: alice, kind: person, team: research, clearance: internal}
`;
}

let dir;
before(async () => {
  up = await startUpstream();
  const [port, adminPort] = [await freePort(), await freePort()];
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-leak-'));
  const configPath = path.join(dir, 'warden.yaml');
  fs.writeFileSync(configPath, config(port, adminPort));
  const bin = process.env.WARDEN_BIN ?? new URL('../../build/warden', import.meta.url).pathname;
  gw = spawn(bin, ['serve', '--config', configPath], { stdio: ['ignore', 'pipe', 'pipe'] });
  gw.stdout.on('data', (d) => { logs.stdout += d; });
  gw.stderr.on('data', (d) => { logs.stderr += d; });
  const deadline = Date.now() + 10_000;
  for (;;) {
    try { if ((await fetch(`http://127.0.0.1:${adminPort}/readyz`)).ok) break; } catch { /* not yet */ }
    if (Date.now() > deadline || gw.exitCode !== null) throw new Error(`warden did not start: ${logs.stderr}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  url = `http://127.0.0.1:${port}`;
});
after(async () => {
  if (gw && gw.exitCode === null) {
    const exited = new Promise((r) => gw.on('exit', r));
    gw.kill('SIGTERM');
    await exited;
  }
  await up?.close();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});
beforeEach(() => { up.requests.length = 0; up.state.script = null; });

async function call(route, body, headers = {}) {
  const res = await fetch(url + route, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${KEY}`, 'anthropic-version': '2023-06-01', ...headers },
    body: typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body),
  });
  const bytes = Buffer.from(await res.arrayBuffer());
  return { status: res.status, headers: Object.fromEntries(res.headers), bytes, text: bytes.toString('utf8') };
}
const isMessages = (route) => route.startsWith('/v1/messages');
function assertErrorShape(route, r) {
  let e;
  try { e = JSON.parse(r.text); } catch { assert.fail(`${r.status} without a JSON error body: ${r.text.slice(0, 200)}`); }
  if ([404, 405].includes(r.status) && (e.type === 'error' || e.error?.message)) return;  // a route not served
  if (isMessages(route)) {
    assert.equal(e.type, 'error', r.text);
    assert.equal(typeof e.error?.type, 'string', r.text);
  } else {
    assert.equal(typeof e.error?.message, 'string', r.text);
  }
}
const decodeUrl = (u) => { try { return decodeURIComponent(u); } catch { return u; } };
// What the model reads of a request: its prompt texts in order, as one text.
const PROMPT_KEYS = new Set(['system', 'instructions', 'content', 'text', 'input', 'output', 'data']);
function promptText(body) {
  const out = [];
  const walk = (v, key) => {
    if (typeof v === 'string') { if (PROMPT_KEYS.has(key)) out.push(v); return; }
    if (Array.isArray(v)) { for (const x of v) walk(x, key); return; }
    if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) walk(x, k);
  };
  walk(body, '');
  return out.join('');
}
const upstreamSeen = () => up.requests.map((q) => `${q.method} ${decodeUrl(q.url)}\n${JSON.stringify(q.headers)}\n${q.raw}\n${promptText(q.body)}`).join('\n');

// ---- Request direction ------------------------------------------------------------------------

const M = (extra) => ({ model: 'cl', max_tokens: 16, messages: [{ role: 'user', content: 'hi' }], ...extra });
const R = (extra) => ({ model: 'rs', input: 'hi', ...extra });
const toolTurn = (input, result) => ({ messages: [
  { role: 'user', content: 'look it up' },
  { role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_01', name: 'lookup', input }] },
  { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_01', content: result }] }] });
const escAt = (s) => s.replace('@', '\\u0040');  // the text of a JSON string whose @ is escaped
const escAll = (s) => [...s].map((c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`).join('');
// A raw JSON body: `@@` stands for the spot where `inner` (already JSON text) goes.
const rawBody = (obj, inner) => JSON.stringify(obj).replace('"@@"', inner);

// [name, route, body (object or raw JSON text), headers?]
const REQUESTS = [
  // Anthropic Messages
  ['messages: system as a string', '/v1/messages', M({ system: `Reply to ${ALL}.` })],
  ['messages: system as text blocks', '/v1/messages', M({ system: [{ type: 'text', text: 'You are terse.' }, { type: 'text', text: ALL, cache_control: { type: 'ephemeral' } }] })],
  ['messages: user content as a string', '/v1/messages', M({ messages: [{ role: 'user', content: ALL }] })],
  ['messages: user text blocks', '/v1/messages', M({ messages: [{ role: 'user', content: [{ type: 'text', text: 'a' }, { type: 'text', text: ALL }] }] })],
  ['messages: assistant prefill', '/v1/messages', M({ messages: [{ role: 'user', content: 'hi' }, { role: 'assistant', content: `Sure, ${ALL}` }] })],
  ['messages: tool_use input, nested objects and arrays', '/v1/messages', M(toolTurn({ q: { who: [{ mail: V.email }], pay: { card: V.card, iban: V.iban } } }, 'done'))],
  ['messages: tool_use input, an address as an object key', '/v1/messages', M(toolTurn({ [V.email]: { ok: 1 } }, 'done'))],
  ['messages: tool_use input, an IBAN as an object key', '/v1/messages', M(toolTurn({ [V.iban]: 1 }, 'done'))],
  ['messages: tool_use input, a card as a JSON number', '/v1/messages', M(toolTurn({ card: CARD_NUMBER }, 'done'))],
  ['messages: tool_use input, a card as a number in exponent form', '/v1/messages',
    rawBody(M(toolTurn({ card: '@@' }, 'done')), '5.555555555554444e15')],
  ['messages: tool_use input, a card as a number with a fraction', '/v1/messages',
    rawBody(M(toolTurn({ card: '@@' }, 'done')), '5555555555554444.0')],
  ['messages: tool_use input, JSON inside a string', '/v1/messages', M(toolTurn({ payload: JSON.stringify({ to: V.email, card: V.card, iban: V.iban }) }, 'done'))],
  ['messages: tool_use input, JSON inside a string with its own escapes', '/v1/messages', M(toolTurn({ payload: `{"to":"${escAt(V.email)}","card":"${escAll(V.card)}"}` }, 'done'))],
  ['messages: tool_use input, JSON inside JSON inside a string', '/v1/messages',
    M(toolTurn({ payload: JSON.stringify({ inner: `{"to":"${escAt(V.email)}","card":"${escAll(V.card)}"}` }) }, 'done'))],
  ['messages: tool_result content as a string', '/v1/messages', M(toolTurn({}, `found ${ALL}`))],
  ['messages: tool_result content as text blocks', '/v1/messages', M(toolTurn({}, [{ type: 'text', text: `found ${ALL}` }]))],
  ['messages: tool_result holding a search_result and a document', '/v1/messages', M(toolTurn({}, [
    { type: 'search_result', source: `https://crm.example/u/${V.email}`, title: `Customer ${V.email}`, content: [{ type: 'text', text: `card ${V.card}` }] },
    { type: 'document', source: { type: 'text', media_type: 'text/plain', data: `iban ${V.iban}` }, title: 'ledger' }]))],
  ['messages: document with a plain-text source, title and context', '/v1/messages', M({ messages: [{ role: 'user', content: [
    { type: 'document', source: { type: 'text', media_type: 'text/plain', data: ALL }, title: `Notes on ${V.email}`, context: `card ${V.card}`, citations: { enabled: true } },
    { type: 'text', text: 'summarise' }] }] })],
  ['messages: document with a content source, string and blocks', '/v1/messages', M({ messages: [{ role: 'user', content: [
    { type: 'document', source: { type: 'content', content: ALL } },
    { type: 'document', source: { type: 'content', content: [{ type: 'text', text: ALL }] } },
    { type: 'text', text: 'summarise' }] }] })],
  ['messages: search_result block in user content', '/v1/messages', M({ messages: [{ role: 'user', content: [
    { type: 'search_result', source: `https://crm.example/${V.email}`, title: `IBAN ${V.iban}`, content: [{ type: 'text', text: `card ${V.card}` }], citations: { enabled: true } },
    { type: 'text', text: 'summarise' }] }] })],
  ['messages: assistant text with citations (cited_text) in history', '/v1/messages', M({ messages: [
    { role: 'user', content: 'q' },
    { role: 'assistant', content: [{ type: 'text', text: 'per the file', citations: [{ type: 'char_location', cited_text: ALL, document_index: 0, document_title: `file of ${V.email}`, start_char_index: 0, end_char_index: 5 }] }] },
    { role: 'user', content: 'more' }] })],
  ['messages: escapes: the address\'s @ as \\u0040, every character of a card escaped', '/v1/messages',
    rawBody(M({ messages: [{ role: 'user', content: '@@' }] }), `"mail ${escAt(V.email)} card ${escAll(V.card)} iban ${escAll(V.iban)}"`)],
  ['messages: escapes: a whole address escaped in the system prompt and an object key', '/v1/messages',
    rawBody(M({ system: '@@' }), `"${escAll(V.email)}"`).replace('"max_tokens"', `"x_note":{"${escAll(V.email)}":1},"max_tokens"`)],
  ['messages: metadata.user_id and stop_sequences', '/v1/messages', M({ metadata: { user_id: V.email }, stop_sequences: [V.card, V.iban] })],
  ['messages: tools: description, schema defaults, enums, property names', '/v1/messages', M({ tools: [{ name: 'send', description: `send to ${V.email}`,
    input_schema: { type: 'object', properties: { [V.email]: { type: 'string' }, card: { type: 'string', enum: [V.card], default: V.iban } } } }] })],
  ['messages: tools: a card number as an integer enum', '/v1/messages', M({ tools: [{ name: 'send', input_schema: { type: 'object', properties: { n: { type: 'integer', enum: [CARD_NUMBER] } } } }] })],
  ['messages: tools: input_examples', '/v1/messages', M({ tools: [{ name: 'send', input_schema: { type: 'object' }, input_examples: [{ to: V.email, card: V.card }] }] })],
  ['messages: an unknown top-level field', '/v1/messages', M({ x_trace: { who: V.email, card: V.card } })],
  ['messages: a card split across two text blocks', '/v1/messages', M({ messages: [{ role: 'user', content: [{ type: 'text', text: 'card 5555 5555' }, { type: 'text', text: '5555 4444 thanks' }] }] })],
  ['messages: a card split across two system blocks', '/v1/messages', M({ system: [{ type: 'text', text: 'card 5555 5555' }, { type: 'text', text: '5555 4444 thanks' }] })],
  ['messages: a card split between the system prompt and the first message', '/v1/messages', M({ system: 'card 5555 5555', messages: [{ role: 'user', content: '5555 4444 thanks' }] })],
  ['messages: a card split across two text blocks of a tool_result', '/v1/messages', M(toolTurn({}, [{ type: 'text', text: 'card 5555 5555' }, { type: 'text', text: '5555 4444 thanks' }]))],
  ['messages: escapes with upper-case hex digits', '/v1/messages',
    rawBody(M({ messages: [{ role: 'user', content: '@@' }] }), `"mail ${escAll(V.email).toUpperCase().replace(/\\U/g, '\\u')} card ${escAll(V.card).toUpperCase().replace(/\\U/g, '\\u')}"`)],
  ['messages: an IBAN split across two user turns', '/v1/messages', M({ messages: [{ role: 'user', content: 'iban DE89 3704 0044' }, { role: 'assistant', content: 'go on' }, { role: 'user', content: '0532 0130 00 thanks' }] })],
  ['messages: an address split across two text blocks', '/v1/messages', M({ messages: [{ role: 'user', content: [{ type: 'text', text: 'mail jane.doe@' }, { type: 'text', text: 'acme-corp.com' }] }] })],
  ['messages: an address split across a text block and a tool_result', '/v1/messages', M({ messages: [
    { role: 'user', content: 'look it up' },
    { role: 'assistant', content: [{ type: 'text', text: 'mail jane.doe@' }, { type: 'tool_use', id: 'toolu_01', name: 'lookup', input: {} }] },
    { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_01', content: 'acme-corp.com' }] }] })],
  ['messages: server tool blocks in history', '/v1/messages', M({ messages: [
    { role: 'user', content: 'search' },
    { role: 'assistant', content: [
      { type: 'server_tool_use', id: 'srvtoolu_01', name: 'web_search', input: { query: V.email } },
      { type: 'web_search_tool_result', tool_use_id: 'srvtoolu_01', content: [{ type: 'web_search_result', title: `card ${V.card}`, url: `https://x.example/${V.email}`, encrypted_content: 'ZW5j' }] }] },
    { role: 'user', content: 'ok' }] })],
  ['messages: an image by URL naming the address', '/v1/messages', M({ messages: [{ role: 'user', content: [{ type: 'image', source: { type: 'url', url: `https://img.example/${V.email}.png` } }, { type: 'text', text: 'what is it' }] }] })],
  ['messages: an AWS key in a tool_result is refused', '/v1/messages', M(toolTurn({}, `key ${V.aws}`))],
  ['messages: a private key block in a document is refused', '/v1/messages', M({ messages: [{ role: 'user', content: [{ type: 'document', source: { type: 'text', media_type: 'text/plain', data: V.pkey } }, { type: 'text', text: 'x' }] }] })],
  ['messages: the values after 100 KiB of text', '/v1/messages', M({ system: `${'lorem ipsum '.repeat(9000)}${ALL}` })],
  ['messages: values in client headers and the query string', `/v1/messages?user=${encodeURIComponent(V.email)}`, M({}),
    { 'anthropic-beta': `x-${V.email}`, 'x-user-email': V.email, 'x-card': V.card }],
  ['messages: tool_use ids carrying the values', '/v1/messages', M({ messages: [
    { role: 'user', content: 'q' },
    { role: 'assistant', content: [{ type: 'tool_use', id: `toolu_${V.email}`, name: 'f', input: {} }] },
    { role: 'user', content: [{ type: 'tool_result', tool_use_id: `toolu_${MARKS.card}`, content: 'ok' }] }] })],
  ['messages: numeric settings holding a card number', '/v1/messages', M({ max_tokens: CARD_NUMBER, top_k: CARD_NUMBER })],
  ['messages: thinking budget holding a card number', '/v1/messages', M({ thinking: { type: 'enabled', budget_tokens: CARD_NUMBER } })],
  ['messages: a gzip-encoded request body', '/v1/messages', zlib.gzipSync(JSON.stringify(M({ system: ALL }))), { 'content-encoding': 'gzip' }],
  ['count_tokens: system, messages, tools, tool_use and escapes', '/v1/messages/count_tokens',
    rawBody({ model: 'cl', system: `to ${V.email}`, tools: [{ name: 'f', description: `card ${V.card}`, input_schema: { type: 'object' } }],
      messages: [{ role: 'user', content: '@@' }, { role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_01', name: 'f', input: { iban: V.iban } }] },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_01', content: 'ok' }] }] }, `"mail ${escAt(V.email)}"`)],
  ['count_tokens: a card split across two text blocks', '/v1/messages/count_tokens',
    { model: 'cl', messages: [{ role: 'user', content: [{ type: 'text', text: 'card 5555 5555' }, { type: 'text', text: '5555 4444 thanks' }] }] }],
  ['messages: batches route', '/v1/messages/batches', { requests: [{ custom_id: 'a', params: M({ system: ALL }) }] }],
  ['messages: a route variant with a trailing slash', '/v1/messages/', M({ system: ALL })],
  ['messages: legacy text completions route', '/v1/complete', { model: 'cl', prompt: `\n\nHuman: ${ALL}\n\nAssistant:`, max_tokens_to_sample: 8 }],

  // OpenAI Responses
  ['responses: input as a string', '/v1/responses', R({ input: ALL })],
  ['responses: instructions', '/v1/responses', R({ instructions: `Reply to ${ALL}.` })],
  ['responses: input message with input_text parts', '/v1/responses', R({ input: [{ type: 'message', role: 'user', content: [{ type: 'input_text', text: 'a' }, { type: 'input_text', text: ALL }] }] })],
  ['responses: developer and system messages', '/v1/responses', R({ input: [{ role: 'developer', content: ALL }, { role: 'system', content: [{ type: 'input_text', text: ALL }] }, { role: 'user', content: 'hi' }] })],
  ['responses: assistant output message with annotations in history', '/v1/responses', R({ input: [
    { role: 'user', content: 'q' },
    { type: 'message', id: 'msg_1', status: 'completed', role: 'assistant', content: [{ type: 'output_text', text: ALL,
      annotations: [{ type: 'url_citation', url: `https://crm.example/${V.email}`, title: `card ${V.card}`, start_index: 0, end_index: 3 }] }] },
    { role: 'user', content: 'more' }] })],
  ['responses: function_call arguments and function_call_output', '/v1/responses', R({ input: [
    { role: 'user', content: 'q' },
    { type: 'function_call', call_id: 'call_1', name: 'lookup', arguments: JSON.stringify({ who: { mail: V.email }, card: V.card, iban: V.iban }) },
    { type: 'function_call_output', call_id: 'call_1', output: `found ${ALL}` }] })],
  ['responses: function_call arguments with escapes of their own', '/v1/responses', R({ input: [
    { type: 'function_call', call_id: 'call_1', name: 'lookup', arguments: `{"who":"${escAt(V.email)}","card":"${escAll(V.card)}","iban":"${escAll(V.iban)}"}` },
    { type: 'function_call_output', call_id: 'call_1', output: 'ok' }] })],
  ['responses: function_call arguments with JSON inside JSON', '/v1/responses', R({ input: [
    { type: 'function_call', call_id: 'call_1', name: 'lookup', arguments: JSON.stringify({ inner: `{"who":"${escAt(V.email)}"}` }) },
    { type: 'function_call_output', call_id: 'call_1', output: 'ok' }] })],
  ['responses: function_call arguments with a card as a number', '/v1/responses', R({ input: [
    { type: 'function_call', call_id: 'call_1', name: 'pay', arguments: `{"card":${CARD_NUMBER}}` },
    { type: 'function_call_output', call_id: 'call_1', output: 'ok' }] })],
  ['responses: function_call arguments with a card as a number in exponent form', '/v1/responses', R({ input: [
    { type: 'function_call', call_id: 'call_1', name: 'pay', arguments: '{"card":5.555555555554444e15}' },
    { type: 'function_call_output', call_id: 'call_1', output: 'ok' }] })],
  ['responses: function_call_output as content parts', '/v1/responses', R({ input: [
    { type: 'function_call', call_id: 'call_1', name: 'lookup', arguments: '{}' },
    { type: 'function_call_output', call_id: 'call_1', output: [{ type: 'input_text', text: ALL }] }] })],
  ['responses: reasoning item summary and content without encrypted content', '/v1/responses', R({ input: [
    { role: 'user', content: 'q' },
    { type: 'reasoning', id: 'rs_1', summary: [{ type: 'summary_text', text: ALL }], content: [{ type: 'reasoning_text', text: ALL }] },
    { role: 'user', content: 'go on' }] })],
  ['responses: custom tool call input and output', '/v1/responses', R({ input: [
    { type: 'custom_tool_call', call_id: 'call_2', name: 'grep', input: ALL },
    { type: 'custom_tool_call_output', call_id: 'call_2', output: ALL }] })],
  ['responses: local shell call command', '/v1/responses', R({ input: [
    { type: 'local_shell_call', id: 'ls_1', call_id: 'call_3', status: 'completed', action: { type: 'exec', command: ['mail', V.email, V.card], env: { CARD: V.iban } } },
    { type: 'local_shell_call_output', id: 'call_3', output: ALL }] })],
  ['responses: metadata, user, safety_identifier, prompt_cache_key', '/v1/responses', R({ metadata: { owner: V.email, card: V.card }, user: V.email, safety_identifier: V.email, prompt_cache_key: V.iban })],
  ['responses: prompt template variables', '/v1/responses', R({ prompt: { id: 'pmpt_1', variables: { customer: V.email, card: { type: 'input_text', text: V.card } } } })],
  ['responses: text.format json_schema (description, enum, property name)', '/v1/responses', R({ text: { format: { type: 'json_schema', name: 'out', description: `for ${V.email}`,
    schema: { type: 'object', properties: { [V.email]: { type: 'string' }, card: { type: 'string', enum: [V.card] } } } } } })],
  ['responses: text.format json_schema with a card number as a const', '/v1/responses', R({ text: { format: { type: 'json_schema', name: 'out', schema: { type: 'object', properties: { n: { type: 'integer', const: CARD_NUMBER } } } } } })],
  ['responses: text.format json_schema with a card number in exponent form', '/v1/responses',
    rawBody(R({ text: { format: { type: 'json_schema', name: 'out', schema: { type: 'object', properties: { n: { type: 'integer', const: '@@' } } } } } }), '5.555555555554444e15')],
  ['responses: function tool description and parameters', '/v1/responses', R({ tools: [{ type: 'function', name: 'send', description: `send to ${V.email}`, strict: false,
    parameters: { type: 'object', properties: { to: { type: 'string', default: V.email }, card: { type: 'string', examples: [V.card] } } } }] })],
  ['responses: input_file by name and text data', '/v1/responses', R({ input: [{ role: 'user', content: [
    { type: 'input_file', filename: `${V.email}.txt`, file_data: `data:text/plain;base64,${Buffer.from(ALL).toString('base64')}` }, { type: 'input_text', text: 'read' }] }] })],
  ['responses: input_image by URL naming the address', '/v1/responses', R({ input: [{ role: 'user', content: [{ type: 'input_image', image_url: `https://img.example/${V.email}.png`, detail: 'auto' }] }] })],
  ['responses: escapes: the address\'s @ as \\u0040, a card fully escaped', '/v1/responses',
    rawBody(R({ input: '@@' }), `"mail ${escAt(V.email)} card ${escAll(V.card)} iban ${escAll(V.iban)}"`)],
  ['responses: a card split between instructions and input', '/v1/responses', R({ instructions: 'card 5555 5555', input: '5555 4444 thanks' })],
  ['responses: a card split across two input items', '/v1/responses', R({ input: [{ role: 'user', content: 'card 5555 5555' }, { role: 'user', content: '5555 4444 thanks' }] })],
  ['responses: a card split across two input_text parts', '/v1/responses', R({ input: [{ role: 'user', content: [{ type: 'input_text', text: 'card 5555 5555' }, { type: 'input_text', text: '5555 4444 thanks' }] }] })],
  ['responses: an address split across two input_text parts', '/v1/responses', R({ input: [{ role: 'user', content: [{ type: 'input_text', text: 'mail jane.doe@' }, { type: 'input_text', text: 'acme-corp.com' }] }] })],
  ['responses: an IBAN split across a message and a function_call_output', '/v1/responses', R({ input: [
    { role: 'user', content: 'iban DE89 3704 0044' },
    { type: 'function_call', call_id: 'call_1', name: 'f', arguments: '{}' },
    { type: 'function_call_output', call_id: 'call_1', output: '0532 0130 00 thanks' }] })],
  ['responses: an AWS key in instructions is refused', '/v1/responses', R({ instructions: `use ${V.aws}` })],
  ['responses: a private key block in a function_call_output is refused', '/v1/responses', R({ input: [
    { type: 'function_call', call_id: 'call_1', name: 'f', arguments: '{}' }, { type: 'function_call_output', call_id: 'call_1', output: V.pkey }] })],
  ['responses: the values after 100 KiB of text', '/v1/responses', R({ input: `${'lorem ipsum '.repeat(9000)}${ALL}` })],
  ['responses: values in client headers and the query string', `/v1/responses?user=${encodeURIComponent(V.email)}`, R({}),
    { 'openai-organization': V.email, 'x-user-email': V.email, 'openai-beta': V.card }],
  ['responses: call ids carrying the values', '/v1/responses', R({ input: [
    { type: 'function_call', call_id: `call_${V.email}`, name: 'f', arguments: '{}' },
    { type: 'function_call_output', call_id: `call_${MARKS.card}`, output: 'ok' }] })],
  ['responses: numeric settings holding a card number', '/v1/responses', R({ max_output_tokens: CARD_NUMBER, top_logprobs: CARD_NUMBER, max_tool_calls: CARD_NUMBER })],
  ['responses: a gzip-encoded request body', '/v1/responses', zlib.gzipSync(JSON.stringify(R({ input: ALL }))), { 'content-encoding': 'gzip' }],
  ['responses: input_tokens route', '/v1/responses/input_tokens', R({ input: ALL })],
  ['responses: compact route', '/v1/responses/compact', R({ input: ALL })],
  ['responses: a stored response\'s cancel route', '/v1/responses/resp_1/cancel', R({ input: ALL })],
];

// Leaks found and not yet closed: each test stays, marked todo, until its leak is fixed.
// name → why it is still open
const LEAKS = {};

for (const [name, route, body, headers] of REQUESTS) {
  test(`request: ${name}`, LEAKS[name] ? { todo: LEAKS[name] } : {}, async () => {
    const r = await call(route, body, headers);
    assert.ok([200, 400, 403, 404, 405].includes(r.status), `${r.status} ${r.text.slice(0, 300)}`);
    if (r.status !== 200) assertErrorShape(route, r);
    const leaked = found(upstreamSeen());
    assert.deepEqual(leaked, [], `reached the upstream in clear (status ${r.status}): ${upstreamSeen().slice(0, 1500)}`);
    if (r.status === 200) assert.equal(up.requests.length, 1);
  });
}

// ---- Answer direction -------------------------------------------------------------------------

// A stream's events as the client got them: name and parsed data.
function parseSse(text) {
  const out = [];
  for (const block of text.split(/\r?\n\r?\n/)) {
    let event = null;
    const data = [];
    for (const line of block.split(/\r?\n/)) {
      if (line.startsWith('event:')) event = line.slice(6).trim();
      else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
    }
    if (!data.length) continue;
    let d = data.join('\n');
    try { d = JSON.parse(d); } catch { /* kept as text */ }
    out.push({ event, data: d });
  }
  return out;
}
// The texts a client assembles from a stream's deltas, per channel, and all of them in order.
function assembled(text) {
  const ch = new Map();
  const add = (k, s) => { if (typeof s === 'string') ch.set(k, (ch.get(k) ?? '') + s); };
  let all = '';
  for (const { data: d } of parseSse(text)) {
    if (!d || typeof d !== 'object') continue;
    if (d.type === 'content_block_delta' && d.delta) {
      const s = d.delta.text ?? d.delta.thinking ?? d.delta.partial_json ?? d.delta.citation?.cited_text;
      add(`block ${d.index} ${d.delta.type}`, s);
      if (d.delta.type === 'text_delta') all += s;
    } else if (typeof d.type === 'string' && d.type.endsWith('.delta') && typeof d.delta === 'string') {
      const k = `${d.type} ${d.item_id ?? ''} ${d.output_index ?? ''} ${d.content_index ?? d.summary_index ?? ''}`;
      add(k, d.delta);
      if (d.type === 'response.output_text.delta') all += d.delta;
      for (const lp of d.logprobs ?? []) add(`${k} logprobs`, lp.token);
    }
  }
  return [...ch.values(), all];
}
// What a client shows of a whole answer: its texts in order, and the tokens of each logprobs list.
function joined(doc) {
  const texts = [];
  const out = [];
  const walk = (v) => {
    if (Array.isArray(v)) { v.forEach(walk); return; }
    if (!v || typeof v !== 'object') return;
    for (const [k, x] of Object.entries(v)) {
      if (k === 'text' && typeof x === 'string') texts.push(x);
      if (k === 'logprobs' && Array.isArray(x)) out.push(x.map((t) => t?.token ?? '').join(''));
      walk(x);
    }
  };
  walk(doc);
  return [texts.join(''), ...out];
}
// Everything the client received, and what it assembles from it, free of every value.
// (An upstream's own 4xx passes through in its own shape, so no shape is asserted here; a body the
// client could still decompress is decompressed.)
function assertClean(route, r, what) {
  assert.ok([200, 400, 403, 404, 429, 500, 502, 503].includes(r.status), `${what}: status ${r.status}`);
  const texts = [JSON.stringify(r.headers), r.text];
  if (r.bytes[0] === 0x1f && r.bytes[1] === 0x8b) texts.push(zlib.gunzipSync(r.bytes).toString('utf8'));
  const docs = [];
  try { docs.push(JSON.parse(r.text)); } catch { /* a stream or text */ }
  if (/event-stream/.test(r.headers['content-type'] ?? '')) {
    texts.push(...assembled(r.text));
    for (const { data } of parseSse(r.text)) if (data && typeof data === 'object') docs.push(data);
  }
  for (const d of docs) texts.push(JSON.stringify(d), ...joined(d));
  const leaks = [...new Set(texts.flatMap(found))].sort();
  assert.deepEqual(leaks, [], `${what}: reached the client in clear: ${r.text.slice(0, 2000)}`);
}

const ANSWER_VALUES = [V.email, V.card, V.iban];
// Text `see <value> now` cut once at every position inside the value: one piece list per cut,
// and one with a byte a piece.
function cuts(v, { prefix = 'see ', suffix = ' now' } = {}) {
  const full = `${prefix}${v}${suffix}`;
  const out = [];
  for (let k = 1; k < v.length; k++) out.push([full.slice(0, prefix.length + k), full.slice(prefix.length + k)]);
  out.push([...full]);
  return out;
}
// JSON text `{"to":"<value with @ escaped>"}` cut at every position of the whole text.
function jsonCuts(v) {
  const full = `{"to":"${escAt(v)}","n":1}`;
  const out = [];
  for (let k = 1; k < full.length; k++) out.push([full.slice(0, k), full.slice(k)]);
  out.push([...full]);
  return out;
}

const mq = (stream = false) => ({ model: 'cl', max_tokens: 64, stream, messages: [{ role: 'user', content: 'hi' }] });
const rq = (stream = false) => ({ model: 'rs', input: 'hi', stream });

// [name, route, request, answer]
const ANSWERS = [];
const addA = (name, route, request, answer) => ANSWERS.push([name, route, request, answer]);

// Anthropic Messages, whole answers.
const wholeBlocks = {
  'text block': [{ type: 'text', text: ALL }],
  'thinking block': [{ type: 'thinking', thinking: ALL, signature: 'c2ln' }, { type: 'text', text: 'ok' }],
  'tool_use input, nested': [{ type: 'tool_use', id: 'toolu_01', name: 'send', input: { to: { list: [V.email] }, pay: { card: V.card, iban: V.iban } } }],
  'tool_use input, the value as an object key': [{ type: 'tool_use', id: 'toolu_01', name: 'send', input: { [V.email]: true, [V.iban]: { [V.card]: 1 } } }],
  'tool_use input, a card as a JSON number': [{ type: 'tool_use', id: 'toolu_01', name: 'pay', input: { card: CARD_NUMBER } }],
  'tool_use input, JSON inside a string with its own escapes': [{ type: 'tool_use', id: 'toolu_01', name: 'send', input: { payload: `{"to":"${escAt(V.email)}","card":"${escAll(V.card)}"}` } }],
  'text with citations (cited_text, document_title)': [{ type: 'text', text: 'per the file', citations: [
    { type: 'char_location', cited_text: ALL, document_index: 0, document_title: `file of ${V.email}`, start_char_index: 0, end_char_index: 5, file_id: null }] }],
  'server_tool_use and web_search_tool_result': [
    { type: 'server_tool_use', id: 'srvtoolu_01', name: 'web_search', input: { query: V.email } },
    { type: 'web_search_tool_result', tool_use_id: 'srvtoolu_01', content: [{ type: 'web_search_result', title: `card ${V.card}`, url: `https://x.example/${V.email}`, encrypted_content: 'ZW5j', page_age: null }] },
    { type: 'text', text: 'ok' }],
  'a card split across two text blocks': [{ type: 'text', text: 'card 5555 5555' }, { type: 'text', text: '5555 4444 is on file' }],
  'a block type no version defines': [{ type: 'hologram_2031', caption: ALL, frames: [{ text: ALL }] }, { type: 'text', text: 'ok' }],
};
for (const [name, content] of Object.entries(wholeBlocks)) addA(`messages, whole: ${name}`, '/v1/messages', mq(), { json: msgWhole(content) });
addA('messages, whole: tool_use input, a card as a number in exponent form', '/v1/messages', mq(),
  { text: JSON.stringify(msgWhole([{ type: 'tool_use', id: 'toolu_01', name: 'pay', input: { card: '@@' } }])).replace('"@@"', '5.555555555554444e15') });
addA('messages, whole: stop_sequence and container', '/v1/messages', mq(),
  { json: msgWhole([{ type: 'text', text: 'ok' }], { stop_reason: 'stop_sequence', stop_sequence: V.email, container: { id: `c-${V.card}`, expires_at: '2030-01-01T00:00:00Z' } }) });
addA('messages, whole: escapes in the text', '/v1/messages', mq(),
  { text: JSON.stringify(msgWhole([{ type: 'text', text: '@@' }])).replace('"@@"', `"mail ${escAt(V.email)} card ${escAll(V.card)}"`) });
addA('messages, whole: a private key block and an AWS key', '/v1/messages', mq(), { json: msgWhole([{ type: 'text', text: `${V.pkey}\nkey ${V.aws}` }]) });

// Anthropic Messages, streamed.
const textBlocks = (make) => ANSWER_VALUES.flatMap((v) => cuts(v).map(make));
addA('messages, streamed: text_delta cut at every position', '/v1/messages', mq(true), { events: messageEvents(
  textBlocks((ps) => ({ start: { type: 'text', text: '' }, deltas: ps.map((t) => ({ type: 'text_delta', text: t })) }))) });
addA('messages, streamed: thinking_delta cut at every position', '/v1/messages', mq(true), { events: messageEvents(
  textBlocks((ps) => ({ start: { type: 'thinking', thinking: '', signature: '' }, deltas: [...ps.map((t) => ({ type: 'thinking_delta', thinking: t })), { type: 'signature_delta', signature: 'c2ln' }] }))) });
addA('messages, streamed: input_json_delta cut at every position, escapes included', '/v1/messages', mq(true), { events: messageEvents(
  ANSWER_VALUES.flatMap((v) => jsonCuts(v)).map((ps, i) => ({ start: { type: 'tool_use', id: `toolu_${i}`, name: 'send', input: {} },
    deltas: ps.map((t) => ({ type: 'input_json_delta', partial_json: t })) }))) });
addA('messages, streamed: input_json_delta with the value as a key', '/v1/messages', mq(true), { events: messageEvents(
  [[`{"${escAt(V.email)}":1,"${V.card}":2}`]].map((ps) => ({ start: { type: 'tool_use', id: 'toolu_1', name: 'send', input: {} },
    deltas: ps[0].match(/.{1,4}/g).map((t) => ({ type: 'input_json_delta', partial_json: t })) }))) });
for (const [form, j] of [['a JSON number', '{"card":5555555555554444}'], ['a number in exponent form', '{"card":5.555555555554444e15}']]) {
  addA(`messages, streamed: input_json_delta with a card as ${form}`, '/v1/messages', mq(true), { events: messageEvents([
    { start: { type: 'tool_use', id: 'toolu_1', name: 'pay', input: {} }, deltas: j.match(/.{1,3}/g).map((t) => ({ type: 'input_json_delta', partial_json: t })) }]) });
}
addA('messages, streamed: server_tool_use input streamed', '/v1/messages', mq(true), { events: messageEvents([
  { start: { type: 'server_tool_use', id: 'srvtoolu_01', name: 'web_search', input: {} },
    deltas: `{"query":"${escAt(V.email)} ${V.card}"}`.match(/.{1,3}/g).map((t) => ({ type: 'input_json_delta', partial_json: t })) }]) });
addA('messages, streamed: citations_delta', '/v1/messages', mq(true), { events: messageEvents([
  { start: { type: 'text', text: '', citations: [] }, deltas: [
    { type: 'citations_delta', citation: { type: 'char_location', cited_text: ALL, document_index: 0, document_title: `file of ${V.email}`, start_char_index: 0, end_char_index: 3, file_id: null } },
    { type: 'text_delta', text: 'per the file' }] }]) });
addA('messages, streamed: text and tool input already in content_block_start', '/v1/messages', mq(true), { events: messageEvents([
  { start: { type: 'text', text: ALL }, deltas: [{ type: 'text_delta', text: ' ok' }] },
  { start: { type: 'tool_use', id: 'toolu_1', name: 'send', input: { to: V.email, card: V.card } }, deltas: [] }]) });
addA('messages, streamed: content already in message_start', '/v1/messages', mq(true), { events: [
  ['message_start', { message: msgWhole([{ type: 'text', text: ALL }], { stop_reason: null }) }],
  ...messageEvents([]).slice(1)] });
addA('messages, streamed: stop_sequence in message_delta', '/v1/messages', mq(true), { events: messageEvents(
  [{ start: { type: 'text', text: '' }, deltas: [{ type: 'text_delta', text: 'ok' }] }], { stop: { stop_reason: 'stop_sequence', stop_sequence: V.email } }) });
addA('messages, streamed: a card split across two text blocks', '/v1/messages', mq(true), { events: messageEvents([
  { start: { type: 'text', text: '' }, deltas: [{ type: 'text_delta', text: 'card 5555 ' }, { type: 'text_delta', text: '5555' }] },
  { start: { type: 'text', text: '' }, deltas: [{ type: 'text_delta', text: ' 5555 4444' }, { type: 'text_delta', text: ' is on file' }] }]) });
addA('messages, streamed: two text blocks interleaved', '/v1/messages', mq(true), { events: (() => {
  const ev = [['message_start', { message: msgWhole([], { stop_reason: null }) }],
    ['content_block_start', { index: 0, content_block: { type: 'text', text: '' } }],
    ['content_block_start', { index: 1, content_block: { type: 'text', text: '' } }]];
  const a = `mail ${V.email} ok`.match(/.{1,3}/g);
  const b = `card ${V.card} ok`.match(/.{1,3}/g);
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    if (a[i]) ev.push(['content_block_delta', { index: 0, delta: { type: 'text_delta', text: a[i] } }]);
    if (b[i]) ev.push(['content_block_delta', { index: 1, delta: { type: 'text_delta', text: b[i] } }]);
  }
  ev.push(['content_block_stop', { index: 0 }], ['content_block_stop', { index: 1 }]);
  return [...ev, ...messageEvents([]).slice(1)];
})() });
addA('messages, streamed: an error event mid-stream', '/v1/messages', mq(true), { events: [
  ...messageEvents([{ start: { type: 'text', text: '' }, deltas: [{ type: 'text_delta', text: 'ok' }] }]).slice(0, 4),
  ['error', { error: { type: 'overloaded_error', message: `overloaded serving ${ALL}` } }]] });
addA('messages, streamed: an event type no version defines', '/v1/messages', mq(true), { events: [
  ...messageEvents([]).slice(0, 1), ['telepathy_delta', { index: 0, delta: { type: 'mind_delta', text: ALL } }], ...messageEvents([]).slice(1)] });
addA('messages, streamed: SSE comment lines and an id field', '/v1/messages', mq(true), { events: [
  `: keep-alive for ${V.email} ${V.card}\n\n`, `id: ${V.email}\n`, ...messageEvents([{ start: { type: 'text', text: '' }, deltas: [{ type: 'text_delta', text: 'ok' }] }])] });
addA('messages, streamed: a card cut across events under an end rule', '/v1/messages', { ...mq(true), model: 'cl-end' }, { events: messageEvents([
  { start: { type: 'text', text: '' }, deltas: 'Your card 5555 5555 5555 4444 is on file.'.match(/.{1,2}/g).map((t) => ({ type: 'text_delta', text: t })) }]) });

// Anthropic Messages: errors, encodings, headers, count_tokens.
const anthErr = (status, message) => ({ status, json: { type: 'error', error: { type: 'invalid_request_error', message } } });
addA('messages, error: a 400 whose message echoes the values', '/v1/messages', mq(), anthErr(400, `bad input ${ALL}`));
addA('messages, error: a 429 whose message echoes the values', '/v1/messages', mq(), anthErr(429, `slow down ${ALL}`));
addA('messages, error: a 500 whose message echoes the values', '/v1/messages', mq(), anthErr(500, `oops ${ALL}`));
addA('messages, error: a 404 in plain text', '/v1/messages', mq(), { status: 404, headers: { 'content-type': 'text/plain' }, text: `no user ${ALL}` });
addA('messages, error: a 400 gzip-encoded', '/v1/messages', mq(), { ...anthErr(400, `bad input ${ALL}`), gzip: true });
addA('messages, error: a 400 to a stream request', '/v1/messages', mq(true), anthErr(400, `bad input ${ALL}`));
addA('messages, whole: a gzip-encoded answer', '/v1/messages', mq(), { json: msgWhole([{ type: 'text', text: ALL }]), gzip: true });
addA('messages, streamed: a gzip-encoded stream', '/v1/messages', mq(true), { events: messageEvents([{ start: { type: 'text', text: '' }, deltas: [{ type: 'text_delta', text: ALL }] }]), gzip: true });
addA('messages, whole: a 200 that is not JSON', '/v1/messages', mq(), { headers: { 'content-type': 'text/plain' }, text: `hello ${ALL}` });
addA('messages, whole: a 200 JSON answer to a stream request', '/v1/messages', mq(true), { json: msgWhole([{ type: 'text', text: ALL }]) });
addA('messages, whole: values in answer headers', '/v1/messages', mq(), { headers: { 'x-debug-user': V.email, 'x-card': V.card, 'request-id': `req_${V.iban.replace(/ /g, '')}` }, json: msgWhole([{ type: 'text', text: 'ok' }]) });
addA('count_tokens: an answer with extra fields', '/v1/messages/count_tokens', { model: 'cl', messages: [{ role: 'user', content: 'hi' }] },
  { json: { input_tokens: 5, context_management: { note: ALL } } });
addA('count_tokens: an error echoing the values', '/v1/messages/count_tokens', { model: 'cl', messages: [{ role: 'user', content: 'hi' }] }, anthErr(400, `bad ${ALL}`));

// OpenAI Responses, whole answers.
const wholeOutput = {
  'output_text': [textMsg(ALL)],
  'output_text with annotations': [textMsg('see file', { annotations: [{ type: 'url_citation', url: `https://x.example/${V.email}`, title: `card ${V.card}`, start_index: 0, end_index: 3 }] })],
  'output_text logprobs spelling a card': [textMsg(`card ${V.card}`, { logprobs: ['card', ' 5555', ' 5555', ' 5555', ' 4444'].map((t) => ({ token: t, logprob: 0, bytes: [...Buffer.from(t)], top_logprobs: [{ token: t, logprob: 0, bytes: [...Buffer.from(t)] }] })) })],
  'refusal content part': [{ type: 'message', id: 'msg_1', status: 'completed', role: 'assistant', content: [{ type: 'refusal', refusal: `I will not mail ${ALL}` }] }],
  'reasoning summary and content': [{ type: 'reasoning', id: 'rs_1', summary: [{ type: 'summary_text', text: ALL }], content: [{ type: 'reasoning_text', text: ALL }] }, textMsg('ok')],
  'function_call arguments with escapes': [{ type: 'function_call', id: 'fc_1', call_id: 'call_1', name: 'send', status: 'completed', arguments: `{"to":"${escAt(V.email)}","card":"${escAll(V.card)}","iban":"${V.iban}"}` }],
  'function_call arguments with the value as a key': [{ type: 'function_call', id: 'fc_1', call_id: 'call_1', name: 'send', status: 'completed', arguments: `{"${V.email}":1,"${V.card}":2}` }],
  'function_call arguments with a card as a number': [{ type: 'function_call', id: 'fc_1', call_id: 'call_1', name: 'pay', status: 'completed', arguments: `{"card":${CARD_NUMBER}}` }],
  'function_call arguments with a card as a number in exponent form': [{ type: 'function_call', id: 'fc_1', call_id: 'call_1', name: 'pay', status: 'completed', arguments: '{"card":5.555555555554444e15}' }],
  'custom_tool_call input': [{ type: 'custom_tool_call', id: 'ctc_1', call_id: 'call_2', name: 'grep', input: ALL }],
  'an item type no version defines': [{ type: 'hologram_call', id: 'h_1', payload: { text: ALL } }, textMsg('ok')],
  'a card split across two output_text parts': [{ type: 'message', id: 'msg_1', status: 'completed', role: 'assistant', content: [
    { type: 'output_text', text: 'card 5555 5555', annotations: [] }, { type: 'output_text', text: '5555 4444 is on file', annotations: [] }] }],
};
for (const [name, output] of Object.entries(wholeOutput)) addA(`responses, whole: ${name}`, '/v1/responses', rq(), { json: respWhole(output) });
addA('responses, whole: instructions, metadata and error echoed in the response object', '/v1/responses', rq(),
  { json: respWhole([textMsg('ok')], { instructions: ALL, metadata: { who: V.email }, error: { code: 'server_error', message: ALL }, incomplete_details: { reason: ALL } }) });
addA('responses, whole: escapes in output_text', '/v1/responses', rq(),
  { text: JSON.stringify(respWhole([textMsg('@@')])).replace('"@@"', `"mail ${escAt(V.email)} card ${escAll(V.card)}"`) });

// OpenAI Responses, streamed: one output item per cut.
function textItemEvents(i, pieces, { type = 'response.output_text.delta', part = 'output_text', logprobs = false } = {}) {
  const item = { type: 'message', id: `msg_${i}`, status: 'in_progress', role: 'assistant', content: [] };
  return [
    ['response.output_item.added', { output_index: i, item }],
    ['response.content_part.added', { item_id: `msg_${i}`, output_index: i, content_index: 0, part: { type: part, text: '', annotations: [] } }],
    ...pieces.map((p) => [type, { item_id: `msg_${i}`, output_index: i, content_index: 0, delta: p,
      ...(logprobs ? { logprobs: [{ token: p, logprob: 0, top_logprobs: [{ token: p, logprob: 0 }] }] } : {}) }]),
  ];
}
const respCuts = () => ANSWER_VALUES.flatMap((v) => cuts(v));
addA('responses, streamed: output_text.delta cut at every position', '/v1/responses', rq(true),
  { events: responseEvents(respCuts().map((ps, i) => textItemEvents(i, ps))) });
addA('responses, streamed: output_text.delta with logprobs', '/v1/responses', rq(true),
  { events: responseEvents([textItemEvents(0, ['card', ' 5555', ' 5555', ' 5555', ' 4444', ' is on file'], { logprobs: true })]) });
addA('responses, streamed: output_text.done, content_part.done, output_item.done', '/v1/responses', rq(true),
  { events: responseEvents([[...textItemEvents(0, ['ok']),
    ['response.output_text.done', { item_id: 'msg_0', output_index: 0, content_index: 0, text: ALL }],
    ['response.content_part.done', { item_id: 'msg_0', output_index: 0, content_index: 0, part: { type: 'output_text', text: ALL, annotations: [] } }],
    ['response.output_item.done', { output_index: 0, item: textMsg(ALL) }]]], [textMsg(ALL)]) });
addA('responses, streamed: refusal.delta cut at every position', '/v1/responses', rq(true),
  { events: responseEvents(respCuts().map((ps, i) => textItemEvents(i, ps, { type: 'response.refusal.delta', part: 'refusal' }))) });
addA('responses, streamed: function_call_arguments.delta cut at every position', '/v1/responses', rq(true),
  { events: responseEvents(ANSWER_VALUES.flatMap((v) => jsonCuts(v)).map((ps, i) => [
    ['response.output_item.added', { output_index: i, item: { type: 'function_call', id: `fc_${i}`, call_id: `call_${i}`, name: 'send', arguments: '', status: 'in_progress' } }],
    ...ps.map((p) => ['response.function_call_arguments.delta', { item_id: `fc_${i}`, output_index: i, delta: p }])])) });
for (const [form, j] of [['a JSON number', '{"card":5555555555554444}'], ['a number in exponent form', '{"card":5.555555555554444e15}']]) {
  addA(`responses, streamed: function_call_arguments.delta with a card as ${form}`, '/v1/responses', rq(true), { events: responseEvents([[
    ['response.output_item.added', { output_index: 0, item: { type: 'function_call', id: 'fc_0', call_id: 'call_0', name: 'pay', arguments: '', status: 'in_progress' } }],
    ...j.match(/.{1,3}/g).map((p) => ['response.function_call_arguments.delta', { item_id: 'fc_0', output_index: 0, delta: p }])]]) });
}
addA('responses, streamed: reasoning_summary_text.delta cut at every position', '/v1/responses', rq(true),
  { events: responseEvents(respCuts().map((ps, i) => [
    ['response.output_item.added', { output_index: i, item: { type: 'reasoning', id: `rs_${i}`, summary: [] } }],
    ...ps.map((p) => ['response.reasoning_summary_text.delta', { item_id: `rs_${i}`, output_index: i, summary_index: 0, delta: p }])])) });
addA('responses, streamed: reasoning_text.delta cut at every position', '/v1/responses', rq(true),
  { events: responseEvents(respCuts().map((ps, i) => [
    ['response.output_item.added', { output_index: i, item: { type: 'reasoning', id: `rs_${i}`, summary: [] } }],
    ...ps.map((p) => ['response.reasoning_text.delta', { item_id: `rs_${i}`, output_index: i, content_index: 0, delta: p }])])) });
addA('responses, streamed: custom_tool_call_input.delta cut at every position', '/v1/responses', rq(true),
  { events: responseEvents(respCuts().map((ps, i) => [
    ['response.output_item.added', { output_index: i, item: { type: 'custom_tool_call', id: `ctc_${i}`, call_id: `call_${i}`, name: 'grep', input: '' } }],
    ...ps.map((p) => ['response.custom_tool_call_input.delta', { item_id: `ctc_${i}`, output_index: i, delta: p }])])) });
addA('responses, streamed: audio.transcript.delta (no output_index)', '/v1/responses', rq(true),
  { events: responseEvents([cuts(V.email)[8], cuts(V.card)[7]].map((ps) => ps.map((p) => ['response.audio.transcript.delta', { delta: p }]))) });
addA('responses, streamed: reasoning summary deltas of two parts interleaved', '/v1/responses', rq(true), { events: responseEvents([(() => {
  const a = `mail ${V.email} ok`.match(/.{1,3}/g);
  const b = `card ${V.card} ok`.match(/.{1,3}/g);
  const ev = [['response.output_item.added', { output_index: 0, item: { type: 'reasoning', id: 'rs_0', summary: [] } }]];
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    if (a[i]) ev.push(['response.reasoning_summary_text.delta', { item_id: 'rs_0', output_index: 0, summary_index: 0, delta: a[i] }]);
    if (b[i]) ev.push(['response.reasoning_summary_text.delta', { item_id: 'rs_0', output_index: 0, summary_index: 1, delta: b[i] }]);
  }
  return ev;
})()]) });
addA('responses, streamed: text and function_call deltas sharing an output_index', '/v1/responses', rq(true), { events: responseEvents([[
  ...textItemEvents(0, ['mail jane.doe@', 'acme-corp.com ok']),
  ['response.function_call_arguments.delta', { item_id: 'fc_0', output_index: 0, delta: '{"card":"5555 5555 ' }],
  ['response.output_text.delta', { item_id: 'msg_0', output_index: 0, content_index: 0, delta: ' and ' }],
  ['response.function_call_arguments.delta', { item_id: 'fc_0', output_index: 0, delta: '5555 4444"}' }]]]) });
addA('responses, streamed: a card split across two output items', '/v1/responses', rq(true),
  { events: responseEvents([textItemEvents(0, ['card 5555 ', '5555']), textItemEvents(1, [' 5555 4444', ' is on file'])]) });
addA('responses, streamed: response.failed and error events', '/v1/responses', rq(true), { events: [
  ['response.created', { sequence_number: 0, response: respWhole([], { status: 'in_progress', usage: null }) }],
  ['error', { sequence_number: 1, code: 'server_error', message: `failed on ${ALL}`, param: V.email }],
  ['response.failed', { sequence_number: 2, response: respWhole([], { status: 'failed', error: { code: 'server_error', message: `failed on ${ALL}` } }) }]] });
addA('responses, streamed: an event type no version defines with a non-string delta', '/v1/responses', rq(true), { events: responseEvents([[
  ['response.hologram.delta', { output_index: 0, delta: { text: ALL } }],
  ['response.hologram.delta', { output_index: 0, delta: ['mail', V.email] }]]]) });
addA('responses, streamed: SSE comment lines', '/v1/responses', rq(true), { events: [`: ping ${V.email} ${V.card}\n\n`, ...responseEvents([textItemEvents(0, ['ok'])])] });
addA('responses, streamed: a card cut across events under an end rule', '/v1/responses', { ...rq(true), model: 'rs-end' },
  { events: responseEvents([textItemEvents(0, 'Your card 5555 5555 5555 4444 is on file.'.match(/.{1,2}/g))]) });
addA('responses, streamed: the whole output only in response.completed', '/v1/responses', rq(true), { events: responseEvents([], [textMsg(ALL),
  { type: 'function_call', id: 'fc_1', call_id: 'call_1', name: 'send', status: 'completed', arguments: `{"to":"${escAt(V.email)}"}` }]) });

// OpenAI Responses: errors, encodings, headers, input_tokens.
const oaiErr = (status, message) => ({ status, json: { error: { message, type: 'invalid_request_error', param: V.email, code: null } } });
addA('responses, error: a 400 whose message and param echo the values', '/v1/responses', rq(), oaiErr(400, `bad input ${ALL}`));
addA('responses, error: a 429 whose message echoes the values', '/v1/responses', rq(), oaiErr(429, `slow down ${ALL}`));
addA('responses, error: a 500 whose message echoes the values', '/v1/responses', rq(), oaiErr(500, `oops ${ALL}`));
addA('responses, error: a 404 in plain text', '/v1/responses', rq(), { status: 404, headers: { 'content-type': 'text/plain' }, text: `no user ${ALL}` });
addA('responses, error: a 400 gzip-encoded', '/v1/responses', rq(), { ...oaiErr(400, `bad input ${ALL}`), gzip: true });
addA('responses, whole: a gzip-encoded answer', '/v1/responses', rq(), { json: respWhole([textMsg(ALL)]), gzip: true });
addA('responses, streamed: a gzip-encoded stream', '/v1/responses', rq(true), { events: responseEvents([textItemEvents(0, [ALL])]), gzip: true });
addA('responses, whole: a 200 that is not JSON', '/v1/responses', rq(), { headers: { 'content-type': 'text/plain' }, text: `hello ${ALL}` });
addA('responses, whole: values in answer headers', '/v1/responses', rq(), { headers: { 'x-debug-user': V.email, 'openai-organization': V.card }, json: respWhole([textMsg('ok')]) });

// Answers whose bytes say one thing to a scanner and another to a client's parser.
const dupWhole = (json, key, shown) => JSON.stringify(json).replace(`"${key}":"ok"`, `"${key}":"ok","${key}":${JSON.stringify(shown)}`);
addA('messages, whole: a text block with its text key twice', '/v1/messages', mq(), { text: dupWhole(msgWhole([{ type: 'text', text: 'ok' }]), 'text', ALL) });
addA('messages, whole: a text block with its text key twice, the second escaped', '/v1/messages', mq(),
  { text: dupWhole(msgWhole([{ type: 'text', text: 'ok' }]), 'text', ALL).replace(/"text":"mail/, '"t\\u0065xt":"mail') });
addA('responses, whole: an output_text part with its text key twice', '/v1/responses', rq(), { text: dupWhole(respWhole([textMsg('ok')]), 'text', ALL) });
addA('messages, streamed: a text_delta with its text key twice', '/v1/messages', mq(true), { events: [
  ...messageEvents([]).slice(0, 1), ['content_block_start', { index: 0, content_block: { type: 'text', text: '' } }],
  `event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"ok","text":${JSON.stringify(ALL)}}}\n\n`,
  ['content_block_stop', { index: 0 }], ...messageEvents([]).slice(1)] });
addA('responses, streamed: an output_text.delta with its delta key twice', '/v1/responses', rq(true), { events: responseEvents([[
  ...textItemEvents(0, []),
  `event: response.output_text.delta\ndata: {"type":"response.output_text.delta","sequence_number":90,"item_id":"msg_0","output_index":0,"content_index":0,"delta":"ok","delta":${JSON.stringify(ALL)}}\n\n`]]) });
addA('messages, streamed: an event whose data spans several data lines', '/v1/messages', mq(true), { events: [
  ...messageEvents([]).slice(0, 1), ['content_block_start', { index: 0, content_block: { type: 'text', text: '' } }],
  `event: content_block_delta\ndata: {"type":"content_block_delta","index":0,\ndata: "delta":{"type":"text_delta","text":${JSON.stringify(ALL)}}}\n\n`,
  ['content_block_stop', { index: 0 }], ...messageEvents([]).slice(1)] });
addA('responses, streamed: an event whose data spans several data lines', '/v1/responses', rq(true), { events: responseEvents([[
  ...textItemEvents(0, []),
  `event: response.output_text.delta\ndata: {"type":"response.output_text.delta","sequence_number":90,"item_id":"msg_0",\ndata: "output_index":0,"content_index":0,"delta":${JSON.stringify(ALL)}}\n\n`]]) });
addA('messages, streamed: CRLF line endings and data without a space', '/v1/messages', mq(true), { events: messageEvents(
  [{ start: { type: 'text', text: '' }, deltas: [{ type: 'text_delta', text: ALL }] }]).map((e) => sseEvent(e).replace(/\n/g, '\r\n').replace(/data: /g, 'data:')) });
addA('messages, streamed: an error event whose data is not JSON', '/v1/messages', mq(true), { events: [
  ...messageEvents([]).slice(0, 1), `event: error\ndata: upstream failed for ${ALL}\n\n`] });
addA('messages, whole: the values after 200 KiB of text', '/v1/messages', mq(), { json: msgWhole([{ type: 'text', text: `${'lorem ipsum '.repeat(18000)}${ALL}` }]) });
addA('responses, streamed: the values after 200 KiB of deltas', '/v1/responses', rq(true),
  { events: responseEvents([textItemEvents(0, [...Array(1800).fill('lorem ipsum '.repeat(10)), ...cuts(ALL, { prefix: '', suffix: '' }).at(-1)])]) });

for (const [name, route, request, answer] of ANSWERS) {
  test(`answer: ${name}`, LEAKS[name] ? { todo: LEAKS[name] } : {}, async () => {
    up.state.script = () => answer;
    const r = await call(route, request);
    assert.equal(up.requests.length, 1, `${r.status} ${r.text.slice(0, 300)}`);
    assertClean(route, r, name);
  });
}

// The suite's own recogniser: it sees each value in each form the tests above rely on.
test('the recogniser finds each value escaped, nested, cut by separators and as a number', () => {
  assert.deepEqual(found(JSON.stringify({ a: JSON.stringify({ b: `${escAt(V.email)}` }) })), ['email']);
  assert.deepEqual(found(escAll(V.card)), ['card']);
  assert.deepEqual(found('{"card":5.555555555554444e15}'), ['card']);
  assert.deepEqual(found(JSON.stringify({ a: '{"card":5.555555555554444e15}' })), ['card']);
  assert.deepEqual(found(ALL), ['card', 'email', 'iban']);
  assert.deepEqual(found(`${V.pkey} ${V.aws}`), ['aws', 'pkey']);
  assert.deepEqual(found('card [CREDIT_CARD] mail ⟨EMAIL_1⟩ iban [IBAN]'), []);
  assert.deepEqual(assembled(messageEvents([{ start: { type: 'text', text: '' }, deltas: [{ type: 'text_delta', text: 'mail jane.doe@' }, { type: 'text_delta', text: 'acme-corp.com' }] }])
    .map(sseEvent).join('')).flatMap(found), ['email', 'email']);
});
