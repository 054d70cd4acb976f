// WHATWG Headers: case-insensitive names, values combined with ", " (Set-Cookie lines kept apart),
// invalid input is a TypeError.

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const normalizeValue = (v: string) => String(v).replace(/^[\t\n\r ]+|[\t\n\r ]+$/g, "");

export type HeadersInit = Headers | [string, string][] | Record<string, string>;

/** Headers that may not change (a network error's, Response.error()): the Fetch standard's guard. */
const immutable = new WeakSet<Headers>();
export function makeImmutable(h: Headers): Headers {
  immutable.add(h);
  return h;
}
function guard(h: Headers): void {
  if (immutable.has(h)) throw new TypeError("Headers: these headers are immutable");
}

export class Headers {
  /** The header list, in order, names lowercased; `set-cookie` lines stay apart (getSetCookie). */
  #list: [string, string][] = [];

  constructor(init?: HeadersInit) {
    if (init === undefined || init === null) return;
    if (init instanceof Headers) {
      init.forEach((v, k) => {
        this.append(k, v);
      });
    } else if (typeof (init as Iterable<unknown>)[Symbol.iterator] === "function") {
      for (const pair of init as Iterable<unknown>) {
        const p = Array.from(pair as Iterable<string>);
        if (p.length !== 2) throw new TypeError("Headers: each header must be a [name, value] pair");
        this.append(p[0]!, p[1]!);
      }
    } else if (typeof init === "object") {
      for (const k of Object.keys(init)) this.append(k, (init as Record<string, string>)[k]!);
    } else {
      throw new TypeError("Headers: invalid init");
    }
  }

  static #name(name: string): string {
    const n = String(name);
    if (!TOKEN.test(n)) throw new TypeError(`Headers: invalid header name "${n}"`);
    return n.toLowerCase();
  }

  static #value(value: string): string {
    const v = normalizeValue(value);
    if (/[\0\r\n]/.test(v)) throw new TypeError("Headers: invalid header value");
    // A ByteString, as on the web: code points above 0xFF are refused, not truncated.
    if (/[\u0100-\uffff]/.test(v)) throw new TypeError("Headers: header values are ISO-8859-1");
    return v;
  }

  append(name: string, value: string): void {
    guard(this);
    this.#list.push([Headers.#name(name), Headers.#value(value)]);
  }
  set(name: string, value: string): void {
    guard(this);
    const n = Headers.#name(name);
    const v = Headers.#value(value);
    const at = this.#list.findIndex(([k]) => k === n);
    if (at < 0) {
      this.#list.push([n, v]);
      return;
    }
    this.#list[at] = [n, v];
    this.#list = this.#list.filter(([k], i) => i <= at || k !== n);
  }
  get(name: string): string | null {
    const n = Headers.#name(name);
    const values = this.#list.filter(([k]) => k === n).map(([, v]) => v);
    return values.length === 0 ? null : values.join(", ");
  }
  has(name: string): boolean {
    const n = Headers.#name(name);
    return this.#list.some(([k]) => k === n);
  }
  delete(name: string): void {
    guard(this);
    const n = Headers.#name(name);
    this.#list = this.#list.filter(([k]) => k !== n);
  }
  /** Each Set-Cookie line on its own: cookies cannot be combined with commas. */
  getSetCookie(): string[] {
    return this.#list.filter(([k]) => k === "set-cookie").map(([, v]) => v);
  }
  forEach(cb: (value: string, name: string, headers: Headers) => void, thisArg?: unknown): void {
    for (const [k, v] of this.entries()) cb.call(thisArg, v, k, this);
  }
  /** Sorted by name, each name's values combined, except Set-Cookie's (the Fetch standard's "sort and combine"). */
  *entries(): IterableIterator<[string, string]> {
    const names = [...new Set(this.#list.map(([k]) => k))].sort();
    for (const n of names) {
      if (n === "set-cookie") for (const v of this.getSetCookie()) yield [n, v];
      else yield [n, this.get(n)!];
    }
  }
  *keys(): IterableIterator<string> {
    for (const [k] of this.entries()) yield k;
  }
  *values(): IterableIterator<string> {
    for (const [, v] of this.entries()) yield v;
  }
  [Symbol.iterator](): IterableIterator<[string, string]> {
    return this.entries();
  }
  get [Symbol.toStringTag](): string {
    return "Headers";
  }
}
