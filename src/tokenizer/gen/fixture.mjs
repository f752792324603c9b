// Writes tests/data/tokenizer/fixture.json, what the unit tests compare src/tokenizer/ with:
// js-tiktoken's own encode and decode of seeded random texts (English, German, French, Chinese,
// emoji, mixed), of special tokens and of single ids. Run by hand when the cases change:
//   node src/tokenizer/gen/fixture.mjs
import { writeFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Tiktoken } from 'js-tiktoken/lite';

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, '../../../tests/data/tokenizer/fixture.json');

// mulberry32: a fixed seed gives the same fixture on every run.
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const random = rng(20261202);
const pick = (list) => list[Math.floor(random() * list.length)];

const words = {
  english: ['the', 'quick', 'Brown', 'fox', "don't", "I'LL", "we've", 'jumps', 'over', 'lazy',
    'dog', 'invoice', 'account', 'Warden', 'gateway', 'HTTPServer', 'JSONParser', 'e-mail',
    'alice@example.com', 'https://example.org/a/b', 'C++20', '3.14159', '1234567890', 'O’Brien'],
  german: ['Straße', 'Größe', 'Übermäßig', 'Bürgersteig', 'Kündigungsfrist', 'Datenschutz',
    'Grundverordnung', 'für', 'über', 'Müller', 'Äpfel', 'schön', 'Fußgängerzone', 'ß'],
  french: ['élève', 'garçon', 'où', 'déjà', "l'hôpital", "aujourd'hui", 'Noël', 'cœur',
    'français', 'Ça', 'être', 'naïve', 'réservé', 'e\u0301te\u0301'],
  chinese: ['数据', '安全', '网关', '人工智能', '模型', '中华人民共和国', '身份证号码',
    '你好', '世界', '。', '，', '银行卡', '北京市', '的'],
  emoji: ['😀', '👍🏽', '👨‍👩‍👧‍👦', '🇩🇪', '🇫🇷', '❤️', '🚀', '🧪', '✅', '🤖', '🏳️‍🌈', '1️⃣'],
};
const separators = [' ', ' ', ' ', ' ', '  ', '\n', '\r\n', '\t', ', ', '. ', '/', ' - ', '   \n',
  '\n\n', ' ...', '!', '?'];

function text(languages, count) {
  let s = '';
  for (let i = 0; i < count; ++i) {
    s += pick(words[pick(languages)]);
    s += pick(separators);
  }
  return s;
}

const languages = ['english', 'german', 'french', 'chinese', 'emoji'];
const texts = [];
for (const language of languages) {
  for (let i = 0; i < 4; ++i) texts.push(text([language], 10 + Math.floor(random() * 40)));
}
for (let i = 0; i < 6; ++i) texts.push(text(languages, 20 + Math.floor(random() * 60)));
// The pre-tokenizer's corners: runs of white space before a word or at the end, digits in
// groups of three, CamelCase (o200k splits case changes), contractions in any case, '/'.
texts.push('   leading and trailing   ', 'a\n\n\n   b \t \n', '12345678901234567890',
  'HelloWorld camelCaseWord XMLHttpRequest', "IT'S they're WE'VE I'd", 'a/b//c/\nd',
  '<|endoftext|> is plain text here', '', ' ', 'x');
// Long pieces: the byte-pair merge over hundreds of bytes at once.
let letters = '';
for (let i = 0; i < 600; ++i) letters += String.fromCharCode(97 + Math.floor(random() * 26));
texts.push(letters, 'a'.repeat(1000), ' '.repeat(500) + 'x', '中'.repeat(300));

const fixture = { source: 'js-tiktoken 1.0.21', encodings: {} };
for (const encoding of ['o200k_base', 'cl100k_base']) {
  const { default: ranks } = await import(`js-tiktoken/ranks/${encoding}`);
  const enc = new Tiktoken(ranks);
  if (!(enc.textMap instanceof Map)) throw new Error('js-tiktoken: no textMap to read ids from');
  const cases = [];
  for (const t of texts) {
    const ids = enc.encode(t, [], []);  // encode_ordinary: special-token text is plain text
    if (enc.decode(ids) !== t) throw new Error(`${encoding}: decode(encode(x)) != x`);
    cases.push({ text: t, ids });
  }
  // Special tokens, allowed: their ids, decoded to their literal text.
  const specials = [];
  for (const name of Object.keys(ranks.special_tokens)) {
    const t = `before${name}after ${name}`;
    const ids = enc.encode(t, 'all');
    if (enc.decode(ids) !== t) throw new Error(`${encoding}: special ${name}`);
    specials.push({ text: t, ids });
  }
  // Single ids (spread over the whole range) and their bytes, in hex: some are parts of a
  // UTF-8 character and are no text on their own.
  const tokens = [];
  const ranksCount = enc.textMap.size;
  const strict = new TextDecoder('utf-8', { fatal: true });
  const token = (id) => {
    const bytes = enc.textMap.get(id);
    let partial = false;
    try {
      strict.decode(bytes);
    } catch {
      partial = true;
    }
    return { id, hex: Buffer.from(bytes).toString('hex'), partial };
  };
  for (let i = 0; i < 120; ++i) {
    tokens.push(token(i < 20 ? ranksCount - 1 - i : Math.floor(random() * ranksCount)));
  }
  // Ids of the emoji and Chinese texts that hold part of a character only.
  const partials = new Set();
  for (const c of cases) for (const id of c.ids) if (token(id).partial) partials.add(id);
  for (const id of [...partials].slice(0, 20)) tokens.push(token(id));
  fixture.encodings[encoding] = {
    special_tokens: ranks.special_tokens,
    ranks: ranksCount,
    texts: cases,
    specials,
    tokens,
  };
}
mkdirSync(dirname(out), { recursive: true });
writeFileSync(out, JSON.stringify(fixture) + '\n');
console.log(`wrote ${out}`);
