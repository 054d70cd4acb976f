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

export class TextDecoder {
  readonly #fatal: boolean;
  readonly #ignoreBOM: boolean;
  /** Bytes of a character split across `decode(…, { stream: true })` calls. */
  #pending = new Uint8Array(0);
  /** Whether this stream's start (where a BOM may be) has been decoded. */
  #started = false;
  constructor(label = "utf-8", options: { fatal?: boolean; ignoreBOM?: boolean } = {}) {
    const l = String(label).trim().toLowerCase();
    if (l !== "utf-8" && l !== "utf8" && l !== "unicode-1-1-utf-8")
      throw new RangeError(`unsupported encoding ${label}`);
    this.#fatal = Boolean(options.fatal);
    this.#ignoreBOM = Boolean(options.ignoreBOM);
  }
  get encoding(): string {
    return "utf-8";
  }
  get fatal(): boolean {
    return this.#fatal;
  }
  get ignoreBOM(): boolean {
    return this.#ignoreBOM;
  }
  decode(input?: ArrayBuffer | ArrayBufferView, options: { stream?: boolean } = {}): string {
    const stream = Boolean(options?.stream);
    const given =
      input === undefined
        ? new Uint8Array(0)
        : input instanceof ArrayBuffer
          ? new Uint8Array(input)
          : new Uint8Array(input.buffer, input.byteOffset, input.byteLength);
    let b = given;
    if (this.#pending.length > 0) {
      b = new Uint8Array(this.#pending.length + given.length);
      b.set(this.#pending);
      b.set(given, this.#pending.length);
    }
    this.#pending = new Uint8Array(0);
    if (stream) {
      // Keep back the start of a character whose remaining bytes have not come yet.
      for (let back = 1; back <= 3 && back <= b.length; back++) {
        const c = b[b.length - back]!;
        if ((c & 0xc0) === 0x80) continue;
        const need = c >= 0xf0 && c <= 0xf4 ? 4 : c >= 0xe0 && c <= 0xef ? 3 : c >= 0xc2 && c <= 0xdf ? 2 : 1;
        if (need > back) {
          this.#pending = b.slice(b.length - back);
          b = b.subarray(0, b.length - back);
        }
        break;
      }
    }
    const atStart = !this.#started;
    if (b.length > 0 || !stream) this.#started = stream;
    if (!atStart && b.length === 0) return "";
    let out = "";
    const bad = () => {
      if (this.#fatal) throw new TypeError("The encoded data was not valid UTF-8");
      out += "\ufffd";
    };
    let i = atStart && !this.#ignoreBOM && b[0] === 0xef && b[1] === 0xbb && b[2] === 0xbf ? 3 : 0;
    while (i < b.length) {
      const c = b[i]!;
      let need = 0;
      let cp = 0;
      let min = 0;
      if (c < 0x80) {
        out += String.fromCharCode(c);
        i++;
        continue;
      } else if (c >= 0xc2 && c <= 0xdf) {
        need = 1;
        cp = c & 0x1f;
        min = 0x80;
      } else if (c >= 0xe0 && c <= 0xef) {
        need = 2;
        cp = c & 0x0f;
        min = 0x800;
      } else if (c >= 0xf0 && c <= 0xf4) {
        need = 3;
        cp = c & 0x07;
        min = 0x10000;
      } else {
        bad();
        i++;
        continue;
      }
      let j = 1;
      for (; j <= need; j++) {
        const n = b[i + j];
        if (n === undefined || (n & 0xc0) !== 0x80) break;
        cp = (cp << 6) | (n & 0x3f);
      }
      if (j <= need || cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
        bad();
        i += Math.max(1, j - 1 === 0 ? 1 : j - 1);
        continue;
      }
      out += String.fromCodePoint(cp);
      i += need + 1;
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

export class DOMException extends Error {
  constructor(message = "", name = "Error") {
    super(message);
    this.name = name;
  }
}
