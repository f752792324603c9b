// The test upstream's Anthropic Messages and OpenAI Responses APIs, as those providers send them
// (JSON answers, and SSE with `event:` lines and their event types). Chosen by the upstream model
// id, like the chat answers of fake_openai.mjs:
//   anything else   a normal answer
//   status-<code>   the API's own error shape with that status
//   echo            the last user text back, streamed 3 bytes a delta
//   leak            "Your card 4111 1111 1111 1111 is on file.", 3 bytes a delta
//   fields          an e-mail address and a card number planted in every text-bearing field
//                   (text, thinking, tool input / output text, function call arguments,
//                   reasoning summary), values split across deltas when streamed
//   invented        a stream with an event type no API defines, carrying an e-mail address
//   bound-…         (Responses) refuses (400) a previous_response_id or encrypted_content it did
//                   not make, as OpenAI's API does
//   think           (Messages) a signed thinking block and a redacted_thinking block whose
//                   signature and data this upstream made; a request that sends back one it did
//                   not make is refused (400), as Anthropic's API does
// Responses are kept (`store`): GET and DELETE /responses/{id} and POST …/{id}/cancel answer them;
// a reasoning item's encrypted_content is given when `include` asks for it.
import { StringDecoder } from 'node:string_decoder';

export const PLANTED = { email: 'mallory@example.com', card: '4111 1111 1111 1111' };

// Pieces of `text` of `n` bytes (UTF-8 characters cut by a piece are carried over).
function pieces(text, n) {
  const bytes = Buffer.from(text, 'utf8');
  const dec = new StringDecoder('utf8');
  const out = [];
  for (let i = 0; i < bytes.length; i += n) {
    const s = dec.write(bytes.subarray(i, i + n));
    if (s) out.push(s);
  }
  return out;
}

function lastUserText(body) {
  const msgs = body.messages ?? (Array.isArray(body.input) ? body.input : [{ content: body.input ?? '' }]);
  const c = msgs.at(-1)?.content ?? '';
  if (typeof c === 'string') return c;
  return c.map((b) => b.text ?? (typeof b.content === 'string' ? b.content : '')).join('');
}

// Signatures, redacted data and encrypted reasoning this upstream made.
const issued = new Set();
// Responses kept for GET / DELETE / cancel, by id.
const stored = new Map();

// Refuses (400) signed or encrypted content this upstream did not make; true when it did.
function checkSigned(res, body, status) {
  const sent = [];
  for (const m of body.messages ?? []) {
    for (const b of Array.isArray(m.content) ? m.content : []) {
      if (b.type === 'thinking') sent.push(b.signature);
      if (b.type === 'redacted_thinking') sent.push(b.data);
    }
  }
  for (const item of Array.isArray(body.input) ? body.input : []) {
    if (item.type === 'reasoning' && item.encrypted_content != null) sent.push(item.encrypted_content);
  }
  const bad = sent.find((v) => !issued.has(v));
  if (bad === undefined) return true;
  status(res, 400);
  return false;
}

const sse = (res, type, data) => res.write(`event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`);

// ---- Anthropic Messages -------------------------------------------------------------------

function anthropicError(res, status) {
  const type = { 400: 'invalid_request_error', 401: 'authentication_error', 403: 'permission_error',
    404: 'not_found_error', 429: 'rate_limit_error', 529: 'overloaded_error' }[status] ?? 'api_error';
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ type: 'error', error: { type, message: `test upstream answers ${status}` } }));
}

export function answerMessages(req, res, body, seq) {
  const model = body.model;
  let m;
  if ((m = /^status-(\d+)$/.exec(model))) return anthropicError(res, Number(m[1]));
  if (model === 'think' && !checkSigned(res, body, anthropicError)) return undefined;
  if (req.url.endsWith('/count_tokens')) {
    res.writeHead(200, { 'content-type': 'application/json' });
    return res.end(JSON.stringify({ input_tokens: 42 }));
  }
  const id = `msg_${seq.toString(16).padStart(24, '0')}`;
  let blocks = [{ type: 'text', text: 'Hello from the test upstream. Warden relayed this answer.' }];
  if (model === 'echo') blocks = [{ type: 'text', text: lastUserText(body) }];
  if (model === 'leak') blocks = [{ type: 'text', text: 'Your card 4111 1111 1111 1111 is on file.' }];
  if (model === 'fields') {
    blocks = [
      { type: 'thinking', thinking: `card ${PLANTED.card}`, signature: 'c2lnbmF0dXJl' },
      { type: 'text', text: `write to ${PLANTED.email}` },
      { type: 'tool_use', id: 'toolu_01', name: 'send', input: { to: PLANTED.email, card: PLANTED.card } },
    ];
  }
  if (model === 'think') {
    const signature = `sig/${seq}+${'A'.repeat(8)}=`;
    const data = `redacted+${seq}/${'B'.repeat(8)}==`;
    issued.add(signature).add(data);
    blocks = [{ type: 'thinking', thinking: 'Think first.', signature }, { type: 'redacted_thinking', data },
      { type: 'text', text: 'Thought about it.' }];
  }
  const usage = { input_tokens: 12, output_tokens: 7 };
  const stopReason = blocks.some((b) => b.type === 'tool_use') ? 'tool_use' : 'end_turn';
  if (!body.stream) {
    res.writeHead(200, { 'content-type': 'application/json' });
    return res.end(JSON.stringify({ id, type: 'message', role: 'assistant', model, content: blocks,
      stop_reason: stopReason, stop_sequence: null, usage }));
  }
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  sse(res, 'message_start', { message: { id, type: 'message', role: 'assistant', model, content: [],
    stop_reason: null, stop_sequence: null, usage: { input_tokens: 12, output_tokens: 1 } } });
  sse(res, 'ping', {});
  blocks.forEach((b, index) => {
    if (b.type === 'text') {
      sse(res, 'content_block_start', { index, content_block: { type: 'text', text: '' } });
      for (const p of pieces(b.text, 3)) sse(res, 'content_block_delta', { index, delta: { type: 'text_delta', text: p } });
    } else if (b.type === 'thinking') {
      sse(res, 'content_block_start', { index, content_block: { type: 'thinking', thinking: '', signature: '' } });
      for (const p of pieces(b.thinking, 4)) sse(res, 'content_block_delta', { index, delta: { type: 'thinking_delta', thinking: p } });
      sse(res, 'content_block_delta', { index, delta: { type: 'signature_delta', signature: b.signature } });
    } else if (b.type === 'redacted_thinking') {
      sse(res, 'content_block_start', { index, content_block: b });
    } else if (b.type === 'tool_use') {
      sse(res, 'content_block_start', { index, content_block: { type: 'tool_use', id: b.id, name: b.name, input: {} } });
      // JSON text cut inside a value and inside an escape.
      const json = JSON.stringify(b.input).replace('@', '\\u0040');
      for (const p of pieces(json, 5)) sse(res, 'content_block_delta', { index, delta: { type: 'input_json_delta', partial_json: p } });
    }
    sse(res, 'content_block_stop', { index });
  });
  sse(res, 'message_delta', { delta: { stop_reason: stopReason, stop_sequence: null }, usage: { output_tokens: 7 } });
  sse(res, 'message_stop', {});
  res.end();
}

// ---- OpenAI Responses ----------------------------------------------------------------------

function responsesError(res, status) {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ error: { message: `test upstream answers ${status}`, type: 'test', param: null, code: null } }));
}

export function answerResponses(req, res, body, seq) {
  const model = body.model;
  let m;
  if ((m = /^status-(\d+)$/.exec(model))) return responsesError(res, Number(m[1]));
  if (model.startsWith('bound')) {
    if (!checkSigned(res, body, responsesError)) return undefined;
    if (body.previous_response_id != null && !stored.has(body.previous_response_id)) return responsesError(res, 400);
  }
  const id = `resp_${seq.toString(16).padStart(24, '0')}`;
  let items = [{ type: 'message', id: `msg_${seq}`, status: 'completed', role: 'assistant',
    content: [{ type: 'output_text', text: 'Hello from the test upstream. Warden relayed this answer.', annotations: [] }] }];
  const text = (t) => [{ type: 'message', id: `msg_${seq}`, status: 'completed', role: 'assistant',
    content: [{ type: 'output_text', text: t, annotations: [] }] }];
  if (model === 'echo') items = text(lastUserText(body));
  if (model === 'leak') items = text('Your card 4111 1111 1111 1111 is on file.');
  if (model === 'fields') {
    items = [
      { type: 'reasoning', id: `rs_${seq}`, summary: [{ type: 'summary_text', text: `card ${PLANTED.card}` }], encrypted_content: 'ZW5jcnlwdGVk' },
      ...text(`write to ${PLANTED.email}`),
      { type: 'function_call', id: `fc_${seq}`, call_id: 'call_01', name: 'send', status: 'completed',
        arguments: JSON.stringify({ to: PLANTED.email }).replace('@', '\\u0040') },
    ];
  }
  if ((body.include ?? []).includes('reasoning.encrypted_content')) {
    const enc = `gAAAA${seq}/enc+${'C'.repeat(8)}==`;
    issued.add(enc);
    items = [{ type: 'reasoning', id: `rs_${seq}`, summary: [], encrypted_content: enc }, ...items];
  }
  const usage = { input_tokens: 12, output_tokens: 7, total_tokens: 19 };
  const response = (status, output) => ({ id, object: 'response', created_at: 1, status, model, output,
    previous_response_id: body.previous_response_id ?? null,
    instructions: body.instructions ?? null, usage: status === 'completed' ? usage : null });
  if (body.store !== false) stored.set(id, response('completed', items));
  if (!body.stream) {
    res.writeHead(200, { 'content-type': 'application/json' });
    return res.end(JSON.stringify(response('completed', items)));
  }
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  let n = 0;
  const ev = (type, data) => sse(res, type, { sequence_number: n++, ...data });
  ev('response.created', { response: response('in_progress', []) });
  if (model === 'invented') {
    ev('response.telepathy.delta', { note: `think of ${PLANTED.email}` });
  }
  items.forEach((item, output_index) => {
    if (item.type === 'message') {
      ev('response.output_item.added', { output_index, item: { ...item, status: 'in_progress', content: [] } });
      ev('response.content_part.added', { item_id: item.id, output_index, content_index: 0, part: { type: 'output_text', text: '', annotations: [] } });
      for (const p of pieces(item.content[0].text, 3)) {
        ev('response.output_text.delta', { item_id: item.id, output_index, content_index: 0, delta: p, logprobs: [] });
      }
      ev('response.output_text.done', { item_id: item.id, output_index, content_index: 0, text: item.content[0].text, logprobs: [] });
      ev('response.content_part.done', { item_id: item.id, output_index, content_index: 0, part: item.content[0] });
    } else if (item.type === 'function_call') {
      ev('response.output_item.added', { output_index, item: { ...item, status: 'in_progress', arguments: '' } });
      for (const p of pieces(item.arguments, 5)) ev('response.function_call_arguments.delta', { item_id: item.id, output_index, delta: p });
      ev('response.function_call_arguments.done', { item_id: item.id, output_index, arguments: item.arguments });
    } else if (item.type === 'reasoning') {
      ev('response.output_item.added', { output_index, item: { ...item, summary: [] } });
      if (item.summary.length) {
        for (const p of pieces(item.summary[0].text, 4)) {
          ev('response.reasoning_summary_text.delta', { item_id: item.id, output_index, summary_index: 0, delta: p });
        }
        ev('response.reasoning_summary_text.done', { item_id: item.id, output_index, summary_index: 0, text: item.summary[0].text });
      }
    }
    ev('response.output_item.done', { output_index, item });
  });
  ev('response.completed', { response: response('completed', items) });
  res.end();
}

// GET and DELETE /responses/{id}, POST /responses/{id}/cancel: the response kept under that id.
export function answerStored(req, res) {
  const [, id, cancel] = /\/responses\/([^/?]+)(\/cancel)?/.exec(req.url);
  const response = stored.get(id);
  if (!response) {
    res.writeHead(404, { 'content-type': 'application/json' });
    return res.end(JSON.stringify({ error: { message: `No response with id '${id}' found.`, type: 'invalid_request_error', param: null, code: null } }));
  }
  if (req.method === 'DELETE') {
    stored.delete(id);
    res.writeHead(200, { 'content-type': 'application/json' });
    return res.end(JSON.stringify({ id, object: 'response', deleted: true }));
  }
  const answer = cancel ? { ...response, status: 'cancelled' } : response;
  if (/[?&]stream=true/.test(req.url)) {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    sse(res, 'response.created', { sequence_number: 0, response: { ...answer, status: 'in_progress', output: [] } });
    sse(res, 'response.completed', { sequence_number: 1, response: answer });
    return res.end();
  }
  res.writeHead(200, { 'content-type': 'application/json' });
  return res.end(JSON.stringify(answer));
}
