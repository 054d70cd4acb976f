// UTF-8 TextEncoder/TextDecoder for a bare V8 isolate (no ICU-backed web APIs there).

export class TextEncoder {
  get encoding(): string {
    return "utf-8";
  }
  /**
   * Two passes, the length first, so a big string costs its bytes once (an array of numbers
   * grown as it went took ~10 bytes a character: a 7 MiB answer broke a 64 MiB limit).
   */
  encode(input = ""): Uint8Array {
    const s = String(input);
    let n = 0;
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c < 0x80) n += 1;
      else if (c < 0x800) n += 2;
      else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length && isLow(s.charCodeAt(i + 1))) {
        n += 4;
        i++;
      } else n += 3;
    }
    const out = new Uint8Array(n);
    let o = 0;
    for (let i = 0; i < s.length; i++) {
      let c = s.charCodeAt(i);
      if (c < 0x80) {
        out[o++] = c;
        continue;
      }
      if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length && isLow(s.charCodeAt(i + 1))) {
        c = 0x10000 + ((c - 0xd800) << 10) + (s.charCodeAt(i + 1) - 0xdc00);
        i++;
      } else if (c >= 0xd800 && c <= 0xdfff) c = 0xfffd;
      if (c < 0x800) {
        out[o++] = 0xc0 | (c >> 6);
        out[o++] = 0x80 | (c & 63);
      } else if (c < 0x10000) {
        out[o++] = 0xe0 | (c >> 12);
        out[o++] = 0x80 | ((c >> 6) & 63);
        out[o++] = 0x80 | (c & 63);
      } else {
        out[o++] = 0xf0 | (c >> 18);
        out[o++] = 0x80 | ((c >> 12) & 63);
        out[o++] = 0x80 | ((c >> 6) & 63);
        out[o++] = 0x80 | (c & 63);
      }
    }
    return out;
  }
  /**
   * Encoding standard's encodeInto: as many whole characters as fit in `destination`; `read` counts
   * UTF-16 code units, `written` bytes (@msgpack/msgpack encodes its strings with it).
   */
  encodeInto(source: string, destination: Uint8Array): { read: number; written: number } {
    if (!(destination instanceof Uint8Array))
      throw new TypeError("encodeInto: the destination must be a Uint8Array");
    const s = String(source);
    const end = destination.length;
    let read = 0;
    let o = 0;
    while (read < s.length) {
      let c = s.charCodeAt(read);
      let units = 1;
      if (c >= 0xd800 && c <= 0xdbff && read + 1 < s.length && isLow(s.charCodeAt(read + 1))) {
        c = 0x10000 + ((c - 0xd800) << 10) + (s.charCodeAt(read + 1) - 0xdc00);
        units = 2;
      } else if (c >= 0xd800 && c <= 0xdfff) c = 0xfffd;
      const size = c < 0x80 ? 1 : c < 0x800 ? 2 : c < 0x10000 ? 3 : 4;
      if (o + size > end) break;
      if (size === 1) destination[o++] = c;
      else if (size === 2) {
        destination[o++] = 0xc0 | (c >> 6);
        destination[o++] = 0x80 | (c & 63);
      } else if (size === 3) {
        destination[o++] = 0xe0 | (c >> 12);
        destination[o++] = 0x80 | ((c >> 6) & 63);
        destination[o++] = 0x80 | (c & 63);
      } else {
        destination[o++] = 0xf0 | (c >> 18);
        destination[o++] = 0x80 | ((c >> 12) & 63);
        destination[o++] = 0x80 | ((c >> 6) & 63);
        destination[o++] = 0x80 | (c & 63);
      }
      read += units;
    }
    return { read, written: o };
  }
}

const isLow = (d: number) => d >= 0xdc00 && d <= 0xdfff;

declare const require: (id: string) => unknown;
/** The Encoding standard's labels → names (whatwg-encoding's copy of its table), read on first use. */
let labels: Record<string, string> | undefined;
const labelTable = () =>
  (labels ??= require("whatwg-encoding/lib/labels-to-names.json") as Record<string, string>);

/** The host's decoder for the legacy encodings (bridge.ts `textDecode`), set by index.ts. */
let hostDecode:
  | ((
      encoding: string,
      bytes: ArrayBuffer,
      options: { fatal: boolean; ignoreBOM: boolean; id: number; stream: boolean },
    ) => string | { ok: false; code: string; message: string })
  | undefined;
export function useHostDecoder(decode: typeof hostDecode): void {
  hostDecode = decode;
}
let nextDecoder = 1;

const REPLACEMENT = "\ufffd";

/** WHATWG UTF-8 decoder state, kept across `decode(…, { stream: true })` calls. */
type Utf8State = { needed: number; seen: number; cp: number; lower: number; upper: number };

/**
 * TextDecoder (Encoding standard). UTF-8, UTF-16LE/BE and x-user-defined are decoded here, by the
 * standard's decoders (an ill-formed UTF-8 sequence gives one U+FFFD per maximal subpart); the
 * legacy encodings (Shift_JIS, GBK, windows-1252, …) by the host's (ICU), through the bridge.
 */
export class TextDecoder {
  readonly #encoding: string;
  readonly #fatal: boolean;
  readonly #ignoreBOM: boolean;
  readonly #id = nextDecoder++;
  #utf8: Utf8State = { needed: 0, seen: 0, cp: 0, lower: 0x80, upper: 0xbf };
  #utf16: { lead: number | null; surrogate: number | null } = { lead: null, surrogate: null };
  /** Whether this stream's start (where a BOM may be) is behind us. */
  #started = false;

  constructor(label = "utf-8", options: { fatal?: boolean; ignoreBOM?: boolean } = {}) {
    const key = String(label)
      .replace(/^[\t\n\f\r ]+|[\t\n\f\r ]+$/g, "")
      .toLowerCase();
    const name = Object.hasOwn(labelTable(), key) ? labelTable()[key] : undefined;
    if (name === undefined || name === "replacement")
      throw new RangeError(`The "${String(label)}" encoding is not supported`);
    this.#encoding = name.toLowerCase();
    this.#fatal = Boolean(options?.fatal);
    this.#ignoreBOM = Boolean(options?.ignoreBOM);
  }
  get encoding(): string {
    return this.#encoding;
  }
  get fatal(): boolean {
    return this.#fatal;
  }
  get ignoreBOM(): boolean {
    return this.#ignoreBOM;
  }

  decode(input?: ArrayBuffer | ArrayBufferView, options: { stream?: boolean } = {}): string {
    const stream = Boolean(options?.stream);
    const bytes =
      input === undefined
        ? new Uint8Array(0)
        : input instanceof ArrayBuffer
          ? new Uint8Array(input)
          : ArrayBuffer.isView(input)
            ? new Uint8Array(input.buffer, input.byteOffset, input.byteLength)
            : (() => {
                throw new TypeError("TextDecoder.decode: the input is not an ArrayBuffer or a view of one");
              })();
    let out: string;
    if (this.#encoding === "utf-8") out = this.#decodeUtf8(bytes, stream);
    else if (this.#encoding === "utf-16le" || this.#encoding === "utf-16be")
      out = this.#decodeUtf16(bytes, stream, this.#encoding === "utf-16le");
    else if (this.#encoding === "x-user-defined") {
      out = "";
      for (const b of bytes) out += String.fromCharCode(b < 0x80 ? b : 0xf780 + b - 0x80);
    } else {
      if (!hostDecode) throw new TypeError(`TextDecoder: ${this.#encoding} is not available here`);
      const got = hostDecode(this.#encoding, bytes.slice().buffer as ArrayBuffer, {
        fatal: this.#fatal,
        ignoreBOM: this.#ignoreBOM,
        id: this.#id,
        stream,
      });
      if (typeof got !== "string") throw new TypeError(got.message);
      return got;
    }
    // The BOM of a Unicode encoding is dropped at the start of a stream, unless asked to keep it.
    if (!this.#started && out.length > 0) {
      this.#started = true;
      if (!this.#ignoreBOM && out.charCodeAt(0) === 0xfeff) out = out.slice(1);
    }
    if (!stream) this.#started = false;
    return out;
  }

  #bad(): string {
    if (this.#fatal) {
      // A decoder that threw starts afresh on its next call, as the standard's does.
      this.#utf8 = { needed: 0, seen: 0, cp: 0, lower: 0x80, upper: 0xbf };
      this.#utf16 = { lead: null, surrogate: null };
      this.#started = false;
      throw new TypeError(`The encoded data was not valid ${this.#encoding}`);
    }
    return REPLACEMENT;
  }

  /** The Encoding standard's UTF-8 decoder, byte by byte. */
  #decodeUtf8(bytes: Uint8Array, stream: boolean): string {
    const st = this.#utf8;
    const parts: string[] = [];
    let run = "";
    for (let i = 0; i < bytes.length; i++) {
      const b = bytes[i]!;
      if (st.needed === 0) {
        if (b <= 0x7f) run += String.fromCharCode(b);
        else if (b >= 0xc2 && b <= 0xdf) {
          st.needed = 1;
          st.cp = b & 0x1f;
        } else if (b >= 0xe0 && b <= 0xef) {
          if (b === 0xe0) st.lower = 0xa0;
          if (b === 0xed) st.upper = 0x9f;
          st.needed = 2;
          st.cp = b & 0xf;
        } else if (b >= 0xf0 && b <= 0xf4) {
          if (b === 0xf0) st.lower = 0x90;
          if (b === 0xf4) st.upper = 0x8f;
          st.needed = 3;
          st.cp = b & 0x7;
        } else run += this.#bad();
        if (run.length > 8192) {
          parts.push(run);
          run = "";
        }
        continue;
      }
      if (b < st.lower || b > st.upper) {
        // The sequence so far is one error; this byte starts over.
        st.needed = st.seen = st.cp = 0;
        st.lower = 0x80;
        st.upper = 0xbf;
        run += this.#bad();
        i--;
        continue;
      }
      st.lower = 0x80;
      st.upper = 0xbf;
      st.cp = (st.cp << 6) | (b & 0x3f);
      if (++st.seen === st.needed) {
        run += String.fromCodePoint(st.cp);
        st.needed = st.seen = st.cp = 0;
      }
    }
    if (!stream && st.needed !== 0) {
      st.needed = st.seen = st.cp = 0;
      st.lower = 0x80;
      st.upper = 0xbf;
      run += this.#bad();
    }
    parts.push(run);
    return parts.join("");
  }

  /** The Encoding standard's shared UTF-16 decoder. */
  #decodeUtf16(bytes: Uint8Array, stream: boolean, little: boolean): string {
    const st = this.#utf16;
    let out = "";
    for (const b of bytes) {
      if (st.lead === null) {
        st.lead = b;
        continue;
      }
      const unit = little ? st.lead + (b << 8) : (st.lead << 8) + b;
      st.lead = null;
      if (st.surrogate !== null) {
        const lead = st.surrogate;
        st.surrogate = null;
        if (unit >= 0xdc00 && unit <= 0xdfff) {
          out += String.fromCharCode(lead, unit);
          continue;
        }
        out += this.#bad();
      }
      if (unit >= 0xd800 && unit <= 0xdbff) st.surrogate = unit;
      else if (unit >= 0xdc00 && unit <= 0xdfff) out += this.#bad();
      else out += String.fromCharCode(unit);
    }
    if (!stream && (st.lead !== null || st.surrogate !== null)) {
      st.lead = st.surrogate = null;
      out += this.#bad();
    }
    return out;
  }
}

const B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

export function btoa(data: string): string {
  const s = String(data);
  let out = "";
  for (let i = 0; i < s.length; i += 3) {
    const a = s.charCodeAt(i);
    const b = s.charCodeAt(i + 1);
    const c = s.charCodeAt(i + 2);
    if (a > 255 || b > 255 || c > 255)
      throw new DOMException("btoa: character out of Latin-1 range", "InvalidCharacterError");
    const n = (a << 16) | ((b || 0) << 8) | (c || 0);
    out +=
      B64[n >> 18]! +
      B64[(n >> 12) & 63]! +
      (i + 1 < s.length ? B64[(n >> 6) & 63]! : "=") +
      (i + 2 < s.length ? B64[n & 63]! : "=");
  }
  return out;
}

export function atob(data: string): string {
  let s = String(data).replace(/[\t\n\f\r ]/g, "");
  if (s.length % 4 === 0) s = s.replace(/==?$/, "");
  if (s.length % 4 === 1 || /[^A-Za-z0-9+/]/.test(s))
    throw new DOMException("atob: invalid base64", "InvalidCharacterError");
  let out = "";
  let bits = 0;
  let acc = 0;
  for (const ch of s) {
    acc = (acc << 6) | B64.indexOf(ch);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += String.fromCharCode((acc >> bits) & 0xff);
    }
  }
  return out;
}

/** The legacy codes of DOMException's names (WebIDL), which older code still tests. */
const DOM_CODES: Record<string, number> = {
  IndexSizeError: 1,
  HierarchyRequestError: 3,
  WrongDocumentError: 4,
  InvalidCharacterError: 5,
  NoModificationAllowedError: 7,
  NotFoundError: 8,
  NotSupportedError: 9,
  InvalidStateError: 11,
  SyntaxError: 12,
  InvalidModificationError: 13,
  NamespaceError: 14,
  InvalidAccessError: 15,
  TypeMismatchError: 17,
  SecurityError: 18,
  NetworkError: 19,
  AbortError: 20,
  URLMismatchError: 21,
  QuotaExceededError: 22,
  TimeoutError: 23,
  InvalidNodeTypeError: 24,
  DataCloneError: 25,
};

export class DOMException extends Error {
  constructor(message = "", name = "Error") {
    super(message);
    this.name = name;
  }
  get code(): number {
    return DOM_CODES[this.name] ?? 0;
  }
}
