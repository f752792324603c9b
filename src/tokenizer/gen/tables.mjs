// Writes one encoding's token table for src/tokenizer/ from js-tiktoken's BPE ranks (MIT):
//   node tables.mjs o200k_base OUT.bin
// The build embeds OUT.bin in the binary (tables.S, `.incbin`); tokenizer.cpp reads it in place.
//
// Layout, little-endian u32 unless noted (tokenizer.cpp: `Header`):
//   magic "WTOK", version, vocab_size (highest id + 1), ranks (ids below are BPE ranks),
//   hash_bits, max_token_bytes (longest rank), bytes_len, pattern_len
//   offsets[vocab_size + 1]   id i is bytes[offsets[i], offsets[i + 1]); empty = not an id
//   hash[1 << hash_bits]      open addressing, linear probing, of the ranks' bytes:
//                             slot = tag << 18 | id (tag = hash >>> 18), 0xffffffff = empty
//   bytes[bytes_len]          every id's bytes; a special token's are its literal text
//   pattern[pattern_len]      the pre-tokenizer's regular expression (UTF-8, as js-tiktoken's)
import { writeFileSync } from 'node:fs';

const VERSION = 1;
const ID_BITS = 18;
const EMPTY = 0xffffffff;

// FNV-1a, then MurmurHash3's finaliser: tokenizer.cpp's hash_bytes() must compute the same.
export function hashBytes(bytes) {
  let h = 0x811c9dc5;
  for (const b of bytes) {
    h ^= b;
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

function fail(message) {
  console.error(`tables.mjs: ${message}`);
  process.exit(1);
}

const [encoding, out] = process.argv.slice(2);
if (!/^[a-z0-9_]+$/.test(encoding ?? '') || !out) fail('usage: node tables.mjs ENCODING OUT.bin');
const { default: data } = await import(`js-tiktoken/ranks/${encoding}`);

// bpe_ranks: one line per run of consecutive ranks, "<ignored> <first rank> <base64 token>...".
const tokens = [];
for (const line of data.bpe_ranks.split('\n')) {
  if (!line) continue;
  const [, first, ...encoded] = line.split(' ');
  encoded.forEach((b64, i) => {
    const id = Number.parseInt(first, 10) + i;
    if (tokens[id] !== undefined) fail(`${encoding}: rank ${id} twice`);
    tokens[id] = Buffer.from(b64, 'base64');
  });
}
const ranks = tokens.length;
for (let id = 0; id < ranks; ++id) {
  if (tokens[id] === undefined || tokens[id].length === 0) fail(`${encoding}: rank ${id} missing`);
}
for (const [text, id] of Object.entries(data.special_tokens)) {
  if (id < ranks || tokens[id] !== undefined) fail(`${encoding}: special token ${id} collides`);
  tokens[id] = Buffer.from(text, 'utf8');
}
const vocabSize = tokens.length;
if (vocabSize >= (1 << ID_BITS) - 1) fail(`${encoding}: ${vocabSize} ids do not fit ${ID_BITS} bits`);

// At most 40% of the slots used: a failed lookup (most pairs BPE tries are not tokens) then
// probes ~1.8 slots on average.
let hashBits = 1;
while ((1 << hashBits) * 0.4 < ranks) ++hashBits;
const mask = (1 << hashBits) - 1;
const hash = new Uint32Array(1 << hashBits).fill(EMPTY);
let maxTokenBytes = 0;
for (let id = 0; id < ranks; ++id) {
  const bytes = tokens[id];
  maxTokenBytes = Math.max(maxTokenBytes, bytes.length);
  const h = hashBytes(bytes);
  let slot = h & mask;
  while (hash[slot] !== EMPTY) {
    const other = hash[slot] & ((1 << ID_BITS) - 1);
    if (Buffer.compare(tokens[other], bytes) === 0) fail(`${encoding}: ranks ${other}, ${id} equal`);
    slot = (slot + 1) & mask;
  }
  hash[slot] = ((h >>> ID_BITS) * (1 << ID_BITS) + id) >>> 0;
}

const offsets = new Uint32Array(vocabSize + 1);
let bytesLen = 0;
for (let id = 0; id < vocabSize; ++id) {
  offsets[id] = bytesLen;
  bytesLen += tokens[id]?.length ?? 0;
}
offsets[vocabSize] = bytesLen;

const pattern = Buffer.from(data.pat_str, 'utf8');
const header = new Uint32Array([
  0x4b4f5457, VERSION, vocabSize, ranks, hashBits, maxTokenBytes, bytesLen, pattern.length,
]);
const le = (words) => {
  const b = Buffer.alloc(words.length * 4);
  words.forEach((w, i) => b.writeUInt32LE(w, i * 4));
  return b;
};
const body = Buffer.concat([
  le(header), le(offsets), le(hash), ...Array.from(tokens, (t) => t ?? Buffer.alloc(0)), pattern,
]);
writeFileSync(out, body);
