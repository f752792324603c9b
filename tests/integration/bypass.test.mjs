// No channel around inspection: every way a value could cross without being inspected — in a
// request (escaped duplicate keys, object keys, numbers, JSON inside strings, values split across
// messages, token ids, images) or in an answer (every text-bearing field, logprobs, error bodies,
// the answer of a failover deployment) — and the precedence of configured and policy actions.
import assert from 'node:assert/strict';
import { after, before, beforeEach, test } from 'node:test';
import { KEY, post, rawRequest, startStack } from './harness.mjs';
import { PLANTED } from '../upstream/fake_openai.mjs';

let stack;
before(async () => { stack = await startStack(); });
after(async () => { await stack.stop(); });
beforeEach(() => stack.upstream.clear());

const send = (path, body) => rawRequest(stack.port, post(path, body));
const sendRaw = (path, text) => rawRequest(stack.port, [
  `POST ${path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${KEY}\r\nContent-Type: application/json\r\n` +
  `Content-Length: ${Buffer.byteLength(text)}\r\nConnection: close\r\n\r\n${text}`]);
const upstreamRaw = () => stack.upstream.requests.map((r) => r.raw).join('\n');
// Every form a value could take in the upstream's bytes: as sent, JSON-escaped, \u-escaped.
const forms = (v) => [v, JSON.stringify(v).slice(1, -1), [...v].map((c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`).join('')];
function assertAbsent(text, values, where) {
  for (const v of values) for (const f of forms(v)) assert.ok(!text.includes(f), `${where} holds ${f}`);
}

test('a duplicate key written with escapes is refused (400, naming the key) and reaches no upstream', async () => {
  for (const text of [
    '{"model":"chat","\\u006dodel":"echo","messages":[{"role":"user","content":"hi"}]}',
    '{"model":"chat","messages":[{"role":"user","content":"hi","\\u0063ontent":"jane@acme-corp.com"}]}',
    '{"model":"chat","stream":false,"str\\u0065am":true,"messages":[{"role":"user","content":"hi"}]}',
    '{"model":"chat","messages":[{"role":"user","content":"hi"}],"tools":[{"type":"function","function":{"name":"f","parameters":{"a":1,"\\u0061":2}}}]}',
  ]) {
    const res = await sendRaw('/v1/chat/completions', text);
    assert.equal(res.status, 400, text);
    assert.match(res.body, /appears twice/);
  }
  assert.equal(stack.upstream.requests.length, 0);
});

test('a model key spelt with escapes is the one resolved and rewritten', async () => {
  const res = await sendRaw('/v1/chat/completions', '{"\\u006dodel":"chat","messages":[{"role":"user","content":"hi"}]}');
  assert.equal(res.status, 200);
  assert.equal(stack.upstream.requests[0].body.model, 'test-1');
});

test('token-id prompts of an unknown tokenizer are refused (403 uninspectable.tokens) unless a rule permits them', async () => {
  for (const [path, body] of [
    ['/v1/completions', { model: 'chat', prompt: [40, 1093, 4111] }],
    ['/v1/embeddings', { model: 'embed', input: [[40, 1093], [4111, 1111]] }],
  ]) {
    const res = await send(path, body);
    assert.equal(res.status, 403, JSON.stringify(body));
    assert.match(res.body, /uninspectable\.tokens/);
  }
  assert.equal(stack.upstream.requests.length, 0);
  // A rule that names the class permits it explicitly.
  const ok = await send('/v1/embeddings', { model: 'tokens-ok', input: [[40, 1093]] });
  assert.equal(ok.status, 200);
  assert.equal(stack.upstream.requests.length, 1);
});

test('token ids of a known tokenizer are read as text: benign ones cross, a finding in them is refused', async () => {
  // The ids js-tiktoken (the source of Warden's tables) gives for these texts.
  const { getEncoding } = await import('../../src/tokenizer/gen/node_modules/js-tiktoken/dist/index.js');
  const enc = getEncoding('o200k_base');
  const ok = await send('/v1/completions', { model: 'gpt-tokens', prompt: enc.encode('Summarise the quarterly report.') });
  assert.equal(ok.status, 200);
  const ids = enc.encode('Write to jane.doe@acme-corp.com about card 4111 1111 1111 1111');
  for (const [path, body] of [['/v1/completions', { model: 'gpt-tokens', prompt: ids }],
    ['/v1/embeddings', { model: 'gpt-tokens', input: [enc.encode('hello'), ids] }]]) {
    const res = await send(path, body);
    assert.equal(res.status, 403, res.body);
    assert.match(res.body, /found in token ids/);
  }
  // An id that is no token of the encoding cannot be read: uninspectable.
  const bad = await send('/v1/completions', { model: 'gpt-tokens', prompt: [1, 2, 4294967295] });
  assert.equal(bad.status, 403);
  assert.match(bad.body, /uninspectable\.tokens/);
  assert.equal(stack.upstream.requests.length, 1);
});

test('images by URL or data are uninspectable: refused unless permitted', async () => {
  const res = await send('/v1/chat/completions', { model: 'chat', messages: [{ role: 'user', content: [
    { type: 'text', text: 'what is this?' }, { type: 'image_url', image_url: { url: 'data:image/png;base64,iVBORw0KGgo=' } }] }] });
  assert.equal(res.status, 403);
  assert.match(res.body, /uninspectable\.image/);
  assert.equal(stack.upstream.requests.length, 0);
});

test('an e-mail address as a property name is pseudonymised in the key; a card as a number is refused', async () => {
  const tools = (schema) => [{ type: 'function', function: { name: 'f', parameters: { type: 'object', properties: schema } } }];
  const ok = await send('/v1/chat/completions', { model: 'chat', messages: [{ role: 'user', content: 'hi' }],
    tools: tools({ 'jane.doe@acme-corp.com': { type: 'string' } }) });
  assert.equal(ok.status, 200);
  assertAbsent(upstreamRaw(), ['jane.doe@acme-corp.com'], 'upstream');
  assert.ok(Object.keys(stack.upstream.requests[0].body.tools[0].function.parameters.properties)[0].startsWith('⟨EMAIL_'));
  stack.upstream.clear();
  const res = await send('/v1/chat/completions', { model: 'chat', messages: [{ role: 'user', content: 'hi' }],
    tools: tools({ card: { type: 'integer', enum: [4111111111111111], default: 4111111111111111 } }) });
  assert.equal(res.status, 403);
  assert.match(res.body, /fin\.credit_card found in a number/);
  assert.equal(stack.upstream.requests.length, 0);
});

test('JSON inside tool arguments and tool results is read with its own escapes', async () => {
  const res = await send('/v1/chat/completions', { model: 'chat', messages: [
    { role: 'user', content: 'send it' },
    { role: 'assistant', content: null, tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'send', arguments: '{"to":"jane.doe\\u0040acme-corp.com"}' } }] },
    { role: 'tool', tool_call_id: 'call_1', content: '{"card":"4111\\u0020 1111 1111 1111","ok":true}' }] });
  assert.equal(res.status, 200);
  assertAbsent(upstreamRaw(), ['jane.doe@acme-corp.com', 'jane.doe\\u0040acme-corp.com'], 'upstream');
  const sent = stack.upstream.requests[0].body.messages;
  assert.ok(JSON.parse(sent[1].tool_calls[0].function.arguments).to.startsWith('⟨EMAIL_'), 'arguments stay JSON');
  assert.equal(typeof JSON.parse(sent[2].content), 'object');
});

test('a card or IBAN split across two messages never crosses whole', async () => {
  const res = await send('/v1/chat/completions', { model: 'chat', messages: [
    { role: 'user', content: 'my card number is 4111 1111' }, { role: 'user', content: '1111 1111, expiry 09/27' },
    { role: 'user', content: 'and the IBAN DE89 3704 0044' }, { role: 'user', content: '0532 0130 00 please' }] });
  assert.equal(res.status, 200);
  const sent = stack.upstream.requests[0].body.messages.map((m) => m.content);
  assert.equal(sent[0], 'my card number is [CREDIT_CARD]');
  assert.equal(sent[1], ', expiry 09/27');
  assert.ok(!sent.join(' ').match(/4111|0532 0130/), sent.join(' | '));
});

test('disguised values are masked whole: invisible characters inside, other scripts\' digits, an encoded @', async () => {
  const zw = '\u200b';
  const res = await send('/v1/chat/completions', { model: 'chat', messages: [
    { role: 'user', content: `card 4111${zw}1111${zw}1111${zw}1111 ok` },
    { role: 'user', content: 'mail jane.doe&#64;acme-corp.com or jane.doe [at] acme-corp [dot] com' },
    { role: 'user', content: 'card \u0664\u0661\u0661\u0661\u0661\u0661\u0661\u0661\u0661\u0661\u0661\u0661\u0661\u0661\u0661\u0661 ok' }] });
  assert.equal(res.status, 200);
  const sent = stack.upstream.requests[0].body.messages.map((m) => m.content);
  assert.equal(sent[0], 'card [CREDIT_CARD] ok');
  assert.match(sent[1], /^mail ⟨EMAIL_\d+⟩ or ⟨EMAIL_\d+⟩$/);  // pseudonymised in this configuration
  assert.equal(sent[2], 'card [CREDIT_CARD] ok');
});

test('disguised values of every validated class do not reach the upstream: other group separators, spaced digits, full-width forms, look-alike letters', async () => {
  const fw = (s) => [...s].map((c) => (c >= '!' && c <= '~' ? String.fromCodePoint(c.codePointAt(0) + 0xfee0) : c)).join('');
  // What identifies each value once its disguise is undone.
  const cases = [
    ['4111_1111_1111_1111', '4111111111111111'],
    ['4111.1111.1111.1111', '4111111111111111'],
    ['4111/1111/1111/1111', '4111111111111111'],
    ['4 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1', '4111111111111111'],
    ['DE89_3704_0044_0532_0130_00', 'DE89370400440532013000'],
    ['DE89.3704.0044.0532.0130.00', 'DE89370400440532013000'],
    [fw('DE89370400440532013000'), 'DE89370400440532013000'],
    ['\u0410KIAZ3MQW7X\u041d2LBNQR4T', 'AKIAZ3MQW7XH2LBNQR4T'],
    [fw('AKIAZ3MQW7XH2LBNQR4T'), 'AKIAZ3MQW7XH2LBNQR4T'],
    ['\u0455k-proj-Zq8Rk2Lm7Tx4Vb9Nc3Hd6Jf1Gs5Pw0Ya2Ue8', 'Zq8Rk2Lm7Tx4Vb9Nc3Hd6Jf1Gs5Pw0Ya2Ue8'],
    ['jane.doe\uff20acme-corp\uff0ecom', 'jane.doe@acme-corp.com'],
    [fw('jane.doe@acme-corp.com'), 'jane.doe@acme-corp.com'],
    ['J\u0410ne.doe@acme-corp.com', 'JAne.doe@acme-corp.com'],
  ];
  const homoglyphs = { '\u0410': 'A', '\u041d': 'H', '\u0455': 's' };
  const undone = (s) => [...s.normalize('NFKC')].map((c) => homoglyphs[c] ?? c).join('').replace(/[\s_./-]/g, '');
  for (const [value, mark] of cases) {
    stack.upstream.clear();
    const res = await send('/v1/chat/completions', { model: 'chat', messages: [{ role: 'user', content: `here: ${value} thanks` }] });
    if (res.status === 403) { assert.equal(stack.upstream.requests.length, 0, value); continue; }
    assert.equal(res.status, 200, value);
    const sent = stack.upstream.requests[0].body.messages[0].content;
    assert.ok(sent.startsWith('here: ') && sent.endsWith(' thanks'), sent);
    assert.ok(!undone(sent).includes(mark.replace(/[\s_./-]/g, '')), `${value} reached the upstream as ${sent}`);
    assertAbsent(upstreamRaw(), [value], 'upstream');
  }
});

test('benign prompts full of number-like text are forwarded byte for byte', async () => {
  const body = '{"model":"chat","temperature":0.7,"seed":4111111111111111,"max_tokens":100,"messages":[' +
    '{"role":"system","content":"Release 2.14.3 shipped on 2024-05-06 at 10:30"},' +
    '{"role":"user","content":"Order 55231 costs 1,299.00 EUR; ticket #4411, build 6.3.9600.17"},' +
    '{"role":"assistant","content":"Version 10.0.19045.2965 and ISBN 978-3-16-148410-0 noted, 3"},' +
    '{"role":"user","content":"4 items at 12.50 each, room 301, 2nd floor, call at 14:00"}],' +
    '"metadata":{"batch":"2024-Q2","count":12345}}';
  const res = await sendRaw('/v1/chat/completions', body);
  assert.equal(res.status, 200);
  assert.equal(stack.upstream.requests[0].raw, body.replace('"model":"chat"', '"model":"test-1"'));
});

test('a configured allow never undoes a policy transform: the strictest action applies', async () => {
  const res = await send('/v1/chat/completions', { model: 'strict-ip', messages: [{ role: 'user', content: 'the host is 81.2.69.160' }] });
  assert.equal(res.status, 200);
  assertAbsent(upstreamRaw(), ['81.2.69.160'], 'upstream');
});

async function fetchText(body) {
  const r = await fetch(`${stack.url}/v1/chat/completions`, { method: 'POST',
    headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: r.status, text: await r.text() };
}

test('whole answers: every text-bearing field is masked, and logprobs of a masked choice go', async () => {
  const { status, text } = await fetchText({ model: 'fields', n: 2, logprobs: true, messages: [{ role: 'user', content: 'hi' }] });
  assert.equal(status, 200);
  assertAbsent(text, [PLANTED.email, PLANTED.card, 'mallory'], 'answer');
  const a = JSON.parse(text);
  assert.equal(a.choices[0].logprobs, null);
  assert.equal(a.choices[0].message.refusal, 'mail [EMAIL]');
  assert.equal(JSON.parse(a.choices[0].message.tool_calls[0].function.arguments).to, '[EMAIL]');
  assert.equal(a.choices[1].message.content, 'write to [EMAIL]');
});

test('streamed answers: every field is its own channel, tool calls by their index, logprobs held', async () => {
  const { status, text } = await fetchText({ model: 'fields', n: 2, stream: true, logprobs: true, messages: [{ role: 'user', content: 'hi' }] });
  assert.equal(status, 200);
  assertAbsent(text, [PLANTED.email, PLANTED.card, 'mallory', '4111'], 'stream');
  const fields = {};
  for (const line of text.split('\n')) {
    if (!line.startsWith('data: {')) continue;
    for (const c of JSON.parse(line.slice(6)).choices) {
      const d = c.delta ?? {};
      const add = (k, v) => { if (typeof v === 'string') fields[k] = (fields[k] ?? '') + v; };
      add(`${c.index}.content`, d.content);
      add(`${c.index}.refusal`, d.refusal);
      add(`${c.index}.reasoning`, d.reasoning_content);
      add(`${c.index}.audio`, d.audio?.transcript);
      add(`${c.index}.function`, d.function_call?.arguments);
      for (const t of d.tool_calls ?? []) add(`${c.index}.tool${t.index}`, t.function?.arguments);
    }
  }
  assert.equal(fields['0.refusal'], 'mail [EMAIL]');
  assert.equal(fields['0.reasoning'], 'card [CREDIT_CARD]');
  assert.equal(fields['0.audio'], 'call [EMAIL]');
  assert.deepEqual(JSON.parse(fields['0.tool0']), { x: '[EMAIL]' });
  assert.deepEqual(JSON.parse(fields['0.tool1']), { to: '[EMAIL]' });
  assert.deepEqual(JSON.parse(fields['0.function']), { to: '[EMAIL]' });
  assert.equal(fields['1.content'], 'write to [EMAIL]');
});

test('error bodies from the upstream are inspected before they are relayed', async () => {
  const json = await fetchText({ model: 'error-echo', messages: [{ role: 'user', content: 'hi' }] });
  assert.equal(json.status, 400);
  assertAbsent(json.text, [PLANTED.email, PLANTED.card], 'error body');
  assert.match(JSON.parse(json.text).error.message, /\[CREDIT_CARD\] of \[EMAIL\]/);
  const plain = await fetchText({ model: 'error-text', messages: [{ role: 'user', content: 'hi' }] });
  assert.equal(plain.status, 404);
  assert.equal(plain.text, 'no such user [EMAIL]');
});

test('after failover, the answer is inspected with the rules of the deployment that answered', async () => {
  // fo-out-a answers 503 (its rules would mask cards); fo-out-b answers with a card and its
  // output rule ends such answers.
  const { status, text } = await fetchText({ model: 'fo-out', messages: [{ role: 'user', content: 'hi' }] });
  assert.equal(status, 403, text);
  assert.match(text, /sensitive_data_blocked/);
  assert.ok(!text.includes('4111'));
});

// A property: random JSON shapes with a value planted in a random place (a string, a key, JSON
// inside a string with escapes, a message boundary) never reach the upstream in any form.
test('property: a planted e-mail never crosses, wherever it sits in random JSON', async () => {
  let seed = 12345;
  const rnd = (n) => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed % n; };
  const words = ['alpha', 'beta', '42', 'x y', 'Zürich', '東京', 'a"b', 'c\\d', '1.5', 'ok'];
  const email = 'victor.planted@example-corp.org';
  const escaped = email.replace('@', '\\u0040');
  const value = (depth, plant) => {
    const k = depth > 3 ? rnd(3) : rnd(6);
    if (plant && k > 2) return rnd(2) ? `see ${email} now` : JSON.stringify({ note: `x ${escaped}` }).replace('\\\\u', '\\u');
    switch (k) {
      case 0: return words[rnd(words.length)];
      case 1: return rnd(100000);
      case 2: return rnd(2) === 0;
      case 3: return Array.from({ length: 1 + rnd(3) }, () => value(depth + 1, false));
      default: {
        const o = {};
        for (let i = 0; i < 1 + rnd(3); i++) o[`${words[rnd(words.length)]}${i}`] = value(depth + 1, false);
        return o;
      }
    }
  };
  for (let i = 0; i < 60; i++) {
    const where = rnd(4);
    const extra = value(0, false);
    const body = { model: 'chat', messages: [{ role: 'user', content: 'hello' }] };
    if (where === 0) body.metadata = { [`k${i}`]: `mail ${email}`, other: extra };
    if (where === 1) body.tools = [{ type: 'function', function: { name: 'f', parameters: { properties: { [email]: extra } } } }];
    if (where === 2) body.messages.push({ role: 'tool', tool_call_id: 'call_1', content: JSON.stringify({ r: extra, to: escaped }).replace('\\\\u', '\\u') });
    if (where === 3) body.some_field = [extra, { deep: [`${email}`] }];
    const res = await send('/v1/chat/completions', body);
    assert.equal(res.status, 200, `${JSON.stringify(body)} -> ${res.body}`);
  }
  assertAbsent(upstreamRaw(), [email, escaped, 'victor.planted'], 'upstream');
  assert.equal(stack.upstream.requests.length, 60);
});
