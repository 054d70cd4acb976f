// Encoding conformance in the sandbox. The labels and the names they stand for are the Encoding
// standard's table, read from whatwg-encoding's labels-to-names.json at test time; the rest is
// written here after WPT's encoding/ coverage: label whitespace and case, the replacement labels,
// UTF-8's decoding of ill-formed sequences (one U+FFFD per maximal subpart, or a TypeError when
// fatal), BOM handling, streaming decode split at every byte, buffer views, TextEncoder's lone
// surrogates and encodeInto, the text streams, and forgiving base64.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { type Case, conformance, type SandboxFn } from "./harness.ts";

const require = createRequire(import.meta.url);
const labels = JSON.parse(
  readFileSync(require.resolve("whatwg-encoding/lib/labels-to-names.json"), "utf8"),
) as Record<string, string>;

const fns: Record<string, SandboxFn> = {
  label(label: string) {
    return new TextDecoder(label).encoding;
  },
  decode({ bytes, fatal, ignoreBOM }: { bytes: number[]; fatal?: boolean; ignoreBOM?: boolean }) {
    return new TextDecoder("utf-8", { fatal, ignoreBOM }).decode(new Uint8Array(bytes));
  },
  encode(text: string) {
    return [...new TextEncoder().encode(text)];
  },
  roundTrip(text: string) {
    return new TextDecoder().decode(new TextEncoder().encode(text)) === text;
  },
  /** Decodes `text`'s bytes in two parts split at every byte, streaming: always the whole text. */
  splitEverywhere(text: string) {
    const bytes = new TextEncoder().encode(text);
    const wrong: number[] = [];
    for (let i = 0; i <= bytes.length; i++) {
      const d = new TextDecoder();
      const got = d.decode(bytes.subarray(0, i), { stream: true }) + d.decode(bytes.subarray(i));
      if (got !== text) wrong.push(i);
    }
    return wrong;
  },
  /** Decodes `bytes` one byte a call, streaming, then flushes. */
  byteByByte({ bytes, fatal }: { bytes: number[]; fatal?: boolean }) {
    const d = new TextDecoder("utf-8", { fatal });
    let out = "";
    for (const b of bytes) out += d.decode(new Uint8Array([b]), { stream: true });
    return out + d.decode();
  },
  views() {
    const bytes = new TextEncoder().encode("xxhello😀xx");
    const buf = bytes.buffer;
    const d = new TextDecoder();
    return [
      d.decode(buf.slice(2, 11)),
      d.decode(new DataView(buf, 2, 9)),
      d.decode(new Uint8Array(buf, 2, 9)),
      d.decode(new Uint16Array(new Uint8Array([104, 105, 104, 105]).buffer)),
      d.decode(new Int8Array([0x68, 0x69])),
      d.decode(),
      d.decode(undefined),
      d.decode(new Uint8Array(0)),
    ];
  },
  attributes() {
    const d = new TextDecoder("UTF-8", { fatal: true, ignoreBOM: true });
    const e = new TextEncoder();
    return [
      d.encoding,
      d.fatal,
      d.ignoreBOM,
      new TextDecoder().fatal,
      new TextDecoder().ignoreBOM,
      e.encoding,
    ];
  },
  reuseAfterFatal() {
    const d = new TextDecoder("utf-8", { fatal: true });
    let threw = "";
    try {
      d.decode(new Uint8Array([0xff]));
    } catch (e) {
      threw = (e as Error).name;
    }
    return [threw, d.decode(new Uint8Array([0x61]))];
  },
  /** A partial character left at the end of a stream is one U+FFFD when flushed; the decoder then starts afresh. */
  flushAndReuse() {
    const d = new TextDecoder();
    const first = d.decode(new Uint8Array([0x61, 0xe2, 0x82]), { stream: true }) + d.decode();
    const second = d.decode(new Uint8Array([0xef, 0xbb, 0xbf, 0x62]));
    return [first, second];
  },
  bomAcrossChunks() {
    const d = new TextDecoder();
    return (
      [0xef, 0xbb, 0xbf, 0x41].map((b) => d.decode(new Uint8Array([b]), { stream: true })).join("") +
      d.decode()
    );
  },
  encodeInto({ text, size, offset }: { text: string; size: number; offset: number }) {
    const dest = new Uint8Array(size + offset);
    const r = new TextEncoder().encodeInto(text, dest.subarray(offset));
    return { read: r.read, written: r.written, bytes: [...dest] };
  },
  async textDecoderStream(chunks: number[][]) {
    let out = "";
    const stream = new ReadableStream({
      start(c) {
        for (const x of chunks) c.enqueue(new Uint8Array(x));
        c.close();
      },
    }).pipeThrough(new TextDecoderStream());
    const reader = stream.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return out;
      out += value;
    }
  },
  async textEncoderStream(chunks: string[]) {
    const out: number[] = [];
    const stream = new ReadableStream({
      start(c) {
        for (const x of chunks) c.enqueue(x);
        c.close();
      },
    }).pipeThrough(new TextEncoderStream());
    const reader = stream.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return out;
      out.push(...value);
    }
  },
  atob(s: string) {
    return atob(s);
  },
  btoa(s: string) {
    return btoa(s);
  },
};

const F = 0xfffd;
const rep = (n: number) => String.fromCharCode(F).repeat(n);

/** UTF-8 ill-formed (and edge) sequences: bytes, what the standard's decoder gives (U+FFFD per maximal subpart). */
const utf8: [string, number[], string][] = [
  ["lone continuation byte", [0x80], rep(1)],
  ["two continuation bytes", [0x80, 0xbf], rep(2)],
  ["C0 lead (never valid)", [0xc0, 0x80], rep(2)],
  ["C1 lead (never valid)", [0xc1, 0xbf], rep(2)],
  ["overlong 3-byte NUL", [0xe0, 0x80, 0x80], rep(3)],
  ["overlong 3-byte slash", [0xe0, 0x80, 0xaf], rep(3)],
  ["overlong 4-byte", [0xf0, 0x80, 0x80, 0x80], rep(4)],
  ["high surrogate encoded", [0xed, 0xa0, 0x80], rep(3)],
  ["low surrogate encoded", [0xed, 0xbf, 0xbf], rep(3)],
  ["surrogate pair encoded", [0xed, 0xa0, 0xbd, 0xed, 0xb8, 0x80], rep(6)],
  ["above U+10FFFF", [0xf4, 0x90, 0x80, 0x80], rep(4)],
  ["F5 lead", [0xf5, 0x80, 0x80, 0x80], rep(4)],
  ["5-byte form", [0xf8, 0x88, 0x80, 0x80, 0x80], rep(5)],
  ["6-byte form", [0xfc, 0x84, 0x80, 0x80, 0x80, 0x80], rep(6)],
  ["FE", [0xfe], rep(1)],
  ["FF", [0xff], rep(1)],
  ["truncated 2-byte at end", [0x61, 0xc3], `a${rep(1)}`],
  ["truncated 3-byte at end", [0xe2, 0x82], rep(1)],
  ["truncated 4-byte at end", [0xf0, 0x9f, 0x98], rep(1)],
  ["truncated 3-byte before ASCII", [0xe2, 0x82, 0x41], `${rep(1)}A`],
  ["truncated 4-byte before ASCII", [0xf0, 0x9f, 0x41], `${rep(1)}A`],
  ["truncated 2-byte before a lead", [0xc3, 0xc3, 0xa9], `${rep(1)}é`],
  ["E0 then a too-low continuation", [0xe0, 0x9f, 0x80], rep(3)],
  ["ED then a too-high continuation", [0xed, 0xa0], rep(2)],
  ["F0 then a too-low continuation", [0xf0, 0x8f, 0xbf, 0xbf], rep(4)],
  ["F4 then a too-high continuation", [0xf4, 0x90], rep(2)],
  ["valid then invalid then valid", [0x68, 0xff, 0x69], `h${rep(1)}i`],
  ["NUL is kept", [0x00, 0x61, 0x00], "\0a\0"],
  ["U+FFFF is valid", [0xef, 0xbf, 0xbf], "\uffff"],
  ["U+10FFFF is valid", [0xf4, 0x8f, 0xbf, 0xbf], "\udbff\udfff"],
  ["U+0080 is valid", [0xc2, 0x80], "\u0080"],
  ["U+07FF and U+0800", [0xdf, 0xbf, 0xe0, 0xa0, 0x80], "\u07ff\u0800"],
  ["U+D7FF and U+E000 (around surrogates)", [0xed, 0x9f, 0xbf, 0xee, 0x80, 0x80], "\ud7ff\ue000"],
  ["BOM is removed", [0xef, 0xbb, 0xbf, 0x41], "A"],
  ["only the first BOM is removed", [0xef, 0xbb, 0xbf, 0xef, 0xbb, 0xbf], "\ufeff"],
  ["a BOM alone", [0xef, 0xbb, 0xbf], ""],
  ["a partial BOM", [0xef, 0xbb], rep(1)],
];

const texts = [
  "",
  "ASCII only",
  "héllo wörld",
  "日本語のテキスト",
  "emoji 🌍🎉👩‍👩‍👧",
  "\u0000\u007f\u0080\u07ff\u0800\uffff",
  "𝄞 musical",
  "\ud800\udc00\udbff\udfff",
  "mixed: a€𝄞ü\u2028",
];

function cases(): Case[] {
  const out: Case[] = [];
  for (const [label, name] of Object.entries(labels)) {
    const expect = name.toLowerCase();
    out.push({ name: `label ${JSON.stringify(label)} is ${expect}`, fn: "label", input: label, expect });
    const padded = `\t\n\f\r ${label.toUpperCase()} \r\f\n\t`;
    out.push({ name: `label ${JSON.stringify(padded)} is ${expect}`, fn: "label", input: padded, expect });
  }
  for (const label of [
    "replacement",
    "csiso2022kr",
    "hz-gb-2312",
    "iso-2022-cn",
    "iso-2022-cn-ext",
    "iso-2022-kr",
  ])
    out.push({
      name: `replacement label ${label} is refused`,
      fn: "label",
      input: label,
      expect: { throws: "RangeError" },
    });
  for (const label of [
    "",
    "utf-7",
    "unicode-1-1-utf-7",
    "utf8\u00a0",
    "\u00a0utf-8",
    "utf-8\0",
    "utf-32",
    "x-mac-roman2",
  ])
    out.push({
      name: `bogus label ${JSON.stringify(label)} is refused`,
      fn: "label",
      input: label,
      expect: { throws: "RangeError" },
    });
  for (const [what, bytes, text] of utf8) {
    out.push({ name: `utf-8 decode: ${what}`, fn: "decode", input: { bytes }, expect: text });
    out.push({
      name: `utf-8 decode byte by byte: ${what}`,
      fn: "byteByByte",
      input: { bytes },
      expect: text,
    });
    const valid = !text.includes(String.fromCharCode(F)) && what !== "a partial BOM";
    out.push({
      name: `utf-8 fatal decode: ${what}`,
      fn: "decode",
      input: { bytes, fatal: true },
      expect: valid ? text : { throws: "TypeError" },
    });
  }
  out.push(
    {
      name: "ignoreBOM keeps the BOM",
      fn: "decode",
      input: { bytes: [0xef, 0xbb, 0xbf, 0x41], ignoreBOM: true },
      expect: "\ufeffA",
    },
    { name: "a BOM split across streamed chunks is removed", fn: "bomAcrossChunks", expect: "A" },
    {
      name: "a decoder used after a fatal error starts afresh",
      fn: "reuseAfterFatal",
      expect: ["TypeError", "a"],
    },
    {
      name: "a partial character flushed is one U+FFFD; the next stream drops its BOM",
      fn: "flushAndReuse",
      expect: [`a${rep(1)}`, "b"],
    },
    {
      name: "decode takes ArrayBuffers and every kind of view, and nothing",
      fn: "views",
      expect: ["hello😀", "hello😀", "hello😀", "hihi", "hi", "", "", ""],
    },
    {
      name: "attributes: encoding, fatal, ignoreBOM",
      fn: "attributes",
      expect: ["utf-8", true, true, false, false, "utf-8"],
    },
  );
  texts.forEach((t, i) => {
    out.push({ name: `round trip ${i}: ${JSON.stringify(t)}`, fn: "roundTrip", input: t, expect: true });
    out.push({
      name: `streaming decode split at every byte ${i}: ${JSON.stringify(t)}`,
      fn: "splitEverywhere",
      input: t,
      expect: [],
    });
    out.push({
      name: `encode ${i}: ${JSON.stringify(t)}`,
      fn: "encode",
      input: t,
      expect: [...Buffer.from(t, "utf8")],
    });
  });
  const ef = [0xef, 0xbf, 0xbd];
  out.push(
    {
      name: "encode: a lone high surrogate is U+FFFD",
      fn: "encode",
      input: "a\ud800b",
      expect: [0x61, ...ef, 0x62],
    },
    { name: "encode: a lone low surrogate is U+FFFD", fn: "encode", input: "\udc00", expect: ef },
    {
      name: "encode: reversed surrogates are two U+FFFD",
      fn: "encode",
      input: "\udc00\ud800",
      expect: [...ef, ...ef],
    },
    { name: "encode: a high surrogate at the end", fn: "encode", input: "x\udbff", expect: [0x78, ...ef] },
    {
      name: "encodeInto: all fits",
      fn: "encodeInto",
      input: { text: "héllo", size: 8, offset: 1 },
      expect: { read: 5, written: 6, bytes: [0, 0x68, 0xc3, 0xa9, 0x6c, 0x6c, 0x6f, 0, 0] },
    },
    {
      name: "encodeInto: stops before a character that does not fit",
      fn: "encodeInto",
      input: { text: "a€b", size: 3, offset: 0 },
      expect: { read: 1, written: 1, bytes: [0x61, 0, 0] },
    },
    {
      name: "encodeInto: a surrogate pair counts two read",
      fn: "encodeInto",
      input: { text: "😀!", size: 5, offset: 0 },
      expect: { read: 3, written: 5, bytes: [0xf0, 0x9f, 0x98, 0x80, 0x21] },
    },
    {
      name: "encodeInto: a lone surrogate is written as U+FFFD",
      fn: "encodeInto",
      input: { text: "\ud800", size: 3, offset: 0 },
      expect: { read: 1, written: 3, bytes: ef },
    },
    {
      name: "encodeInto: an empty destination",
      fn: "encodeInto",
      input: { text: "abc", size: 0, offset: 0 },
      expect: { read: 0, written: 0, bytes: [] },
    },
    {
      name: "TextDecoderStream joins a character split across chunks",
      fn: "textDecoderStream",
      input: [[0xf0, 0x9f], [0x98], [0x80, 0x21]],
      expect: "😀!",
    },
    {
      name: "TextDecoderStream flushes a partial character as U+FFFD",
      fn: "textDecoderStream",
      input: [[0x61, 0xe2, 0x82]],
      expect: `a${rep(1)}`,
    },
    {
      name: "TextDecoderStream drops the BOM",
      fn: "textDecoderStream",
      input: [
        [0xef, 0xbb],
        [0xbf, 0x61],
      ],
      expect: "a",
    },
    {
      name: "TextEncoderStream joins a surrogate pair split across chunks",
      fn: "textEncoderStream",
      input: ["a\ud83d", "\ude00"],
      expect: [0x61, 0xf0, 0x9f, 0x98, 0x80],
    },
    {
      name: "TextEncoderStream ends a dangling high surrogate as U+FFFD",
      fn: "textEncoderStream",
      input: ["a\ud83d"],
      expect: [0x61, ...ef],
    },
    {
      name: "TextEncoderStream: empty chunks give nothing",
      fn: "textEncoderStream",
      input: ["", "b", ""],
      expect: [0x62],
    },
  );
  const b64: [string, string | null][] = [
    ["", ""],
    ["YQ==", "a"],
    ["YQ", "a"],
    ["YWI=", "ab"],
    ["YWJj", "abc"],
    [" Y W J j\n\t\f\r", "abc"],
    ["YQ=", null],
    ["YQ===", null],
    ["Y", null],
    ["YWJjZ", null],
    ["YW=j", null],
    ["YQ==YQ==", null],
    ["YR==", "a"],
    ["-_", null],
    ["/+8=", "\xff\xef"],
    ["YQ\u00a0", null],
  ];
  for (const [input, text] of b64)
    out.push({
      name: `atob(${JSON.stringify(input)})`,
      fn: "atob",
      input,
      expect: text === null ? { throws: "InvalidCharacterError" } : text,
    });
  out.push(
    { name: "btoa of Latin-1", fn: "btoa", input: "\xff\xefabc", expect: "/+9hYmM=" },
    {
      name: "btoa refuses code points above U+00FF",
      fn: "btoa",
      input: "€",
      expect: { throws: "InvalidCharacterError" },
    },
  );
  return out;
}

conformance("encoding", fns, cases);
