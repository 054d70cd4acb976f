// WHATWG Headers: case-insensitive names, values combined with ", ", invalid input is a TypeError.

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const normalizeValue = (v: string) => String(v).replace(/^[\t\n\r ]+|[\t\n\r ]+$/g, "");

export type HeadersInit = Headers | [string, string][] | Record<string, string>;

export class Headers {
  readonly #map = new Map<string, string>();

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
    const n = Headers.#name(name);
    const v = Headers.#value(value);
    const prev = this.#map.get(n);
    this.#map.set(n, prev === undefined ? v : `${prev}, ${v}`);
  }
  set(name: string, value: string): void {
    this.#map.set(Headers.#name(name), Headers.#value(value));
  }
  get(name: string): string | null {
    return this.#map.get(Headers.#name(name)) ?? null;
  }
  has(name: string): boolean {
    return this.#map.has(Headers.#name(name));
  }
  delete(name: string): void {
    this.#map.delete(Headers.#name(name));
  }
  getSetCookie(): string[] {
    const v = this.#map.get("set-cookie");
    return v === undefined ? [] : [v];
  }
  forEach(cb: (value: string, name: string, headers: Headers) => void, thisArg?: unknown): void {
    for (const [k, v] of this.entries()) cb.call(thisArg, v, k, this);
  }
  *entries(): IterableIterator<[string, string]> {
    const keys = [...this.#map.keys()].sort();
    for (const k of keys) yield [k, this.#map.get(k)!];
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
