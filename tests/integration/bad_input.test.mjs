// Bad input: each case gets the right status in OpenAI's error shape and reaches no upstream.
import assert from 'node:assert/strict';
import { after, before, beforeEach, test } from 'node:test';
import { KEY, chatBody, post, rawRequest, startStack } from './harness.mjs';

let stack;
before(async () => { stack = await startStack(); });
after(async () => { await stack.stop(); });
beforeEach(() => stack.upstream.clear());

function assertOpenAIError(res, status, code) {
  assert.equal(res.status, status, res.raw.slice(0, 300));
  const body = JSON.parse(res.body);
  assert.equal(typeof body.error.message, 'string');
  assert.equal(typeof body.error.type, 'string');
  if (code) assert.equal(body.error.code, code);
  assert.match(res.head, /\r\nx-request-id: \S+/i);
  assert.equal(stack.upstream.requests.length, 0, 'nothing may reach the upstream');
}

test('malformed JSON is 400', async () => {
  assertOpenAIError(await rawRequest(stack.port, post('/v1/chat/completions', '{"model":"chat","messages":[')), 400, 'malformed_json');
});

test('invalid UTF-8 is 400', async () => {
  const body = Buffer.concat([Buffer.from('{"model":"chat","messages":[{"role":"user","content":"'), Buffer.from([0xc3, 0x28]), Buffer.from('"}]}')]);
  const head = `POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${KEY}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`;
  const res = await rawRequest(stack.port, [Buffer.from(head), body], { ms: 1000 });
  assertOpenAIError(res, 400, 'malformed_json');
  assert.match(JSON.parse(res.body).error.message, /UTF-8/);
});

test('oversize body is 413 without reading it', async () => {
  const big = JSON.stringify(chatBody('chat', { pad: 'x'.repeat(70_000) }));
  assertOpenAIError(await rawRequest(stack.port, post('/v1/chat/completions', big)), 413, 'payload_too_large');
});

test('missing and wrong-typed fields are 400', async () => {
  for (const body of [
    { messages: [{ role: 'user', content: 'x' }] },
    { model: 7, messages: [{ role: 'user', content: 'x' }] },
    { model: 'chat' },
    { model: 'chat', messages: 'hello' },
    { model: 'chat', messages: [{ role: 'user', content: 'x' }], stream: 'yes' },
    { model: 'chat', messages: [{ role: 'user', content: 'x' }], temperature: 'hot' },
  ]) {
    assertOpenAIError(await rawRequest(stack.port, post('/v1/chat/completions', body)), 400, 'invalid_request');
  }
  assertOpenAIError(await rawRequest(stack.port, post('/v1/embeddings', { model: 'embed' })), 400, 'invalid_request');
  assertOpenAIError(await rawRequest(stack.port, post('/v1/completions', { model: 'chat', prompt: 5 })), 400, 'invalid_request');
});

test('a model that does not serve the endpoint is 400, an unknown one 404', async () => {
  assertOpenAIError(await rawRequest(stack.port, post('/v1/embeddings', { model: 'chat', input: 'x' })), 400, 'invalid_request');
  assertOpenAIError(await rawRequest(stack.port, post('/v1/chat/completions', chatBody('gpt-unknown'))), 404, 'model_not_found');
});

test('wrong content type is 415', async () => {
  const res = await rawRequest(stack.port, post('/v1/chat/completions', chatBody(), { headers: { 'Content-Type': 'text/plain' } }));
  assertOpenAIError(res, 415, 'unsupported_media_type');
});

test('missing or unknown key is 401', async () => {
  assertOpenAIError(await rawRequest(stack.port, post('/v1/chat/completions', chatBody(), { key: 'sk-nope' })), 401, 'invalid_api_key');
  const noKey = `POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}`;
  assertOpenAIError(await rawRequest(stack.port, noKey), 401, 'invalid_api_key');
});

test('unknown route is 404, wrong method 405', async () => {
  assertOpenAIError(await rawRequest(stack.port, `GET /v2/whatever HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`), 404, 'unknown_route');
  const res = await rawRequest(stack.port, `GET /v1/chat/completions HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
  assertOpenAIError(res, 405, 'method_not_allowed');
  assert.match(res.head, /\r\nAllow: GET, POST/);
});

test('Content-Length together with Transfer-Encoding is refused', async () => {
  const body = JSON.stringify(chatBody());
  const req = `POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${KEY}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nTransfer-Encoding: chunked\r\n\r\n${body.length.toString(16)}\r\n${body}\r\n0\r\n\r\n`;
  const res = await rawRequest(stack.port, req);
  assertOpenAIError(res, 400, 'bad_http');
  assert.match(res.head, /Connection: close/);
});

test('two different Content-Length headers are refused', async () => {
  const body = JSON.stringify(chatBody());
  const req = `POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${KEY}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nContent-Length: ${body.length + 1}\r\n\r\n${body}`;
  assertOpenAIError(await rawRequest(stack.port, req), 400, 'bad_http');
});

test('an over-long header is 431', async () => {
  const res = await rawRequest(stack.port, post('/v1/chat/completions', chatBody(), { headers: { 'X-Filler': 'y'.repeat(8000) } }));
  assertOpenAIError(res, 431, 'headers_too_large');
});

test('a slow-loris client gets 408 and is cut off at the header timeout', async () => {
  // One header byte every 100 ms: never finishes within header_timeout_ms (500 ms).
  const req = post('/v1/chat/completions', chatBody());
  const res = await rawRequest(stack.port, req.split(''), { gapMs: 100, ms: 5000 });
  assertOpenAIError(res, 408, 'request_timeout');
  assert.ok(res.elapsed < 2000, `took ${res.elapsed} ms`);
});

test('a body that stalls gets 408 at the body timeout', async () => {
  const body = JSON.stringify(chatBody());
  const head = `POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${KEY}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`;
  const res = await rawRequest(stack.port, [head, body.slice(0, 10)], { ms: 4000 });
  assertOpenAIError(res, 408, 'request_timeout');
});

test('keep-alive serves several requests on one connection, with Expect: 100-continue', async () => {
  const body = JSON.stringify(chatBody());
  const one = `POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${KEY}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
  const res = await rawRequest(stack.port, [one, one, one], { ms: 1500, gapMs: 50 });
  assert.equal((res.raw.match(/HTTP\/1\.1 200 OK/g) ?? []).length, 3);
  stack.upstream.clear();
  const expect = `POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${KEY}\r\nContent-Type: application/json\r\nExpect: 100-continue\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n`;
  const res2 = await rawRequest(stack.port, [expect, body], { gapMs: 100 });
  assert.match(res2.raw, /^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 200 OK/);
});
