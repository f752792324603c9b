// Inspection in the request path: block, mask, pseudonymise (and restore), answers scanned as
// they stream.
import assert from 'node:assert/strict';
import { after, before, beforeEach, test } from 'node:test';
import OpenAI from 'openai';
import { KEY, post, rawRequest, startStack } from './harness.mjs';

let stack;
let client;
before(async () => {
  stack = await startStack();
  client = new OpenAI({ apiKey: KEY, baseURL: `${stack.url}/v1`, maxRetries: 0 });
});
after(async () => { await stack.stop(); });
beforeEach(() => stack.upstream.clear());

const AWS = 'AKIAZ3MQW7XH2LBNQR4T';

test('a secret blocks the request with 403, naming the class, never the value', async () => {
  await assert.rejects(
    client.chat.completions.create({ model: 'chat', messages: [{ role: 'user', content: `deploy with ${AWS}` }] }),
    (e) => e.status === 403 && e.code === 'sensitive_data_blocked' &&
      e.message.includes('secret.aws_access_key (1)') && !e.message.includes(AWS));
  assert.equal(stack.upstream.requests.length, 0);
  // The log line is written after the response: wait for it.
  for (let i = 0; i < 50 && !stack.logs.stdout.includes('sensitive_data_blocked'); i++) {
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.match(stack.logs.stdout, /"request_classes":\{"secret.aws_access_key":1\}/);
  assert.ok(!stack.logs.stdout.includes(AWS), 'the log never holds the value');
});

test('secrets in tool-call arguments, metadata and unknown fields are found too', async () => {
  for (const body of [
    { model: 'chat', messages: [{ role: 'user', content: 'hi' }, { role: 'assistant', content: null, tool_calls: [{ id: 'c1', type: 'function', function: { name: 'f', arguments: JSON.stringify({ key: AWS }) } }] }] },
    { model: 'chat', messages: [{ role: 'user', content: 'hi' }], metadata: { note: AWS } },
    { model: 'chat', messages: [{ role: 'user', content: 'hi' }], some_future_field: [{ x: AWS }] },
    { model: 'chat', messages: [{ role: 'user', content: 'the Bluebird launch' }] },
  ]) {
    const res = await rawRequest(stack.port, post('/v1/chat/completions', body));
    assert.equal(res.status, 403, JSON.stringify(body));
  }
  assert.equal(stack.upstream.requests.length, 0);
});

test('masks and pseudonyms cross; the answer gets the original values back', async () => {
  const text = 'Write to jane.doe@acme-corp.com (or jane.doe@acme-corp.com), card 4111 1111 1111 1111, +49 30 12345678.';
  const res = await client.chat.completions.create({ model: 'echo', messages: [{ role: 'user', content: text }] });
  const sent = stack.upstream.requests[0].body.messages[0].content;
  assert.equal(sent, 'Write to ⟨EMAIL_1⟩ (or ⟨EMAIL_1⟩), card [CREDIT_CARD], [PHONE].');
  assert.equal(res.choices[0].message.content, 'Write to jane.doe@acme-corp.com (or jane.doe@acme-corp.com), card [CREDIT_CARD], [PHONE].');
});

test('streamed answers: pseudonyms split across 3-byte events are restored', async () => {
  const text = 'Mail jane.doe@acme-corp.com and bob@example.org today — 你好。';
  const stream = await client.chat.completions.create({ model: 'echo', stream: true, messages: [{ role: 'user', content: text }] });
  let out = '';
  for await (const chunk of stream) out += chunk.choices[0]?.delta?.content ?? '';
  assert.equal(out, text);
  assert.ok(!stack.upstream.requests[0].raw.includes('jane.doe'), 'the e-mail never went upstream');
});

test('streamed answers: a card number split across events is masked before any digit is sent', async () => {
  const r = await fetch(`${stack.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${KEY}` },
    body: JSON.stringify({ model: 'leak', stream: true, messages: [{ role: 'user', content: 'x' }] }),
  });
  const raw = await r.text();
  assert.ok(!/4111/.test(raw) && !/1111/.test(raw), raw);
  const text = raw.split('\n\n').filter((e) => e.startsWith('data: {'))
    .map((e) => JSON.parse(e.slice(6)).choices[0]?.delta?.content ?? '').join('');
  assert.equal(text, 'Your card [CREDIT_CARD] is on file.');
  const metrics = await (await fetch(`http://127.0.0.1:${stack.adminPort}/metrics`)).text();
  assert.match(metrics, /warden_inspect_findings_total\{class="fin.credit_card",direction="answer"\} [1-9]/);
});

// Identifiers may cross (no inspect action for id.*); the policy's output rules act on answers,
// streamed or whole: the echo upstream answers with what it was sent.
async function streamedText(content) {
  const r = await fetch(`${stack.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${KEY}` },
    body: JSON.stringify({ model: 'echo', stream: true, messages: [{ role: 'user', content }] }),
  });
  const raw = await r.text();
  const events = raw.split('\n\n').filter((e) => e.startsWith('data: {')).map((e) => JSON.parse(e.slice(6)));
  return { raw, events, text: events.map((e) => e.choices?.[0]?.delta?.content ?? '').join('') };
}

test('output rule mask: a tax id is masked in streamed and whole answers alike', async () => {
  const content = 'Steuer-ID 75642103968, bitte eintragen.';
  const whole = await client.chat.completions.create({ model: 'echo', messages: [{ role: 'user', content }] });
  assert.equal(whole.choices[0].message.content, 'Steuer-ID [DE_TAX_ID], bitte eintragen.');
  const streamed = await streamedText(content);
  assert.equal(streamed.text, 'Steuer-ID [DE_TAX_ID], bitte eintragen.');
  assert.ok(!streamed.raw.includes('75642103968'), streamed.raw);
  assert.equal(stack.upstream.requests[0].body.messages[0].content, content, 'the id crossed as sent');
});

test('output rule end: a streamed answer ends with an error event, a whole one is refused', async () => {
  // The number at the end (found when the answer finishes) and in the middle (found while the
  // answer streams: more than the hold-back window follows it).
  for (const content of ['Fill in the W-4, SSN 764-69-1447',
    'SSN 764-69-1447 for the new hire; her start date is next Monday, please prepare the payroll record and her badge.']) {
    const streamed = await streamedText(content);
    assert.ok(!streamed.raw.includes('1447'), streamed.raw);
    const last = streamed.events[streamed.events.length - 1];
    assert.equal(last.error?.code, 'sensitive_data_blocked', streamed.raw);
    const res = await rawRequest(stack.port, post('/v1/chat/completions',
      { model: 'echo', messages: [{ role: 'user', content }] }));
    assert.equal(res.status, 403);
    assert.equal(JSON.parse(res.body).error.code, 'sensitive_data_blocked');
    assert.ok(!res.body.includes('1447'), res.body);
  }
});

test('output rule end: text held back when the upstream fails is not sent if it holds the class', async () => {
  // The number arrives last, inside the hold-back window; then the upstream's answer breaks off
  // inside an event. What was held back is decided as at a clean end: it holds a class to end on.
  const r = await fetch(`${stack.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${KEY}` },
    body: JSON.stringify({ model: 'echo-cut', stream: true,
      messages: [{ role: 'user', content: 'The payroll record for the new hire is ready. Please check her bank ' +
        'details, tax class and start date against the offer letter before Friday, then send it on to ' +
        'the accounting team. SSN 764-69-1447' }] }),
  });
  const raw = await r.text();
  const events = raw.split('\n\n').filter((e) => e.startsWith('data: {')).map((e) => JSON.parse(e.slice(6)));
  const text = events.map((e) => e.choices?.[0]?.delta?.content ?? '').join('');
  assert.ok(text.startsWith('The payroll'), raw);  // what came before the window was relayed
  assert.ok(!raw.includes('1447') && !raw.includes('764-69'), raw);
  // Nothing of what was held back went out, masked or not.
  assert.ok(!text.includes('SSN') && !text.includes('US_SSN') && !text.includes('team.'), text);
  assert.equal(events.at(-1).error?.code, 'upstream_unavailable', raw);
});

test('a request that cannot be inspected is denied', async () => {
  const deep = `{"model":"chat","messages":[{"role":"user","content":"x"}],"x":${'['.repeat(100)}${']'.repeat(100)}}`;
  const res = await rawRequest(stack.port, post('/v1/chat/completions', deep));
  assert.equal(res.status, 400);
  assert.equal(JSON.parse(res.body).error.code, 'uninspectable_request');
  assert.equal(stack.upstream.requests.length, 0);
});
