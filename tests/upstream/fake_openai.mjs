// A test upstream speaking OpenAI's HTTP API, SSE included. It stands in for model servers,
// which cannot be reached from tests, and records every request it receives.
//
// Behaviour is chosen by the upstream model id the gateway sends (the deployment's
// upstream_model):
//   anything else        a normal answer (chat, completion, embedding; streamed when asked)
//   status-<code>        always answers <code> with an OpenAI error body
//   flaky-<code>-<n>     answers <code> to the first <n> requests, then normally
//   stall                reads the request and never answers
//   reset-mid-stream     sends two events, then resets the connection
//   bad-sse              sends one good event, then an event whose data is not JSON
//   slow-stream          100 events, 100 ms apart (for disconnect tests)
//   echo                 answers with the last message's text, streamed 3 bytes an event
//   echo-then-cut        streams the last message's text like echo, then ends inside an event
//   leak                 answers "Your card 4111 1111 1111 1111 is on file.", 3 bytes an event
//   raw-te-gzip          a 200 whose Transfer-Encoding is gzip (not chunked), body until close
//   raw-te-gzip-chunked  a 200 with Transfer-Encoding "gzip, chunked" (the body is not gzip)
//   raw-obs-fold         a 200 with a header continued on a folded line
//   fields               plants an e-mail address and a card number in every text-bearing field
//                        of an answer (refusal, reasoning, audio transcript, function and tool
//                        call arguments with escapes, a second choice, logprobs), whole or
//                        streamed (values split across events, parallel tool calls out of order)
//   error-echo           answers 400 with an OpenAI error whose message echoes a card and e-mail
//   error-text           answers 404 with a text/plain body that echoes an e-mail address
// POST …/messages (Anthropic) and …/responses (OpenAI Responses) are answered by fake_apis.mjs.
//
// GET /__requests lists what was received; DELETE /__requests clears it; GET /__closed counts
// streams whose client (the gateway) went away before the end.
//
// Run alone: node fake_openai.mjs [port]   (the demo model of `make run`)
import http from 'node:http';
import https from 'node:https';
import { StringDecoder } from 'node:string_decoder';
import { pathToFileURL } from 'node:url';
import { answerMessages, answerResponses, answerStored } from './fake_apis.mjs';

// Values the `fields` model plants in its answers (they never reach a client unmasked).
export const PLANTED = { email: 'mallory@example.com', card: '4111 1111 1111 1111' };
const ESCAPED_EMAIL = 'mallory\\u0040example.com';  // JSON text inside a string: its own escape

function answerFields(req, res, body) {
  const id = 'chatcmpl-fields';
  const created = 1;
  const model = body.model;
  const args = `{"to":"${ESCAPED_EMAIL}"}`;
  if (!body.stream) {
    res.writeHead(200, { 'content-type': 'application/json' });
    return res.end(JSON.stringify({
      id, object: 'chat.completion', created, model,
      choices: [
        {
          index: 0, finish_reason: 'stop',
          message: {
            role: 'assistant', content: 'ok', refusal: `mail ${PLANTED.email}`,
            reasoning_content: `card ${PLANTED.card}`,
            audio: { id: 'audio_1', transcript: `call ${PLANTED.email}` },
            function_call: { name: 'f', arguments: args },
            tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'g', arguments: args } }],
          },
          logprobs: { content: PLANTED.card.split(' ').map((t, i) => ({ token: i ? ` ${t}` : t, logprob: 0, bytes: [...Buffer.from(t)], top_logprobs: [] })) },
        },
        { index: 1, finish_reason: 'stop', message: { role: 'assistant', content: `write to ${PLANTED.email}` }, logprobs: null },
      ],
      usage: { prompt_tokens: 5, completion_tokens: 5, total_tokens: 10 },
    }));
  }
  res.writeHead(200, { 'content-type': 'text/event-stream' });
  const ev = (choices) => `data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created, model, choices })}\n\n`;
  const lp = (t) => ({ content: [{ token: t, logprob: 0, bytes: [...Buffer.from(t)], top_logprobs: [] }] });
  const out = [
    ev([{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }]),
    ev([{ index: 0, delta: { refusal: 'mail mallory@exa' }, finish_reason: null }]),
    ev([{ index: 0, delta: { refusal: 'mple.com' }, finish_reason: null }]),
    ev([{ index: 0, delta: { reasoning_content: 'card 4111 1111 ' }, logprobs: lp('4111 1111 '), finish_reason: null }]),
    ev([{ index: 0, delta: { reasoning_content: '1111 1111' }, logprobs: lp('1111 1111'), finish_reason: null }]),
    ev([{ index: 0, delta: { tool_calls: [
      { index: 1, id: 'call_b', type: 'function', function: { name: 'g', arguments: '{"to":"mallory\\u00' } },
      { index: 0, id: 'call_a', type: 'function', function: { name: 'g', arguments: '{"x":"mall' } }] }, finish_reason: null }]),
    ev([{ index: 0, delta: { tool_calls: [
      { index: 0, function: { arguments: 'ory@example.com"}' } },
      { index: 1, function: { arguments: '40example.com"}' } }] }, finish_reason: null }]),
    ev([{ index: 1, delta: { role: 'assistant', content: 'write to mallory@' }, finish_reason: null }]),
    ev([{ index: 1, delta: { content: 'example.com' }, finish_reason: null }]),
    ev([{ index: 0, delta: { audio: { id: 'audio_1', transcript: `call ${PLANTED.email}` } }, finish_reason: null }]),
    ev([{ index: 0, delta: { function_call: { name: 'f', arguments: args } }, finish_reason: null }]),
    ev([{ index: 0, delta: {}, finish_reason: 'stop' }, { index: 1, delta: {}, finish_reason: 'stop' }]),
    'data: [DONE]\n\n',
  ];
  for (const e of out) res.write(e);
  res.end();
}

export function startUpstream({ port = 0, host = '127.0.0.1', tls = null } = {}) {
  const requests = [];
  const counters = new Map();
  const sockets = new Set();
  let closedEarly = 0;
  let completionSeq = 0;

  const handler = (req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      if (req.url.startsWith('/__')) return control(req, res);
      let body = null;
      try { body = JSON.parse(raw); } catch { /* recorded as raw */ }
      requests.push({ method: req.method, url: req.url, headers: req.headers, raw, body });
      answer(req, res, body);
    });
  };
  const server = tls ? https.createServer(tls, handler) : http.createServer(handler);
  server.keepAliveTimeout = 60_000;
  server.on('connection', (s) => { sockets.add(s); s.on('close', () => sockets.delete(s)); });

  function control(req, res) {
    res.setHeader('content-type', 'application/json');
    if (req.url === '/__requests' && req.method === 'DELETE') {
      requests.length = 0;
      counters.clear();
      closedEarly = 0;
      return res.end('{}');
    }
    if (req.url === '/__requests') return res.end(JSON.stringify(requests));
    if (req.url === '/__closed') return res.end(JSON.stringify({ closedEarly }));
    res.statusCode = 404;
    res.end('{}');
  }

  function sendError(res, status) {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ error: { message: `test upstream answers ${status}`, type: 'test', code: null } }));
  }

  // Malformed answers, written on the socket as they are (node's server would not send them).
  function rawAnswer(req, model) {
    const json = JSON.stringify({ id: 'chatcmpl-raw', object: 'chat.completion', model, choices: [
      { index: 0, message: { role: 'assistant', content: 'RELAYED-MALFORMED' }, finish_reason: 'stop' }] });
    const head = 'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n';
    let raw;
    if (model === 'raw-te-gzip') raw = `${head}Transfer-Encoding: gzip\r\n\r\n${json}`;
    else if (model === 'raw-te-gzip-chunked') {
      raw = `${head}Transfer-Encoding: gzip, chunked\r\n\r\n${Buffer.byteLength(json).toString(16)}\r\n${json}\r\n0\r\n\r\n`;
    } else raw = `${head}X-Note: first\r\n  folded\r\nContent-Length: ${Buffer.byteLength(json)}\r\n\r\n${json}`;
    req.socket.end(raw);
  }

  function answer(req, res, body) {
    if (/\/responses\/[^/?]+(\/cancel)?(\?.*)?$/.test(req.url)) return answerStored(req, res);
    if (!body || typeof body.model !== 'string') return sendError(res, 400);
    if (/\/messages(\/count_tokens)?$/.test(req.url)) return answerMessages(req, res, body, ++completionSeq);
    if (req.url.endsWith('/responses')) return answerResponses(req, res, body, ++completionSeq);
    const model = body.model;
    let m;
    if ((m = /^status-(\d+)$/.exec(model))) return sendError(res, Number(m[1]));
    if ((m = /^flaky-(\d+)-(\d+)$/.exec(model))) {
      const n = (counters.get(model) ?? 0) + 1;
      counters.set(model, n);
      if (n <= Number(m[2])) return sendError(res, Number(m[1]));
    }
    if (model.startsWith('raw-')) return rawAnswer(req, model);
    if (model === 'error-echo') {
      res.writeHead(400, { 'content-type': 'application/json' });
      return res.end(JSON.stringify({ error: { message: `card ${PLANTED.card} of ${PLANTED.email} was rejected`, type: 'invalid_request_error', code: null } }));
    }
    if (model === 'error-text') {
      res.writeHead(404, { 'content-type': 'text/plain' });
      return res.end(`no such user ${PLANTED.email}`);
    }
    if (model === 'fields') return answerFields(req, res, body);
    if (model === 'stall') {  // never answers; counts the gateway giving up on it
      req.socket.once('close', () => { closedEarly++; });
      return;
    }
    const id = `chatcmpl-${(++completionSeq).toString(16).padStart(24, '0')}`;
    const created = Math.floor(Date.now() / 1000);
    if (req.url.endsWith('/embeddings')) {
      const inputs = Array.isArray(body.input) ? body.input : [body.input];
      res.writeHead(200, { 'content-type': 'application/json' });
      return res.end(JSON.stringify({
        object: 'list', model,
        data: inputs.map((_, i) => ({ object: 'embedding', index: i, embedding: [0.1, 0.2, 0.3, i] })),
        usage: { prompt_tokens: 4 * inputs.length, total_tokens: 4 * inputs.length },
      }));
    }
    const isChat = req.url.endsWith('/chat/completions');
    let text = 'Hello from the test upstream. Warden relayed this answer.';
    let piece = null;  // split the streamed text into pieces of this many bytes
    if (model === 'echo' || model === 'echo-then-cut') {
      const last = body.messages?.at(-1)?.content ?? body.prompt ?? '';
      text = typeof last === 'string' ? last : JSON.stringify(last);
      piece = 3;
    } else if (model === 'leak') {
      text = 'Your card 4111 1111 1111 1111 is on file.';
      piece = 3;
    }
    const usage = { prompt_tokens: 11, completion_tokens: 9, total_tokens: 20 };
    if (!body.stream) {
      res.writeHead(200, { 'content-type': 'application/json' });
      return res.end(JSON.stringify(isChat
        ? { id, object: 'chat.completion', created, model, choices: [{ index: 0, message: { role: 'assistant', content: text }, finish_reason: 'stop' }], usage }
        : { id, object: 'text_completion', created, model, choices: [{ index: 0, text, finish_reason: 'stop' }], usage }));
    }
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    const bytes = Buffer.from(text, 'utf8');
    const words = [];
    if (piece) {
      // Byte pieces may split a UTF-8 character: the decoder carries it over, like a tokenizer
      // whose tokens end mid-character would (the gateway must cope either way).
      const dec = new StringDecoder('utf8');
      for (let i = 0; i < bytes.length; i += piece) {
        const s = dec.write(bytes.subarray(i, i + piece));
        if (s) words.push(s);
      }
    } else {
      words.push(...text.split(/(?<= )/));
    }
    const event = (delta, finish = null) => `data: ${JSON.stringify(isChat
      ? { id, object: 'chat.completion.chunk', created, model, choices: [{ index: 0, delta, finish_reason: finish }] }
      : { id, object: 'text_completion', created, model, choices: [{ index: 0, text: delta.content ?? '', finish_reason: finish }] })}\n\n`;
    let finished = false;
    res.on('close', () => { if (!finished) closedEarly++; });
    if (model === 'reset-mid-stream') {
      res.write(event({ role: 'assistant', content: '' }));
      res.write(event({ content: 'partial ' }));
      return setTimeout(() => req.socket.resetAndDestroy(), 20);
    }
    if (model === 'bad-sse') {
      res.write(event({ role: 'assistant', content: 'ok ' }));
      return setTimeout(() => { finished = true; res.end('data: {this is not json\n\n'); }, 20);
    }
    if (model === 'slow-stream') {
      let i = 0;
      const timer = setInterval(() => {
        if (res.destroyed) return clearInterval(timer);
        if (i++ >= 100) { clearInterval(timer); finished = true; return res.end('data: [DONE]\n\n'); }
        res.write(event({ content: `w${i} ` }));
      }, 100);
      return;
    }
    res.write(event({ role: 'assistant', content: '' }));
    for (const w of words) res.write(event({ content: w }));
    if (model === 'echo-then-cut') { finished = true; return res.end('data: {"id":'); }
    res.write(event({}, 'stop'));
    if (body.stream_options?.include_usage) {
      res.write(`data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created, model, choices: [], usage })}\n\n`);
    }
    finished = true;
    res.end('data: [DONE]\n\n');
  }

  return new Promise((resolve) => {
    server.listen(port, host, () => {
      resolve({
        port: server.address().port,
        requests,
        closedEarly: () => closedEarly,
        clear: () => { requests.length = 0; counters.clear(); closedEarly = 0; },
        close: () => new Promise((r) => { for (const s of sockets) s.destroy(); server.close(() => r()); }),
      });
    });
  });
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  const up = await startUpstream({ port: Number(process.argv[2] ?? 8081) });
  console.log(`test upstream listening on http://127.0.0.1:${up.port}/v1`);
}
